"""LabDockerSpawner's readiness wait, on real sockets: it returns as soon as a port accepts,
says at once when the server exited instead, and times out with JupyterHub's wording."""
from __future__ import annotations

import asyncio
import socket
import time

import pytest

from gluonlab_hub.spawner import (
    DOCKER_API_THREADS,
    STARTING_CPU_SHARES,
    LabDockerSpawner,
    ServerExited,
    starting_create_kwargs,
    wait_until_listening,
)


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
