"""DockerSpawner wiring with the real allocator: hardening, device requests, labels, release.
(The same path against the real engine is in tests/integration/test_workshop_hub.py.)"""
from __future__ import annotations

import asyncio
import copy
from types import SimpleNamespace

import docker
import prometheus_client
import pytest

from gluonlab_hub.gpus import GpusExhausted
from gluonlab_hub.settings import Settings
from gluonlab_hub.spawn import LabSpawnerHooks, spawner_callables


class FakeDocker:
    """Stands in for the engine only where the unit under test asks it about running
    containers (rebuild after restart); discovery uses an explicit GPU list."""

    def __init__(self, containers=()):
        self.containers = SimpleNamespace(list=lambda filters=None: list(containers))


def spawner(name: str) -> SimpleNamespace:
    return SimpleNamespace(user=SimpleNamespace(name=name), environment={})


def spawn(hooks: LabSpawnerHooks, user) -> None:
    asyncio.run(hooks.pre_spawn_hook(user))


def hooks_for(env: dict, containers=()) -> LabSpawnerHooks:
    return LabSpawnerHooks(Settings.from_env(env), docker_client_factory=lambda: FakeDocker(containers))


def test_cpu_only_hub_hardens_and_requests_no_gpu():
    hooks = hooks_for({})
    alice = spawner("alice")
    spawn(hooks, alice)
    config = hooks.extra_host_config(alice)
    assert config["cap_drop"] == ["ALL"] and config["security_opt"] == ["no-new-privileges:true"]
    assert config["pids_limit"] == 1024 and config["shm_size"] == "1g" and config["privileged"] is False
    assert "device_requests" not in config
    assert alice.environment["GLUONLAB_GPUS"] == ""
    assert hooks.extra_create_kwargs(alice) == {"labels": {"gluonlab.user": "alice", "gluonlab.gpus": "", "gluonlab.instance": "gluonlab"}}


def test_exclusive_pins_distinct_gpus_and_docker_py_accepts_the_request():
    hooks = hooks_for({"GLUONLAB_GPU_POLICY": "exclusive", "GLUONLAB_GPUS": "0,1"})
    users = [spawner(n) for n in ("alice", "bob", "carol")]
    spawn(hooks, users[0])
    spawn(hooks, users[1])
    with pytest.raises(GpusExhausted):
        spawn(hooks, users[2])
    requests = [hooks.extra_host_config(u)["device_requests"] for u in users[:2]]
    assert [r[0]["device_ids"] for r in requests] == [["0"], ["1"]]
    # What DockerSpawner does with it: render templates into plain dicts, then docker-py's
    # HostConfig; the request must survive as explicit device ids.
    host = docker.types.HostConfig(version="1.41", device_requests=copy.deepcopy(requests[1]))
    assert host["DeviceRequests"][0]["DeviceIDs"] == ["1"] and host["DeviceRequests"][0]["Count"] == 0
    assert users[1].environment["GLUONLAB_GPUS"] == "1"
    metrics = prometheus_client.generate_latest().decode()
    assert 'gluonlab_gpu_assigned{gpu="1",user="bob"} 1.0' in metrics
    # Stopping alice frees GPU 0 for carol.
    hooks.post_stop_hook(users[0])
    spawn(hooks, users[2])
    assert hooks.extra_create_kwargs(users[2])["labels"]["gluonlab.gpus"] == "0"
    metrics = prometheus_client.generate_latest().decode()
    assert 'user="alice"' not in metrics and 'gluonlab_gpu_assigned{gpu="0",user="carol"} 1.0' in metrics


def test_restart_rebuilds_from_running_containers():
    running = [SimpleNamespace(labels={"gluonlab.user": "bob", "gluonlab.gpus": "1", "gluonlab.instance": "gluonlab"},
                               status="running")]
    hooks = hooks_for({"GLUONLAB_GPU_POLICY": "exclusive", "GLUONLAB_GPUS": "0,1"}, running)
    carol = spawner("carol")
    spawn(hooks, carol)
    assert carol.environment["GLUONLAB_GPUS"] == "0"  # GPU 1 is still bob's


def test_callables_survive_traitlets_deepcopy():
    functions = spawner_callables(hooks_for({}))
    copied = copy.deepcopy(functions)
    assert copied["extra_host_config"] is functions["extra_host_config"]
    assert copied["extra_host_config"](spawner("alice"))["cap_drop"] == ["ALL"]
