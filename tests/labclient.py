"""Test-side clients for a running Gluon Lab: the compose stack, the hub REST API, and a
Jupyter kernel reached through the hub's proxy over its websocket (as a browser does).

Shared by the integration, workshop and browser tests. Everything talks to the real stack.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import requests
import websocket

REPO_ROOT = Path(__file__).resolve().parents[1]
# Where tests leave what explains a failure (hub logs, screenshots); CI uploads the folder.
ARTIFACTS = REPO_ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.5, what: str = "condition"):
    """Poll *predicate* until it returns a truthy value; fail with *what* after *timeout* s."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (requests.RequestException, OSError) as error:
            last_error = error
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))


@dataclass
class LabStack:
    """One compose project of Gluon Lab, isolated by GLUONLAB_INSTANCE (network, volumes,
    container names) and its own port, so tests never touch a lab someone else runs."""

    instance: str = field(default_factory=lambda: f"gltest-{uuid.uuid4().hex[:8]}")
    port: int = field(default_factory=free_port)
    admin_password: str = field(default_factory=lambda: uuid.uuid4().hex)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            GLUONLAB_INSTANCE=self.instance,
            GLUONLAB_HUB_PORT=str(self.port),
            GLUONLAB_ADMIN_PASSWORD=self.admin_password,
            # Short culling/limits are set per test through extra_env.
        )
        env.update(self.extra_env)
        return env

    def compose(self, *args: str, check: bool = True, timeout: float = 900,
                input_text: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["docker", "compose", "-p", self.instance, *args],
            cwd=REPO_ROOT, env=self.env(), capture_output=True, text=True, check=check, timeout=timeout,
            input=input_text,
        )

    def up(self, timeout: float = 180) -> "LabStack":
        result = self.compose("up", "-d", check=False)
        if result.returncode != 0:
            raise RuntimeError(f"docker compose up failed:\n{result.stdout}\n{result.stderr}")
        wait_until(lambda: requests.get(f"{self.url}/hub/api/", timeout=3).ok, timeout, what="the hub API")
        return self

    def logs(self, service: str = "hub") -> str:
        return self.compose("logs", "--no-color", service, check=False).stdout

    @contextmanager
    def running(self, log_name: str | None = None, print_logs: tuple[str, ...] = ("hub",),
                timeout: float = 180) -> Iterator["LabStack"]:
        """Bring the stack up, yield it, and always take it down (with everything down()
        removes), also when up() or the caller's setup fails. On a failure inside the block the
        logs of *print_logs* go to stdout (pytest shows them with the error); with *log_name*
        the hub's log is also kept as ARTIFACTS/<log_name>, failed or not.

        In a pytest fixture, `with lab.running(): yield lab` covers the fixture's setup; a
        test's own failure is not raised into the fixture, so its logs come from *log_name*."""
        try:
            self.up(timeout)
            yield self
        except Exception:
            for service in print_logs:
                print(self.logs(service))
            raise
        finally:
            if log_name:
                ARTIFACTS.mkdir(exist_ok=True)
                (ARTIFACTS / log_name).write_text(self.logs())
            self.down()

    def restart_hub(self, timeout: float = 120) -> None:
        self.compose("restart", "hub")
        wait_until(lambda: requests.get(f"{self.url}/hub/api/", timeout=3).ok, timeout, what="the hub after restart")

    def down(self) -> None:
        """Remove everything this instance created: compose objects and users' containers/volumes."""
        client = docker.from_env()
        for container in client.containers.list(all=True, filters={"name": f"{self.instance}-"}):
            container.remove(force=True)
        self.compose("down", "-v", "--remove-orphans", check=False)
        for volume in client.volumes.list(filters={"name": f"{self.instance}-home-"}):
            volume.remove(force=True)
        # The image files of sized homes (gluonlab_hub/homes.py), made by the hub, not compose.
        for volume in client.volumes.list(filters={"name": f"{self.instance}-homes"}):
            volume.remove(force=True)
        self.remove_firewall_rules()

    def remove_firewall_rules(self) -> None:
        """The netguard's host rules outlive `compose down` on purpose (README "Network
        isolation"); a test stack takes its own away (from a host-network container, as the
        guard writes them)."""
        subprocess.run(["docker", "run", "--rm", "--network", "host", "--cap-drop", "ALL", "--cap-add", "NET_ADMIN",
                        "--cap-add", "NET_RAW", "-e", f"GLUONLAB_INSTANCE={self.instance}", "gluonlab/hub:latest",
                        "python3", "-m", "gluonlab_hub.netguard", "--remove"], capture_output=True, timeout=120)

    def user_containers(self) -> list:
        client = docker.from_env()
        return [c for c in client.containers.list(filters={"label": "gluonlab.user"})
                if c.name.startswith(f"{self.instance}-")]


class HubClient:
    """A browser-like session against the hub: login form, then the REST API with a token."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.token: str | None = None

    def login(self, username: str, password: str) -> requests.Response:
        # GET first: the login form sets the _xsrf cookie that the POST must echo.
        self.session.get(f"{self.base_url}/hub/login", timeout=10)
        xsrf = self.session.cookies.get("_xsrf", "")
        return self.session.post(
            f"{self.base_url}/hub/login?next=",
            data={"username": username, "password": password, "_xsrf": xsrf},
            allow_redirects=False, timeout=30,
        )

    def create_token(self, username: str, note: str = "tests") -> str:
        xsrf = self.session.cookies.get("_xsrf", "")
        response = self.session.post(
            f"{self.base_url}/hub/api/users/{username}/tokens",
            json={"note": note, "expires_in": 3600}, headers={"X-XSRFToken": xsrf}, timeout=10,
        )
        response.raise_for_status()
        self.token = response.json()["token"]
        return self.token

    def api(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        headers["Authorization"] = f"token {token or self.token}"
        return requests.request(method, f"{self.base_url}/hub/api{path}", headers=headers, timeout=30, **kwargs)

    def start_server(self, username: str, timeout: float = 180) -> float:
        """Start *username*'s server and wait until the hub says it is ready; returns seconds."""
        started = time.monotonic()
        response = self.api("POST", f"/users/{username}/server")
        if response.status_code not in (201, 202, 400):
            raise RuntimeError(f"spawn request failed: {response.status_code} {response.text}")

        def ready():
            model = self.api("GET", f"/users/{username}").json()
            server = model.get("servers", {}).get("")
            return bool(server and server.get("ready"))

        wait_until(ready, timeout, interval=0.25, what=f"{username}'s server to be ready")
        return time.monotonic() - started

    def stop_server(self, username: str, timeout: float = 120) -> None:
        self.api("DELETE", f"/users/{username}/server")

        def stopped():
            model = self.api("GET", f"/users/{username}").json()
            return not model.get("servers")

        wait_until(stopped, timeout, what=f"{username}'s server to stop")

    def user_api(self, method: str, username: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        """A request to the user's Jupyter server through the hub's proxy."""
        headers = kwargs.pop("headers", {})
        headers["Authorization"] = f"token {token or self.token}"
        return requests.request(method, f"{self.base_url}/user/{username}/api{path}",
                                headers=headers, timeout=60, **kwargs)


def next_message(conn: websocket.WebSocket, deadline: float) -> dict[str, Any]:
    """The next kernel message on *conn*, or TimeoutError at *deadline* (time.monotonic()). Reads
    with a short socket timeout: the Jupyter server pings its websockets every 30 s, and each
    ping would restart a long read timeout, so a kernel that never answers would never time out."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no kernel message by the deadline")
        conn.settimeout(min(left, 1.0))
        try:
            return json.loads(conn.recv())
        except websocket.WebSocketTimeoutException:
            continue


def execute(base_url: str, username: str, token: str, code: str, timeout: float = 180) -> dict[str, Any]:
    """Start a kernel in *username*'s server, run *code* over the kernel websocket (through the
    proxy, as JupyterLab does) and return {"stdout", "result", "error", "seconds"}."""
    headers = {"Authorization": f"token {token}"}
    started = time.monotonic()
    response = requests.post(f"{base_url}/user/{username}/api/kernels", headers=headers, json={"name": "python3"}, timeout=60)
    response.raise_for_status()
    kernel_id = response.json()["id"]
    ws_url = base_url.replace("http", "ws", 1) + f"/user/{username}/api/kernels/{kernel_id}/channels"
    conn = websocket.create_connection(ws_url, header=[f"Authorization: token {token}"], timeout=timeout)
    try:
        msg_id = uuid.uuid4().hex
        conn.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": username,
                       "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))
        stdout, result, error = [], None, None
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = next_message(conn, deadline)
            except TimeoutError:
                raise TimeoutError(f"no idle status from the kernel within {timeout} s") from None
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                stdout.append(content["text"])
            elif kind == "execute_result":
                result = content["data"].get("text/plain")
            elif kind == "error":
                error = f"{content['ename']}: {content['evalue']}"
            elif kind == "status" and content["execution_state"] == "idle":
                break
        return {"stdout": "".join(stdout), "result": result, "error": error, "seconds": time.monotonic() - started}
    finally:
        conn.close()
        requests.delete(f"{base_url}/user/{username}/api/kernels/{kernel_id}", headers=headers, timeout=30)
