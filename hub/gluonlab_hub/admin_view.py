"""Admin page and API listing which user holds which GPU.

- /hub/gluonlab/gpus: HTML page (templates/gpus.html, extends JupyterHub's page.html)
- /hub/api/gluonlab/gpus: JSON, for a token
Both need the custom scope ``custom:gluonlab:gpus:read``. JupyterHub's ``admin`` role cannot
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

from .gpus import GpuAllocator

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


def assignments_model(allocator: GpuAllocator) -> dict:
    holders = allocator.holders()
    return {
        "policy": allocator.policy,
        "users_per_gpu": allocator.users_per_gpu,
        "gpus": [{"id": g.device_id, "description": g.describe(), "users": holders.get(g.device_id, [])}
                 for g in allocator.gpus],
        "assignments": allocator.assignments(),
    }


class GpuAssignmentsAPIHandler(APIHandler):
    def initialize(self, allocator: GpuAllocator) -> None:
        self.allocator = allocator

    @needs_scope(GPU_READ_SCOPE)
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(assignments_model(self.allocator)))


class GpuAssignmentsHandler(BaseHandler):
    def initialize(self, allocator: GpuAllocator) -> None:
        self.allocator = allocator

    @web.authenticated
    @needs_scope(GPU_READ_SCOPE)
    async def get(self) -> None:
        self.finish(await self.render_template("gpus.html", model=assignments_model(self.allocator)))


def gpu_handlers(allocator: GpuAllocator) -> list[tuple[str, type, dict]]:
    """Handlers for c.JupyterHub.extra_handlers; the allocator survives the config's deep copy
    as itself (GpuAllocator.__deepcopy__)."""
    kwargs = {"allocator": allocator}
    return [(r"/api/gluonlab/gpus", GpuAssignmentsAPIHandler, kwargs),
            (r"/gluonlab/gpus", GpuAssignmentsHandler, kwargs)]
