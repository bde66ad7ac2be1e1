"""LabDockerSpawner without a Docker engine.

- GPUs: the pool built at hub start (bad settings named), what a start takes and a stop or a
  failed start gives back, and what the container is created with (hardening, device requests
  by id, labels, environment). The same against the real engine, through the hub:
  tests/integration/test_workshop_hub.py; discovery: tests/integration/test_gpu_requests.py.
- The readiness wait, on real sockets: it returns as soon as a port accepts, says at once when
  the server exited instead, and times out with JupyterHub's wording.
"""
from __future__ import annotations

import asyncio
import socket
import time
from types import SimpleNamespace

import docker
import pytest
from jupyterhub.objects import Hub
from traitlets.config import Config

from gluonlab_hub.gpus import Gpu, GpuAllocator, GpusExhausted, GpuSetupError
from gluonlab_hub.settings import Settings
from gluonlab_hub.spawner import (
    DOCKER_API_THREADS,
    STARTING_CPU_SHARES,
    LabDockerSpawner,
    ServerExited,
    StartTimedOut,
    hub_gpu_allocator,
    starting_create_kwargs,
    wait_until_listening,
    within_start_timeout,
)

#: Where the unit tests' spawners look for a Docker engine: nowhere, so any Docker call fails.
NO_ENGINE = "unix:///nonexistent/docker.sock"
#: A create call as DockerSpawner hands it over (host config already in the engine's form).
FROM_DOCKERSPAWNER = {"image": "gluonlab/notebook:cpu", "name": "gluonlab-alice",
                      "host_config": {"Memory": 1 << 30, "NetworkMode": "gluonlab", "Binds": ["h:/home/jovyan:rw"]}}


def exclusive_pool(n: int = 2, **kwargs) -> GpuAllocator:
    return GpuAllocator([Gpu(str(i), i, name="NVIDIA H100 80GB HBM3", memory_mib=81559) for i in range(n)],
                        policy="exclusive", **kwargs)


def lab_spawner(name: str, pool: GpuAllocator, **traits) -> LabDockerSpawner:
    user = SimpleNamespace(name=name, id=1, url=f"/user/{name}/", escaped_name=name)
    return LabDockerSpawner(user=user, hub=Hub(), gpu_allocator=pool, prefix="gluonlab",
                            client_kwargs={"base_url": NO_ENGINE}, **traits)


class RunningContainers:
    """Stands in for the engine only where the unit asks it which containers run (the hub
    start's rebuild); tests/integration/test_gpu_requests.py does it on real containers."""

    def __init__(self, *containers):
        self.containers = SimpleNamespace(list=lambda filters=None: list(containers))


# ------------------------------------------------------------------- the pool at hub start


def test_a_cpu_only_hub_builds_its_pool_without_docker(monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    pool = hub_gpu_allocator(Settings.from_env({}))
    assert (pool.policy, pool.gpus, pool.allocate("alice")) == ("none", (), [])


@pytest.mark.parametrize("env, needle", [
    ({"GLUONLAB_GPUS": "0,,1"}, "GLUONLAB_GPUS='0,,1' (GLUONLAB_GPU_POLICY=exclusive) is not valid: "
                                "GPU spec '0,,1' has an empty entry"),
    ({"GLUONLAB_GPUS": "0,1"}, "GLUONLAB_GPUS='0,1' (GLUONLAB_GPU_POLICY=exclusive): the hub needs the Docker engine"),
    ({}, "GLUONLAB_GPUS='auto' (GLUONLAB_GPU_POLICY=exclusive): the hub needs the Docker engine"),
], ids=["bad-spec", "no-engine", "auto-no-engine"])
def test_an_unusable_gpu_setting_fails_at_hub_start_naming_it(monkeypatch, env, needle) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    with pytest.raises(GpuSetupError) as error:
        hub_gpu_allocator(Settings.from_env({"GLUONLAB_GPU_POLICY": "exclusive", **env}))
    assert str(error.value).startswith(needle)


def test_hub_start_rebuilds_who_holds_which_gpu() -> None:
    running = SimpleNamespace(labels={"gluonlab.user": "bob", "gluonlab.gpus": "1", "gluonlab.instance": "gluonlab"},
                              status="running")
    settings = Settings.from_env({"GLUONLAB_GPU_POLICY": "exclusive", "GLUONLAB_GPUS": "0,1"})
    pool = hub_gpu_allocator(settings, RunningContainers(running))
    assert pool.assignments() == {"bob": ["1"]}
    assert pool.allocate("carol") == ["0"]  # GPU 1 is still bob's


def test_every_spawner_shares_the_configured_pool() -> None:
    pool = exclusive_pool()
    config = Config()
    config.LabDockerSpawner.gpu_allocator = pool
    config.LabDockerSpawner.pids_limit = 512
    first, second = LabDockerSpawner(config=config), LabDockerSpawner(config=config)
    assert first.gpu_allocator is pool and second.gpu_allocator is pool and first.pids_limit == 512
    assert LabDockerSpawner().gpu_allocator.policy == "none"  # unconfigured: CPU only


# ------------------------------------------------------------------ start, stop, container


def test_start_takes_a_gpu_and_a_failed_start_gives_it_back() -> None:
    pool = exclusive_pool()
    alice = lab_spawner("alice", pool)
    with pytest.raises(docker.errors.DockerException):  # no engine: the start fails after allocating
        asyncio.run(alice.start())
    assert alice.gpu_ids == ["0"] and pool.assignments() == {}
    assert pool.allocate("bob") == ["0"]


def test_start_refuses_with_the_attendees_message_before_any_docker_call() -> None:
    pool = exclusive_pool(1)
    pool.allocate("bob")
    with pytest.raises(GpusExhausted, match="所有 GPU 都已分配，请联系讲师。/ All GPUs are in use"):
        asyncio.run(lab_spawner("carol", pool).start())
    assert pool.assignments() == {"bob": ["0"]}


def test_with_cpu_fallback_an_exhausted_pool_still_starts_a_server() -> None:
    pool = exclusive_pool(1, when_exhausted="cpu")
    pool.allocate("bob")
    carol = lab_spawner("carol", pool)
    with pytest.raises(docker.errors.DockerException):  # it went on to create a container
        asyncio.run(carol.start())
    assert carol.gpu_ids == [] and pool.assignments() == {"bob": ["0"]}


def test_stop_gives_the_gpu_back_even_when_docker_fails() -> None:
    pool = exclusive_pool()
    pool.rebuild([SimpleNamespace(labels={"gluonlab.user": "alice", "gluonlab.gpus": "1"}, status="running")])
    alice = lab_spawner("alice", pool)  # as after a hub restart: the spawner never started it
    with pytest.raises(docker.errors.DockerException):
        asyncio.run(alice.stop())
    assert pool.assignments() == {}


def test_the_container_gets_hardening_its_gpu_by_id_labels_and_environment() -> None:
    bob = lab_spawner("bob", exclusive_pool(), pids_limit=512, shm_size="2g")
    bob.gpu_ids = ["1"]  # what start() took for bob
    created, boosted = bob.lab_create_kwargs(FROM_DOCKERSPAWNER)
    host = created["host_config"]
    assert host["CapDrop"] == ["ALL"] and host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["PidsLimit"] == 512 and host["ShmSize"] == 2 << 30 and host["Privileged"] is False
    # Exactly what docker-py makes of the request (explicit ids, never count=1: that is GPU 0 for all).
    expected = docker.types.HostConfig(version="1.41", device_requests=[
        {"driver": "nvidia", "device_ids": ["1"], "capabilities": [["gpu"]]}])["DeviceRequests"]
    assert host["DeviceRequests"] == expected and expected[0]["DeviceIDs"] == ["1"] and expected[0]["Count"] == 0
    assert {k: host[k] for k in FROM_DOCKERSPAWNER["host_config"]} == FROM_DOCKERSPAWNER["host_config"]
    assert host["CpuShares"] == STARTING_CPU_SHARES and boosted and created["healthcheck"] == {"test": ["NONE"]}
    assert created["labels"] == {"gluonlab.user": "bob", "gluonlab.gpus": "1", "gluonlab.instance": "gluonlab"}
    assert "DeviceRequests" not in FROM_DOCKERSPAWNER["host_config"]  # DockerSpawner's dict is not changed
    env = bob.get_env()
    assert env["GLUONLAB_GPUS"] == "1"
    assert env["GLUONLAB_GPU_DESCRIPTION"] == "GPU 1 (NVIDIA H100 80GB HBM3, 79.6 GiB)"


def test_a_cpu_only_container_is_hardened_and_requests_no_gpu() -> None:
    alice = lab_spawner("alice", GpuAllocator([], policy="none"))
    created, _ = alice.lab_create_kwargs(FROM_DOCKERSPAWNER)
    host = created["host_config"]
    assert host["CapDrop"] == ["ALL"] and host["PidsLimit"] == 1024 and host["ShmSize"] == 1 << 30
    assert "DeviceRequests" not in host
    assert created["labels"] == {"gluonlab.user": "alice", "gluonlab.gpus": "", "gluonlab.instance": "gluonlab"}
    assert alice.get_env()["GLUONLAB_GPUS"] == "" and alice.get_env()["GLUONLAB_GPU_DESCRIPTION"] == "CPU only"


# ------------------------------------------------------------------------- readiness


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_returns_soon_after_the_port_opens() -> None:
    port = free_port()

    async def scenario() -> tuple[float, float]:
        async def open_later():
            await asyncio.sleep(0.6)
            return await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)

        opener = asyncio.create_task(open_later())
        began = time.monotonic()
        waited = await wait_until_listening("127.0.0.1", port, timeout=10, interval=0.05)
        elapsed = time.monotonic() - began
        (await opener).close()
        return waited, elapsed

    waited, elapsed = asyncio.run(scenario())
    # JupyterHub's own backoff could notice this port anywhere up to 0.2+0.4+0.8 s later.
    assert 0.55 <= waited <= 0.9 and elapsed <= 0.9


def test_a_server_that_exited_is_reported_without_waiting_for_the_timeout() -> None:
    calls = []

    async def exited():
        calls.append(time.monotonic())
        return None if len(calls) < 2 else "ExitCode=1, Error=''"

    began = time.monotonic()
    with pytest.raises(ServerExited, match=r"stopped during start \(exit status ExitCode=1"):
        asyncio.run(wait_until_listening("127.0.0.1", free_port(), timeout=60, exited=exited,
                                         interval=0.05, exit_check_interval=0.2))
    assert time.monotonic() - began < 2 and len(calls) == 2


def test_times_out_with_jupyterhubs_wording() -> None:
    port = free_port()
    with pytest.raises(TimeoutError, match=rf"Server at 127.0.0.1:{port} didn't respond in 0.5 seconds"):
        asyncio.run(wait_until_listening("127.0.0.1", port, timeout=0.5, interval=0.05))


def test_a_start_past_the_hubs_timeout_is_cancelled_with_the_attendees_message() -> None:
    pool = exclusive_pool()
    alice = lab_spawner("alice", pool, start_timeout=3)  # gives up after 3 - 2 = 1 s
    cleaned_up = []

    async def slow_start():
        try:
            await asyncio.sleep(30)
        finally:
            cleaned_up.append(time.monotonic())

    alice._start_and_wait = slow_start
    began = time.monotonic()
    with pytest.raises(StartTimedOut, match="服务器没能在 3 秒内启动.*Your server did not start within 3 seconds"):
        asyncio.run(alice.start())
    # Before JupyterHub's own timeout (3 s) would fire, the start's cleanup ran, the GPU is free.
    assert 0.9 <= cleaned_up[0] - began < 2.5 and pool.assignments() == {}
    assert isinstance(StartTimedOut(3), TimeoutError)  # JupyterHub logs and counts it as a timeout


def test_a_timeout_the_start_raises_itself_is_kept() -> None:
    async def start_that_times_out():
        raise TimeoutError("Server at 127.0.0.1:1 didn't respond in 0.5 seconds")

    with pytest.raises(TimeoutError, match="didn't respond in 0.5 seconds") as raised:
        asyncio.run(within_start_timeout(start_that_times_out(), 30))
    assert not isinstance(raised.value, StartTimedOut)


def test_docker_calls_share_one_pool_of_several_threads() -> None:
    first, second = LabDockerSpawner(), LabDockerSpawner()
    assert first.executor is second.executor
    assert first.executor._max_workers == DOCKER_API_THREADS > 1


def test_a_container_is_created_with_the_starting_weight_and_no_health_check() -> None:
    from_dockerspawner = {"image": "gluonlab/notebook:cpu", "name": "gluonlab-alice",
                          "host_config": {"Memory": 2 << 30, "CapDrop": ["ALL"]}}
    created, boosted = starting_create_kwargs(from_dockerspawner)
    assert created["host_config"] == {"Memory": 2 << 30, "CapDrop": ["ALL"], "CpuShares": STARTING_CPU_SHARES}
    assert created["healthcheck"] == {"test": ["NONE"]}
    assert boosted and created["image"] == "gluonlab/notebook:cpu"
    assert "CpuShares" not in from_dockerspawner["host_config"]  # DockerSpawner's dict is not changed


def test_a_weight_or_health_check_from_the_config_is_kept_and_never_reset() -> None:
    configured = {"host_config": {"CpuShares": 512}, "healthcheck": {"test": ["CMD", "true"], "interval": 60_000_000_000}}
    created, boosted = starting_create_kwargs(configured)
    assert created["host_config"]["CpuShares"] == 512 and not boosted
    assert created["healthcheck"] == configured["healthcheck"]
