"""One hub for several hosts, on a real 3-node Docker Swarm (tests/swarm/cluster.py), through the
hub's API: users land on both workers, never two on one (fake) GPU, a user beyond the GPUs is
refused with a message, the shared policy seats two users on each GPU, the hub's restart finds every server again, a user's home follows them,
each worker holds its own copy of the course data, a worker without its node guard starts no
server, and a worker lost mid-workshop is survived.

The GPUs are node generic resources with made-up UUIDs: this proves Swarm's placement and the
hub's bookkeeping (which UUID went to whom, what the admin page, the gauge and the user's
environment say), not GPU access (no NVIDIA runtime in these nodes). Tests run in order and
share one cluster (module scope): each step starts from the one before.
"""
from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import cluster as cluster_mod
from cluster import GPU_RESOURCE, MIG_PROFILE, _wait
from labclient import REPO_ROOT, HubClient, execute, wait_until

sys.path.insert(0, str(REPO_ROOT / "hub"))  # gluonlab_hub, as tests/unit/conftest.py does
sys.path.insert(0, str(REPO_ROOT / "tests" / "content"))
import fakedata  # noqa: E402
from gluonlab_hub import node_guard  # noqa: E402
from gluonlab_hub.homes import parse_size  # noqa: E402
from gluonlab_hub.settings import Settings  # noqa: E402

pytestmark = [pytest.mark.docker, pytest.mark.integration, pytest.mark.swarm, pytest.mark.slow]

USERS = ("alice", "bob", "carol")


def spawn(hub: HubClient, username: str, timeout: float = 240, profile: str | None = None) -> tuple[bool, str]:
    """Ask the hub to start *username*'s server (with *profile*, as the spawn page's choice) and
    follow its progress as the spawn page does; returns (ready, the message the attendee would read)."""
    body = {"json": {"profile": profile}} if profile else {}
    response = hub.api("POST", f"/users/{username}/server", **body)
    if response.status_code == 400:
        # The hub may still be taking down a server it just found lost ("pending stop"): as an
        # attendee would, try again a little later.
        response = _wait(lambda: (r := hub.api("POST", f"/users/{username}/server", **body)).status_code != 400
                         and r, 60, f"the hub to accept {username}'s start")
    # A start that fails within the request answers 500; the reason, as the spawn page shows it,
    # comes from the progress stream either way.
    url = f"{hub.base_url}/hub/api/users/{username}/server/progress"
    with requests.get(url, headers={"Authorization": f"token {hub.token}"}, stream=True, timeout=timeout) as events:
        if events.status_code != 200:
            return False, f"{response.status_code} {response.text}; progress: {events.status_code} {events.text}"
        message = ""
        for line in events.iter_lines(decode_unicode=True):
            if not line or not line.startswith("data:"):
                continue
            event = json.loads(line[len("data:"):])
            message = event.get("message", message)
            if event.get("ready"):
                return True, message
            if event.get("failed"):
                return False, message
    return False, f"progress stream ended: {message}"


def gpu_view(hub: HubClient) -> dict:
    response = requests.get(f"{hub.base_url}/hub/api/gluonlab/gpus", headers={"Authorization": f"token {hub.token}"},
                            timeout=10)
    response.raise_for_status()
    return response.json()


def environ(container) -> dict[str, str]:
    raw = container.exec_run(["cat", "/proc/1/environ"]).output.decode()
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def in_container(container, code: str) -> str:
    result = container.exec_run(["python3", "-c", code])
    assert result.exit_code == 0, result.output.decode()
    return result.output.decode().strip()


@pytest.fixture(scope="module")
def hub(swarm_lab) -> HubClient:
    client = swarm_lab.admin()
    for name in USERS:
        assert client.api("POST", f"/users/{name}").status_code == 201
    return client


def test_users_land_on_both_workers_each_with_their_own_gpu(swarm_lab, hub):
    with ThreadPoolExecutor(2) as pool:
        outcomes = dict(zip(("alice", "bob"), pool.map(lambda name: spawn(hub, name), ("alice", "bob"))))
    assert all(ok for ok, _ in outcomes.values()), f"{outcomes}\n{swarm_lab.logs()[-4000:]}"
    cluster = swarm_lab.cluster
    nodes = {name: cluster.node_of_task(swarm_lab.service_name(name)) for name in ("alice", "bob")}
    assert sorted(nodes.values()) == ["worker1", "worker2"], nodes
    # What Swarm handed out is what the hub reports: its admin page's API, its gauge...
    view = gpu_view(hub)
    assigned = view["assignments"]
    assert set(assigned) == {"alice", "bob"}
    for name, node in nodes.items():
        assert assigned[name] == cluster.nodes[node].gpus, (name, node, assigned)
    assert [g["id"] for g in view["gpus"]] == [g for n in ("worker1", "worker2")
                                               for g in cluster.nodes[n].gpus + cluster.nodes[n].slices]
    metrics = requests.get(f"{swarm_lab.url}/hub/metrics", headers={"Authorization": f"token {hub.token}"},
                           timeout=10).text
    for name, gpus in assigned.items():
        assert f'gluonlab_gpu_assigned{{gpu="{gpus[0]}",user="{name}"}} 1.0' in metrics
    # ...the container's own environment (what the NVIDIA runtime would read) and the user's.
    alice = swarm_lab.container_of("alice")
    assert environ(alice)[f"DOCKER_RESOURCE_{GPU_RESOURCE}"] == assigned["alice"][0]
    seen = execute(swarm_lab.url, "alice", hub.token, "import os; print(os.environ['GLUONLAB_GPUS'], "
                                                      "os.environ['GLUONLAB_GPU_DESCRIPTION'])")
    assert seen["stdout"].split(" ", 1) == [assigned["alice"][0], f"GPU {assigned['alice'][0]} (picked by Swarm)\n"]


COURSE_DATA = "/opt/gluonlab/course-data"
TRY_TO_CHANGE = f"""
import errno, os
try:
    open('{COURSE_DATA}/timemachine/notes.txt', 'w')
    print('allowed')
except OSError as e:
    print(errno.errorcode[e.errno])
print(open('{COURSE_DATA}/timemachine/timemachine.txt').read(40))
"""


def course_data(swarm_lab, *argv: str) -> tuple[int, str]:
    """``gluonlab-course-data ARGV`` in the hub container, as an admin runs it on the manager."""
    result = swarm_lab.hub.exec_run(["gluonlab-course-data", *argv])
    return result.exit_code, result.output.decode()


def test_every_worker_holds_the_course_data_its_servers_mount_read_only(swarm_lab, hub, tmp_path):
    cluster = swarm_lab.cluster
    volume = swarm_lab.env["GLUONLAB_COURSE_DATA_VOLUME"]
    workers = sorted(n.hostname for n in cluster.workers)
    # The volume is empty on every worker yet: check says so for each one, by name.
    code, output = course_data(swarm_lab, "check")
    assert code == 1, output
    for name in workers:
        assert f"== {name}: failed (exit 1)" in output, output
    assert output.count("timemachine/timemachine.txt") >= 2, output
    # A fill runs on every worker: where the --from folder is, it refuses what does not match the
    # registry's SHA-1 (generated stand-ins: the real files cannot be fetched here); where it is
    # not, that worker's line says so.
    text = fakedata.time_machine_text().encode()
    with_folder = cluster.nodes[workers[0]].container
    with_folder.exec_run(["mkdir", "-p", "/srv/course-src/timemachine"])
    assert with_folder.put_archive("/srv/course-src", cluster_mod.tar_of({"timemachine/timemachine.txt": text}))
    code, output = course_data(swarm_lab, "fill", "--from", "/srv/course-src", "--timeout", "120")
    assert code == 1, output
    first, second = output.split(f"== {workers[1]}: ")
    assert f"== {workers[0]}: failed (exit 1)" in first, output
    assert "timemachine/timemachine.txt: refused (wrong checksum" in first, output
    assert second.startswith("rejected (exit 1)") and "bind source path does not exist: /srv/course-src" in second
    assert not cluster.manager.engine.services.list(filters={"name": f"{cluster_mod.INSTANCE}-course-data"})
    # Files in a worker's copy (written as the fill writes them: root's, through a container of
    # the image) reach the server running there at once, and the attendee cannot change them.
    home = cluster.node_of_task(swarm_lab.service_name("alice"))
    engine = cluster.nodes[home].engine
    writer = engine.containers.create(swarm_lab.env["GLUONLAB_NOTEBOOK_IMAGE"], ["true"], network_mode="none",
                                      user="0", volumes={volume: {"bind": COURSE_DATA, "mode": "rw"}})
    try:
        assert writer.put_archive(COURSE_DATA, cluster_mod.tar_of({"timemachine/timemachine.txt": text}))
    finally:
        writer.remove(force=True)
    alice = swarm_lab.container_of("alice")
    mounts = {m["Destination"]: m for m in alice.attrs["Mounts"]}
    assert (mounts[COURSE_DATA]["Name"], mounts[COURSE_DATA]["RW"]) == (volume, False)
    attempt, first = in_container(alice, TRY_TO_CHANGE).split("\n", 1)
    assert attempt == "EROFS" and first == text[:40].decode().strip()


def test_servers_on_workers_get_the_single_host_hardening(swarm_lab):
    alice = swarm_lab.container_of("alice")
    host_config = alice.attrs["HostConfig"]
    assert host_config["CapDrop"] == ["ALL"] and not host_config["Privileged"]
    assert host_config["PidsLimit"] == 512
    assert host_config["Memory"] == 1 << 30 and host_config["NanoCpus"] == 10**9
    status = dict(line.split(":\t", 1) for line in alice.exec_run(["cat", "/proc/1/status"]).output.decode().splitlines()
                  if ":\t" in line)
    assert status["NoNewPrivs"].strip() == "1" and int(status["CapEff"], 16) == 0
    shm = in_container(alice, "import os; s = os.statvfs('/dev/shm'); print(s.f_blocks * s.f_frsize)")
    assert int(shm) == 1 << 30
    assert "Healthcheck" not in alice.attrs["Config"] or alice.attrs["Config"]["Healthcheck"]["Test"] == ["NONE"]
    # Outside the home, as on one host: a read-only root, /tmp a tmpfs of GLUONLAB_TMP_SIZE, a capped log.
    assert host_config["ReadonlyRootfs"] is True
    assert host_config["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "2"}}
    # As root (the owner of /, so only the read-only mount can refuse), then /tmp as the attendee.
    refused = alice.exec_run(["touch", "/x"], user="root")
    assert refused.exit_code != 0 and b"Read-only file system" in refused.output, refused.output
    assert alice.exec_run(["touch", "/tmp/x"], user="1000").exit_code == 0
    tmp = in_container(alice, "import os; s = os.statvfs('/tmp'); print(s.f_blocks * s.f_frsize)")
    assert int(tmp) == parse_size(Settings.from_env({}).tmp_size)


FILL_HOME = """import errno, os
s = os.statvfs('/home/jovyan')
print(s.f_blocks * s.f_frsize, os.stat('/home/jovyan').st_uid, os.path.exists('/home/jovyan/.bashrc'))
try:
    with open('/home/jovyan/big', 'wb') as f:
        for _ in range(80):
            f.write(bytes(1 << 20))
            f.flush()
    print('fits')
except OSError as e:
    print(errno.errorcode[e.errno])
os.remove('/home/jovyan/big')"""


def test_homes_on_workers_are_sized(swarm_lab, hub):
    # GLUONLAB_HOME_SIZE=64m: the node guard mounted a 64 MiB ext4 on alice's home before her
    # server started, with the image's skeleton, owned by her; writing past it fails there only.
    alice = swarm_lab.container_of("alice")
    size, owner, skeleton, verdict = in_container(alice, FILL_HOME).split()
    assert 50 << 20 < int(size) <= 64 << 20 and owner == "1000" and skeleton == "True"
    assert verdict == "ENOSPC"
    mounts = alice.exec_run(["cat", "/proc/self/mounts"]).output.decode()
    assert any(line.split()[1:3] == ["/home/jovyan", "ext4"] and line.startswith("/dev/loop")
               for line in mounts.splitlines()), mounts
    # The node's image file is the home; the volume Docker made is its small placeholder.
    node = swarm_lab.cluster.nodes[swarm_lab.cluster.node_of_task(swarm_lab.service_name("alice"))]
    volume = node.engine.volumes.get(f"{cluster_mod.INSTANCE}-home-alice")
    assert volume.attrs["Labels"]["org.gluonlab.home-size"] == str(64 << 20)


PROBE = """import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), 5).close()
    print("open")
except OSError as error:
    print(type(error).__name__)"""


def connect(container, host: str, port: int) -> str:
    """"open", or the error a connection from *container* to host:port met."""
    result = container.exec_run(["python3", "-c", PROBE, host, str(port)])
    return result.output.decode().strip()


def test_servers_on_workers_are_kept_apart_by_the_node_guard(swarm_lab, hub):
    cluster = swarm_lab.cluster
    alice, bob = swarm_lab.container_of("alice"), swarm_lab.container_of("bob")
    for name in ("alice", "bob"):
        node = cluster.nodes[cluster.node_of_task(swarm_lab.service_name(name))]
        status = cluster_mod.node_guard_status(node)
        assert status["hub"] and list(status["servers"].values()) == ["isolated"], (node.hostname, status)
    bob_ip = bob.attrs["NetworkSettings"]["Networks"][cluster_mod.INSTANCE]["IPAddress"]
    # Across nodes, over the overlay: bob's server (by service name and by address) is closed to alice...
    assert connect(alice, swarm_lab.service_name("bob"), 8888) == "ConnectionRefusedError"
    assert connect(alice, bob_ip, 8888) == "ConnectionRefusedError"
    # ...as are the cluster's hosts (the manager's Docker API and the Swarm port here; SSH and the
    # registry on real hosts), which would see the worker's own, trusted, address...
    for port in (cluster_mod.ENGINE_PORT, 2377):
        assert connect(alice, cluster.manager.ip, port) == "ConnectionRefusedError"
    # ...while the hub, by the same name and port, gets through: the refusals are the guard's,
    # not a server that is not listening.
    hub_container = cluster.manager.engine.containers.get("hub")
    assert connect(hub_container, swarm_lab.service_name("bob"), 8888) == "open"
    # The hub's two ports stay open to servers, and the server answers through the hub.
    assert connect(alice, "hub", 8081) == "open"
    seen = execute(swarm_lab.url, "bob", hub.token, "print(6 * 7)")
    assert seen["stdout"] == "42\n"


def test_a_user_beyond_the_gpus_is_refused_with_a_message(swarm_lab, hub):
    ok, message = spawn(hub, "carol")
    assert not ok and "All GPUs on any node are in use (2 GPU(s) in the cluster" in message, message
    assert "所有 GPU 都已分配" in message
    _wait(lambda: not hub.api("GET", "/users/carol").json().get("servers"), 60, "carol's failed spawn to clear")
    manager = swarm_lab.cluster.manager.engine
    assert not manager.services.list(filters={"name": swarm_lab.service_name("carol")})  # nothing left holding a GPU
    assert "carol" not in gpu_view(hub)["assignments"]
    # A CPU seat (the profiles file's other profile) needs no GPU: carol gets one, with its limits.
    ok, message = spawn(hub, "carol", profile="cpu")
    assert ok, message
    service = manager.services.get(swarm_lab.service_name("carol")).attrs["Spec"]["TaskTemplate"]
    assert "Reservations" not in service["Resources"] or not service["Resources"]["Reservations"].get(
        "GenericResources")
    assert service["Resources"]["Limits"]["MemoryBytes"] == parse_size("768m")
    carol = environ(swarm_lab.container_of("carol"))
    assert carol["GLUONLAB_PROFILE"].startswith("CPU 座位") and carol["NVIDIA_VISIBLE_DEVICES"] == "void"
    assert "carol" not in gpu_view(hub)["assignments"]
    hub.stop_server("carol")


def test_a_mig_profile_gets_the_slice_swarm_picks_and_the_next_is_refused(swarm_lab, hub):
    # worker2's one MIG slice, its own generic resource kind (swarm_spawner.mig_resource).
    cluster, slice_uuid = swarm_lab.cluster, swarm_lab.cluster.nodes["worker2"].slices[0]
    for name in ("dave", "erin"):
        assert hub.api("POST", f"/users/{name}").status_code == 201
    ok, message = spawn(hub, "dave", profile="slice")
    assert ok, message
    assert cluster.node_of_task(swarm_lab.service_name("dave")) == "worker2"
    assert gpu_view(hub)["assignments"]["dave"] == [slice_uuid]
    variable = f"DOCKER_RESOURCE_{GPU_RESOURCE}-MIG-{MIG_PROFILE}".upper()  # Swarm's name for it
    assert environ(swarm_lab.container_of("dave"))[variable] == slice_uuid
    seen = execute(swarm_lab.url, "dave", hub.token, "import os; print(os.environ['GLUONLAB_GPU_DESCRIPTION'])")
    assert seen["stdout"] == f"MIG slice {slice_uuid} (picked by Swarm)\n"
    ok, message = spawn(hub, "erin", profile="slice")
    assert not ok and "Every MIG 1g.10gb slice on any node is in use (1 in the cluster" in message, message
    _wait(lambda: not hub.api("GET", "/users/erin").json().get("servers"), 60, "erin's failed spawn to clear")
    hub.stop_server("dave")
    assert "dave" not in gpu_view(hub)["assignments"]


def test_the_shared_policy_seats_two_users_on_each_gpu_and_refuses_the_next(swarm_lab, hub):
    # Each worker GPU is registered with two seats (cluster.SEATS_PER_GPU), which the exclusive
    # hub so far left alone. The admin switches the hub to the shared policy; alice and bob keep
    # their servers (seat 1 each).
    cluster = swarm_lab.cluster
    gpus = [g for n in cluster.workers for g in n.gpus]
    swarm_lab.replace_hub({"GLUONLAB_GPU_POLICY": "shared"})
    try:
        assert set(gpu_view(hub)["assignments"]) == {"alice", "bob"}
        for name in ("fay", "gus"):
            assert hub.api("POST", f"/users/{name}").status_code == 201
        # Two at once, as in a login rush: each takes a second seat, on a different GPU.
        with ThreadPoolExecutor(2) as pool:
            outcomes = dict(zip(("fay", "gus"), pool.map(lambda name: spawn(hub, name), ("fay", "gus"))))
        assert all(ok for ok, _ in outcomes.values()), f"{outcomes}\n{swarm_lab.logs()[-4000:]}"
        view = gpu_view(hub)
        assigned = view["assignments"]
        assert sorted(g for held in assigned.values() for g in held) == sorted(gpus * cluster_mod.SEATS_PER_GPU)
        assert assigned["fay"] != assigned["gus"]
        variable = f"DOCKER_RESOURCE_{GPU_RESOURCE}-SEAT-2"
        for name in ("fay", "gus"):
            # The GPU's own UUID, in the variable of its second seat: what the NVIDIA runtime reads.
            assert environ(swarm_lab.container_of(name))[variable] == assigned[name][0]
        seen = execute(swarm_lab.url, "fay", hub.token, "import os; print(os.environ['GLUONLAB_GPU_DESCRIPTION'])")
        assert seen["stdout"] == f"GPU {assigned['fay'][0]} (picked by Swarm)\n"
        metrics = requests.get(f"{swarm_lab.url}/hub/metrics", headers={"Authorization": f"token {hub.token}"},
                               timeout=10).text
        assert f'gluonlab_gpu_assigned{{gpu="{assigned["gus"][0]}",user="gus"}} 1.0' in metrics
        # A GPU seat (erin asked for a MIG slice last time: the hub keeps a user's last choice).
        ok, message = spawn(hub, "erin", profile="gpu")
        assert not ok and "All GPUs on any node are in use (2 GPU(s) in the cluster, up to 2 users each)" in message, \
            message
        _wait(lambda: not hub.api("GET", "/users/erin").json().get("servers"), 60, "erin's failed spawn to clear")
        # A seat given back is taken again.
        hub.stop_server("gus")
        ok, message = spawn(hub, "erin", profile="gpu")
        assert ok, message
        assert gpu_view(hub)["assignments"]["erin"] == assigned["gus"]
    finally:
        for name in ("fay", "gus", "erin"):
            hub.stop_server(name)
        swarm_lab.replace_hub({"GLUONLAB_GPU_POLICY": "exclusive"})
    assert set(gpu_view(hub)["assignments"]) == {"alice", "bob"}


def test_a_hub_restart_finds_every_server_again(swarm_lab, hub):
    before = gpu_view(hub)["assignments"]
    swarm_lab.restart_hub()
    for name in ("alice", "bob"):
        wait_until(lambda n=name: requests.get(f"{swarm_lab.url}/user/{n}/api/status",
                                               headers={"Authorization": f"token {hub.token}"}, timeout=10).ok,
                   60, what=f"{name}'s server through the proxy after the hub restart")
    assert gpu_view(hub)["assignments"] == before


def test_a_restarted_user_lands_where_their_home_is(swarm_lab, hub):
    cluster = swarm_lab.cluster
    home = cluster.node_of_task(swarm_lab.service_name("alice"))
    in_container(swarm_lab.container_of("alice"), "open('/home/jovyan/notes.txt', 'w').write('kept')")
    hub.stop_server("alice")
    ok, message = spawn(hub, "alice")
    assert ok, message
    assert cluster.node_of_task(swarm_lab.service_name("alice")) == home
    assert in_container(swarm_lab.container_of("alice"), "print(open('/home/jovyan/notes.txt').read())") == "kept"
    # An admin cannot move the home of a running server (the volume would be in use).
    other = next(n.hostname for n in cluster.workers if n.hostname != home)
    moved = hub.api("PUT", "/gluonlab/home-node/alice", json={"node": other})
    assert moved.status_code == 409 and "stop alice's server first" in moved.text


def hold_home(guard, user: str) -> str:
    """Attach *user*'s home image to a loop device in its node's guard, as a server that has not
    let it go yet holds it; returns the device."""
    held = guard.exec_run(["losetup", "--find", "--show", f"/homes/{cluster_mod.INSTANCE}-home-{user}.img"])
    assert held.exit_code == 0, held.output.decode()
    return held.output.decode().strip()


def test_a_start_waits_while_the_users_previous_server_still_holds_the_home(swarm_lab, hub):
    # After a quick stop and start, the old container can hold the home a moment longer than its
    # service. Held here by hand, on the home's node: the guard waits for it (up to
    # home_release_wait_s), and mounts it once it is let go; held for longer, the start is refused
    # with the reason, and the files are untouched.
    cluster = swarm_lab.cluster
    home = cluster.node_of_task(swarm_lab.service_name("alice"))
    guard = cluster.nodes[home].engine.containers.get(f"{cluster_mod.INSTANCE}-node-guard")
    hub.stop_server("alice")
    device = hold_home(guard, "alice")
    since = int(time.time())
    try:
        ok, message = spawn(hub, "alice")
        assert not ok and f"Your home folder could not be mounted on node {home}" in message, message
        assert "your files are untouched" in message
        log = guard.logs(since=since).decode()
        assert "waiting for its home to be let go" in log  # it waited first...
        assert "its home cannot be mounted, not starting it" in log and "a server of this user still runs" in log, log
        _wait(lambda: not hub.api("GET", "/users/alice").json().get("servers"), 60, "alice's refused spawn to clear")
    finally:
        guard.exec_run(["losetup", "--detach", device])
    device = hold_home(guard, "alice")
    since = int(time.time())
    with ThreadPoolExecutor(1) as pool:
        started = pool.submit(spawn, hub, "alice")
        try:
            _wait(lambda: b"waiting for its home to be let go" in guard.logs(since=since), 90,
                  "the guard to wait for alice's home")
        finally:
            guard.exec_run(["losetup", "--detach", device])
        ok, message = started.result()
    assert ok, message
    assert cluster.node_of_task(swarm_lab.service_name("alice")) == home
    assert in_container(swarm_lab.container_of("alice"), "print(open('/home/jovyan/notes.txt').read())") == "kept"


def test_a_worker_whose_node_guard_is_down_starts_no_server(swarm_lab, hub):
    cluster = swarm_lab.cluster
    home = cluster.node_of_task(swarm_lab.service_name("alice"))
    # Every server so far started only once its guard had written its rules (the guard's gate).
    gate = in_container(swarm_lab.container_of("alice"), f"print(open({node_guard.GATE_FILE!r}).read())")
    assert gate == "rules in place"
    hub.stop_server("alice")
    guard = cluster.nodes[home].engine.containers.get(f"{cluster_mod.INSTANCE}-node-guard")
    guard.stop()
    try:
        ok, message = spawn(hub, "alice")
        wait = node_guard.gate_wait_s(int(swarm_lab.env["GLUONLAB_NETGUARD_INTERVAL"]))
        assert not ok and (f"The node guard on node {home} did not put your server's network rules in place "
                           f"within {wait} s") in message, message
        assert f"the {cluster_mod.INSTANCE}-node-guard container must run on {home}" in message
        assert "ContainerStatus" not in message  # the hub's words, not Swarm's status record
        _wait(lambda: not hub.api("GET", "/users/alice").json().get("servers"), 60, "alice's failed spawn to clear")
        assert not cluster.manager.engine.services.list(filters={"name": swarm_lab.service_name("alice")})
    finally:
        guard.start()
    ok, message = spawn(hub, "alice")
    assert ok, message
    assert cluster.node_of_task(swarm_lab.service_name("alice")) == home
    assert in_container(swarm_lab.container_of("alice"), "print(open('/home/jovyan/notes.txt').read())") == "kept"


def remove_accounts(swarm_lab, *argv: str) -> tuple[int, str]:
    """``gluonlab-accounts remove ARGV`` in the hub container, as an admin runs it on the manager."""
    result = swarm_lab.hub.exec_run(["gluonlab-accounts", "remove", *argv])
    return result.exit_code, result.output.decode()


def test_removing_an_account_exports_and_removes_its_home_on_its_worker(swarm_lab, hub):
    # carol's sized home, with a file of hers, on some worker; her server still running.
    ok, message = spawn(hub, "carol", profile="cpu")
    assert ok, message
    in_container(swarm_lab.container_of("carol"), "open('/home/jovyan/notes.txt', 'w').write('carol')")
    node = swarm_lab.cluster.nodes[swarm_lab.cluster.node_of_task(swarm_lab.service_name("carol"))]
    code, out = remove_accounts(swarm_lab, "--prefix", "carol")
    assert code == 0, out
    assert "carol: server stopped" in out and "carol: account deleted" in out
    assert f"home removed on {node.hostname}" in out
    exported = next(line for line in out.splitlines() if "home exported on" in line)
    stamp_file = exported.split(" to ", 1)[1].split(" in its exports volume")[0]
    # The export is in that worker's exports volume, hers alone (0600), with her file in it.
    reader = node.engine.containers.run(
        swarm_lab.env["GLUONLAB_NOTEBOOK_IMAGE"], ["sh", "-c", f"stat -c %a /e/{stamp_file}; tar -xzOf /e/{stamp_file} "
                                                               f"./notes.txt; echo; tar -tzvf /e/{stamp_file}; true"],
        volumes={f"{cluster_mod.INSTANCE}-exports": {"bind": "/e", "mode": "ro"}}, entrypoint=[], remove=True,
        user="0").decode().split("\n")
    assert reader[:2] == ["600", "carol"], f"{reader}\n{out}"
    # Her home is gone from the worker (volume and image file), and so is her account.
    assert not node.engine.volumes.list(filters={"name": f"{cluster_mod.INSTANCE}-home-carol"})
    guard = node.engine.containers.get(f"{cluster_mod.INSTANCE}-node-guard")
    assert guard.exec_run(["ls", "/homes"]).output.decode().split().count(f"{cluster_mod.INSTANCE}-home-carol.img") == 0
    assert hub.api("GET", "/users/carol").status_code == 404


def test_a_lost_worker_is_survived_and_its_users_start_elsewhere(swarm_lab, hub):
    cluster = swarm_lab.cluster
    lost = cluster.node_of_task(swarm_lab.service_name("bob"))
    kept = next(n.hostname for n in cluster.workers if n.hostname != lost)
    in_container(swarm_lab.container_of("bob"), "open('/home/jovyan/notes.txt', 'w').write('bob')")
    cluster.nodes[lost].container.kill()  # as a power cut: no goodbye to the manager
    manager = cluster.manager.engine
    _wait(lambda: manager.api.inspect_node(lost)["Status"]["State"] == "down", 60, f"the manager to see {lost} down")
    # Everyone else carries on: alice's server still answers through the hub.
    assert requests.get(f"{swarm_lab.url}/user/alice/api/status", headers={"Authorization": f"token {hub.token}"},
                        timeout=10).ok
    # bob is told plainly where his files are and what a new start gives him.
    ok, message = spawn(hub, "bob")
    assert not ok and f"The node that holds your files, {lost}, is unavailable" in message, message
    assert "EMPTY home folder" in message
    # The only GPU left is alice's: once she stops, bob starts on the node that is left.
    hub.stop_server("alice")
    ok, message = spawn(hub, "bob")
    assert ok, message
    assert cluster.node_of_task(swarm_lab.service_name("bob")) == kept
    files = in_container(swarm_lab.container_of("bob"), "import os; print(os.path.exists('/home/jovyan/notes.txt'))")
    assert files == "False"  # a new, empty home, as the message said
    assert gpu_view(hub)["assignments"] == {"bob": cluster.nodes[kept].gpus}


def test_no_account_is_removed_while_a_worker_cannot_be_looked_at(swarm_lab, hub):
    # The worker killed above is down: homes there cannot be checked, so alice's account stays.
    down = next(n.hostname for n in swarm_lab.cluster.workers
                if swarm_lab.cluster.manager.engine.api.inspect_node(n.hostname)["Status"]["State"] == "down")
    code, out = remove_accounts(swarm_lab, "--prefix", "alice")
    assert code != 0, out
    assert f"alice: FAILED to export or remove its home on {down}: not looked at, the node is down" in out, out
    assert hub.api("GET", "/users/alice").status_code == 200
    # A drained worker (an admin taking it out for maintenance) is not looked at either: it runs
    # no task, so the answer is the same, naming it as drained, even with no worker left to run
    # anything. (bob's server there is stopped by the drain; this is the module's last step.)
    manager = swarm_lab.cluster.manager.engine
    drained = next(n.hostname for n in swarm_lab.cluster.workers if n.hostname != down)
    spec = manager.api.inspect_node(drained)
    manager.api.update_node(drained, spec["Version"]["Index"], {**spec["Spec"], "Availability": "drain"})
    try:
        code, out = remove_accounts(swarm_lab, "--prefix", "bob")
        assert code != 0, out
        assert f"bob: FAILED to export or remove its home on {drained}: not looked at, the node is drained" in out, out
        assert f"bob: FAILED to export or remove its home on {down}: not looked at, the node is down" in out, out
        assert hub.api("GET", "/users/bob").status_code == 200
    finally:
        spec = manager.api.inspect_node(drained)
        manager.api.update_node(drained, spec["Version"]["Index"], {**spec["Spec"], "Availability": "active"})
