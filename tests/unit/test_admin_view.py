"""The admin GPU page and API (hub/gluonlab_hub/admin_view.py) without a hub: the template
rendered inside JupyterHub's own page.html, the JSON model, and the custom-scope guard.
Through the real hub (admin 200, other users 403): tests/integration/test_workshop_hub.py."""
from __future__ import annotations

import asyncio
import json
import os
from types import SimpleNamespace

import pytest
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader
from jupyterhub import roles, scopes
from jupyterhub._data import DATA_FILES_PATH
from tornado import web

from gluonlab_hub import admin_view, profiles
from gluonlab_hub.gpus import Gpu, GpuAllocator, GpuRequest
from gluonlab_hub.settings import Settings

WORKSHOP = os.path.join(os.path.dirname(__file__), "..", "fixtures", "profiles", "workshop.yml")

HUB_TEMPLATES = os.path.join(DATA_FILES_PATH, "templates")


def pool() -> GpuAllocator:
    gpus = [Gpu("0", 0, name="NVIDIA H100 80GB HBM3", memory_mib=81559), Gpu("1", 1)]
    allocator = GpuAllocator(gpus, policy="shared", users_per_gpu=2)
    for user in ("alice", "<b>bob</b>", "carol"):
        allocator.allocate(user)
    return allocator


def render(allocator: GpuAllocator, profiles=None, usage=None) -> str:
    # The loaders JupyterHub builds from c.JupyterHub.template_paths (app.init_tornado_settings).
    loader = ChoiceLoader([PrefixLoader({"templates": FileSystemLoader([HUB_TEMPLATES])}, "/"),
                           FileSystemLoader([admin_view.TEMPLATE_DIR, HUB_TEMPLATES])])
    env = Environment(loader=loader, autoescape=True)
    return env.get_template("gpus.html").render(
        model=admin_view.assignments_model(allocator, profiles, usage), base_url="/hub/", prefix="/", user=None,
        static_url=lambda path, **_: f"/hub/static/{path}", parsed_scopes={}, expanded_scopes=set(),
        services=[], xsrf="x")


def test_the_page_is_jupyterhubs_page_with_the_assignments() -> None:
    html = render(pool())
    assert '<nav class="navbar' in html and 'id="jupyterhub-logo"' in html  # JupyterHub's page.html
    rows = html.split('<table class="table table-striped" id="gluonlab-gpus">')[1].split("</table>")[0]
    assert "<td>GPU 0 (NVIDIA H100 80GB HBM3, 79.6 GiB)</td>" in rows
    assert "<td>alice, carol</td>" in rows
    assert "&lt;b&gt;bob&lt;/b&gt;" in rows and "<b>bob" not in html  # names are escaped
    assert "<code>shared</code>" in html and 'href="/hub/admin"' in html


def test_a_cpu_only_hub_says_so() -> None:
    html = render(GpuAllocator([], policy="none"))
    assert "No GPUs: this hub runs CPU-only servers" in html and "没有 GPU" in html


def test_model_lists_every_gpu_and_who_holds_it() -> None:
    assert admin_view.assignments_model(pool()) == {
        "policy": "shared",
        "users_per_gpu": 2,
        "gpus": [{"id": "0", "description": "GPU 0 (NVIDIA H100 80GB HBM3, 79.6 GiB)", "users": ["alice", "carol"]},
                 {"id": "1", "description": "GPU 1", "users": ["<b>bob</b>"]}],
        "mig_gpus": [],
        "assignments": {"<b>bob</b>": ["1"], "alice": ["0"], "carol": ["0"]},
        "profiles": [],
        "servers": [{"user": u, "devices": [i], "description": d, "profile": "", "processes": None,
                     "memory_used_mib": None, "utilization_pct": None, "idle_minutes": None}
                    for u, i, d in (("<b>bob</b>", "1", "GPU 1"), ("alice", "0", "GPU 0 (NVIDIA H100 80GB HBM3, 79.6 GiB)"),
                                    ("carol", "0", "GPU 0 (NVIDIA H100 80GB HBM3, 79.6 GiB)"))],
    }


class FakeRequest:
    """What needs_scope reads from a handler: who is logged in, their scopes, the path."""

    def __init__(self, granted: list[str]):
        self.current_user = SimpleNamespace(name="someone")
        self.parsed_scopes = scopes.parse_scopes(granted)
        self.expanded_scopes = set(granted)
        self.request = SimpleNamespace(path="/hub/api/gluonlab/gpus")
        self.db = None
        self.allocator = pool()
        self.headers: dict[str, str] = {}
        self.body = None

    def model(self) -> dict:
        return admin_view.assignments_model(self.allocator)

    def set_header(self, name: str, value: str) -> None:
        self.headers[name] = value

    def finish(self, body: str) -> None:
        self.body = body


def test_the_api_answers_holders_of_the_custom_scope() -> None:
    request = FakeRequest([admin_view.GPU_READ_SCOPE])
    admin_view.GpuAssignmentsAPIHandler.get(request)
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body)["assignments"]["alice"] == ["0"]


ADMIN_ROLE_SCOPES = next(r["scopes"] for r in roles.get_default_roles() if r["name"] == "admin")


@pytest.mark.parametrize("granted", [ADMIN_ROLE_SCOPES, ["self"]], ids=["admin-role-alone", "user"])
def test_without_the_custom_scope_the_answer_is_403(granted) -> None:
    # JupyterHub's admin role cannot be extended: only the config's role grants the scope.
    request = FakeRequest(granted)
    for handler in (admin_view.GpuAssignmentsAPIHandler, admin_view.GpuAssignmentsHandler):
        with pytest.raises(web.HTTPError) as error:
            handler.get(request)
        assert error.value.status_code == 403 and admin_view.GPU_READ_SCOPE in error.value.log_message
    assert request.body is None


def test_the_role_grants_the_scope_to_the_configured_admins() -> None:
    role = admin_view.gpu_viewer_role(("zoe", "admin"))
    assert role["scopes"] == [admin_view.GPU_READ_SCOPE] and role["users"] == ["admin", "zoe"]
    assert admin_view.GPU_READ_SCOPE in admin_view.CUSTOM_SCOPES
    assert admin_view.GPU_READ_SCOPE in scopes.scope_definitions  # needs_scope accepted it


MIG = "MIG-1e2d3c4b-5a69-5788-96a5-b4c3d2e1f002"


def mig_pool() -> GpuAllocator:
    gpus = [Gpu("0", 0, name="NVIDIA H100 80GB HBM3", mig_mode=True), Gpu("1", 1, name="NVIDIA H100 80GB HBM3"),
            Gpu(MIG, 1, name="NVIDIA H100 80GB HBM3", mig_profile="1g.10gb", parent_index=0)]
    allocator = GpuAllocator(gpus, policy="exclusive")
    allocator.allocate("ana", GpuRequest("mig", 1, "1g.10gb"))
    return allocator


def workshop_profiles():
    settings = Settings.from_env({"GLUONLAB_GPU_POLICY": "exclusive", "NOTEBOOK_VARIANT": "ngc", "GLUONLAB_GPUS": "0",
                                  "GLUONLAB_PROFILES_FILE": str(WORKSHOP)})
    return profiles.load(settings)


def test_the_page_lists_profiles_seats_usage_and_a_stop_button() -> None:
    usage = {"ana": {"profile": "mig-small", "processes": 1, "memory_used_mib": 2048, "utilization_pct": None,
                     "idle_s": 600.0}}
    html = render(mig_pool(), workshop_profiles(), usage)
    table = html.split('id="gluonlab-profiles">')[1].split("</table>")[0]
    assert "<td>GPU 切片 1g.10gb / GPU slice 1g.10gb (<code>mig-small</code>)</td>" in table
    assert "<td>MIG 1g.10gb</td>\n        <td>students, instructors</td>\n        <td>1</td>\n        <td>0</td>" in table
    assert "<td>1 GPU</td>" in table and "<td>20 min</td>" in table
    assert "GPUs in MIG mode: GPU 0 (NVIDIA H100 80GB HBM3, MIG mode)" in html
    rows = html.split('id="gluonlab-usage">')[1].split("</table>")[0]
    assert "<td>MIG 1g.10gb slice 1 of GPU 0 (NVIDIA H100 80GB HBM3)</td>" in rows
    assert "<td>2048 MiB</td>" in rows and "<td>10 min</td>" in rows
    assert 'action="/hub/gluonlab/gpus/stop/ana"' in rows and 'name="_xsrf" value="x"' in rows


def test_stopping_needs_delete_servers_on_that_user() -> None:
    request = FakeRequest([admin_view.GPU_READ_SCOPE])  # may look, may not stop
    with pytest.raises(web.HTTPError) as error:
        asyncio.run(admin_view.StopServerHandler.post(request, user_name="ana"))
    assert error.value.status_code == 403
    [handler] = [h for h in admin_view.gpu_handlers(pool()) if h[1] is admin_view.StopServerHandler]
    assert handler[0] == r"/gluonlab/gpus/stop/(?P<user_name>[^/]+)"
