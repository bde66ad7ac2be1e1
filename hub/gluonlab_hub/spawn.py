"""DockerSpawner wiring: per-user limits, container hardening and GPU pinning.

`LabSpawnerHooks` owns the GPU allocator and gives DockerSpawner its callables
(`pre_spawn_hook`, `post_stop_hook`, `extra_host_config`, `extra_create_kwargs`). The allocator
is created lazily on the first spawn: discovering GPUs with `auto` runs a container, and the
state is rebuilt from running containers' labels, so a hub restart double-assigns nothing.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Callable

from prometheus_client import Gauge

from . import gpus as gpu_mod
from .settings import Settings

log = logging.getLogger("gluonlab.spawn")

# Exposed on the hub's /hub/metrics (JupyterHub serves the default registry): 1 per GPU a
# user's server holds, so a dashboard shows who is on which GPU.
GPU_ASSIGNED = Gauge("gluonlab_gpu_assigned", "GPUs held by users' servers (1 = held)", ["user", "gpu"])


def hardened_host_config(settings: Settings) -> dict[str, Any]:
    """Host settings every user container gets (CIS Docker benchmark items 5.x).

    - no capabilities: Jupyter runs as uid 1000 and needs none (5.3)
    - no-new-privileges: setuid binaries cannot raise privileges (5.25)
    - pids limit against fork bombs (5.28); memory/CPU limits come from DockerSpawner itself
    - shm_size: Gluon DataLoader workers share batches through /dev/shm (Docker's 64 MB is too
      small for num_workers > 0)
    No privileged mode, no host paths, no Docker socket: only the home volume is mounted.
    """
    return {
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "pids_limit": settings.pids_limit,
        "shm_size": settings.shm_size,
        "privileged": False,
    }


class LabSpawnerHooks:
    """The callables DockerSpawner uses for GPU pinning and hardening."""

    def __init__(self, settings: Settings, docker_client_factory: Callable[[], Any] | None = None):
        self.settings = settings
        self._docker_client_factory = docker_client_factory or _default_docker_client
        self._allocator: gpu_mod.GpuAllocator | None = None
        self._init_lock = threading.Lock()

    # -- allocator

    @property
    def allocator(self) -> gpu_mod.GpuAllocator:
        with self._init_lock:
            if self._allocator is None:
                self._allocator = self._make_allocator()
            return self._allocator

    def _make_allocator(self) -> gpu_mod.GpuAllocator:
        s = self.settings
        if s.gpu_policy == "none":
            return gpu_mod.GpuAllocator([], policy="none")
        client = self._docker_client_factory()
        found = gpu_mod.discover_gpus(s.gpus, client, s.notebook_image)
        allocator = gpu_mod.GpuAllocator(
            found, policy=s.gpu_policy, users_per_gpu=s.users_per_gpu, when_exhausted=s.gpu_when_exhausted
        )
        rebuilt = allocator.rebuild_from_docker(client, instance=s.instance)
        _publish(rebuilt)
        log.info("GPUs: %s; rebuilt from running servers: %s",
                 ", ".join(g.describe() for g in found), rebuilt or "nobody holds a GPU")
        return allocator

    def assigned(self, username: str) -> list[str]:
        return self.allocator.assignments().get(username, [])

    # -- DockerSpawner callables

    async def pre_spawn_hook(self, spawner: Any) -> None:
        username = spawner.user.name
        # The first call may discover GPUs by running a container: keep it off the event loop.
        allocator = await asyncio.to_thread(lambda: self.allocator)
        ids = allocator.allocate(username)  # GpusExhausted's message reaches the user
        _publish(allocator.assignments())
        spawner.environment.update(gpu_mod.container_environment(ids, self.allocator.gpus))

    def post_stop_hook(self, spawner: Any) -> None:
        self.allocator.release(spawner.user.name)
        _publish(self.allocator.assignments())

    def extra_host_config(self, spawner: Any) -> dict[str, Any]:
        config = hardened_host_config(self.settings)
        ids = self.assigned(spawner.user.name)
        if ids:
            config["device_requests"] = gpu_mod.device_requests(ids)
        return config

    def extra_create_kwargs(self, spawner: Any) -> dict[str, Any]:
        ids = self.assigned(spawner.user.name)
        return {"labels": gpu_mod.container_labels(spawner.user.name, ids, instance=self.settings.instance)}


def _publish(assignments: dict[str, list[str]]) -> None:
    GPU_ASSIGNED.clear()
    for user, ids in assignments.items():
        for gpu in ids:
            GPU_ASSIGNED.labels(user=user, gpu=gpu).set(1)


def _default_docker_client() -> Any:
    import docker  # the hub image has the SDK; unit tests pass their own factory

    return docker.from_env()


def spawner_callables(hooks: LabSpawnerHooks) -> dict[str, Callable[[Any], Any]]:
    """Plain functions wrapping *hooks*' methods, for the config file.

    traitlets deep-copies config values; a bound method would drag the allocator (and its
    lock) into the copy, while functions are copied by reference.
    """
    async def pre_spawn_hook(spawner):
        return await hooks.pre_spawn_hook(spawner)

    def post_stop_hook(spawner):
        return hooks.post_stop_hook(spawner)

    def extra_host_config(spawner):
        return hooks.extra_host_config(spawner)

    def extra_create_kwargs(spawner):
        return hooks.extra_create_kwargs(spawner)

    return {
        "pre_spawn_hook": pre_spawn_hook,
        "post_stop_hook": post_stop_hook,
        "extra_host_config": extra_host_config,
        "extra_create_kwargs": extra_create_kwargs,
    }
