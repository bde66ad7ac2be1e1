"""Server profiles and MIG slices through the real hub (compose stack) and the stub
nvidia-container-runtime-hook, which accepts a GPU request and mounts no driver: these prove
what the hub asks Docker for (device ids by profile, labels) and what it answers, not GPU access.

The host is the hand-made MIG host of tests/fixtures/gpu-host-mig (GPU 0 in MIG mode with one
3g.40gb and four 1g.10gb slices, GPU 1 whole): the users' image carries a fake nvidia-smi that
replays those files, so discovery at hub start finds the slices, and answers the gpu-usage
service's queries with no GPU process (so GPU servers are idle). One hub, four servers, one
restart, one idle GPU reclaimed (about two minutes: the shortest idle time a profile can have
is one minute, and the check runs every 5 s).
"""
from __future__ import annotations

import io
import tarfile
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest
import requests

from labclient import REPO_ROOT, HubClient, LabStack, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.integration]

MIG = REPO_ROOT / "tests" / "fixtures" / "gpu-host-mig"
SLICE = "MIG-1e2d3c4b-5a69-5788-96a5-b4c3d2e1f00{}"
PROFILES = """\
profiles:
  - name: cpu
    display_name: {zh: CPU 座位, en: CPU seat}
  - name: mig-small
    display_name: {zh: GPU 切片, en: GPU slice}
    gpu: 1g.10gb
    groups: [students]
    idle_gpu_minutes: 2
  - name: whole-gpu
    display_name: {zh: 整块 GPU, en: Whole GPU}
    gpu: 1
    groups: [instructors]
"""
IN_HUB = "/etc/gluonlab/profiles.yml"


def framed(path: Path) -> str:
    """A fixture's output without its '$ command' and '[exit N]' lines."""
    return "".join(ln + "\n" for ln in path.read_text().splitlines() if not ln.startswith(("$ ", "[exit ")))


def fake_smi_image(client) -> str:
    """gluonlab/notebook:cpu with an nvidia-smi that prints the MIG host's outputs."""
    readings = ("index, uuid, utilization.gpu [%], memory.used [MiB]\n"
                + "".join(f"{ln.split(', ')[0]}, {ln.split(', ')[1]}, {'[N/A]' if 'Enabled' in ln else '0 %'}, 0 MiB\n"
                          for ln in framed(MIG / "query-gpu-noheader.txt").splitlines()))
    script = ('#!/bin/sh\ncase "$1" in\n  -L) cat /opt/fake-smi/list.txt ;;\n'
              '  --query-gpu=index,uuid,utilization.gpu,memory.used) cat /opt/fake-smi/readings.txt ;;\n'
              '  --query-gpu=*) cat /opt/fake-smi/query-gpu.txt ;;\n'
              "  --query-compute-apps=*) echo 'pid, gpu_uuid, used_gpu_memory [MiB]' ;;\n"
              '  *) echo "fake nvidia-smi: $*" >&2; exit 2 ;;\nesac\n')
    files = [("Dockerfile", b"FROM gluonlab/notebook:cpu\nCOPY fake-smi/ /opt/fake-smi/\n"
                            b"COPY nvidia-smi /usr/local/bin/nvidia-smi\n", 0o644),
             ("nvidia-smi", script.encode(), 0o755),
             ("fake-smi/list.txt", framed(MIG / "nvidia-smi-L.txt").encode(), 0o644),
             ("fake-smi/query-gpu.txt", framed(MIG / "query-gpu-noheader.txt").encode(), 0o644),
             ("fake-smi/readings.txt", readings.encode(), 0o644)]
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data, mode in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    tag = f"gluonlab-hubtest/fake-smi-notebook:{uuidlib.uuid4().hex[:10]}"
    client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
    return tag


@dataclass
class ProfilesStack(LabStack):
    """The lab's compose project plus a small override that mounts the profiles file."""

    override: Path = field(default_factory=Path)

    def compose(self, *args, **kwargs):
        return super().compose("-f", "docker-compose.yml", "-f", str(self.override), *args, **kwargs)


def container_of(stack: LabStack, username: str):
    found = [c for c in stack.user_containers() if c.labels.get("gluonlab.user") == username]
    assert len(found) == 1, [c.name for c in found]
    return found[0]


def requested_ids(container) -> list[str]:
    return [i for r in container.attrs["HostConfig"].get("DeviceRequests") or [] for i in r["DeviceIDs"]]


def visible_devices(container) -> str:
    environ = container.exec_run(["cat", "/proc/1/environ"]).output.decode().split("\0")
    return next((e.split("=", 1)[1] for e in environ if e.startswith("NVIDIA_VISIBLE_DEVICES=")), "")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    client = docker.from_env()
    image = fake_smi_image(client)
    folder = tmp_path_factory.mktemp("profiles-stack")
    (folder / "profiles.yml").write_text(PROFILES)
    (folder / "override.yml").write_text(
        f"services:\n  hub:\n    volumes:\n      - {folder / 'profiles.yml'}:{IN_HUB}:ro\n")
    stack = ProfilesStack(override=folder / "override.yml", extra_env={
        "GLUONLAB_GPU_POLICY": "exclusive", "GLUONLAB_GPUS": "auto", "NOTEBOOK_VARIANT": "cpu",
        "GLUONLAB_NOTEBOOK_IMAGE": image, "GLUONLAB_PROFILES_FILE": IN_HUB, "GLUONLAB_MEM_LIMIT": "1G",
        "GLUONLAB_GPU_IDLE_CHECK": "5"})
    try:
        stack.up()
        hub = HubClient(stack.url)
        assert hub.login("admin", stack.admin_password).status_code == 302
        hub.create_token("admin")
        for name in ("ana", "bo", "cy", "dee"):
            assert hub.api("POST", f"/users/{name}").status_code == 201
        for group, users in (("students", ["ana", "dee", "admin"]), ("instructors", ["bo"])):
            assert hub.api("POST", f"/groups/{group}", json={"users": users}).status_code == 201
        yield stack, hub
    finally:
        (REPO_ROOT / "test-artifacts").mkdir(exist_ok=True)
        (REPO_ROOT / "test-artifacts" / "profiles-hub.log").write_text(stack.logs())
        stack.down()
        client.images.remove(image, force=True)


def start(hub: HubClient, user: str, profile: str) -> None:
    response = hub.api("POST", f"/users/{user}/server", json={"profile": profile})
    assert response.status_code in (201, 202), response.text

    def ready():
        return bool(hub.api("GET", f"/users/{user}").json().get("servers", {}).get("", {}).get("ready"))

    wait_until(ready, 180, interval=0.25, what=f"{user}'s server")


def gpu_view(hub: HubClient) -> dict:
    response = requests.get(f"{hub.base_url}/hub/api/gluonlab/gpus", headers={"Authorization": f"token {hub.token}"},
                            timeout=10)
    response.raise_for_status()
    return response.json()


def test_each_profile_gets_exactly_its_devices(lab):
    stack, hub = lab
    start(hub, "ana", "mig-small")
    start(hub, "bo", "whole-gpu")
    start(hub, "cy", "cpu")
    ana, bo, cy = (container_of(stack, u) for u in ("ana", "bo", "cy"))
    assert requested_ids(ana) == [SLICE.format(2)] == [visible_devices(ana)]  # the first 1g.10gb slice
    assert requested_ids(bo) == ["1"] == [visible_devices(bo)]  # GPU 0 is in MIG mode: never whole
    assert requested_ids(cy) == [] and visible_devices(cy) == "void"
    assert [c.labels["gluonlab.profile"] for c in (ana, bo, cy)] == ["mig-small", "whole-gpu", "cpu"]
    assert gpu_view(hub)["assignments"] == {"ana": [SLICE.format(2)], "bo": ["1"]}


def test_a_forbidden_profile_or_an_image_is_refused_with_a_clear_message(lab):
    stack, hub = lab
    refused = hub.api("POST", "/users/dee/server", json={"profile": "whole-gpu"})
    assert refused.status_code == 403, refused.text
    assert "Profile 'whole-gpu' is not open to your groups (it is for: instructors)" in refused.json()["message"]
    image = hub.api("POST", "/users/dee/server", json={"profile": "cpu", "image": "gluonlab/hub:latest"})
    assert image.status_code == 400 and "not accepted: image" in image.json()["message"]
    assert not [c for c in stack.user_containers() if c.labels.get("gluonlab.user") == "dee"]


def test_the_spawn_form_shows_the_users_profiles_with_free_seats(lab):
    _, hub = lab
    page = hub.session.get(f"{hub.base_url}/hub/spawn", timeout=30)  # admin is in "students"
    assert page.status_code == 200
    text = page.content.decode("utf-8")
    assert 'value="cpu"' in text and 'value="mig-small"' in text and 'value="whole-gpu"' not in text
    assert "选择服务器类型 / Choose a server" in text
    assert "空闲座位 / free seats: 3" in text  # four 1g.10gb slices, ana holds one


def test_a_hub_restart_keeps_every_assignment(lab):
    stack, hub = lab
    before = gpu_view(hub)["assignments"]
    stack.restart_hub()
    assert gpu_view(hub)["assignments"] == before
    start(hub, "dee", "mig-small")
    assert requested_ids(container_of(stack, "dee")) == [SLICE.format(3)]  # ana's slice stays hers


def test_an_idle_gpu_gets_a_notice_then_returns_to_the_pool(lab):
    """After the restart the gpu-usage service sees no GPU process: ana's and dee's slices
    (profile idle time 2 minutes) are reclaimed, bo's whole GPU is not (instructors are exempt);
    the notice reaches ana's Lab (a pop-up) and her home (a file)."""
    stack, hub = lab
    wait_until(lambda: "ana" in {s["user"] for s in gpu_view(hub)["servers"] if s["idle_minutes"] is not None},
               60, what="the gpu-usage service's first reading")
    ana = container_of(stack, "ana")
    usage = {s["user"]: s for s in gpu_view(hub)["servers"]}
    assert usage["ana"]["processes"] == 0 and usage["ana"]["profile"] == "mig-small"

    def noticed() -> bool:
        return ana.exec_run(["test", "-s", "/home/jovyan/GPU-idle-notice.txt"]).exit_code == 0

    wait_until(noticed, 150, interval=2, what="the idle notice in ana's home")
    notice = ana.exec_run(["cat", "/home/jovyan/GPU-idle-notice.txt"]).output.decode()
    assert "your files are kept" in notice and "文件会保留" in notice
    # The service posts the same notice to ana's Lab before it writes the file: the
    # jupyterlab-notifications-extension queued it for the next Lab tab to poll (none is open
    # here), and its GET, through the hub's proxy with a token of ana's, hands the queue over.
    token = hub.api("POST", "/users/ana/tokens", json={"note": "idle notice check", "expires_in": 600,
                                                       "scopes": ["access:servers!user=ana"]}).json()["token"]
    queued = requests.get(f"{hub.base_url}/user/ana/jupyterlab-notifications-extension/notifications",
                          headers={"Authorization": f"token {token}"}, timeout=10)
    assert queued.status_code == 200, queued.text
    [popup] = [n for n in queued.json()["notifications"] if (n.get("data") or {}).get("source") == "gluonlab-gpu-usage"]
    assert popup["message"] == notice.strip() and (popup["type"], popup["autoClose"]) == ("warning", False)
    wait_until(lambda: not hub.api("GET", "/users/ana").json().get("servers"), 150, interval=2,
               what="ana's idle server to be stopped")
    assigned = gpu_view(hub)["assignments"]
    assert "ana" not in assigned and assigned["bo"] == ["1"]
    # The home volume outlives the stopped server. It is a sized home (GLUONLAB_HOME_SIZE): its
    # loop device is attached only while mounted, so the hub attaches it to read it here.
    volume = f"{stack.instance}-home-ana"
    stack.compose("exec", "-T", "hub", "python3", "-m", "gluonlab_hub.homes", "open", volume)
    try:
        kept = docker.from_env().containers.run("gluonlab/debian-base:bookworm", ["cat", "/home/GPU-idle-notice.txt"],
                                                volumes={volume: {"bind": "/home", "mode": "ro"}},
                                                remove=True, network_disabled=True)
    finally:
        stack.compose("exec", "-T", "hub", "python3", "-m", "gluonlab_hub.homes", "close", volume)
    assert b"your files are kept" in kept


def test_the_admin_page_lists_profiles_and_its_stop_button_stops_a_server(lab):
    stack, hub = lab
    page = hub.session.get(f"{hub.base_url}/hub/gluonlab/gpus", timeout=30)
    assert page.status_code == 200
    text = page.content.decode("utf-8")
    assert "GPU 切片 / GPU slice (<code>mig-small</code>)" in text and 'id="gluonlab-usage"' in text
    assert 'action="/hub/gluonlab/gpus/stop/bo"' in text
    xsrf = hub.session.cookies.get("_xsrf", "")
    stopped = hub.session.post(f"{hub.base_url}/hub/gluonlab/gpus/stop/bo", data={"_xsrf": xsrf},
                               allow_redirects=False, timeout=60)
    assert stopped.status_code == 302, stopped.text
    assert not hub.api("GET", "/users/bo").json().get("servers")
    assert "bo" not in gpu_view(hub)["assignments"]  # GPU 1 is back in the pool
