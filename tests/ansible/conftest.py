"""Helpers for the Ansible tests: run the tools from the test venv inside ansible/, build the
molecule test image once, and take down anything the gluonlab_hub scenario left on the engine.

The tools (ansible-core, the ansible package for community.docker, ansible-lint, molecule with
its docker driver, yamllint) are pinned in tests/requirements.txt, so they sit in the same venv
as pytest (scripts/test.sh creates it)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = REPO_ROOT / "ansible"
TEST_IMAGE = "gluonlab-ansible-test/bookworm:latest"
LOCAL_BASE = os.environ.get("GLUONLAB_LOCAL_BASE", "gluonlab/debian-base:bookworm")
# Same path on the host and inside the hub test container (see molecule/gluonlab_hub/molecule.yml).
HUB_SHARED_DIR = os.environ.get("GLUONLAB_ANSIBLE_HUB_DIR", "/var/tmp/gluonlab-ansible-test-hub")
HUB_INSTANCE = "gluonlab-ansible-test"
OUTPUT_TAIL_LINES = 250


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
        "GLUONLAB_LOCAL_BASE": LOCAL_BASE,
    })
    return env


def run_tool(argv: list[str], timeout: float, cwd: Path = ANSIBLE_DIR) -> subprocess.CompletedProcess:
    """Run a tool, stdout and stderr merged, and fail the test with the output's tail."""
    if shutil.which(argv[0], path=tool_env()["PATH"]) is None:
        pytest.fail(f"{argv[0]} is not installed: run scripts/test.sh (it installs tests/requirements.txt)")
    try:
        result = subprocess.run(argv, cwd=cwd, env=tool_env(), stdout=subprocess.PIPE,
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


def remove_hub_leftovers() -> None:
    """Backstop for the gluonlab_hub scenario's cleanup: only names with our unique prefix."""
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
