"""A hostile room survives a restart of the Docker engine (dockerd stopped and started again,
as after an upgrade or a crash): the netguard puts the isolation rules back for the hub's new
address, the hub comes back, an attendee whose server was running finds it stopped and starts
it again with their files, in a home that still has its size limit.

This restarts the engine of the machine it runs on, stopping every container on it. It runs in
CI anyway (the engine there serves only this suite, and nothing else checks the restart) and is
short: one stack, one attendee, one restart (about a minute). On a machine whose engine others
share, run it under the shared Docker lock (README "Tests and CI"). It needs root and a dockerd
started by scripts/setup-docker-host.sh (which starts it again); elsewhere it is skipped,
saying why.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import docker
import pytest
import requests

from labclient import REPO_ROOT, HubClient, LabStack, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.integration, pytest.mark.slow]

PID_FILE = Path("/var/run/docker.pid")
HUB_IMAGE = "gluonlab/hub:latest"


def guard_status(stack: LabStack) -> dict:
    """The netguard's own reading of the host's rules (python -m gluonlab_hub.netguard --status)."""
    out = subprocess.run(["docker", "run", "--rm", "--network", "host", "--cap-drop", "ALL", "--cap-add", "NET_ADMIN",
                          "--cap-add", "NET_RAW", "-v", "/var/run/docker.sock:/var/run/docker.sock", "-e",
                          f"GLUONLAB_INSTANCE={stack.instance}", HUB_IMAGE, "python3", "-m", "gluonlab_hub.netguard",
                          "--status"], capture_output=True, text=True, timeout=60).stdout
    return json.loads(out.strip().splitlines()[-1]) if out.strip() else {}


def restart_dockerd() -> None:
    """Stop dockerd (SIGTERM: its containers are stopped, as on `systemctl restart docker`) and
    start it again the way this machine's setup does."""
    pid = int(PID_FILE.read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while Path(f"/proc/{pid}").exists():
        assert time.monotonic() < deadline, "dockerd did not stop within 60 s"
        time.sleep(0.5)
    result = subprocess.run([str(REPO_ROOT / "scripts" / "setup-docker-host.sh"), "--no-base-image"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture(scope="module")
def stack():
    if os.geteuid() != 0 or not PID_FILE.exists():
        pytest.skip("needs root and a local dockerd started by scripts/setup-docker-host.sh")
    with LabStack(extra_env={"GLUONLAB_NETGUARD_INTERVAL": "3", "GLUONLAB_HOME_SIZE": "64m"}).running() as lab:
        yield lab


def test_after_a_docker_restart_rules_hub_and_an_attendees_server_come_back(stack):
    images_before = {tag for image in docker.from_env().images.list() for tag in image.tags}
    hub = HubClient(stack.url)
    assert hub.login("admin", stack.admin_password).status_code == 302
    hub.create_token("admin")
    assert hub.api("POST", "/users/alice").status_code == 201
    hub.start_server("alice")
    alice = docker.from_env().containers.get(f"{stack.instance}-alice")
    assert alice.exec_run(["bash", "-c", "echo before-restart > ~/note"]).exit_code == 0
    assert guard_status(stack)["rules"] == "isolated"

    restart_dockerd()

    # The hub and the guard restart with the engine (restart: unless-stopped); the guard writes
    # the rules for the hub's address as it is now.
    wait_until(lambda: requests.get(f"{stack.url}/hub/api/", timeout=3).ok, 120, what="the hub after the restart")
    hub_ip = docker.from_env().containers.get(f"{stack.instance}-hub-1").attrs[
        "NetworkSettings"]["Networks"][stack.instance]["IPAddress"]
    wait_until(lambda: (s := guard_status(stack)).get("rules") == "isolated" and s.get("hub") == [hub_ip], 60,
               what="the netguard's rules for the restarted hub")
    # Alice's container did not survive the engine; the hub notices and lets her start again
    # (the admin's token is in the hub's database: still valid).
    wait_until(lambda: not hub.api("GET", "/users/alice").json().get("servers"), 120,
               what="the hub to see alice's server gone")
    hub.start_server("alice")
    alice = docker.from_env().containers.get(f"{stack.instance}-alice")
    result = alice.exec_run(["bash", "-c", "cat ~/note; stat -f -c '%b %S' ~"])
    note, blocks, block_size = result.output.decode().split()
    assert note == "before-restart" and int(blocks) * int(block_size) <= 64 * 2**20, result.output
    # The engine kept its images (other suites need them).
    images_after = {tag for image in docker.from_env().images.list() for tag in image.tags}
    assert images_before <= images_after
