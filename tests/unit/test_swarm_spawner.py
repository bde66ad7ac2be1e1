"""LabSwarmSpawner without a Docker engine: the service it asks Swarm for, the GPU bookkeeping,
the home pin in the state, lost nodes, and the messages attendees get.

The same against a real 3-node Swarm, through the hub: tests/swarm/test_swarm_hub.py. Where a
Swarm answer is needed here, `SwarmAnswers` gives the spawner the objects a manager returns
(their shape as the engine API documents it), nothing more.
"""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import docker
import pytest
from jupyterhub.objects import Hub
from traitlets.config import Config

from gluonlab_hub import hub_config, swarm_spawner
from gluonlab_hub.node_guard import GATE_EXIT, GATE_FILE
from gluonlab_hub.node_homes import HOME_FAILED_EXIT, NO_ROOM_EXIT, REFUSED_FILE
from gluonlab_hub.gpus import AssignmentCollector, Gpu, GpuRequest, GpuSetupError
from gluonlab_hub.settings import Settings, SettingsError
from gluonlab_hub.swarm_spawner import (
    NOTEBOOK_CMD,
    LabSwarmSpawner,
    HomeMoveRefused,
    NodeUnavailable,
    ServiceNotPlaced,
    SwarmGpuLedger,
    assigned_gpus,
    hub_swarm_ledger,
    node_gpus,
    node_problem,
    pending_reason,
    service_create_kwargs,
    start_args,
)

REPO = Path(__file__).resolve().parents[2]
NO_ENGINE = "unix:///nonexistent/docker.sock"


def named(entry: str) -> dict:
    """A named generic resource as the engine shows it: ``GPU-…`` a whole GPU (its first seat),
    ``GPU-…=seat2`` its second seat, ``MIG-…=1g.10gb`` a MIG slice (kinds as the docker_swarm
    role registers them)."""
    uuid, _, extra = entry.partition("=")
    kind = f"NVIDIA-GPU-SEAT-{extra[4:]}" if extra.startswith("seat") else f"NVIDIA-GPU-MIG-{extra}" if extra \
        else "NVIDIA-GPU"
    return {"NamedResourceSpec": {"Kind": kind, "Value": uuid}}


def seated(uuid: str, seats: int) -> list[str]:
    """The entries of a GPU registered with *seats* seats (docker_swarm_gpu_seats)."""
    return [uuid] + [f"{uuid}=seat{n}" for n in range(2, seats + 1)]


def node(hostname: str, *uuids: str, state: str = "ready", availability: str = "active") -> dict:
    return {"ID": f"id-{hostname}", "Spec": {"Availability": availability},
            "Status": {"State": state},
            "Description": {"Hostname": hostname, "Resources": {"GenericResources": [named(u) for u in uuids]}}}


def task(state: str, node_id: str = "id-w1", err: str = "", gpus: tuple[str, ...] = (), user: str = "") -> dict:
    return {"ID": "t1", "NodeID": node_id, "Status": {"State": state, "Err": err},
            "Spec": {"ContainerSpec": {"Labels": {"gluonlab.user": user} if user else {}}},
            "GenericResources": [named(g) for g in gpus]}


def spawner(name: str = "alice", **traits) -> LabSwarmSpawner:
    user = SimpleNamespace(name=name, id=1, url=f"/user/{name}/", escaped_name=name)
    traits.setdefault("placement_grace_s", 0)
    return LabSwarmSpawner(user=user, hub=Hub(), prefix="lab", client_kwargs={"base_url": NO_ENGINE}, **traits)


def spec(**overrides) -> dict:
    args = dict(name="lab-alice", image="gluonlab/notebook:cpu", args=["start-notebook.sh"], env={"A": "1"},
                labels={"gluonlab.user": "alice"}, home_volume="lab-home-alice", home_dir="/home/jovyan",
                network="lab", mem_limit=4 << 30, cpu_limit=2.0, pids_limit=512, shm_size="1g",
                constraints=["node.role==worker"], gpu_resource="NVIDIA-GPU", want_gpu=True)
    return service_create_kwargs(**{**args, **overrides})


# ------------------------------------------------------------------ the service spec


def test_the_service_gets_the_single_host_hardening_and_limits() -> None:
    kwargs = spec()
    template = kwargs["task_template"]
    container = template["ContainerSpec"]
    assert container["CapabilityDrop"] == ["ALL"]
    assert container["Healthcheck"] == {"Test": ["NONE"]}
    assert "Privileges" not in container  # nothing that could raise privileges
    mounts = {m["Target"]: m for m in container["Mounts"]}
    assert mounts["/home/jovyan"]["Type"] == "volume" and mounts["/home/jovyan"]["Source"] == "lab-home-alice"
    assert mounts["/dev/shm"]["Type"] == "tmpfs" and mounts["/dev/shm"]["TmpfsOptions"]["SizeBytes"] == 1 << 30
    assert template["Resources"]["Limits"] == {"NanoCPUs": 2_000_000_000, "MemoryBytes": 4 << 30, "Pids": 512}
    assert template["Resources"]["Reservations"]["GenericResources"] == [
        {"DiscreteResourceSpec": {"Kind": "NVIDIA-GPU", "Value": 1}}]
    assert template["RestartPolicy"]["Condition"] == "none"
    assert template["Placement"]["Constraints"] == ["node.role==worker"]
    assert kwargs["endpoint_spec"]["Mode"] == "dnsrr"
    assert kwargs["labels"] == {"gluonlab.user": "alice"} == container["Labels"]


def test_the_service_root_is_read_only_with_a_sized_tmp_and_a_capped_log() -> None:
    container = spec(tmp_size="512m")["task_template"]["ContainerSpec"]
    assert container["ReadOnly"] is True
    tmp = {m["Target"]: m for m in container["Mounts"]}["/tmp"]
    assert tmp["Type"] == "tmpfs" and tmp["TmpfsOptions"] == {"SizeBytes": 512 << 20, "Mode": 0o1777}
    log_driver = spec(tmp_size="512m")["task_template"]["LogDriver"]
    assert log_driver == {"Name": "json-file", "Options": {"max-size": "10m", "max-file": "2"}}
    writable = spec(tmp_size="0")["task_template"]["ContainerSpec"]
    assert not writable.get("ReadOnly") and "/tmp" not in {m["Target"] for m in writable["Mounts"]}


def test_the_hub_says_which_single_host_settings_swarm_does_not_apply() -> None:
    # With node guards (the default) everything is applied: the course data as each worker's
    # copy, sized homes mounted by the guards.
    assert hub_config.swarm_unsupported(Settings.from_env({"GLUONLAB_SPAWNER_BACKEND": "swarm",
                                                           "GLUONLAB_COURSE_DATA_VOLUME": "course-data"})) == []
    # Without them, sized homes are not, and the hub says so with the fix.
    said = hub_config.swarm_unsupported(Settings.from_env({"GLUONLAB_SPAWNER_BACKEND": "swarm",
                                                           "GLUONLAB_NETWORK_ISOLATION": "0"}))
    assert len(said) == 1
    assert said[0].startswith("GLUONLAB_HOME_SIZE=2g is not applied") and "GLUONLAB_HOME_SIZE=0" in said[0]
    assert hub_config.swarm_unsupported(Settings.from_env({"GLUONLAB_SPAWNER_BACKEND": "swarm",
                                                           "GLUONLAB_NETWORK_ISOLATION": "0",
                                                           "GLUONLAB_HOME_SIZE": "0"})) == []


def test_a_sized_home_volume_carries_its_size_for_the_node_guard() -> None:
    mounts = {m["Target"]: m for m in spec(home_size=64 << 20)["task_template"]["ContainerSpec"]["Mounts"]}
    home = mounts["/home/jovyan"]
    assert home["Type"] == "volume" and home["Source"] == "lab-home-alice"
    assert home["VolumeOptions"]["Labels"] == {"org.gluonlab.home-size": str(64 << 20)}
    # A plain home: no label, so the guard leaves it as it is.
    plain = {m["Target"]: m for m in spec()["task_template"]["ContainerSpec"]["Mounts"]}["/home/jovyan"]
    assert "Labels" not in (plain.get("VolumeOptions") or {})


def test_a_cpu_only_service_reserves_no_gpu() -> None:
    assert "Reservations" not in spec(want_gpu=False)["task_template"]["Resources"]


def test_the_spawner_pins_a_known_home_and_keeps_the_pin_across_stops() -> None:
    alice = spawner(constraints=["node.role==worker"])
    assert alice.placement_constraints() == ["node.role==worker"]
    alice.load_state({"object_id": "s1", "object_name": "lab-alice", "home_node": "w2"})
    assert alice.placement_constraints() == ["node.role==worker", "node.hostname==w2"]
    alice.object_id = ""  # the service is gone
    alice.clear_state()  # what the hub does at every stop
    assert alice.get_state() == {"home_node": "w2"}
    after_restart = spawner()
    after_restart.load_state(alice.get_state())
    assert after_restart.home_node == "w2"


def test_cpu_only_servers_see_no_gpu_and_say_so() -> None:
    env = spawner().get_env()
    assert env["NVIDIA_VISIBLE_DEVICES"] == "void" and env["GLUONLAB_GPU_DESCRIPTION"] == "CPU only"


def test_the_notebook_command_is_the_images() -> None:
    dockerfile = (REPO / "images/notebook/Dockerfile").read_text(encoding="utf-8")
    assert f'CMD {NOTEBOOK_CMD}'.replace("'", '"') in dockerfile
    assert spawner().cmd == NOTEBOOK_CMD


@pytest.mark.parametrize("kind, swarm_gpu, banner", [
    ("NVIDIA-GPU", "GPU-2b18", "GPU GPU-2b18 (picked by Swarm)"), ("NVIDIA-GPU", None, ""),
    # Swarm upper-cases the kind in the variable's name (swarmkit's EnvFormat).
    ("NVIDIA-GPU-MIG-1g.10gb", "MIG-5c1e", "MIG slice MIG-5c1e (picked by Swarm)"),
    # A shared GPU's second seat carries the GPU's own UUID.
    ("NVIDIA-GPU-SEAT-2", "GPU-2b18", "GPU GPU-2b18 (picked by Swarm)")])
def test_the_start_command_copies_swarms_gpu_into_the_banner_variables(kind, swarm_gpu, banner) -> None:
    # Really run, as in the container: the variable's name has a '-'.
    env = {"PATH": os.environ["PATH"]} | ({swarm_spawner.resource_variable(kind): swarm_gpu} if swarm_gpu else {})
    assert swarm_spawner.resource_variable(kind) in ("DOCKER_RESOURCE_NVIDIA-GPU", "DOCKER_RESOURCE_NVIDIA-GPU-MIG-1G.10GB",
                                                     "DOCKER_RESOURCE_NVIDIA-GPU-SEAT-2")
    shown = ["sh", "-c", 'printf "%s|%s" "${GLUONLAB_GPUS:-}" "${GLUONLAB_GPU_DESCRIPTION:-}"']
    out = subprocess.run(start_args(kind, shown), env=env, capture_output=True, text=True, check=True)
    assert out.stdout == f"{swarm_gpu or ''}|{banner}"


def gate_env(gate: Path, wait: float, refused: Path | None = None) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "GLUONLAB_NODE_GUARD_GATE": str(gate), "GLUONLAB_NODE_GUARD_WAIT": str(wait)}
    return env | ({"GLUONLAB_NODE_GUARD_REFUSED": str(refused)} if refused else {})


def test_the_start_command_waits_for_the_node_guard_and_hides_the_gate(tmp_path) -> None:
    gate = tmp_path / "gate"
    shown = ["sh", "-c", 'printf "%s|%s" "${GLUONLAB_NODE_GUARD_GATE-unset}" "${GLUONLAB_NODE_GUARD_WAIT-unset}"']
    server = subprocess.Popen(start_args("NVIDIA-GPU", shown), env=gate_env(gate, 30), stdout=subprocess.PIPE, text=True)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            server.wait(timeout=1.0)  # no gate, no start
        gate.write_text("rules in place\n")
        assert server.wait(timeout=10) == 0
    finally:
        server.kill()
    # What the server runs sees neither variable: they are the start command's alone.
    assert server.stdout.read() == "unset|unset"


def test_the_start_command_stops_with_the_status_and_reason_the_guard_refused_it_with(tmp_path) -> None:
    refused = tmp_path / "refused"
    server = subprocess.Popen(start_args("NVIDIA-GPU", ["true"]), env=gate_env(tmp_path / "gate", 30, refused),
                              stderr=subprocess.PIPE, text=True)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            server.wait(timeout=1.0)
        refused.write_text(f"{NO_ROOM_EXIT} no room for a 64 MiB home on the Docker disk\n")
        assert server.wait(timeout=10) == NO_ROOM_EXIT
    finally:
        server.kill()
    assert ("the node guard did not let this server start: no room for a 64 MiB home on the Docker disk"
            in server.stderr.read())


def test_the_start_command_gives_up_without_a_node_guard(tmp_path) -> None:
    out = subprocess.run(start_args("NVIDIA-GPU", ["true"]), env=gate_env(tmp_path / "never", 0.3),
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == GATE_EXIT
    assert "no node guard put this server's network rules in place within 0 s: not starting" in out.stderr


def test_servers_are_told_to_wait_for_the_node_guard_only_where_one_runs() -> None:
    assert "GLUONLAB_NODE_GUARD_GATE" not in spawner().get_env()
    env = spawner(node_guard_wait_s=35).get_env()
    assert env["GLUONLAB_NODE_GUARD_GATE"] == GATE_FILE and env["GLUONLAB_NODE_GUARD_WAIT"] == "35"
    assert env["GLUONLAB_NODE_GUARD_REFUSED"] == REFUSED_FILE
    isolated = Settings.from_env({"GLUONLAB_SPAWNER_BACKEND": "swarm", "GLUONLAB_NETGUARD_INTERVAL": "4"})
    assert hub_config.node_guard_wait(isolated) == 17
    assert hub_config.node_guard_wait(Settings.from_env({"GLUONLAB_NETWORK_ISOLATION": "0"})) == 0


def test_a_server_the_node_guard_never_let_start_names_the_node() -> None:
    alice = spawner(node_guard_wait_s=35)
    alice.object_id = "s1"
    exited = task("failed", err="task: non-zero exit (75)") | {"Status": {
        "State": "failed", "Err": "task: non-zero exit (75)", "ContainerStatus": {"ExitCode": GATE_EXIT}}}
    alice.docker = SwarmAnswers([node("w1")], [[exited]])
    summary = asyncio.run(alice._exit_explained())
    assert summary.startswith("节点 w1 的网络隔离服务")
    assert "The node guard on node w1 did not put your server's network rules in place within 35 s" in summary
    assert "the lab-node-guard container must run on w1" in summary
    # Another exit is reported as Swarm says it.
    other = {"ID": "t1", "NodeID": "id-w1", "Status": {"State": "failed", "Err": "task: non-zero exit (1)",
                                                       "ContainerStatus": {"ExitCode": 1}}}
    alice.docker = SwarmAnswers([node("w1")], [[other]])
    assert asyncio.run(alice._exit_explained()) == ""
    assert asyncio.run(alice._task_summary()) == "task failed task: non-zero exit (1)"


def exited_with(code: int) -> dict:
    return {"ID": "t1", "NodeID": "id-w1", "Status": {"State": "failed", "Err": f"task: non-zero exit ({code})",
                                                      "ContainerStatus": {"ExitCode": code}}}


def test_a_home_the_node_guard_could_not_mount_is_explained() -> None:
    alice = spawner(node_guard_wait_s=35, home_size="2g")
    alice.object_id = "s1"
    alice.docker = SwarmAnswers([node("w1")], [[exited_with(NO_ROOM_EXIT)]])
    full = asyncio.run(alice._exit_explained())
    assert full.startswith("服务器磁盘空间不足") and "node w1: its disk has no room for a 2g home" in full
    alice.docker = SwarmAnswers([node("w1")], [[exited_with(HOME_FAILED_EXIT)]])
    failed = asyncio.run(alice._exit_explained())
    assert "could not be mounted on node w1" in failed and "docker logs lab-node-guard" in failed


# ------------------------------------------------------------------ reading Swarm's objects


def test_gpus_come_from_the_nodes_named_resources() -> None:
    nodes = [node("w2", "GPU-c"), node("w1", "GPU-a", "GPU-b"), node("mgr")]
    assert [(g.device_id, g.describe()) for g in node_gpus(nodes, "NVIDIA-GPU")] == [
        ("GPU-a", "GPU GPU-a (on w1)"), ("GPU-b", "GPU GPU-b (on w1)"), ("GPU-c", "GPU GPU-c (on w2)")]
    assert node_gpus(nodes, "OTHER") == []


def test_the_gpu_swarm_picked_is_read_from_the_task() -> None:
    assert assigned_gpus(task("running", gpus=("GPU-b",)), "NVIDIA-GPU") == ["GPU-b"]
    assert assigned_gpus(task("running"), "NVIDIA-GPU") == [] == assigned_gpus(None, "NVIDIA-GPU")


@pytest.mark.parametrize("n, problem", [
    (node("w1"), ""), (None, "it has left the swarm"), (node("w1", state="down"), "its state is down"),
    (node("w1", availability="drain"), "the admin set it to drain")])
def test_node_problems_are_named(n, problem) -> None:
    assert node_problem(n) == problem


def test_only_the_schedulers_refusal_counts_as_not_placed() -> None:
    assert pending_reason(task("pending", err="no suitable node (insufficient resources on 2 nodes)"))
    assert pending_reason(task("pending")) == ""


def test_the_ledger_records_what_swarm_picked_for_the_page_and_the_gauge() -> None:
    ledger = SwarmGpuLedger([Gpu("GPU-a", uuid="GPU-a", name="on w1"), Gpu("GPU-b", uuid="GPU-b")], "exclusive")
    ledger.record("alice", ["GPU-b"])
    assert ledger.holders() == {"GPU-a": [], "GPU-b": ["alice"]}
    samples = [s for m in AssignmentCollector(ledger).collect() for s in m.samples]
    assert [(s.labels, s.value) for s in samples] == [({"user": "alice", "gpu": "GPU-b"}, 1)]
    ledger.record("alice", [])
    assert ledger.assignments() == {}
    with pytest.raises(RuntimeError, match="the scheduler picks GPUs"):
        ledger.allocate("bob")


# ------------------------------------------------------------------ lifecycle against a manager's answers


class SwarmAnswers:
    """What a manager answers the calls the spawner makes (inspect_node, tasks, ...)."""

    def __init__(self, nodes: list[dict], tasks: list[list[dict]] | None = None) -> None:
        self.nodes = {n["ID"]: n for n in nodes} | {n["Description"]["Hostname"]: n for n in nodes}
        self.tasks = tasks or []
        self.calls: list[str] = []
        self.service_id = "s1"
        #: Every task of the Swarm meant to run (what a shared start's choice of seat reads).
        self.swarm_tasks: list[dict] = []

    async def __call__(self, method: str, *args, **kwargs):
        self.calls.append(method)
        if method == "inspect_node":
            if args[0] not in self.nodes:
                raise docker.errors.NotFound("no such node")
            return self.nodes[args[0]]
        if method == "inspect_service":
            return {"ID": self.service_id}
        if method == "tasks":
            if kwargs.get("filters") == {"desired-state": "running"}:  # every task of the Swarm
                return self.swarm_tasks
            return self.tasks.pop(0) if len(self.tasks) > 1 else self.tasks[0]
        if method == "nodes":
            return list({n["ID"]: n for n in self.nodes.values()}.values())
        if method == "create_service":
            self.service_id = "s2"
            return {"ID": "s2"}
        if method == "remove_service":
            return None
        raise AssertionError(f"unexpected Docker call {method}")


def test_a_start_whose_home_node_is_down_says_so_and_unpins() -> None:
    alice = spawner()
    alice.load_state({"home_node": "w1"})
    alice.docker = SwarmAnswers([node("w1", state="down")])
    with pytest.raises(NodeUnavailable, match="EMPTY home folder; your files stay on w1") as error:
        asyncio.run(alice.start())
    assert "你的文件所在的节点 w1 不可用" in str(error.value)
    assert alice.home_node == "" and alice.placement_constraints() == []


def test_a_server_on_a_lost_node_polls_as_stopped() -> None:
    ledger = SwarmGpuLedger([Gpu("GPU-a")], "exclusive")
    ledger.record("alice", ["GPU-a"])
    alice = spawner(gpu_ledger=ledger)
    alice.load_state({"object_id": "s1", "object_name": "lab-alice", "home_node": "w1"})
    alice.docker = SwarmAnswers([node("w1", state="down")], [[task("running", gpus=("GPU-a",))]])
    assert asyncio.run(alice.poll()) == "node w1 is unavailable: its state is down"
    assert ledger.assignments() == {}  # the hub calls no stop() after such a poll


def test_polling_a_running_server_after_a_hub_restart_records_its_gpu() -> None:
    ledger = SwarmGpuLedger([Gpu("GPU-a", uuid="GPU-a")], "exclusive")
    alice = spawner(gpu_ledger=ledger)
    alice.load_state({"object_id": "s1", "object_name": "lab-alice", "home_node": "w1"})
    alice.docker = SwarmAnswers([node("w1", "GPU-a")], [[task("running", gpus=("GPU-a",))]])
    assert asyncio.run(alice.poll()) is None
    assert ledger.assignments() == {"alice": ["GPU-a"]}


class FlakyAnswers(SwarmAnswers):
    """A manager whose first *failures* answers are errors (a busy engine at a hub restart)."""

    def __init__(self, failures: int, *args) -> None:
        super().__init__(*args)
        self.failures = failures

    async def __call__(self, method: str, *args, **kwargs):
        if self.failures:
            self.failures -= 1
            raise docker.errors.DockerException("Error while fetching server API version: busy")
        return await super().__call__(method, *args, **kwargs)


def test_a_failed_look_at_swarm_is_tried_again_before_the_server_counts_as_stopped(monkeypatch, caplog) -> None:
    monkeypatch.setattr(swarm_spawner, "POLL_RETRY_S", 0)
    alice = spawner()
    alice.load_state({"object_id": "s1", "object_name": "lab-alice", "home_node": "w1"})
    alice.docker = FlakyAnswers(swarm_spawner.POLL_TRIES - 1, [node("w1")], [[task("running")]])
    with caplog.at_level("WARNING"):
        assert asyncio.run(alice.poll()) is None  # still running: the hub keeps it
    assert "Looking at alice's service failed (DockerException: Error while fetching" in caplog.text
    alice.docker = FlakyAnswers(swarm_spawner.POLL_TRIES, [node("w1")], [[task("running")]])
    with pytest.raises(docker.errors.DockerException, match="busy"):
        asyncio.run(alice.poll())


@pytest.mark.parametrize("home, where", [("", "on any node"), ("w1", "on node w1, where your files are,")])
def test_no_free_gpu_is_refused_with_the_attendees_message(home, where) -> None:
    alice = spawner(gpu_policy="exclusive", gpu_ledger=SwarmGpuLedger([Gpu("GPU-a")], "exclusive"))
    alice.load_state({"object_id": "s1", "object_name": "lab-alice", "home_node": home})
    alice._want_gpu = True
    full = task("pending", node_id="", err="no suitable node (insufficient resources on 2 nodes)")
    alice.docker = SwarmAnswers([node("w1")], [[full]])
    with pytest.raises(ServiceNotPlaced, match=re.escape(f"All GPUs {where} are in use (1 GPU(s) in the cluster")):
        asyncio.run(alice.start_object())


def test_a_gpu_given_back_a_moment_ago_is_waited_for() -> None:
    # Swarm holds a stopped server's GPU until its task has shut down: pending first, then placed.
    alice = spawner(gpu_policy="exclusive", placement_grace_s=5)
    alice.load_state({"object_id": "s1", "object_name": "lab-alice"})
    alice._want_gpu = True
    full = task("pending", node_id="", err="no suitable node (insufficient resources on 2 nodes)")
    alice.docker = SwarmAnswers([node("w1")], [[full], [full], [task("running")]])
    asyncio.run(alice.start_object())
    assert alice._want_gpu


def test_no_free_gpu_with_cpu_fallback_starts_a_service_without_one() -> None:
    alice = spawner(gpu_policy="exclusive", gpu_when_exhausted="cpu")
    alice.load_state({"object_id": "s1", "object_name": "lab-alice"})
    alice._want_gpu = True
    answers = SwarmAnswers([node("w1")], [[task("pending", node_id="", err="no suitable node (insufficient "
                                                                         "resources on 2 nodes)")], [task("running")]])
    alice.docker = answers
    asyncio.run(alice.start_object())
    assert not alice._want_gpu and alice.object_id == "s2"
    assert answers.calls.count("remove_service") == 1 and answers.calls.count("create_service") == 1


def test_a_new_service_without_its_task_yet_is_waited_for() -> None:
    # Swarm's orchestrator adds the task a moment after the service: seen in tests/swarm.
    alice = spawner()
    alice.load_state({"object_id": "s1", "object_name": "lab-alice"})
    alice.docker = SwarmAnswers([node("w1")], [[], [], [task("running")]])
    asyncio.run(alice.start_object())
    assert alice.docker.calls.count("tasks") == 3


def test_a_service_that_never_gets_a_task_is_reported(monkeypatch) -> None:
    monkeypatch.setattr(swarm_spawner, "TASK_APPEAR_TIMEOUT_S", 0.2)
    monkeypatch.setattr(swarm_spawner, "TASK_POLL_INTERVAL_S", 0.05)
    alice = spawner()
    alice.load_state({"object_id": "s1", "object_name": "lab-alice"})
    alice.docker = SwarmAnswers([node("w1")], [[]])
    with pytest.raises(ServiceNotPlaced, match="has no task after 0 s: is a Swarm manager reachable"):
        asyncio.run(alice.start_object())


def test_a_task_the_constraint_enforcer_rejects_is_started_again() -> None:
    alice = spawner()
    alice.load_state({"object_id": "s1", "object_name": "lab-alice"})
    rejected = task("rejected", err="assigned node no longer meets constraints")
    answers = SwarmAnswers([node("w1")], [[rejected], [task("running")]])
    alice.docker = answers
    asyncio.run(alice.start_object())
    assert alice.object_id == "s2" and answers.calls.count("create_service") == 1


def test_a_task_rejected_again_and_again_is_reported() -> None:
    alice = spawner()
    alice.load_state({"object_id": "s1", "object_name": "lab-alice"})
    alice.docker = SwarmAnswers([node("w1")], [[task("rejected", err="assigned node no longer meets constraints")]])
    with pytest.raises(ServiceNotPlaced, match="on node w1: assigned node no longer meets constraints"):
        asyncio.run(alice.start_object())


def test_a_rejected_task_names_its_node_and_error() -> None:
    alice = spawner()
    alice.load_state({"object_id": "s1", "object_name": "lab-alice"})
    alice.docker = SwarmAnswers([node("w1")], [[task("rejected", err="No such image: gluonlab/notebook:cpu")]])
    with pytest.raises(ServiceNotPlaced, match="on node w1: No such image: gluonlab/notebook:cpu"):
        asyncio.run(alice.start_object())


def test_an_admin_moves_a_stopped_users_home_to_a_ready_node_only() -> None:
    alice = spawner()
    alice.load_state({"home_node": "w1"})
    alice.docker = SwarmAnswers([node("w1"), node("w2"), node("w3", state="down")])
    assert asyncio.run(alice.move_home("w2")) == "w2" and alice.placement_constraints() == ["node.hostname==w2"]
    with pytest.raises(HomeMoveRefused, match="node w3 cannot take servers: its state is down"):
        asyncio.run(alice.move_home("w3"))
    with pytest.raises(HomeMoveRefused, match="node w9 cannot take servers: it has left the swarm"):
        asyncio.run(alice.move_home("w9"))
    assert asyncio.run(alice.move_home("")) == "" and alice.get_state() == {}


# ------------------------------------------------------------------ settings and hub config


def test_the_shared_policy_on_swarm_takes_its_seats_from_the_nodes(caplog) -> None:
    nodes = [node("w1", *seated("GPU-a", 2), *seated("GPU-b", 2)), node("w2", *seated("GPU-c", 3))]
    engine = SimpleNamespace(info=lambda: {"Swarm": {"ControlAvailable": True}},
                             api=SimpleNamespace(nodes=lambda: nodes, services=lambda filters: [], tasks=None))
    settings = Settings.from_env({"GLUONLAB_SPAWNER_BACKEND": "swarm", "GLUONLAB_GPU_POLICY": "shared",
                                  "GLUONLAB_USERS_PER_GPU": "2"})
    with caplog.at_level("WARNING"):
        ledger = hub_swarm_ledger(settings, engine)
    assert ledger.policy == "shared" and ledger.seats() == 7
    # GLUONLAB_USERS_PER_GPU is one host's: where a GPU host registers otherwise, the hub says so.
    assert ("not GLUONLAB_USERS_PER_GPU=2: GPU-c on w2: 3" in caplog.text)
    one_seat = [node("w1", "GPU-a")]
    engine.api.nodes = lambda: one_seat
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert hub_swarm_ledger(settings, engine).seats() == 1
    assert "every Swarm GPU is registered with one seat, so each goes to one user: set docker_swarm_gpu_seats" \
        in caplog.text
    assert swarm_spawner.seat_problems(SwarmGpuLedger([Gpu("GPU-a")], "exclusive"), 2) == []


def test_bad_constraints_are_named() -> None:
    with pytest.raises(SettingsError, match="GLUONLAB_SWARM_CONSTRAINTS='node.role' is not valid"):
        Settings.from_env({"GLUONLAB_SWARM_CONSTRAINTS": "node.role"})


def test_a_hub_whose_engine_is_no_manager_stops_with_the_fix() -> None:
    engine = SimpleNamespace(info=lambda: {"Swarm": {"LocalNodeState": "inactive", "ControlAvailable": False}})
    with pytest.raises(GpuSetupError, match="is not a Swarm manager .swarm state: inactive."):
        hub_swarm_ledger(Settings.from_env({"GLUONLAB_SPAWNER_BACKEND": "swarm"}), engine)


def test_the_swarm_backend_is_wired_from_the_settings(monkeypatch) -> None:
    nodes = [node("w1", "GPU-a"), node("w2", "GPU-b")]
    engine = SimpleNamespace(info=lambda: {"Swarm": {"ControlAvailable": True}},
                             api=SimpleNamespace(nodes=lambda: nodes, services=lambda filters: [], tasks=None))
    monkeypatch.setattr(hub_config, "hub_swarm_ledger", lambda s: hub_swarm_ledger(s, engine))
    settings = Settings.from_env({"GLUONLAB_SPAWNER_BACKEND": "swarm", "GLUONLAB_GPU_POLICY": "exclusive",
                                  "GLUONLAB_SWARM_CONSTRAINTS": "node.role==worker, node.labels.gpu==true",
                                  "GLUONLAB_PIDS_LIMIT": "256", "GLUONLAB_COURSE_DATA_VOLUME": "room-data"})
    c = Config()
    from prometheus_client import CollectorRegistry
    hub_config._user_servers(c, settings, CollectorRegistry())
    assert c.JupyterHub.spawner_class is LabSwarmSpawner
    assert c.LabSwarmSpawner.constraints == ["node.role==worker", "node.labels.gpu==true"]
    assert c.LabSwarmSpawner.pids_limit == 256 and c.LabSwarmSpawner.gpu_policy == "exclusive"
    assert c.LabSwarmSpawner.tmp_size == "512m"  # GLUONLAB_TMP_SIZE's default: read-only root there too
    assert [g.device_id for g in c.LabSwarmSpawner.gpu_ledger.gpus] == ["GPU-a", "GPU-b"]
    assert [h[0] for h in c.JupyterHub.extra_handlers][-1] == r"/api/gluonlab/home-node/([^/]+)"
    assert c.LabSwarmSpawner.home_volume == "gluonlab-home-{username}"
    assert c.LabSwarmSpawner.course_data_volume == "room-data"  # each worker's copy (course_data.py)
    assert c.LabSwarmSpawner.node_guard_wait_s == 35  # GLUONLAB_NETGUARD_INTERVAL's default, 10 s
    assert c.LabSwarmSpawner.home_size == "2g"  # mounted by the node guards
    unguarded = Config()
    hub_config._user_servers(unguarded, Settings.from_env({"GLUONLAB_SPAWNER_BACKEND": "swarm",
                                                           "GLUONLAB_NETWORK_ISOLATION": "0"}), CollectorRegistry())
    assert unguarded.LabSwarmSpawner.home_size == "0" and unguarded.LabSwarmSpawner.node_guard_wait_s == 0
    ready = spawner(config=c)
    assert ready.gpu_ledger is c.LabSwarmSpawner.gpu_ledger and ready.mem_limit == 4 << 30


# ------------------------------------------------------------------ server profiles on Swarm

SWARM_PROFILES = """\
profiles:
  - name: cpu
    display_name: {zh: CPU 座位, en: CPU seat}
    variant: cpu
    mem_limit: 2G
  - name: one-gpu
    display_name: {zh: 一块 GPU, en: One GPU}
    variant: cu117
    gpu: 1
    cpu_limit: 4
  - name: two-gpus
    display_name: {zh: 两块 GPU, en: Two GPUs}
    variant: cu117
    gpu: 2
    groups: [instructors]
"""


def swarm_with_profiles(monkeypatch, tmp_path, text: str, nodes: list | None = None) -> Config:
    nodes = nodes or [node("w1", "GPU-a", "GPU-b"), node("w2", "GPU-c")]
    engine = SimpleNamespace(info=lambda: {"Swarm": {"ControlAvailable": True}},
                             api=SimpleNamespace(nodes=lambda: nodes, services=lambda filters: [], tasks=None))
    monkeypatch.setattr(hub_config, "hub_swarm_ledger", lambda s: hub_swarm_ledger(s, engine))
    path = tmp_path / "profiles.yml"
    path.write_text(text, encoding="utf-8")
    settings = Settings.from_env({"GLUONLAB_SPAWNER_BACKEND": "swarm", "GLUONLAB_GPU_POLICY": "exclusive",
                                  "GLUONLAB_PROFILES_FILE": str(path)})
    c = Config()
    from prometheus_client import CollectorRegistry
    hub_config._user_servers(c, settings, CollectorRegistry())
    return c


def test_profiles_on_swarm_set_the_image_limits_and_whole_gpus(monkeypatch, tmp_path) -> None:
    c = swarm_with_profiles(monkeypatch, tmp_path, SWARM_PROFILES)
    assert [p.name for p in c.LabSwarmSpawner.profiles.profiles] == ["cpu", "one-gpu", "two-gpus"]
    chosen = {}
    for name, groups in (("cpu", []), ("one-gpu", []), ("two-gpus", ["instructors"])):
        server = spawner(config=c)
        server.user.groups = [SimpleNamespace(name=g) for g in groups]
        server.apply_profile({"profile": name})
        chosen[name] = (server.image, server.mem_limit, server.cpu_limit, server.gpu_reservation(),
                        server.get_env()["GLUONLAB_PROFILE"])
    default_cpus = Settings.from_env({}).cpu_limit  # a profile without cpu_limit has the settings'
    assert chosen["cpu"][:4] == ("gluonlab/notebook:cpu", 2 << 30, float(default_cpus), (False, 1, "NVIDIA-GPU"))
    assert chosen["one-gpu"][0] == "gluonlab/notebook:cu117"
    assert chosen["one-gpu"][2:4] == (4.0, (True, 1, "NVIDIA-GPU"))
    assert chosen["two-gpus"][3] == (True, 2, "NVIDIA-GPU")
    assert chosen["cpu"][4].startswith("CPU 座位")
    # The spawn page offers what the user's groups allow, with the cluster's free seats.
    form = spawner(config=c).profiles_form()
    assert 'value="one-gpu"' in form and 'value="two-gpus"' not in form
    # Two GPUs are one reservation of 2: Swarm puts them on one node.
    kwargs = spec(gpu_count=2)
    assert kwargs["task_template"]["Resources"]["Reservations"]["GenericResources"] == [
        {"DiscreteResourceSpec": {"Kind": "NVIDIA-GPU", "Value": 2}}]


def test_a_profile_the_swarm_cannot_serve_stops_the_hub_with_the_fix(monkeypatch, tmp_path) -> None:
    text = SWARM_PROFILES + """\
  - name: slice
    display_name: {zh: GPU 切片, en: GPU slice}
    variant: ngc
    gpu: 1g.10gb
  - name: three
    display_name: {zh: 三块 GPU, en: Three GPUs}
    variant: cu117
    gpu: 3
"""
    with pytest.raises(SystemExit) as stopped:
        swarm_with_profiles(monkeypatch, tmp_path, text)
    message = str(stopped.value)
    assert ("profile 'slice' asks for a MIG 1g.10gb slice, but no Swarm node offers one (slices offered: none); "
            "the docker_swarm role registers") in message
    assert "profile 'three' asks for 3 GPUs on one node, but no node has that many (most on one node: 2)" in message


def test_seats_for_several_gpus_are_counted_per_node() -> None:
    from gluonlab_hub.gpus import GpuRequest

    ledger = SwarmGpuLedger(node_gpus([node("w1", "GPU-a", "GPU-b"), node("w2", "GPU-c")], "NVIDIA-GPU"),
                            "exclusive")
    two, three = GpuRequest("whole", 2), GpuRequest("whole", 3)
    assert (ledger.seats(two), ledger.seats(three), ledger.free_seats(two)) == (1, 0, 1)
    ledger.record("ana", ["GPU-a"])
    # GPU-b and GPU-c are free, but on two nodes: no task of two GPUs fits anywhere.
    assert ledger.free_seats(two) == 0 and ledger.free_seats() == 2
    ledger.record("ana", [])
    assert ledger.free_seats(two) == 1


# ------------------------------------------------------------------ MIG slices


def test_mig_slices_are_read_from_their_own_kinds_and_are_not_whole_gpus() -> None:
    nodes = [node("w1", "GPU-a", "MIG-s1=1g.10gb", "MIG-s2=1g.10gb"), node("w2", "GPU-c", "MIG-s3=2g.20gb")]
    nodes[1]["Description"]["Resources"]["GenericResources"].append(  # not a MIG profile: not ours
        {"NamedResourceSpec": {"Kind": "NVIDIA-GPU-MIG-huge", "Value": "x"}})
    ledger = SwarmGpuLedger(node_gpus(nodes, "NVIDIA-GPU"), "exclusive")
    assert [(g.device_id, g.mig_profile, g.name) for g in ledger.gpus if g.is_slice] == [
        ("MIG-s1", "1g.10gb", "on w1"), ("MIG-s2", "1g.10gb", "on w1"), ("MIG-s3", "2g.20gb", "on w2")]
    assert ledger.mig_profiles() == ["1g.10gb", "2g.20gb"]
    assert SwarmGpuLedger.gpus_per_node(ledger.gpus) == {"on w1": 1, "on w2": 1}
    slice_10 = GpuRequest.parse("1g.10gb")
    assert ledger.free_seats(slice_10) == 2 and ledger.free_seats(GpuRequest.parse(1)) == 2
    # What Swarm gave a task is read back whatever its kind, and counted against its profile.
    assert assigned_gpus(task("running", gpus=("MIG-s2=1g.10gb",)), "NVIDIA-GPU") == ["MIG-s2"]
    ledger.record("alice", ["MIG-s2"])
    assert ledger.free_seats(slice_10) == 1 and ledger.free_seats(GpuRequest.parse(1)) == 2
    assert ledger.assignments() == {"alice": ["MIG-s2"]}


MIG_PROFILES = SWARM_PROFILES + """\
  - name: slice
    display_name: {zh: GPU 切片, en: GPU slice}
    variant: ngc
    gpu: 1g.10gb
"""


def test_a_mig_profile_on_swarm_reserves_one_slice_of_its_kind(monkeypatch, tmp_path) -> None:
    nodes = [node("w1", "GPU-a", "GPU-b"), node("w2", "MIG-s1=1g.10gb", "MIG-s2=1g.10gb")]
    c = swarm_with_profiles(monkeypatch, tmp_path, MIG_PROFILES, nodes)
    server = spawner(config=c)
    server.apply_profile({"profile": "slice"})
    assert server.gpu_reservation() == (True, 1, "NVIDIA-GPU-MIG-1g.10gb")
    assert 'value="slice"' in spawner(config=c).profiles_form()
    kwargs = spec(gpu_resource="NVIDIA-GPU-MIG-1g.10gb")
    assert kwargs["task_template"]["Resources"]["Reservations"]["GenericResources"] == [
        {"DiscreteResourceSpec": {"Kind": "NVIDIA-GPU-MIG-1g.10gb", "Value": 1}}]


def test_every_slice_taken_is_refused_with_the_attendees_message(monkeypatch, tmp_path) -> None:
    nodes = [node("w1", "GPU-a", "GPU-b"), node("w2", "MIG-s1=1g.10gb")]
    c = swarm_with_profiles(monkeypatch, tmp_path, MIG_PROFILES, nodes)
    alice = spawner(config=c)
    alice.apply_profile({"profile": "slice"})
    alice.load_state({"object_id": "s1", "object_name": "lab-alice", "home_node": "w2"})
    alice._want_gpu = True
    full = task("pending", node_id="", err="no suitable node (insufficient resources on 2 nodes)")
    alice.docker = SwarmAnswers([node("w2")], [[full]])
    with pytest.raises(ServiceNotPlaced, match=re.escape(
            "Every MIG 1g.10gb slice on node w2, where your files are, is in use (1 in the cluster")):
        asyncio.run(alice.start_object())


# ------------------------------------------------------------------ the shared policy: seats


def test_a_shared_gpu_is_registered_as_seats_and_counted_once() -> None:
    nodes = [node("w1", *seated("GPU-a", 2), *seated("GPU-b", 2)), node("w2", "GPU-c", "MIG-s1=1g.10gb")]
    gpus = node_gpus(nodes, "NVIDIA-GPU")
    assert [g.device_id for g in gpus] == ["GPU-a", "GPU-b", "GPU-c", "MIG-s1"]
    assert swarm_spawner.gpu_seats(nodes, "NVIDIA-GPU") == {"GPU-a": 2, "GPU-b": 2, "GPU-c": 1}
    assert swarm_spawner.seat_resource("NVIDIA-GPU", 1) == "NVIDIA-GPU"
    assert swarm_spawner.seat_resource("NVIDIA-GPU", 2) == "NVIDIA-GPU-SEAT-2"
    shared = SwarmGpuLedger(gpus, "shared", seats=swarm_spawner.gpu_seats(nodes, "NVIDIA-GPU"))
    assert shared.seats() == 5 and shared.seats(GpuRequest.parse("1g.10gb")) == 1
    # A second seat holds the GPU's own UUID: the ledger counts it against that GPU.
    assert assigned_gpus(task("running", gpus=("GPU-a=seat2",)), "NVIDIA-GPU") == ["GPU-a"]
    shared.record("alice", ["GPU-a"])
    shared.record("bob", ["GPU-a"])
    assert shared.free_seats() == 3 and shared.holders()["GPU-a"] == ["alice", "bob"]
    # The exclusive policy on a cluster registered for sharing: one user per GPU, as before.
    exclusive = SwarmGpuLedger(gpus, "exclusive", seats=swarm_spawner.gpu_seats(nodes, "NVIDIA-GPU"))
    assert exclusive.seats() == 3
    # Not seats: a kind that only begins like one.
    assert swarm_spawner._seat("NVIDIA-GPU-SEAT-x", "NVIDIA-GPU") is None
    assert swarm_spawner._seat("NVIDIA-GPU-SEAT-1", "NVIDIA-GPU") is None  # seat 1 is NVIDIA-GPU itself


def test_a_shared_start_takes_the_lowest_seat_free_where_it_may_run() -> None:
    choose = swarm_spawner.choose_seat
    nodes = [node("w1", *seated("GPU-a", 2)), node("w2", *seated("GPU-b", 2)), node("mgr")]
    # Nobody yet: seat 1 (NVIDIA-GPU) on either GPU.
    assert choose(nodes, [], "NVIDIA-GPU", claims={}, username="u") == ("NVIDIA-GPU", 2)
    one = [task("running", gpus=("GPU-a",), user="ana")]
    assert choose(nodes, one, "NVIDIA-GPU", claims={}, username="u") == ("NVIDIA-GPU", 1)
    # Every first seat held: the second seats, so users spread over the GPUs before they share.
    two = one + [task("running", gpus=("GPU-b",), user="ben")]
    assert choose(nodes, two, "NVIDIA-GPU", claims={}, username="u") == ("NVIDIA-GPU-SEAT-2", 2)
    # A start whose task holds nothing yet counts (a login rush); one whose task holds its seat
    # is counted once; the user's own claim is not counted against them.
    assert choose(nodes, one, "NVIDIA-GPU", claims={"cai": "NVIDIA-GPU"}, username="u") == ("NVIDIA-GPU-SEAT-2", 2)
    assert choose(nodes, [], "NVIDIA-GPU", claims={"cai": "NVIDIA-GPU"}, username="u") == ("NVIDIA-GPU", 1)
    assert choose(nodes, one, "NVIDIA-GPU", claims={"ana": "NVIDIA-GPU"}, username="u") == ("NVIDIA-GPU", 1)
    assert choose(nodes, one, "NVIDIA-GPU", claims={"u": "NVIDIA-GPU"}, username="u") == ("NVIDIA-GPU", 1)
    # Pinned to its home: only that node's seats count; a node that is down offers none.
    assert choose(nodes, one, "NVIDIA-GPU", claims={}, username="u", home_node="w1") == ("NVIDIA-GPU-SEAT-2", 1)
    down = [node("w1", *seated("GPU-a", 2)), node("w2", *seated("GPU-b", 2), state="down")]
    assert choose(down, one, "NVIDIA-GPU", claims={}, username="u") == ("NVIDIA-GPU-SEAT-2", 1)
    # Nothing free: seat 1, and Swarm's refusal becomes the attendee's message.
    full = two + [task("running", gpus=("GPU-a=seat2",), user="cai"), task("running", gpus=("GPU-b=seat2",),
                                                                             user="dan")]
    assert choose(nodes, full, "NVIDIA-GPU", claims={}, username="u") == ("NVIDIA-GPU", 0)


def shared_spawner(nodes: list[dict], name: str = "alice") -> LabSwarmSpawner:
    seats = swarm_spawner.gpu_seats(nodes, "NVIDIA-GPU")
    ledger = SwarmGpuLedger(node_gpus(nodes, "NVIDIA-GPU"), "shared", seats=seats)
    server = spawner(name, gpu_policy="shared", gpu_ledger=ledger)
    server.load_state({"object_id": "s1", "object_name": f"lab-{name}"})
    server._want_gpu, server._gpu_count, server._reserved_kind = server.gpu_reservation()
    return server


def test_a_shared_start_claims_its_seat_until_its_task_holds_one(monkeypatch) -> None:
    monkeypatch.setattr(LabSwarmSpawner, "_seat_claims", {})
    nodes = [node("w1", *seated("GPU-a", 2))]
    alice, bob = shared_spawner(nodes), shared_spawner(nodes, "bob")
    assert alice._shares_a_gpu() and alice._reserved_kind == "NVIDIA-GPU"
    alice.docker = bob.docker = SwarmAnswers(nodes)
    assert asyncio.run(alice._choose_seat()) == ("NVIDIA-GPU", 1)
    # bob starts before alice's task holds her seat: he is sent to the other one.
    assert asyncio.run(bob._choose_seat()) == ("NVIDIA-GPU-SEAT-2", 1)
    assert LabSwarmSpawner._seat_claims == {"alice": "NVIDIA-GPU", "bob": "NVIDIA-GPU-SEAT-2"}
    # A profile of two GPUs or a MIG slice is one user's, as on one host: no seat to choose.
    alice._gpu_count = 2
    assert not alice._shares_a_gpu()


def test_a_shared_start_whose_seat_went_to_another_takes_a_free_one(monkeypatch) -> None:
    monkeypatch.setattr(LabSwarmSpawner, "_seat_claims", {})
    nodes = [node("w1", *seated("GPU-a", 2))]
    alice = shared_spawner(nodes)
    alice._may_choose_again = True
    full = task("pending", node_id="", err="no suitable node (insufficient resources on 1 node)")
    answers = SwarmAnswers(nodes, [[full], [task("running")]])
    answers.swarm_tasks = [task("running", gpus=("GPU-a",), user="ben")]  # ben took seat 1 first
    alice.docker = answers
    asyncio.run(alice.start_object())
    assert alice._reserved_kind == "NVIDIA-GPU-SEAT-2" and answers.calls.count("create_service") == 1


def test_a_full_shared_room_is_refused_with_the_seats_in_the_message(monkeypatch) -> None:
    monkeypatch.setattr(LabSwarmSpawner, "_seat_claims", {})
    nodes = [node("w1", *seated("GPU-a", 2)), node("w2", *seated("GPU-b", 2))]
    alice = shared_spawner(nodes)
    alice._may_choose_again = True
    full = task("pending", node_id="", err="no suitable node (insufficient resources on 2 nodes)")
    answers = SwarmAnswers(nodes, [[full]])
    answers.swarm_tasks = [task("running", gpus=(g,), user=u) for u, g in
                           (("a", "GPU-a"), ("b", "GPU-a=seat2"), ("c", "GPU-b"), ("d", "GPU-b=seat2"))]
    alice.docker = answers
    with pytest.raises(ServiceNotPlaced, match=re.escape(
            "All GPUs on any node are in use (2 GPU(s) in the cluster, up to 2 users each)")):
        asyncio.run(alice.start_object())
    assert answers.calls.count("create_service") == 0
