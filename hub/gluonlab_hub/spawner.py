"""DockerSpawner with the two start-time delays a login rush exposes taken out.

1. Noticing a ready server late. After `Spawner.start()` returns, JupyterHub polls the server
   with exponential backoff and full jitter (`jupyterhub.utils.exponential_backoff`: waits drawn
   up to 0.2, 0.4, ... 5 s). A server that comes up 8 s into a busy start is noticed 2.5-4.3 s
   later (measured: bench/README.md, N=20 cold burst). `start()` here watches the port itself
   every 0.2 s (a TCP connect, no HTTP) and returns once it accepts, so the hub's first HTTP
   check succeeds. It also notices a container that exits during start and says so at once
   instead of waiting out the timeout.
2. One thread for every Docker call. DockerSpawner runs all API calls of all spawns through one
   global single-thread executor, so 20 simultaneous spawns queue their create/start/inspect
   calls one after another (20 create+start+inspect: 5.3 s serial, 3.3 s with 4 threads on this
   engine). A small pool lets the daemon overlap them; the Docker client is thread-safe and keeps
   a connection pool of 10.
3. Starts competing with running code. While a server starts its container has 4x the default
   CPU weight, so under a full CPU the attendees still waiting for their Lab come first. The
   weight is part of the create call (one `docker update` per start less: 0.02 core-s of the
   engine each) and set back to the default once the server listens.
4. Docker health checks. The image's HEALTHCHECK suits `docker run`; under the hub nobody reads
   it (JupyterHub polls its servers itself) and each check is an exec of Python in the container.
   Every server spawned at a workshop's start ran its first check 15 s in, all together, in the
   middle of the rush; afterwards 20 idle servers kept 24% of a core busy with checks alone, 8%
   without them (bench/README.md). Spawned servers have none.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from dockerspawner import DockerSpawner

#: Threads for Docker API calls, shared by all spawns (DockerSpawner's default is 1).
DOCKER_API_THREADS = 4
#: CPU weight of a server while it starts, and after (Docker's default). At a workshop's start
#: the attendees still waiting for their Lab go before the code of those already in: the early
#: ones' `import mxnet` (~2 core-s each) would otherwise slow every later start.
STARTING_CPU_SHARES = 4096
RUNNING_CPU_SHARES = 1024
#: Docker's way to switch off an image's HEALTHCHECK for one container.
NO_HEALTHCHECK = {"test": ["NONE"]}
#: How often a starting server's port is tried.
PORT_POLL_INTERVAL_S = 0.2
#: How often the container is asked whether it still runs while its port stays closed.
EXIT_CHECK_INTERVAL_S = 2.0


class ServerExited(RuntimeError):
    """The user's server stopped before it listened."""


async def wait_until_listening(
    host: str,
    port: int,
    timeout: float,
    exited: Callable[[], Awaitable[object]] | None = None,
    interval: float = PORT_POLL_INTERVAL_S,
    exit_check_interval: float = EXIT_CHECK_INTERVAL_S,
) -> float:
    """Wait until ``host:port`` accepts a TCP connection; return the seconds waited.

    ``exited`` is awaited every ``exit_check_interval`` s: anything but None means the server
    is gone (DockerSpawner.poll's convention: None while running, else the exit status), and
    ServerExited is raised naming it. TimeoutError after ``timeout`` s.
    """
    loop = asyncio.get_running_loop()
    began = loop.time()
    next_exit_check = began + exit_check_interval
    while True:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=1.0)
        except (OSError, asyncio.TimeoutError):
            now = loop.time()
            if exited is not None and now >= next_exit_check:
                status = await exited()
                if status is not None:
                    raise ServerExited(f"the server stopped during start (exit status {status})") from None
                next_exit_check = now + exit_check_interval
            if now - began >= timeout:
                raise TimeoutError(f"Server at {host}:{port} didn't respond in {timeout:g} seconds") from None
            await asyncio.sleep(interval)
        else:
            writer.close()
            return loop.time() - began


def starting_create_kwargs(create_kwargs: dict) -> tuple[dict, bool]:
    """DockerSpawner's `create_container` arguments with the starting CPU weight and no health
    check (module doc, 3 and 4), and whether the weight is ours to reset once the server
    listens. A weight or health check set in the hub's config is left as it is."""
    result = dict(create_kwargs)
    host_config = dict(result.get("host_config") or {})
    boosted = "CpuShares" not in host_config
    if boosted:
        host_config["CpuShares"] = STARTING_CPU_SHARES
    result["host_config"] = host_config
    result.setdefault("healthcheck", NO_HEALTHCHECK)
    return result, boosted


class LabDockerSpawner(DockerSpawner):
    """DockerSpawner that reports a server ready as soon as its port opens (see module doc)."""

    _lab_executor: ThreadPoolExecutor | None = None
    _starting_weight_set = False

    @property
    def executor(self) -> ThreadPoolExecutor:
        cls = LabDockerSpawner
        if cls._lab_executor is None:
            cls._lab_executor = ThreadPoolExecutor(DOCKER_API_THREADS, thread_name_prefix="docker-api")
        return cls._lab_executor

    def docker(self, method: str, *args, **kwargs):
        if method == "create_container":
            kwargs, self._starting_weight_set = starting_create_kwargs(kwargs)
        return super().docker(method, *args, **kwargs)

    async def start(self):
        self._starting_weight_set = False  # set by the create call, if this start makes one
        ip, port = await super().start()
        try:
            waited = await wait_until_listening(ip, port, timeout=self.http_timeout, exited=self.poll)
        except ServerExited as error:
            logs = await self._container_log_tail()
            raise ServerExited(f"{error}; last lines of its log:\n{logs}") from None
        if self._starting_weight_set:
            await self._set_cpu_weight(RUNNING_CPU_SHARES)
        self.log.info("Server for %s listens after %.1f s more", self.user.name, waited)
        return ip, port

    async def _set_cpu_weight(self, shares: int) -> None:
        try:
            await self.docker("update_container", self.container_id, cpu_shares=shares)
        except Exception as error:  # noqa: BLE001  (a weight is an optimisation; the start goes on)
            self.log.warning("Could not set the CPU weight of %s to %d: %s", self.container_name, shares, error)

    async def _container_log_tail(self, lines: int = 20) -> str:
        try:
            raw = await self.docker("logs", self.container_id, tail=lines)
        except Exception as error:  # noqa: BLE001  (already removed: say so instead)
            return f"(log unavailable: {error})"
        return raw.decode(errors="replace").rstrip()
