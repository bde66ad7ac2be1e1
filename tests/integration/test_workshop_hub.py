"""The workshop hub on the real Docker engine: per-user GPU pinning (through the stub
nvidia-container-runtime-hook, which proves the device *request* path — Docker records and
passes the request — not GPU access), hardening of user containers, hub restarts, culling,
cross-user isolation, and attendee accounts created with the admin command."""
from __future__ import annotations

import csv
import io
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from labclient import REPO_ROOT, HubClient, LabStack, execute, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.integration]


def container_of(stack: LabStack, username: str):
    found = [c for c in stack.user_containers() if c.labels.get("gluonlab.user") == username]
    assert len(found) == 1, f"expected one container for {username}, found {[c.name for c in found]}"
    return found[0]


def visible_devices(container) -> str:
    # Docker passes the GPU request to the hook as the main process's environment.
    environ = container.exec_run(["cat", "/proc/1/environ"]).output.decode()
    values = [e.split("=", 1)[1] for e in environ.split("\0") if e.startswith("NVIDIA_VISIBLE_DEVICES=")]
    return values[0] if values else ""


def gpu_view(hub: HubClient) -> dict:
    response = requests.get(f"{hub.base_url}/hub/api/gluonlab/gpus",
                            headers={"Authorization": f"token {hub.token}"}, timeout=10)
    response.raise_for_status()
    return response.json()


def admin_client(stack: LabStack) -> HubClient:
    hub = HubClient(stack.url)
    assert hub.login("admin", stack.admin_password).status_code == 302
    hub.create_token("admin")
    return hub


@pytest.fixture(scope="module")
def exclusive_lab():
    lab = LabStack(extra_env={
        "GLUONLAB_GPU_POLICY": "exclusive", "GLUONLAB_GPUS": "0,1", "GLUONLAB_GPU_EXHAUSTED": "refuse",
        "GLUONLAB_CULL_TIMEOUT": "60", "GLUONLAB_MEM_LIMIT": "1G", "GLUONLAB_PIDS_LIMIT": "512",
    })
    with lab.running(log_name="workshop-hub.log"):
        hub = admin_client(lab)
        for name in ("alice", "bob", "carol"):
            assert hub.api("POST", f"/users/{name}").status_code == 201
        yield lab, hub


def test_exclusive_policy_pins_one_gpu_per_user_then_refuses(exclusive_lab):
    lab, hub = exclusive_lab
    hub.start_server("alice")
    hub.start_server("bob")
    alice, bob = container_of(lab, "alice"), container_of(lab, "bob")
    for container, gpu in ((alice, "0"), (bob, "1")):
        requests_ = container.attrs["HostConfig"]["DeviceRequests"]
        assert [(r["DeviceIDs"], r["Count"], r["Capabilities"]) for r in requests_] == [([gpu], 0, [["gpu"]])]
        assert visible_devices(container) == gpu
        assert container.labels["gluonlab.gpus"] == gpu
    # The user sees their GPU in the environment (terminal banner, notebooks).
    token = hub.token
    seen = execute(lab.url, "alice", token, "import os; print(os.environ['GLUONLAB_GPUS'])")
    assert seen["stdout"].strip() == "0"
    # Both GPUs are taken: carol's spawn is refused with a message saying why.
    response = hub.api("POST", "/users/carol/server")
    assert response.status_code >= 400 or "carol" not in gpu_view(hub)["assignments"]
    wait_until(lambda: not hub.api("GET", "/users/carol").json().get("servers"), 60, what="carol's failed spawn to clear")
    assert "GPU" in (response.text + lab.logs()) and "carol" not in gpu_view(hub)["assignments"]
    view = gpu_view(hub)
    assert view["policy"] == "exclusive"
    assert [g["users"] for g in view["gpus"]] == [["alice"], ["bob"]]
    metrics = requests.get(f"{lab.url}/hub/metrics", headers={"Authorization": f"token {hub.token}"}, timeout=10).text
    assert 'gluonlab_gpu_assigned{gpu="0",user="alice"} 1.0' in metrics
    assert 'gluonlab_gpu_assigned{gpu="1",user="bob"} 1.0' in metrics
    page = hub.session.get(f"{lab.url}/hub/gluonlab/gpus", timeout=10)
    assert page.status_code == 200 and 'id="jupyterhub-logo"' in page.text  # JupyterHub's page.html
    rows = page.text.split('id="gluonlab-gpus"')[1].split("</table>")[0]
    assert "<td>alice</td>" in rows and "<td>bob</td>" in rows and "<code>exclusive</code>" in page.text
    assert view["assignments"] == {"alice": ["0"], "bob": ["1"]}


def test_user_containers_are_hardened(exclusive_lab):
    lab, _ = exclusive_lab
    attrs = container_of(lab, "alice").attrs
    host = attrs["HostConfig"]
    assert attrs["Config"]["User"] in ("1000", "jovyan")
    assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["Privileged"] is False
    assert host["Memory"] == 1024 ** 3 and host["PidsLimit"] == 512
    assert host["ShmSize"] == 1024 ** 3
    assert host["NanoCpus"] or host["CpuQuota"]
    mounts = attrs["Mounts"]
    assert [(m["Type"], m["Destination"]) for m in mounts] == [("volume", "/home/jovyan")]
    assert not any("docker.sock" in (m.get("Source") or "") for m in mounts)
    assert attrs["Config"]["Image"] == "gluonlab/notebook:cpu"


def test_a_user_cannot_reach_another_users_server_or_admin_api(exclusive_lab):
    lab, hub = exclusive_lab
    bob_token = hub.api("POST", "/users/bob/tokens", json={"note": "bob"}).json()["token"]
    other_server = requests.get(f"{lab.url}/user/alice/api/contents", headers={"Authorization": f"token {bob_token}"},
                                timeout=10, allow_redirects=False)
    assert other_server.status_code == 403
    assert hub.api("GET", "/users/alice", token=bob_token).status_code in (403, 404)
    assert hub.api("POST", "/users/mallory", token=bob_token).status_code == 403
    # The GPU API and page need the custom scope only the admins' role carries: bob's token
    # and bob logged in as a browser (pages take the login cookie, not tokens) get 403.
    answer = requests.get(f"{lab.url}/hub/api/gluonlab/gpus", headers={"Authorization": f"token {bob_token}"},
                          timeout=10)
    assert answer.status_code == 403 and "custom:gluonlab:gpus:read" in answer.json()["message"]
    lab.compose("exec", "-T", "hub", "sh", "-c", "printf 'username,password\\nbob,bob-pass-word\\n' > /tmp/bob.csv")
    lab.compose("exec", "-T", "hub", "gluonlab-accounts", "create", "--csv", "/tmp/bob.csv", "--hub-url", lab.url,
                "--out", "/tmp/bob-handout")  # bob had no password yet: now he can log in
    browser = HubClient(lab.url)
    assert browser.login("bob", "bob-pass-word").status_code == 302
    page = browser.session.get(f"{lab.url}/hub/gluonlab/gpus", timeout=10, allow_redirects=False)
    assert page.status_code == 403 and "custom:gluonlab:gpus:read" in page.text, page.text[-2000:]
    anonymous = requests.get(f"{lab.url}/hub/gluonlab/gpus", timeout=10, allow_redirects=False)
    assert anonymous.status_code == 302 and "/hub/login" in anonymous.headers["Location"]
    # Their own server answers them.
    assert requests.get(f"{lab.url}/user/bob/api/status", headers={"Authorization": f"token {bob_token}"},
                        timeout=10).status_code == 200


def test_hub_restart_keeps_servers_and_gpu_assignments(exclusive_lab):
    lab, hub = exclusive_lab
    before = {name: container_of(lab, name).id for name in ("alice", "bob")}
    lab.restart_hub()
    assert {name: container_of(lab, name).id for name in ("alice", "bob")} == before
    for name in ("alice", "bob"):
        wait_until(lambda n=name: requests.get(f"{lab.url}/user/{n}/api/status",
                                               headers={"Authorization": f"token {hub.token}"}, timeout=10).ok,
                   60, what=f"{name}'s server through the proxy after the hub restart")
    assert gpu_view(hub)["assignments"] == {"alice": ["0"], "bob": ["1"]}
    # The rebuilt pool is what the metric reports: it is read at scrape time.
    metrics = requests.get(f"{lab.url}/hub/metrics", headers={"Authorization": f"token {hub.token}"}, timeout=10).text
    assert 'gluonlab_gpu_assigned{gpu="0",user="alice"} 1.0' in metrics
    assert 'gluonlab_gpu_assigned{gpu="1",user="bob"} 1.0' in metrics


def test_stopping_a_server_releases_its_gpu(exclusive_lab):
    lab, hub = exclusive_lab
    note = {"type": "file", "format": "text", "content": "carol was here\n"}
    hub.stop_server("alice")
    assert "alice" not in gpu_view(hub)["assignments"]
    metrics = requests.get(f"{lab.url}/hub/metrics", headers={"Authorization": f"token {hub.token}"}, timeout=10).text
    assert 'user="alice"' not in metrics and 'gluonlab_gpu_assigned{gpu="1",user="bob"} 1.0' in metrics
    hub.start_server("carol")
    assert container_of(lab, "carol").labels["gluonlab.gpus"] == "0"
    assert hub.user_api("PUT", "carol", "/contents/work.txt", json=note).status_code in (200, 201)


def test_idle_server_is_culled_releasing_its_gpu_and_keeping_files(exclusive_lab):
    lab, hub = exclusive_lab
    # carol's server has been idle since it started; the culler (timeout 60 s) stops it.
    wait_until(lambda: not hub.api("GET", "/users/carol").json().get("servers"), 240, interval=5,
               what="the idle culler to stop carol's server")
    assert "carol" not in gpu_view(hub)["assignments"]
    hub.start_server("carol")
    saved = hub.user_api("GET", "carol", "/contents/work.txt").json()
    assert saved["content"] == "carol was here\n"


def test_homes_export_after_the_workshop(exclusive_lab, tmp_path):
    lab, _ = exclusive_lab
    result = subprocess.run([str(REPO_ROOT / "scripts" / "export-homes.sh"), "--instance", lab.instance, str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    with tarfile.open(tmp_path / "carol.tar.gz") as archive:
        assert archive.extractfile("./work.txt").read() == b"carol was here\n"
        assert any(name.startswith("./tutorials/") for name in archive.getnames())
    assert {p.name for p in tmp_path.iterdir()} >= {"alice.tar.gz", "bob.tar.gz", "carol.tar.gz"}


def test_admin_creates_attendee_accounts_from_csv(exclusive_lab, tmp_path):
    lab, _ = exclusive_lab
    csv_text = "username,password,name\nstudent01,,Li Lei\nstudent02,pass-word-02,Han Meimei\nBad Name!,,x\nstudent01,,dup\n"
    exec_in_hub = ["exec", "-T", "hub"]
    # The README's commands, as an admin types them.
    (tmp_path / "attendees.csv").write_text(csv_text)
    lab.compose("cp", str(tmp_path / "attendees.csv"), "hub:/tmp/attendees.csv")
    result = lab.compose(*exec_in_hub, "gluonlab-accounts", "create", "--csv", "/tmp/attendees.csv",
                         "--hub-url", lab.url, "--out", "/srv/jupyterhub/state/handouts", check=False)
    assert result.returncode == 1, result.stderr  # some rows invalid, the valid ones created
    assert "line 4" in result.stderr and "line 5" in result.stderr
    modes = lab.compose(*exec_in_hub, "sh", "-c", "stat -c '%a %n' /srv/jupyterhub/state/handouts/*").stdout
    assert modes.count("600 ") == 2 and ".html" in modes and ".csv" in modes
    lab.compose("cp", "hub:/srv/jupyterhub/state/handouts", str(tmp_path / "handouts"))
    [handout_csv] = (tmp_path / "handouts").glob("*.csv")
    assert len(list((tmp_path / "handouts").glob("*.html"))) == 1
    handout = handout_csv.read_text()
    cards = {row["username"]: row for row in csv.DictReader(io.StringIO(handout))}
    assert set(cards) == {"student01", "student02"} and cards["student01"]["hub_url"] == lab.url
    password = cards["student01"]["password"]
    attendee = HubClient(lab.url)
    assert attendee.login("student01", password).status_code == 302
    assert HubClient(lab.url).login("student02", "pass-word-02").status_code == 302
    # Existing accounts are never overwritten.
    again = lab.compose(*exec_in_hub, "gluonlab-accounts", "create", "--csv", "/tmp/attendees.csv",
                        "--hub-url", lab.url, "--out", "/tmp/handouts2", check=False)
    assert "student01 already exists" in again.stderr
    assert HubClient(lab.url).login("student01", password).status_code == 302


def test_prestart_starts_attendees_servers_before_the_workshop(exclusive_lab):
    """bench/prestart.py, as README "Running a workshop" suggests: throttled, GPU-pinned as usual
    (here both GPUs are free again after the earlier tests stopped and culled servers)."""
    lab, hub = exclusive_lab
    for name in ("alice", "bob", "carol"):
        hub.api("DELETE", f"/users/{name}/server")
    wait_until(lambda: not gpu_view(hub)["assignments"], 120, what="all servers to stop")
    result = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "prestart.py"), "--url", lab.url,
                             "--token", hub.token, "--users", "alice", "bob", "--parallel", "2"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(gpu_view(hub)["assignments"]) == ["alice", "bob"]


def test_shared_policy_puts_users_on_the_least_loaded_gpu_and_throttles_spawns():
    lab = LabStack(extra_env={"GLUONLAB_GPU_POLICY": "shared", "GLUONLAB_GPUS": "0,1", "GLUONLAB_USERS_PER_GPU": "3",
                              "GLUONLAB_CONCURRENT_SPAWN_LIMIT": "1"})
    with lab.running():
        hub = admin_client(lab)
        for name in ("ann", "ben", "cat", "dan", "eve"):
            assert hub.api("POST", f"/users/{name}").status_code == 201
        for name in ("ann", "ben", "cat"):
            hub.start_server(name)
        assert {n: container_of(lab, n).labels["gluonlab.gpus"] for n in ("ann", "ben", "cat")} == \
            {"ann": "0", "ben": "1", "cat": "0"}
        assert visible_devices(container_of(lab, "cat")) == "0"

        # Spawn limit 1: dan and eve ask at the same moment; one starts, the other is asked to
        # come back soon, in words (the POST itself waits while a spawn is quick, so ask together).
        with ThreadPoolExecutor(2) as pool:
            answers = dict(zip(("dan", "eve"), pool.map(lambda n: hub.api("POST", f"/users/{n}/server"), ("dan", "eve"))))
        throttled = [n for n, r in answers.items() if r.status_code == 429]
        started = [n for n, r in answers.items() if r.status_code in (201, 202)]
        assert len(throttled) == 1 and len(started) == 1, {n: r.status_code for n, r in answers.items()}
        answer = answers[throttled[0]]
        assert answer.json()["message"] == "Too many users trying to log in right now. Try again in 10 seconds."
        assert 5 <= int(answer.headers["Retry-After"]) <= 10
        wait_until(lambda: hub.api("GET", f"/users/{started[0]}").json()["servers"].get("", {}).get("ready"), 120,
                   what=f"{started[0]}'s server to be ready")
        assert hub.api("POST", f"/users/{throttled[0]}/server").status_code in (201, 202)
