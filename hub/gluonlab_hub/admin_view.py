"""Admin page and API listing which user holds which GPU.

- /hub/gluonlab/gpus: HTML page (templates/gpus.html, extends JupyterHub's page.html): server
  profiles with free and used seats, GPUs and MIG slices with who holds them, each GPU server's
  usage (the gpu-usage service's last reading, gluonlab_hub.gpu_usage) and a stop button
- /hub/api/gluonlab/gpus: JSON, for a token
- POST /hub/gluonlab/gpus/stop/<user>: the stop button; needs ``delete:servers`` on that user
  (admins have it), files are kept, the GPU returns to the pool
The page and the API need the custom scope ``custom:gluonlab:gpus:read``. JupyterHub's ``admin`` role cannot
be given more scopes (roles.py refuses to override it), so the config grants the scope to the
admins named in GLUONLAB_ADMIN_USERS through their own role (:func:`gpu_viewer_role`). The data
is the allocator's live state, which is rebuilt from running containers after a hub restart.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.handlers import BaseHandler
from jupyterhub.scopes import define_custom_scopes, needs_scope
from tornado import web

from . import gpu_usage
from .gpus import GpuAllocator
from .profiles import ProfileSet

GPU_READ_SCOPE = "custom:gluonlab:gpus:read"
#: For c.JupyterHub.custom_scopes.
CUSTOM_SCOPES = {GPU_READ_SCOPE: {"description": "See which user's server holds which GPU."}}
#: For c.JupyterHub.template_paths: gpus.html lives here.
TEMPLATE_DIR = str(Path(__file__).resolve().parent / "templates")

# needs_scope rejects scopes it does not know when it decorates, and JupyterHub defines the
# configured custom scopes only later, at start; defining the same definition twice is allowed.
define_custom_scopes(CUSTOM_SCOPES)


def gpu_viewer_role(admin_users: Iterable[str]) -> dict:
    """The role (for c.JupyterHub.load_roles) that lets *admin_users* see GPU assignments."""
    return {
        "name": "gluonlab-gpu-viewer",
        "description": "Sees the GPU assignments page and API",
        "scopes": [GPU_READ_SCOPE],
        "users": sorted(admin_users),
    }


def assignments_model(allocator: GpuAllocator, profiles: ProfileSet | None = None,
                      usage: dict[str, dict] | None = None) -> dict:
    """What the page and the API show: the pool, the profiles' seats and each GPU server's usage."""
    holders = allocator.holders()
    usage = usage or {}
    described = {g.device_id: g.describe() for g in allocator.gpus}
    servers = []
    for user, ids in allocator.assignments().items():
        seen = usage.get(user, {})
        servers.append({"user": user, "devices": ids, "description": "; ".join(described.get(i, i) for i in ids),
                        "profile": seen.get("profile", ""), "processes": seen.get("processes"),
                        "memory_used_mib": seen.get("memory_used_mib"), "utilization_pct": seen.get("utilization_pct"),
                        "idle_minutes": round(seen["idle_s"] / 60) if "idle_s" in seen else None})
    offered = []
    for p in (profiles.profiles if profiles else ()):
        seats, free = allocator.seats(p.gpu), allocator.free_seats(p.gpu)
        offered.append({"name": p.name, "label": p.label(), "gpu": p.gpu.describe(), "groups": list(p.groups),
                        "seats": seats if p.gpu.kind != "none" else None, "free": free,
                        "used": seats - free if free is not None else None,
                        "idle_gpu_minutes": p.idle_gpu_minutes if p.gpu.kind != "none" else None})
    return {
        "policy": allocator.policy,
        "users_per_gpu": allocator.users_per_gpu,
        "gpus": [{"id": g.device_id, "description": g.describe(), "users": holders.get(g.device_id, [])}
                 for g in allocator.gpus],
        "mig_gpus": [g.describe() for g in allocator.mig_parents],
        "assignments": allocator.assignments(),
        "profiles": offered,
        "servers": servers,
    }


class _GpuView:
    def initialize(self, allocator: GpuAllocator, profiles: ProfileSet | None = None, usage_file: str = "",
                   max_age_s: float = 180.0) -> None:
        self.allocator = allocator
        self.profiles = profiles
        self.usage_file = usage_file
        self.max_age_s = max_age_s

    def model(self) -> dict:
        usage = gpu_usage.read_usage(Path(self.usage_file), self.max_age_s) if self.usage_file else {}
        return assignments_model(self.allocator, self.profiles, usage)


class GpuAssignmentsAPIHandler(_GpuView, APIHandler):
    @needs_scope(GPU_READ_SCOPE)
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(self.model()))


class GpuAssignmentsHandler(_GpuView, BaseHandler):
    @web.authenticated
    @needs_scope(GPU_READ_SCOPE)
    async def get(self) -> None:
        self.finish(await self.render_template("gpus.html", model=self.model()))


class StopServerHandler(BaseHandler):
    """The page's stop button: stops the user's server as JupyterHub's admin page would."""

    @web.authenticated
    @needs_scope("delete:servers")
    async def post(self, user_name: str) -> None:
        user = self.find_user(user_name)
        if user is None or not user.spawner.active:
            raise web.HTTPError(404, f"{user_name} has no running server")
        await self.stop_single_user(user, "")
        self.redirect(self.hub.base_url + "gluonlab/gpus")


def gpu_handlers(allocator: GpuAllocator, profiles: ProfileSet | None = None, usage_file: str = "",
                 max_age_s: float = 180.0) -> list[tuple[str, type, dict]]:
    """Handlers for c.JupyterHub.extra_handlers; the allocator survives the config's deep copy
    as itself (GpuAllocator.__deepcopy__)."""
    kwargs = {"allocator": allocator, "profiles": profiles, "usage_file": usage_file, "max_age_s": max_age_s}
    return [(r"/api/gluonlab/gpus", GpuAssignmentsAPIHandler, kwargs),
            (r"/gluonlab/gpus", GpuAssignmentsHandler, kwargs),
            (r"/gluonlab/gpus/stop/(?P<user_name>[^/]+)", StopServerHandler, {})]
