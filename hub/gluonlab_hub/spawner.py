"""The one spawner of Gluon Lab: DockerSpawner with GPU pinning, hardening, and the start-time
delays a login rush exposes taken out.

GPUs. The hub's one :class:`~gluonlab_hub.gpus.GpuAllocator` is built when the hub starts
(:func:`hub_gpu_allocator`: a bad GPU setting stops the hub, not an attendee's login) and given
to the spawner as its ``gpu_allocator`` trait. ``start()`` takes the user's GPUs (or refuses with
a message for the attendee), the container is created with them requested by explicit id and
labelled with them (the allocator rebuilds its state from those labels after a hub restart),
and ``stop()`` or a failed start gives them back.

Profiles. With a profiles file (gluonlab_hub.profiles) the spawner's ``profiles`` trait lists the
kinds of server; the spawn page offers those the user's groups allow (with free seats), the REST
API takes ``{"profile": "<name>"}``, and the chosen profile sets the image, limits and GPU request
before start (``apply_user_options``: JupyterHub runs it for the form and the API alike). Any
other option, an image above all, is refused: the images are the profiles' (allowed_images).

Hardening. Every user container gets (CIS Docker benchmark items 5.x): no capabilities (Jupyter
runs as uid 1000 and needs none, 5.3), no-new-privileges (setuid binaries cannot raise
privileges, 5.25), a pids limit against fork bombs (5.28), not privileged, ulimit nice=20 where
the engine can set it (a niced process may return to nice 0, none can go below); memory/CPU limits come
from DockerSpawner itself, and swap is capped at the memory limit (memory + swap = the limit: no
swap beyond it). A server without GPUs gets NVIDIA_VISIBLE_DEVICES=void, so it sees none even
on a host whose Docker default runtime is nvidia. shm_size: Gluon DataLoader workers share
batches through /dev/shm (Docker's 64 MB is too small for num_workers > 0). No host paths, no
Docker socket: only the home volume is mounted. Disk: the home can be its own size-limited file
system, the root is read-only with a small /tmp, the log is capped (gluonlab_hub/homes.py).

Start-time delays:

1. Noticing a ready server late. After `Spawner.start()` returns, JupyterHub polls the server
   with exponential backoff and full jitter (`jupyterhub.utils.exponential_backoff`: waits drawn
   up to 0.2, 0.4, ... 5 s), so a server that comes up during a busy start is noticed seconds
   late (measured: bench/README.md). `start()` here watches the port itself
   every 0.2 s (a TCP connect, no HTTP) and returns once it accepts, so the hub's first HTTP
   check succeeds. It also notices a container that exits during start and says so at once
   instead of waiting out the timeout.
2. One thread for every Docker call. DockerSpawner runs all API calls of all spawns through one
   global single-thread executor, so 20 simultaneous spawns queue their create/start/inspect
   calls one after another (measured: bench/README.md). A small pool lets the daemon overlap
   them; the Docker client is thread-safe and keeps a connection pool of 10.
3. Starts competing with running code. While a server starts its container has 4x the default
   CPU weight, so under a full CPU the attendees still waiting for their Lab come first. The
   weight is part of the create call (one `docker update` per start less) and set back to the
   default once the server's warm kernel is ready (images/notebook/rootfs/gluonlab_kernels.py,
   asked at GET api/gluonlab/warm-kernel with the server's own token; at most
   WARM_KERNEL_WAIT_S after it listens, or at once for a server without one). The warm-up is
   the rest of the start an attendee waits for: reset when the server merely listened, its
   kernel's imports ran at a quarter of the weight of every later start, and the whole room got
   its first result at the same late moment (bench/README.md, "Login -> first MXNet result").
4. Docker health checks. The image's HEALTHCHECK suits `docker run`; under the hub nobody reads
   it (JupyterHub polls its servers itself) and each check is an exec of Python in the container.
   Every server spawned at a workshop's start ran its first check at the same moment, in the
   middle of the rush, and idle servers kept a core busy with checks (bench/README.md).
   Spawned servers have none.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
from dockerspawner import DockerSpawner
from tornado import web
from tornado.httpclient import AsyncHTTPClient
from traitlets import Instance, Integer, Unicode, default
from traitlets.config import Configurable

from . import gpus as gpu_mod
from . import homes as homes_mod
from . import profiles as profile_mod
from .gpus import GpuAllocator
from .homes import HomeStore
from .profiles import Profile, ProfileSet

log = logging.getLogger("gluonlab.spawner")

#: Threads for Docker API calls, shared by all spawns (DockerSpawner's default is 1).
DOCKER_API_THREADS = 4
#: CPU weight of a server while it starts, and after (Docker's default). At a workshop's start
#: the attendees still waiting for their Lab go before the code of those already in: the early
#: ones' `import mxnet` (~2 core-s each) would otherwise slow every later start.
STARTING_CPU_SHARES = 4096
RUNNING_CPU_SHARES = 1024
#: Seconds after a server listens that its starting weight waits for its warm kernel (module doc, 3).
WARM_KERNEL_WAIT_S = 90
WARM_KERNEL_POLL_S = 1.0
#: Docker's way to switch off an image's HEALTHCHECK for one container.
NO_HEALTHCHECK = {"test": ["NONE"]}
#: How often a starting server's port is tried.
PORT_POLL_INTERVAL_S = 0.2
#: How often the container is asked whether it still runs while its port stays closed.
EXIT_CHECK_INTERVAL_S = 2.0


class ServerExited(RuntimeError):
    """The user's server stopped before it listened."""


#: Seconds before JupyterHub's own start timeout (Spawner.start_timeout) that a start gives up by
#: itself, with a message: JupyterHub's timeout has none, and an attendee whose start outlasted
#: it at an N=50 rush read only "Spawn failed: " (bench/README.md).
START_DEADLINE_MARGIN_S = 2.0


class StartTimedOut(TimeoutError):
    """A start that outlasted the hub's start timeout. ``str(exc)`` is for the attendee (the
    spawn page shows it); being a TimeoutError, JupyterHub logs and counts it as its own timeout."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"服务器没能在 {seconds:.0f} 秒内启动（机器正忙）。你的文件都在：请过一会儿再点“启动”；"
            f"如果一再出现，请告诉讲师。/ Your server did not start within {seconds:.0f} seconds (the "
            "machine is very busy). Your files are kept: start it again in a minute; if this keeps "
            "happening, tell the instructor.")


async def within_start_timeout(start: Awaitable[Any], start_timeout: float) -> Any:
    """Await *start*, cancelling it START_DEADLINE_MARGIN_S before JupyterHub's *start_timeout*
    would end the wait, and raise StartTimedOut then. JupyterHub's own timeout only stops
    waiting (the start would go on beside the hub's stop); cancelled here, the start's own
    cleanup runs first. A TimeoutError the start raises itself (its readiness wait) is kept."""
    seconds = max(1.0, start_timeout - START_DEADLINE_MARGIN_S)
    deadline = asyncio.timeout(seconds)
    try:
        async with deadline:
            return await start
    except TimeoutError:
        if deadline.expired():
            raise StartTimedOut(start_timeout) from None
        raise


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


def gpu_visibility_environment(gpu_ids: list[str]) -> dict[str, str]:
    """``NVIDIA_VISIBLE_DEVICES=void`` for a server without GPUs (none asked for, or the CPU
    fallback when every GPU is taken). The CUDA and NGC images set ``all``, and on a host whose
    Docker default runtime is nvidia that alone would hand every GPU to a CPU-only server;
    ``void`` makes the NVIDIA runtime expose none. With GPUs, Docker sets the variable from the
    device request."""
    return {} if gpu_ids else {"NVIDIA_VISIBLE_DEVICES": "void"}


# RLIMIT_NICE 20: processes may lower a nice value back to 0, never below. The image's warm
# kernel runs at nice 19 and is set back to 0 when a notebook adopts it (gluonlab_kernels.py).
NICE_ULIMIT = [{"Name": "nice", "Soft": 20, "Hard": 20}]
_nice_probe = threading.Lock()
_engine_sets_nice: bool | None = None


def engine_sets_nice_ulimit(api: Any, image: str) -> bool:
    """Whether the engine can give containers NICE_ULIMIT, tried once per hub with a throwaway
    container: an engine without the privilege to raise RLIMIT_NICE (nested or rootless Docker,
    this project's CI) refuses every such container ("error setting rlimit type 13"), and a
    server without it is better than none (its warm kernel then runs at normal priority)."""
    global _engine_sets_nice
    with _nice_probe:
        if _engine_sets_nice is None:
            container = None
            try:
                container = api.create_container(image, command=["true"], host_config=api.create_host_config(
                    ulimits=[docker.types.Ulimit(name="nice", soft=20, hard=20)], network_mode="none"))
                api.start(container["Id"])
                _engine_sets_nice = True
            except docker.errors.APIError as error:
                _engine_sets_nice = False
                log.warning("The Docker engine cannot set ulimit nice=20 (%s): warm kernels run at normal "
                            "priority", error.explanation or error)
            finally:
                if container is not None:
                    try:
                        api.remove_container(container["Id"], force=True)
                    except docker.errors.APIError:
                        pass
        return _engine_sets_nice


def hardened_host_config(pids_limit: int, shm_size: str, gpu_ids: list[str],
                         mem_limit: int | None = None, nice_ulimit: bool = False) -> dict[str, Any]:
    """The host config every user container gets on top of DockerSpawner's (module doc,
    Hardening), with ``gpu_ids`` requested by explicit id, in the engine API's form: it goes
    into the create call as it is, next to what docker-py made of DockerSpawner's settings.
    ``mem_limit`` (bytes) also caps memory + swap, so the limit cannot be doubled in swap."""
    config: dict[str, Any] = {
        "CapDrop": ["ALL"],
        "SecurityOpt": ["no-new-privileges:true"],
        "PidsLimit": pids_limit,
        "ShmSize": docker.utils.parse_bytes(shm_size),
        "Privileged": False,
    }
    if nice_ulimit:
        config["Ulimits"] = NICE_ULIMIT
    if mem_limit:
        config["MemorySwap"] = mem_limit
    if gpu_ids:
        config["DeviceRequests"] = [docker.types.DeviceRequest(**r) for r in gpu_mod.device_requests(gpu_ids)]
    return config


def hub_gpu_allocator(settings: Any, docker_client: Any = None) -> GpuAllocator:
    """The hub's GPU pool, built once when the hub starts (from the config file).

    Discovers the GPUs of ``settings.gpus`` (``auto`` runs nvidia-smi in a throwaway container:
    blocking is fine here, nothing is served yet) and rebuilds who holds which from the running
    containers' labels, so a hub restart double-assigns nothing. ``settings`` is the hub's
    Settings (gpu_policy, gpus, users_per_gpu, gpu_when_exhausted, notebook_image, instance).
    Raises :class:`~gluonlab_hub.gpus.GpuSetupError` naming the setting to fix.
    """
    policy = settings.gpu_policy
    if policy == "none":
        return GpuAllocator([], policy="none")
    where = f"GLUONLAB_GPUS={settings.gpus!r} (GLUONLAB_GPU_POLICY={policy})"
    try:
        gpu_mod.parse_gpu_spec(settings.gpus)  # a typo fails here, before any Docker call
        client = docker_client or docker.from_env()
        # An explicit list of whole GPUs returns at once; "auto" and MIG entries ask nvidia-smi
        found = gpu_mod.discover_gpus(settings.gpus, client, settings.notebook_image)
        allocator = GpuAllocator(found, policy=policy, users_per_gpu=settings.users_per_gpu,
                                 when_exhausted=settings.gpu_when_exhausted)
        rebuilt = allocator.rebuild_from_docker(client, instance=settings.instance)
    except (gpu_mod.GpuSpecError, ValueError) as error:  # ValueError: the allocator refuses the list
        raise gpu_mod.GpuSetupError(f"{where} is not valid: {error}") from error
    except gpu_mod.GpuDiscoveryError as error:
        raise gpu_mod.GpuSetupError(
            f"{where}: GPU discovery failed: {error} For a CPU-only hub set GLUONLAB_GPU_POLICY=none."
        ) from error
    except docker.errors.DockerException as error:
        raise gpu_mod.GpuSetupError(
            f"{where}: the hub needs the Docker engine to find GPUs and who holds them: {error}"
        ) from error
    log.info("GPUs: %s; rebuilt from running servers: %s",
             ", ".join(g.describe() for g in found), rebuilt or "nobody holds a GPU")
    return allocator


def class_executor(cls: type, prefix: str) -> ThreadPoolExecutor:
    """The one pool of DOCKER_API_THREADS threads that every spawner of *cls* makes its Docker
    calls in (kept in the class's own ``_lab_executor``)."""
    if cls.__dict__.get("_lab_executor") is None:
        cls._lab_executor = ThreadPoolExecutor(DOCKER_API_THREADS, thread_name_prefix=prefix)
    return cls._lab_executor


class ProfileChoice(Configurable):
    """The server profiles (gluonlab_hub.profiles) as a spawner offers them: the spawn page's
    choice, ``{"profile": name}`` in the API, and the chosen profile's image and limits. Shared by
    the single-host and the Swarm spawner; each says what a profile's GPU request means for it
    (``profile_seats``) and reads ``self.profile`` at its start."""

    profiles = Instance(
        ProfileSet, allow_none=True,
        help="The hub's server profiles (gluonlab_hub.profiles.load); None: one kind of server, one GPU "
             "per server when the pool has GPUs.",
    ).tag(config=True)
    #: The profile of the latest start (None without profiles).
    profile: Profile | None = None

    def profile_seats(self, profile: Profile) -> int:
        """How many more servers of *profile* could start now (shown on the spawn page)."""
        return self.gpu_allocator.free_seats(profile.gpu)

    def user_groups(self) -> list[str]:
        return [g.name for g in getattr(self.user, "groups", None) or []]

    @default("options_form")
    def _profiles_form(self):
        return lambda spawner: spawner.profiles_form()

    @default("options_from_form")
    def _profile_from_form(self):
        def options_from_form(formdata: dict[str, list[str]]) -> dict[str, str]:
            chosen = formdata.get("profile") or []
            return {"profile": chosen[0]} if chosen else {}
        return options_from_form

    @default("apply_user_options")
    def _apply_profile(self):
        return lambda spawner, options: spawner.apply_profile(options)

    def profiles_form(self) -> str:
        """The spawn page's choice: '' (start at once) unless the user may choose among several."""
        if self.profiles is None:
            return ""
        offered = self.profiles.for_groups(self.user_groups())
        saved = (self.user_options or {}).get("profile")
        # JupyterHub reuses the last choice when a start names none: one no longer offered (the
        # file or the user's groups changed) would be refused, so the form asks again.
        if len(offered) <= 1 and (saved is None or saved in [p.name for p in offered]):
            return ""
        seats = {p.name: self.profile_seats(p) for p in offered}
        return profile_mod.render_form(offered, seats, selected=saved)

    def apply_profile(self, options: dict[str, Any]) -> None:
        """Take the chosen profile's image, limits and GPU request (JupyterHub's apply_user_options
        hook, run before start for the spawn page and the REST API alike). Refusals are HTTP errors
        whose message JupyterHub shows the user."""
        options = dict(options or {})
        if self.profiles is None:
            if options:
                raise web.HTTPError(400, "这个实验室只有一种服务器。/ This lab has one kind of server; "
                                         f"options {sorted(options)} are not accepted.")
            return
        unknown = sorted(set(options) - {"profile"})
        if unknown:
            raise web.HTTPError(400, "只能选择服务器类型。/ Only a profile can be chosen "
                                     f"({{\"profile\": \"<name>\"}}); not accepted: {', '.join(unknown)}. "
                                     "Images and limits come with the profiles.")
        name = options.get("profile")
        if name is not None and not isinstance(name, str):
            raise web.HTTPError(400, "profile must be a profile name (a string)")
        try:
            profile = self.profiles.choose(name, self.user_groups())
        except profile_mod.ProfileRefused as refused:
            raise web.HTTPError(403, str(refused)) from None
        self.profile = profile
        self.image = profile.image
        # In bytes: the file takes Docker's units (768m as well as 768M), JupyterHub's trait only
        # upper-case ones.
        self.mem_limit = homes_mod.parse_size(profile.mem_limit) if profile.mem_limit else None
        self.cpu_limit = profile.cpu_limit


class LabDockerSpawner(ProfileChoice, DockerSpawner):
    """DockerSpawner with GPU pinning and hardening that reports a server ready as soon as its
    port opens (see module doc)."""

    gpu_allocator = Instance(
        GpuAllocator,
        help="The hub's GPU pool, shared by every spawner (hub_gpu_allocator builds it at hub start).",
    ).tag(config=True)
    pids_limit = Integer(1024, help="Most processes a user container may run.").tag(config=True)
    shm_size = Unicode("1g", help="Size of a user container's /dev/shm, e.g. 1g.").tag(config=True)
    home_store = Instance(HomeStore, allow_none=True,
                          help="Sized homes (gluonlab_hub/homes.py); None = plain home volumes.").tag(config=True)
    tmp_size = Unicode("0", help="Size of /tmp (tmpfs) under a read-only root; 0 = writable root.").tag(config=True)

    @default("gpu_allocator")
    def _cpu_only(self) -> GpuAllocator:
        return GpuAllocator([], policy="none")

    _lab_executor: ThreadPoolExecutor | None = None
    _starting_weight_set = False
    _weight_reset: asyncio.Future | None = None
    #: Device ids the latest start() took ([] = CPU only), before its container existed.
    gpu_ids: list[str] = []

    @property
    def executor(self) -> ThreadPoolExecutor:
        return class_executor(LabDockerSpawner, "docker-api")

    def gpu_request(self) -> gpu_mod.GpuRequest:
        """What this start asks of the pool: the profile's request, else one GPU (the pool's
        policy decides whether that is a GPU at all)."""
        return self.profile.gpu if self.profile is not None else gpu_mod.ONE_GPU

    # -- what the container gets

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        env.update(gpu_mod.container_environment(self.gpu_ids, self.gpu_allocator.gpus))
        env.update(gpu_visibility_environment(self.gpu_ids))
        if self.profile is not None:
            env["GLUONLAB_PROFILE"] = self.profile.label()
        return env

    def lab_create_kwargs(self, create_kwargs: dict, nice_ulimit: bool = False) -> tuple[dict, bool]:
        """DockerSpawner's `create_container` arguments with ours added: starting CPU weight and
        no health check (starting_create_kwargs), hardening and GPUs (hardened_host_config), and
        the labels the allocator rebuilds from (prefix = the lab instance)."""
        result, boosted = starting_create_kwargs(create_kwargs)
        # Docker's default lets a container swap as much again as its memory limit; a swap
        # limit set in the hub's config (extra_host_config memswap_limit) is kept.
        memory = None if "MemorySwap" in result["host_config"] else result["host_config"].get("Memory")
        result["host_config"].update(hardened_host_config(self.pids_limit, self.shm_size, self.gpu_ids,
                                                          mem_limit=memory, nice_ulimit=nice_ulimit))
        result["host_config"].update(homes_mod.disk_host_config(self.tmp_size))
        labels = gpu_mod.container_labels(self.user.name, self.gpu_ids, instance=self.prefix,
                                          profile=self.profile.name if self.profile is not None else None)
        result["labels"] = {**(result.get("labels") or {}), **labels}
        return result, boosted

    def docker(self, method: str, *args, **kwargs):
        if method == "create_container":
            nice = engine_sets_nice_ulimit(self.client, kwargs.get("image") or self.image)
            kwargs, self._starting_weight_set = self.lab_create_kwargs(kwargs, nice_ulimit=nice)
        return super().docker(method, *args, **kwargs)

    # -- lifecycle

    async def start(self):
        if self.profiles is not None and self.profile is None:  # started without JupyterHub's hook
            self.apply_profile(self.user_options)
        # GpusExhausted's message (refuse policy) is what the attendee sees on the spawn page.
        self.gpu_ids = self.gpu_allocator.allocate(self.user.name, self.gpu_request())
        try:
            return await within_start_timeout(self._start_and_wait(), self.start_timeout)
        except BaseException:  # a failed, timed-out or cancelled start holds no GPU
            self.gpu_allocator.release(self.user.name)
            raise

    async def stop(self, now: bool = False) -> None:
        if self._weight_reset is not None and not self._weight_reset.done():
            self._weight_reset.cancel()
        try:
            await super().stop(now=now)
        finally:
            # The server is gone for JupyterHub even when Docker complained (as with the
            # post-stop hook this replaces); a container still running keeps its label, and
            # the next hub start counts it again.
            self.gpu_allocator.release(self.user.name)
            self.gpu_ids = []

    async def _start_and_wait(self) -> tuple[str, int]:
        self._starting_weight_set = False  # set by the create call, if this start makes one
        sized_homes = await self._homes("prepare")
        try:
            ip, port = await super().start()
        finally:
            # The home is mounted now (or never will be): its loop device goes with the mount
            # (homes.py), while the server starts.
            released = asyncio.ensure_future(self._homes("release", sized_homes))
        try:
            waited = await wait_until_listening(ip, port, timeout=self.http_timeout, exited=self.poll)
        except ServerExited as error:
            logs = await self._container_log_tail()
            raise ServerExited(f"{error}; last lines of its log:\n{logs}") from None
        finally:
            await released
        if self._starting_weight_set:
            self._weight_reset = asyncio.ensure_future(self._running_weight_once_warm(ip, port))
        self.log.info("Server for %s listens after %.1f s more", self.user.name, waited)
        return ip, port

    async def _running_weight_once_warm(self, ip: str, port: int) -> None:
        """Docker's default CPU weight again once the server's warm kernel is ready (module doc, 3)."""
        url = f"http://{ip}:{port}{self.server.base_url.rstrip('/')}/api/gluonlab/warm-kernel"
        client = AsyncHTTPClient()
        loop = asyncio.get_running_loop()
        give_up = loop.time() + WARM_KERNEL_WAIT_S
        try:
            while loop.time() < give_up:
                try:
                    response = await client.fetch(url, headers={"Authorization": f"token {self.api_token}"},
                                                  request_timeout=5, raise_error=False)
                except OSError:
                    break  # the server went away: nothing to wait for
                if response.code != 200:
                    break  # no warm kernels in this image (404), or no longer ours
                status = json.loads(response.body)
                # Ready, or already adopted by the attendee's first notebook (which waited for it).
                if not status.get("enabled") or status.get("ready") or status.get("adopted"):
                    break
                await asyncio.sleep(WARM_KERNEL_POLL_S)
            else:
                self.log.info("Warm kernel of %s not ready after %d s: default CPU weight anyway", self.user.name,
                              WARM_KERNEL_WAIT_S)
        except asyncio.CancelledError:
            return  # stopped meanwhile: the container is gone
        except Exception as error:  # noqa: BLE001  (a weight is an optimisation; never fail the server)
            self.log.warning("Could not ask %s's server for its warm kernel: %s", self.user.name, error)
        await self._set_cpu_weight(RUNNING_CPU_SHARES)

    async def _homes(self, action: str, volumes: list[str] | None = None) -> list[str]:
        """Sized homes (gluonlab_hub/homes.py): "prepare" the named volumes this server mounts
        (returns those that are sized), or "release" *volumes*. A failed prepare stops the start
        with the helper's message; a failed release only costs a loop device until the next start."""
        if self.home_store is None:
            return []
        loop = asyncio.get_running_loop()
        if action == "prepare":
            # Only writable named volumes are homes: a read-only one (the course data) is shared.
            named = [v for v, bind in self.volume_binds.items()
                     if not v.startswith("/") and bind.get("mode", "rw") == "rw"]
            sized = await asyncio.gather(*(loop.run_in_executor(self.home_store.executor, self.home_store.prepare, v)
                                           for v in named))
            return [v for v, is_sized in zip(named, sized) if is_sized]
        for volume in volumes or []:
            try:
                await loop.run_in_executor(self.home_store.executor, self.home_store.release, volume)
            except Exception as error:  # noqa: BLE001  (see docstring)
                self.log.warning("Could not release the loop device of %s: %s", volume, error)
        return []

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
