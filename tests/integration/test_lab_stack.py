"""The lab end to end on the real Docker engine: `docker compose up`, an admin logs in, a user
is created through the hub REST API, their server starts in its own container, a kernel opened
through the proxy's websocket trains a small Gluon model, and the user's files survive a server
restart. Timings go to test-artifacts/ for the issue notes."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import docker
import pytest
import requests

from labclient import REPO_ROOT, HubClient, LabStack, execute, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.integration]

TRAIN_CELL = """
import mxnet as mx
from mxnet import autograd, gluon, nd
mx.random.seed(0)
X = nd.random.normal(shape=(256, 2))
y = X[:, 0] * 2 - X[:, 1] * 3.4 + 4.2
net = gluon.nn.Dense(1)
net.initialize(mx.init.Normal(0.01))
trainer = gluon.Trainer(net.collect_params(), 'sgd', {"learning_rate": 0.3})
loss = gluon.loss.L2Loss()
for epoch in range(100):
    with autograd.record():
        l = loss(net(X), y)
    l.backward()
    trainer.step(256)
w = net.weight.data().asnumpy().ravel()
print('trained', round(float(w[0]), 1), round(float(w[1]), 1), round(float(net.bias.data().asscalar()), 1))
print('final-loss', float(loss(net(X), y).mean().asscalar()))
"""


def docker_events(container, action: str) -> int:
    """How many *action* events the engine has recorded for *container* since it was created."""
    created = datetime.fromisoformat(container.attrs["Created"][:19]).replace(tzinfo=timezone.utc)
    events = docker.from_env().events(since=int(created.timestamp()) - 1, until=int(time.time()) + 1, decode=True,
                                      filters={"container": container.id, "event": action})
    return sum(1 for _ in events)


@pytest.fixture(scope="module")
def stack():
    with LabStack().running(log_name="lab-stack-hub.log") as lab:
        yield lab


@pytest.fixture(scope="module")
def admin(stack):
    hub = HubClient(stack.url)
    response = hub.login("admin", stack.admin_password)
    assert response.status_code == 302, f"admin login failed: {response.status_code} {response.text[:300]}"
    hub.create_token("admin")
    return hub


def test_first_admin_password_is_generated_and_readable_as_the_readme_says():
    """No GLUONLAB_ADMIN_PASSWORD: the README's `docker compose exec hub cat .../admin-password`
    gives the generated password, stored with mode 600, and it logs in."""
    with LabStack(admin_password="").running() as lab:
        password = lab.compose("exec", "-T", "hub", "cat", "/srv/jupyterhub/state/admin-password").stdout.strip()
        assert len(password) >= 12
        modes = lab.compose("exec", "-T", "hub", "stat", "-c", "%a %n", "/srv/jupyterhub/state/admin-password",
                            "/srv/jupyterhub/state/jupyterhub_cookie_secret", "/srv/jupyterhub/state/proxy_auth_token",
                            "/srv/jupyterhub/state").stdout.split("\n")
        assert [m.split()[0] for m in modes if m] == ["600", "600", "600", "700"]
        assert HubClient(lab.url).login("admin", password).status_code == 302
        assert password not in lab.logs()


def test_hub_is_bound_to_loopback_only(stack, docker_client):
    hub = docker_client.containers.get(f"{stack.instance}-hub-1")
    bindings = hub.attrs["HostConfig"]["PortBindings"]["8000/tcp"]
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]


def test_every_hub_setting_is_recognized(stack):
    # JupyterHub only warns about a setting it does not know (a typo, or a trait that is not
    # configurable) and carries on without it: such a line means our config silently does less.
    unrecognized = [line for line in stack.logs().splitlines() if "not recognized by" in line]
    assert unrecognized == []


def test_hub_outweighs_user_servers_for_cpu(stack, docker_client):
    # The hub and proxy carry every attendee's traffic: under a full CPU they must not get only
    # one user server's share (Docker's default weight is 1024 per container).
    hub = docker_client.containers.get(f"{stack.instance}-hub-1")
    assert hub.attrs["HostConfig"]["CpuShares"] == 20480


def test_wrong_password_is_refused(stack):
    client = HubClient(stack.url)
    response = client.login("admin", "not-the-password")
    # The login form comes back with the one generic error and JupyterHub's own status for a
    # failed login (403), never a redirect into the hub.
    assert response.status_code == 403 and "Location" not in response.headers
    assert "Invalid username or password" in response.text
    assert "jupyterhub-session-id" not in client.session.cookies or client.session.get(
        f"{stack.url}/hub/api/user", timeout=10).status_code == 403


def test_user_server_trains_a_gluon_model_and_keeps_files(stack, admin):
    timings = {}
    assert admin.api("POST", "/users/alice").status_code == 201

    timings["start_to_ready_s"] = admin.start_server("alice")
    # Spawned by gluonlab_hub.spawner.LabDockerSpawner, which watches the port itself.
    assert "Server for alice listens after" in stack.logs()
    result = execute(stack.url, "alice", admin.token, TRAIN_CELL)
    timings["kernel_first_result_s"] = result["seconds"]
    assert result["error"] is None, result
    words = result["stdout"].split()
    # y = 2*x0 - 3.4*x1 + 4.2: the trained weights must recover it.
    assert words[:4] == ["trained", "2.0", "-3.4", "4.2"], result["stdout"]
    assert float(words[words.index("final-loss") + 1]) < 1e-3

    # Each user has their own container, running as the unprivileged lab user.
    containers = stack.user_containers()
    assert [c.labels["gluonlab.user"] for c in containers] == ["alice"]
    assert containers[0].attrs["Config"]["User"] in ("1000", "jovyan")
    # Default GPU policy is none: a CPU-only server requests no devices.
    assert not containers[0].attrs["HostConfig"].get("DeviceRequests")
    # Created with a raised CPU weight, back to Docker's 1024 once its warm kernel is ready
    # (unset reads 0): one `docker update`, the reset. No Docker health check under the hub.
    def running_weight():
        containers[0].reload()
        return containers[0].attrs["HostConfig"]["CpuShares"] == 1024

    wait_until(running_weight, 120, what="the server's CPU weight back to 1024 once its warm kernel is ready")
    assert docker_events(containers[0], "update") == 1
    assert containers[0].attrs["Config"]["Healthcheck"]["Test"] == ["NONE"]

    # Tutorials were seeded into the home directory on first start.
    listing = admin.user_api("GET", "alice", "/contents/tutorials").json()
    names = {item["name"] for item in listing["content"]}
    assert "utils.py" in names, names

    # jupyterhub-singleuser ran through start-jupyter-server.py: collector back on once it
    # listened; token checks, a kernel and the contents API ran without the Hub's ORM and roles,
    # which it deferred (never loaded, so never paid for).
    server_log = containers[0].logs().decode()
    assert "garbage collector on (the server's event loop runs)" in server_log, server_log[-2000:]
    assert "deferred modules not loaded: jupyterhub.orm, jupyterhub.roles" in server_log, server_log[-2000:]
    assert "loaded on first use" not in server_log, server_log[-2000:]

    # A file written in the home directory survives stopping and restarting the server.
    note = {"type": "file", "format": "text", "content": "我的笔记 survives restarts\n"}
    assert admin.user_api("PUT", "alice", "/contents/notes.txt", json=note).status_code in (200, 201)
    admin.stop_server("alice")
    assert stack.user_containers() == []
    timings["restart_to_ready_s"] = admin.start_server("alice")
    saved = admin.user_api("GET", "alice", "/contents/notes.txt").json()
    assert saved["content"] == "我的笔记 survives restarts\n"
    admin.stop_server("alice")

    (REPO_ROOT / "test-artifacts" / "lab-stack-timings.json").write_text(json.dumps(timings, indent=2))
    print("timings:", timings)


def test_other_users_cannot_use_the_hub_api_as_admin(stack, admin):
    assert admin.api("POST", "/users/bob").status_code == 201
    bob_token = admin.api("POST", "/users/bob/tokens", json={"note": "bob"}).json()["token"]
    assert admin.api("GET", "/users", token=bob_token).status_code == 403
    assert requests.get(f"{stack.url}/hub/api/users/alice", headers={"Authorization": f"token {bob_token}"},
                        timeout=10).status_code in (403, 404)


def test_port_in_use_stops_compose_with_the_port_named():
    import socket

    lab = LabStack()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", lab.port))
        taken.listen()
        try:
            result = lab.compose("up", "-d", check=False)
            assert result.returncode != 0
            assert str(lab.port) in result.stderr and ("already" in result.stderr or "in use" in result.stderr)
        finally:
            lab.down()
