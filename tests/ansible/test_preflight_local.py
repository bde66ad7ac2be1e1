"""The preflight role against this machine (Debian 12, connection local): its checks are
read-only (facts, df, asserts), so running it here shows the real messages an admin gets for an
unsupported OS, too little disk or a bad setting. GPU checks are skipped by the test variable."""
from __future__ import annotations

import json
import sys

from conftest import REPO_ROOT, run_tool, tail

PLAYBOOK = REPO_ROOT / "tests" / "ansible" / "fixtures" / "preflight-local.yml"


def run_preflight(**extra_vars):
    # This interpreter, not whatever discovery finds first on PATH (pyenv shims may not run).
    extra = {"gluonlab_skip_gpu_steps": True, "preflight_min_free_disk_gb": 1,
             "ansible_python_interpreter": sys.executable, **extra_vars}
    return run_tool(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", json.dumps(extra),
                     str(PLAYBOOK)], timeout=180)


def test_preflight_passes_on_a_supported_host_and_shows_the_gpu_skip():
    result = run_preflight()
    assert result.returncode == 0, tail(result.stdout)
    assert "GPU STEP SKIPPED (preflight_skip_gpu_checks is true)" in result.stdout
    assert "GB free under /var/lib" in result.stdout


def test_preflight_refuses_an_unsupported_os_with_what_to_do():
    result = run_preflight(preflight_supported_os={"Ubuntu": ["24.04"]})
    assert result.returncode != 0
    assert "Debian 12" in result.stdout and "is not supported" in result.stdout, tail(result.stdout)
    assert "add your release to preflight_supported_os" in result.stdout


def test_preflight_refuses_too_little_disk_with_what_to_do():
    result = run_preflight(preflight_min_free_disk_gb=10_000_000)
    assert result.returncode != 0
    assert "Gluon Lab needs 10000000 GB for its images" in result.stdout, tail(result.stdout)
    assert "Free some space or grow the disk" in result.stdout


def test_preflight_rejects_an_unknown_secure_boot_policy():
    result = run_preflight(preflight_secure_boot_policy="sometimes")
    assert result.returncode != 0
    assert "preflight_secure_boot_policy" in result.stdout, tail(result.stdout)
