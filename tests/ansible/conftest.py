"""Helpers for the Ansible tests: run the tools from the test venv inside ansible/, build the
molecule test image once, and take down anything the gluonlab_hub scenario left on the engine.

The tools (ansible-core, the ansible package for community.docker, ansible-lint, molecule with
its docker driver, yamllint) are pinned in tests/requirements.txt, so they sit in the same venv
as pytest (scripts/test.sh creates it)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = REPO_ROOT / "ansible"
LOCAL_BASE = os.environ.get("GLUONLAB_LOCAL_BASE", "gluonlab/debian-base:bookworm")
RUN_ID = uuid.uuid4().hex[:8]
TEST_IMAGE = f"gluonlab-ansible-test/bookworm:{RUN_ID}"
# Per run, so two runs of the suite on one engine never share a name, a port or a directory.
# The project directory has the same path on the host and in the hub test container.
HUB_SHARED_DIR = f"/var/tmp/gluonlab-ansible-test-hub-{RUN_ID}"
HUB_INSTANCE = f"gluonlab-ansible-stack-{RUN_ID}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


HUB_PORT = free_port()
OUTPUT_TAIL_LINES = 250
# The commit the gluonlab_hub scenario ships, fixed once per session.
COPY_REF = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], stdout=subprocess.PIPE,
                          text=True, check=True).stdout.strip()


def tool_env() -> dict[str, str]:
    """Environment for ansible/molecule: the venv's bin first, plain output, no Galaxy."""
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env.update({
        "NO_COLOR": "1",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PY_COLORS": "0",
        "GLUONLAB_ANSIBLE_HUB_DIR": HUB_SHARED_DIR,
        "GLUONLAB_ANSIBLE_STACK": HUB_INSTANCE,
        "GLUONLAB_ANSIBLE_HUB_PORT": str(HUB_PORT),
        "GLUONLAB_LOCAL_BASE": LOCAL_BASE,
        "GLUONLAB_ANSIBLE_COPY_REF": COPY_REF,
    })
    return env


def molecule_env(scenario: str) -> dict[str, str]:
    """Per-run instance names and molecule state, so runs of the suite side by side (CI and a
    developer on one engine) never destroy each other's containers."""
    env = tool_env()
    env["GLUONLAB_ANSIBLE_RUN_SUFFIX"] = f"-{RUN_ID}"
    env["GLUONLAB_ANSIBLE_IMAGE_TAG"] = RUN_ID
    env["MOLECULE_EPHEMERAL_DIRECTORY"] = str(Path.home() / ".cache" / "gluonlab-ansible-molecule" / RUN_ID / scenario)
    return env


def run_tool(argv: list[str], timeout: float, cwd: Path = ANSIBLE_DIR,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a tool, stdout and stderr merged, and fail the test with the output's tail."""
    env = env or tool_env()
    if shutil.which(argv[0], path=env["PATH"]) is None:
        pytest.fail(f"{argv[0]} is not installed: run scripts/test.sh (it installs tests/requirements.txt)")
    try:
        result = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        output = error.stdout if isinstance(error.stdout, str) else (error.stdout or b"").decode(errors="replace")
        pytest.fail(f"{' '.join(argv)} ran over {timeout:.0f} s; last output:\n{tail(output)}")
    return result


def tail(text: str, lines: int = OUTPUT_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def docker(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, check=check, timeout=300)


@pytest.fixture(scope="session")
def molecule_image():
    """The molecule test image, built from ansible/molecule/Dockerfile on the local base image."""
    if docker("image", "inspect", LOCAL_BASE).returncode != 0:
        pytest.fail(f"{LOCAL_BASE} is missing: run scripts/setup-docker-host.sh (it builds it with debootstrap)")
    build = docker("build", "-q", "--build-arg", f"BASE_IMAGE={LOCAL_BASE}", "-t", TEST_IMAGE,
                   str(ANSIBLE_DIR / "molecule"))
    assert build.returncode == 0, f"building {TEST_IMAGE} failed:\n{tail(build.stdout + build.stderr)}"
    yield TEST_IMAGE
    if os.environ.get("GLUONLAB_KEEP_TEST_IMAGES") != "1":
        docker("image", "rm", TEST_IMAGE)
    shutil.rmtree(Path.home() / ".cache" / "gluonlab-ansible-molecule" / RUN_ID, ignore_errors=True)


NETGUARD = ["run", "--rm", "--network", "host", "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW",
            "-e", f"GLUONLAB_INSTANCE={HUB_INSTANCE}", "gluonlab/hub:latest", "python3", "-c"]


def netguard_host_rules() -> list[str]:
    """The host's firewall rules (DOCKER-USER, INPUT) that the test stack's netguard tagged, read
    with the guard's own code from a host-network container (the backend Docker uses)."""
    code = ("import sys; from gluonlab_hub.netguard import Iptables, comment; ipt = Iptables(); "
            "print('\\n'.join(r for c in ('DOCKER-USER', 'INPUT') for r in ipt.listing(c) or [] "
            "if comment(sys.argv[1]) in r))")
    result = docker(*NETGUARD, code, HUB_INSTANCE, check=True)
    return result.stdout.split("\n") if result.stdout.strip() else []


def remove_hub_leftovers() -> None:
    """Backstop for the gluonlab_hub scenario's cleanup: only names with our unique prefix."""
    docker(*NETGUARD, "from gluonlab_hub.netguard import main; main(['--remove'])")
    containers = docker("ps", "-a", "--format", "{{.ID}} {{.Names}}").stdout.splitlines()
    ids = [line.split()[0] for line in containers if line.split()[1].startswith(HUB_INSTANCE + "-")]
    if ids:
        docker("rm", "-f", *ids)
    volumes = [name for name in docker("volume", "ls", "-q").stdout.split() if name.startswith(HUB_INSTANCE)]
    if volumes:
        docker("volume", "rm", "-f", *volumes)
    if docker("network", "inspect", HUB_INSTANCE).returncode == 0:
        docker("network", "rm", HUB_INSTANCE)
    shutil.rmtree(HUB_SHARED_DIR, ignore_errors=True)


@pytest.fixture
def hub_leftovers_removed():
    remove_hub_leftovers()
    yield
    remove_hub_leftovers()
