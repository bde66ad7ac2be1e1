"""Gluon Lab hub settings, read from environment variables.

Every knob has a safe default (CPU only, nothing open to the world, no signup). A bad value
raises SettingsError naming the variable, what was found and how to fix it, before the hub
starts, so nothing half-starts.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping

VARIANTS = ("cpu", "cu117", "ngc", "cu80")
GPU_POLICIES = ("none", "exclusive", "shared")
WHEN_EXHAUSTED = ("refuse", "cpu")
_SIZE = re.compile(r"^\d+(\.\d+)?[kKmMgG]?$")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class SettingsError(ValueError):
    """A setting has a value the hub cannot use; the message says how to fix it."""


def _fail(name: str, value: str, fix: str) -> SettingsError:
    return SettingsError(f"{name}={value!r} is not valid: {fix}")


@dataclass(frozen=True)
class Settings:
    notebook_variant: str = "cpu"
    notebook_image: str = "gluonlab/notebook:cpu"
    # One name for this lab's Docker objects (network, container prefix, home volumes), so two
    # labs (or a test run) on one engine never touch each other's containers or volumes.
    instance: str = "gluonlab"
    hub_connect_host: str = "hub"
    state_dir: str = "/srv/jupyterhub/state"
    # Empty: the SQLite database in state_dir (see db_url).
    hub_db_url: str = ""
    admin_users: tuple[str, ...] = ("admin",)
    gpu_policy: str = "none"
    gpus: str = ""
    users_per_gpu: int = 2
    gpu_when_exhausted: str = "refuse"
    mem_limit: str = "4G"
    cpu_limit: float = 2.0
    shm_size: str = "1g"
    pids_limit: int = 1024
    cull_timeout: int = 3600
    concurrent_spawn_limit: int = 20
    active_server_limit: int = 0
    spawn_timeout: int = 120
    ssl_cert: str = ""
    ssl_key: str = ""

    def warnings(self) -> list[str]:
        """Settings that work but are probably not what the admin meant."""
        found = []
        if self.gpu_policy != "none" and self.notebook_variant == "cpu":
            found.append("GLUONLAB_GPU_POLICY=%s with NOTEBOOK_VARIANT=cpu: GPUs are pinned to containers "
                         "whose MXNet cannot use them; set NOTEBOOK_VARIANT=cu117 or ngc" % self.gpu_policy)
        if self.cull_timeout < 330:
            # Servers report activity to the hub every 300 s: below ~330 s an attendee who is
            # reading (not typing) can lose their server.
            found.append(f"GLUONLAB_CULL_TIMEOUT={self.cull_timeout} is below 330 s: servers of users who are "
                         "reading but not typing may be culled")
        return found

    @property
    def db_url(self) -> str:
        """The hub's database: GLUONLAB_HUB_DB_URL, else SQLite in the state folder."""
        return self.hub_db_url or f"sqlite:///{self.state_dir}/jupyterhub.sqlite"

    @property
    def network(self) -> str:
        return self.instance

    @property
    def home_volume_template(self) -> str:
        return f"{self.instance}-home-{{username}}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env

        def get(name: str, default: str) -> str:
            return env.get(name, "").strip() or default

        variant = get("NOTEBOOK_VARIANT", "cpu")
        if variant not in VARIANTS:
            raise _fail("NOTEBOOK_VARIANT", variant, f"choose one of {', '.join(VARIANTS)} (default cpu)")
        image = get("GLUONLAB_NOTEBOOK_IMAGE", f"gluonlab/notebook:{variant}")

        instance = get("GLUONLAB_INSTANCE", "gluonlab")
        if not re.match(r"^[a-z0-9][a-z0-9_.-]{0,40}$", instance):
            raise _fail("GLUONLAB_INSTANCE", instance, "use lowercase letters, digits, '-', '_' or '.' (max 41)")

        admins = tuple(a.strip() for a in get("GLUONLAB_ADMIN_USERS", "admin").split(",") if a.strip())
        for admin in admins:
            if not _USERNAME.match(admin):
                raise _fail("GLUONLAB_ADMIN_USERS", admin,
                            "usernames use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit")
        if not admins:
            raise _fail("GLUONLAB_ADMIN_USERS", "", "name at least one admin, e.g. GLUONLAB_ADMIN_USERS=admin")

        policy = get("GLUONLAB_GPU_POLICY", "none")
        if policy not in GPU_POLICIES:
            raise _fail("GLUONLAB_GPU_POLICY", policy, f"choose one of {', '.join(GPU_POLICIES)}")
        when_exhausted = get("GLUONLAB_GPU_EXHAUSTED", "refuse")
        if when_exhausted not in WHEN_EXHAUSTED:
            raise _fail("GLUONLAB_GPU_EXHAUSTED", when_exhausted, "choose 'refuse' or 'cpu'")
        gpus = get("GLUONLAB_GPUS", "auto" if policy != "none" else "")
        for name, default in (("GLUONLAB_MEM_LIMIT", "4G"), ("GLUONLAB_SHM_SIZE", "1g")):
            value = get(name, default)
            if not _SIZE.match(value):
                raise _fail(name, value, "use a size such as 512m, 4G or 1g")

        def number(name: str, default: str, kind=int, minimum=0):
            raw = get(name, default)
            try:
                value = kind(raw)
            except ValueError:
                raise _fail(name, raw, f"must be a number (default {default})") from None
            if value < minimum:
                raise _fail(name, raw, f"must be at least {minimum}")
            return value

        ssl_cert, ssl_key = get("GLUONLAB_SSL_CERT", ""), get("GLUONLAB_SSL_KEY", "")
        if bool(ssl_cert) != bool(ssl_key):
            raise _fail("GLUONLAB_SSL_CERT/GLUONLAB_SSL_KEY", ssl_cert or ssl_key,
                        "set both the certificate and the key file, or neither")

        return cls(
            notebook_variant=variant,
            notebook_image=image,
            instance=instance,
            hub_connect_host=get("GLUONLAB_HUB_HOST", "hub"),
            state_dir=get("GLUONLAB_STATE_DIR", "/srv/jupyterhub/state"),
            hub_db_url=get("GLUONLAB_HUB_DB_URL", ""),
            admin_users=admins,
            gpu_policy=policy,
            gpus=gpus,
            users_per_gpu=number("GLUONLAB_USERS_PER_GPU", "2", minimum=1),
            gpu_when_exhausted=when_exhausted,
            mem_limit=get("GLUONLAB_MEM_LIMIT", "4G"),
            cpu_limit=number("GLUONLAB_CPU_LIMIT", "2", kind=float, minimum=0.1),
            shm_size=get("GLUONLAB_SHM_SIZE", "1g"),
            pids_limit=number("GLUONLAB_PIDS_LIMIT", "1024", minimum=64),
            cull_timeout=number("GLUONLAB_CULL_TIMEOUT", "3600", minimum=60),
            concurrent_spawn_limit=number("GLUONLAB_CONCURRENT_SPAWN_LIMIT", "20", minimum=1),
            active_server_limit=number("GLUONLAB_ACTIVE_SERVER_LIMIT", "0"),
            spawn_timeout=number("GLUONLAB_SPAWN_TIMEOUT", "120", minimum=10),
            ssl_cert=ssl_cert,
            ssl_key=ssl_key,
        )
