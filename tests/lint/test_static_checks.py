"""Static checks CI runs on every commit: shellcheck, hadolint, yamllint, compose config, and
the GPU variants' lock files, which CI cannot build (no GPU base images here) but can resolve
for the Python and platform each image really has (pip's dry run)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def tracked(*patterns: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", *patterns],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    return sorted({line for line in out.splitlines() if line and (REPO / line).exists()})


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, **kwargs)


def shell_scripts() -> list[str]:
    files = set(tracked("*.sh", ".ci/run"))
    for path in tracked("scripts/*", "ansible/**/files/*"):
        if (REPO / path).is_file() and (REPO / path).read_bytes()[:20].startswith(b"#!/usr/bin/env bash"):
            files.add(path)
    return sorted(files)


def test_shellcheck_clean():
    scripts = shell_scripts()
    assert "scripts/test.sh" in scripts and ".ci/run" in scripts
    result = run(["shellcheck", "--external-sources", *scripts])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_clean():
    dockerfiles = tracked("*Dockerfile", "*.Dockerfile")
    # One notebook Dockerfile for every variant (its stages), one for the hub.
    assert "images/notebook/Dockerfile" in dockerfiles and "images/hub/Dockerfile" in dockerfiles
    assert not [f for f in dockerfiles if f.endswith(".Dockerfile")], dockerfiles
    result = run(["hadolint", *dockerfiles])
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_clean():
    result = run(["yamllint", "--strict", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_is_valid_and_loopback_by_default():
    result = run(["docker", "compose", "config", "--format", "json"])
    assert result.returncode == 0, result.stderr
    import json

    config = json.loads(result.stdout)
    ports = config["services"]["hub"]["ports"]
    assert [(p["host_ip"], p["published"], p["target"]) for p in ports] == [("127.0.0.1", "8000", 8000)]
    assert "ports" not in config["services"]["notebook-image"]


def test_unknown_variant_is_named_by_the_build_script():
    result = run(["scripts/build-images.sh"], env={"NOTEBOOK_VARIANT": "gpu", "PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert result.returncode == 1
    assert "NOTEBOOK_VARIANT='gpu' is not a variant; choose one of: cpu cu117 ngc cu80" in result.stderr


def test_bad_mirror_url_is_named_by_the_build_script():
    result = run(["scripts/build-images.sh"], env={"PIP_INDEX_URL": "pypi.example", "PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert result.returncode == 1
    assert "PIP_INDEX_URL='pypi.example' is not a URL" in result.stderr


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


def test_missing_base_image_is_named_by_the_build_script():
    env = {"NOTEBOOK_BASE_IMAGE": "gluonlab/no-such-base:1", "PATH": "/usr/bin:/bin:/usr/local/bin"}
    result = run(["scripts/build-images.sh"], env=env, timeout=120)
    assert result.returncode == 1
    assert "NOTEBOOK_BASE_IMAGE='gluonlab/no-such-base:1' is neither a local image nor pullable" in result.stderr


def test_engine_not_running_is_reported_by_the_test_command():
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "PATH": "/usr/bin:/bin:/usr/local/bin"}
    for command in (["scripts/test.sh", "--no-build"], ["scripts/build-images.sh"]):
        result = run(command, env=env, timeout=60)
        assert result.returncode in (1, 2), command
        assert "Docker engine is not reachable" in result.stderr, command
