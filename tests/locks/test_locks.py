"""The images' lock files against their .in files and each image's Python and platform. No
Docker, but PyPI: uv resolves (hermetically: the existing lock is the preference) and pip dry-runs
the GPU variants' locks, which CI cannot build (no GPU base images here). About two minutes, so
outside the fast lane; the full suite runs them before the image tiers."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, **kwargs)


def test_lock_files_match_their_inputs():
    result = run(["scripts/lock-requirements.sh", "--check"], timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def test_lock_check_fails_when_an_input_is_no_longer_satisfied(tmp_path):
    """The check is hermetic (existing pins preferred), yet still catches a lock left behind by
    an edited .in file: here the hub asks for a six that its lock does not pin."""
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "scripts", copy / "scripts")
    shutil.copytree(REPO / "images", copy / "images", ignore=shutil.ignore_patterns("certs"))
    hub_in = copy / "images" / "hub" / "requirements.in"
    hub_in.write_text(hub_in.read_text() + "six==1.16.0\n")
    result = subprocess.run(["bash", "scripts/lock-requirements.sh", "--check"], cwd=copy,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "stale lock: images/hub/requirements.txt no longer satisfies images/hub/requirements.in" in result.stderr
    assert "> six==1.16.0" in result.stderr
    # Only the edited input is reported: the other locks still satisfy theirs.
    assert result.stderr.count("stale lock:") == 1


@pytest.mark.parametrize("lock, python", [
    ("images/notebook/requirements-cu117.txt", "3.10"),   # nvidia/cuda 11.7 on Ubuntu 22.04
    ("images/notebook/requirements-cu80.txt", "3.11"),    # Debian bookworm
    ("images/notebook/requirements-ngc-server.txt", "3.11"),  # deadsnakes on NGC's Ubuntu 20.04
    ("images/notebook/requirements-ngc-kernel.txt", "3.8"),   # NGC 23.04's own Python
])
def test_gpu_variant_locks_resolve_for_their_python_and_platform(lock, python, tmp_path):
    result = run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps",
                  "--python-version", python, "--implementation", "cp",
                  "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64",
                  "--target", str(tmp_path / "target"), "-r", lock], timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Would install" in result.stdout
