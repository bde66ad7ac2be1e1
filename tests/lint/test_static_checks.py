"""Static checks CI runs on every commit, before any image build: shellcheck, hadolint,
yamllint, compose config, and the scripts' own error messages. No Docker engine here (this is
the fast lane): the lock files' checks need PyPI and live in tests/locks, the build script's
engine-side errors in tests/images."""
from __future__ import annotations

import os
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


SHELL_SHEBANGS = (b"#!/usr/bin/env bash", b"#!/bin/bash", b"#!/usr/bin/env sh", b"#!/bin/sh")


def shell_scripts() -> list[str]:
    """Every tracked shell script: *.sh, .ci/run, and any file that starts with a shell shebang
    (Jinja templates, *.j2, are shell only once Ansible has rendered them)."""
    files = set(tracked("*.sh", ".ci/run"))
    for path in tracked():
        if (REPO / path).is_file() and not path.endswith(".j2"):
            with open(REPO / path, "rb") as f:
                if f.readline().rstrip().startswith(SHELL_SHEBANGS):
                    files.add(path)
    return sorted(files)


def test_shellcheck_clean():
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck missing: sudo scripts/setup-docker-host.sh --tools-only installs it"
    scripts = shell_scripts()
    for must in (".ci/run", "scripts/test.sh", "scripts/doctor.sh", "scripts/tunnel.sh",
                 "scripts/setup-docker-host.sh", "images/notebook/rootfs/start-notebook.sh"):
        assert must in scripts, must
    # shellcheck picks the dialect from the shebang: a script without one is checked as nothing.
    no_shebang = [path for path in scripts if not (REPO / path).read_bytes().startswith(SHELL_SHEBANGS)]
    assert not no_shebang, f"shell scripts without a #!/usr/bin/env bash (or sh) line: {no_shebang}"
    result = run([shellcheck, "--severity=style", "--external-sources", *scripts])
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


def compose() -> list[str]:
    """`docker compose`, or the same compose binary standalone where no Docker CLI is installed
    (the fast lane runs before any engine is set up)."""
    if shutil.which("docker"):
        return ["docker", "compose"]
    standalone = shutil.which("docker-compose")
    assert standalone, "compose missing: sudo scripts/setup-docker-host.sh --tools-only installs it"
    return [standalone]


def test_compose_file_is_valid_and_loopback_by_default():
    result = run([*compose(), "config", "--format", "json"])
    assert result.returncode == 0, result.stderr
    import json

    config = json.loads(result.stdout)
    ports = config["services"]["hub"]["ports"]
    assert [(p["host_ip"], p["published"], p["target"]) for p in ports] == [("127.0.0.1", "8000", 8000)]
    assert "ports" not in config["services"]["notebook-image"]


def test_compose_hands_the_hub_its_env_file_and_the_shells_settings(tmp_path):
    """Every setting in .env reaches the hub (also those compose does not name), a hub setting
    exported in the shell wins over .env, and compose adds no values of its own."""
    import json

    (tmp_path / ".env").write_text("GLUONLAB_SPAWN_TIMEOUT=300\nGLUONLAB_MEM_LIMIT=2G\nGLUONLAB_HUB_PORT=8111\n")
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "GLUONLAB_MEM_LIMIT": "3G", "GLUONLAB_LOG_LEVEL": "DEBUG"}
    result = run(["docker", "compose", "--project-directory", str(tmp_path), "-f", str(REPO / "docker-compose.yml"),
                  "config", "--format", "json"], env=env)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    hub_env = {k: v for k, v in config["services"]["hub"]["environment"].items() if v is not None}
    assert hub_env == {"GLUONLAB_SPAWN_TIMEOUT": "300", "GLUONLAB_MEM_LIMIT": "3G", "GLUONLAB_HUB_PORT": "8111",
                       "GLUONLAB_LOG_LEVEL": "DEBUG"}
    assert config["services"]["hub"]["ports"][0]["published"] == "8111"


def test_unknown_variant_is_named_by_the_build_script():
    result = run(["scripts/build-images.sh"], env={"NOTEBOOK_VARIANT": "gpu", "PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert result.returncode == 1
    assert "NOTEBOOK_VARIANT='gpu' is not a variant; choose one of: cpu cu117 ngc cu80" in result.stderr


def test_bad_mirror_url_is_named_by_the_build_script():
    result = run(["scripts/build-images.sh"], env={"PIP_INDEX_URL": "pypi.example", "PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert result.returncode == 1
    assert "PIP_INDEX_URL='pypi.example' is not a URL" in result.stderr


def test_engine_not_running_is_reported_by_the_test_command():
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "PATH": "/usr/bin:/bin:/usr/local/bin"}
    for command in (["scripts/test.sh", "--no-build"], ["scripts/build-images.sh"]):
        result = run(command, env=env, timeout=60)
        assert result.returncode in (1, 2), command
        assert "Docker engine is not reachable" in result.stderr, command


def fast_lane_env(tmp_path) -> dict[str, str]:
    """A PATH with the fast lane's tools and no docker, and an engine address that answers nothing."""
    bin_dir = tmp_path / "bin"
    if bin_dir.is_dir():
        shutil.rmtree(bin_dir)
    bin_dir.mkdir()
    tools = ("bash", "env", "python3", "git", "sha256sum", "cut", "cat", "mkdir", "dirname",
             "shellcheck", "hadolint", "yamllint", "docker-compose", "ssh")
    for tool in tools:
        found = shutil.which(tool)
        assert found, f"{tool} missing: sudo scripts/setup-docker-host.sh --tools-only installs it"
        (bin_dir / tool).symlink_to(found)
    return {"PATH": str(bin_dir), "HOME": os.environ.get("HOME", str(tmp_path)),
            "DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def test_fast_lane_needs_no_docker_and_selects_by_folder(tmp_path):
    result = run(["scripts/test.sh", "--fast", "--collect-only", "-q"], env=fast_lane_env(tmp_path), timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    outside = [i for i in ids if not i.startswith(("tests/unit/", "tests/lint/", "tests/scripts/"))]
    assert not outside, outside[:10]
    assert "tests/lint/test_static_checks.py::test_fast_lane_needs_no_docker_and_selects_by_folder" in ids
    assert "tests/scripts/test_doctor_scenarios.py::test_hub_unreachable" in ids
    # tests/scripts' Docker tests (the doctor inside the image, on the real engine) stay out.
    assert not [i for i in ids if "test_doctor_image.py" in i or "real_docker_engine" in i]
    assert "deselected" in result.stdout


def test_no_tests_collected_is_reported_not_passed(tmp_path):
    result = run(["scripts/test.sh", "--fast", "--collect-only", "-q", "-k", "no_test_is_named_like_this"],
                 env=fast_lane_env(tmp_path), timeout=300)
    assert result.returncode == 5, result.stdout[-2000:] + result.stderr[-2000:]
    assert "pytest collected no tests (exit 5)" in result.stderr
    result = run(["scripts/test.sh", "--fast", "--no-build"], env=fast_lane_env(tmp_path), timeout=60)
    assert result.returncode == 2 and "--fast builds no images" in result.stderr


def test_test_modules_have_unique_basenames():
    # pytest imports test modules by basename (rootdir-relative, no packages): two files of the
    # same name in different folders stop the whole run at collection, which the fast lane
    # (a few folders only) would not see.
    seen: dict[str, list[str]] = {}
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        if ".venv" not in path.parts:
            seen.setdefault(path.name, []).append(str(path.relative_to(REPO)))
    clashes = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not clashes, f"rename one of each: {clashes}"
