"""The starting CPU weight lasts until the server's warm kernel is ready (spawner module doc, 3):
LabDockerSpawner asks the server's GET api/gluonlab/warm-kernel, here a real local HTTP server
answering as gluonlab_kernels.WarmKernelHandler does, and sets Docker's default weight then."""
from __future__ import annotations

import asyncio
import json
import socket
from types import SimpleNamespace

import pytest
from jupyterhub.objects import Hub
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from gluonlab_hub import spawner as spawner_mod
from gluonlab_hub.gpus import GpuAllocator
from gluonlab_hub.spawner import RUNNING_CPU_SHARES, LabDockerSpawner

TOKEN = "server-token"


def answers(statuses: list):
    """A handler class that answers each GET with the next status (a dict, or an int: that code)."""
    seen: list[str] = []

    class WarmStatus(web.RequestHandler):
        def get(self):
            seen.append(self.request.headers.get("Authorization", ""))
            status = statuses[min(len(seen), len(statuses)) - 1]
            if isinstance(status, int):
                raise web.HTTPError(status)
            self.write(json.dumps(status))

    return WarmStatus, seen


async def weight_after(statuses: list, monkeypatch) -> tuple[list[int], list[str]]:
    monkeypatch.setattr(spawner_mod, "WARM_KERNEL_POLL_S", 0.01)
    handler, seen = answers(statuses)
    (listener,) = bind_sockets(0, "127.0.0.1", family=socket.AF_INET)  # non-blocking, as tornado needs
    port = listener.getsockname()[1]
    server = HTTPServer(web.Application([(r"/user/alice/api/gluonlab/warm-kernel", handler)]))
    server.add_sockets([listener])
    user = SimpleNamespace(name="alice", id=1, url="/user/alice/", escaped_name="alice")
    lab = LabDockerSpawner(user=user, hub=Hub(), gpu_allocator=GpuAllocator([], policy="none"),
                           client_kwargs={"base_url": "unix:///nonexistent/docker.sock"})
    lab.api_token = TOKEN
    lab.server = SimpleNamespace(base_url="/user/alice/")
    weights: list[int] = []

    async def set_weight(shares: int) -> None:
        weights.append(shares)

    lab._set_cpu_weight = set_weight
    try:
        await asyncio.wait_for(lab._running_weight_once_warm("127.0.0.1", port), 10)
    finally:
        server.stop()
    return weights, seen


WARMING = {"enabled": True, "ready": False, "warming": True, "adopted": 0}


@pytest.mark.parametrize("statuses, polls", [
    ([WARMING, WARMING, {**WARMING, "ready": True, "warming": False}], 3),  # ready: the usual end
    ([WARMING, {**WARMING, "warming": False, "adopted": 1}], 2),  # the first notebook took it while warming
    ([{"enabled": False, "ready": False, "warming": False, "adopted": 0}], 1),  # GLUONLAB_WARM_KERNEL=0
    ([404], 1),  # an image without warm kernels
], ids=["ready", "adopted-while-warming", "off", "no-endpoint"])
def test_the_default_weight_comes_back_once_the_warm_kernel_is_ready(statuses, polls, monkeypatch):
    weights, seen = asyncio.run(weight_after(statuses, monkeypatch))
    assert weights == [RUNNING_CPU_SHARES]
    assert len(seen) == polls and set(seen) == {f"token {TOKEN}"}


def test_a_warm_kernel_that_never_gets_ready_still_gives_the_weight_back(monkeypatch):
    monkeypatch.setattr(spawner_mod, "WARM_KERNEL_WAIT_S", 0.2)
    weights, seen = asyncio.run(weight_after([WARMING], monkeypatch))
    assert weights == [RUNNING_CPU_SHARES] and len(seen) >= 2
