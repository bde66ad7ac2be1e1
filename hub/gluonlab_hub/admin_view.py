"""Admin page and API listing which user holds which GPU.

- /hub/gluonlab/gpus: HTML page for a logged-in admin (linked from the docs and the README)
- /hub/api/gluonlab/gpus: JSON for an admin's API token
Non-admins get 403. The data is the allocator's live state, which is rebuilt from running
containers after a hub restart.
"""
from __future__ import annotations

import html
import json
from typing import Any

from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.handlers import BaseHandler
from tornado import web


def _require_admin(handler: Any) -> None:
    user = handler.current_user
    if user is None:
        raise web.HTTPError(403, "log in as an admin")
    if not getattr(user, "admin", False):
        raise web.HTTPError(403, "only admins can see GPU assignments")


def assignments_model(hooks: Any) -> dict:
    allocator = hooks.allocator
    holders = allocator.holders()
    return {
        "policy": allocator.policy,
        "users_per_gpu": allocator.users_per_gpu,
        "gpus": [{"id": g.device_id, "description": g.describe(), "users": holders.get(g.device_id, [])}
                 for g in allocator.gpus],
        "assignments": allocator.assignments(),
    }


def make_gpu_handlers(hooks: Any) -> list[tuple[str, type]]:
    """Handlers bound to *hooks* (a LabSpawnerHooks), for c.JupyterHub.extra_handlers.
    Classes survive traitlets' deep copy of config values by reference, so the allocator is
    shared, not copied."""

    class GpuAssignmentsAPIHandler(APIHandler):
        async def get(self):
            _require_admin(self)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(assignments_model(hooks)))

    class GpuAssignmentsHandler(BaseHandler):
        @web.authenticated
        async def get(self):
            _require_admin(self)
            model = assignments_model(hooks)
            rows = "".join(
                f"<tr><td>{html.escape(g['id'])}</td><td>{html.escape(g['description'])}</td>"
                f"<td>{html.escape(', '.join(g['users']) or '—')}</td></tr>"
                for g in model["gpus"]
            ) or "<tr><td colspan=3>No GPUs: this hub runs CPU-only servers (GLUONLAB_GPU_POLICY=none)</td></tr>"
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(
                "<!doctype html><meta charset=utf-8><title>GPU assignments</title>"
                "<h1>GPU 分配 / GPU assignments</h1>"
                f"<p>policy: {html.escape(model['policy'])}, users per GPU: {model['users_per_gpu']}</p>"
                f"<table border=1 cellpadding=4><tr><th>GPU</th><th>device</th><th>users</th></tr>{rows}</table>"
                "<p><a href='../admin'>Admin</a></p>"
            )

    return [(r"/api/gluonlab/gpus", GpuAssignmentsAPIHandler), (r"/gluonlab/gpus", GpuAssignmentsHandler)]
