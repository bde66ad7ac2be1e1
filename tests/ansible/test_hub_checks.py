"""The gluonlab_hub role refuses, before it changes anything, a hub served to the room over plain
HTTP: the same rule as the hub's own start check (GLUONLAB_HUB_BIND in the settings schema)."""
from __future__ import annotations

import json
import sys

import pytest
from conftest import REPO_ROOT, run_tool, tail

PLAYBOOK = REPO_ROOT / "tests" / "ansible" / "fixtures" / "check-hub-settings.yml"


def check(**extra_vars):
    extra = {"ansible_python_interpreter": sys.executable, "gluonlab_hub_notebook_variant": "cpu",
             "gluonlab_hub_gpu_policy": "none", **extra_vars}
    return run_tool(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", json.dumps(extra), str(PLAYBOOK)],
                    timeout=120)


def test_role_refuses_to_open_the_hub_beyond_loopback_without_tls():
    result = check(gluonlab_hub_bind="0.0.0.0")
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert "gluonlab_hub_bind=0.0.0.0 (GLUONLAB_HUB_BIND) would serve the hub to other machines over plain HTTP" in out
    assert "GLUONLAB_SSL_CERT and GLUONLAB_SSL_KEY" in out and "gluonlab_hub_allow_insecure=true" in out


@pytest.mark.parametrize("extra", [
    {},  # loopback by default
    {"gluonlab_hub_bind": "127.0.0.1"},
    {"gluonlab_hub_bind": "0.0.0.0", "gluonlab_hub_allow_insecure": True},
    {"gluonlab_hub_tls": "provided", "gluonlab_hub_domain": "lab.example.org",
     "gluonlab_hub_tls_cert_src": "/c.pem", "gluonlab_hub_tls_key_src": "/k.pem"},
])
def test_role_lets_loopback_https_or_an_explicit_tls_proxy_through(extra):
    result = check(**extra)
    assert result.returncode == 0, tail(result.stdout)


@pytest.mark.parametrize("password", ["short-pw", "x" * 73, "Teacher-Number-One"])
def test_role_refuses_a_first_admin_password_the_hub_would_refuse(password):
    result = check(gluonlab_hub_admin_password=password, gluonlab_hub_admin_users=["teacher-number-one"])
    assert result.returncode != 0
    assert "must be 12 to 72 characters and not the first admin's username" in " ".join(result.stdout.split())
    assert password not in result.stdout


def test_role_accepts_a_good_first_admin_password():
    assert check(gluonlab_hub_admin_password="a-good-long-password").returncode == 0


def test_role_refuses_the_swarm_backend_without_a_registry():
    result = check(gluonlab_hub_spawner_backend="swarm")
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert "gluonlab_hub_spawner_backend=swarm (GLUONLAB_SPAWNER_BACKEND) needs gluonlab_hub_registry" in out
    result = check(gluonlab_hub_spawner_backend="swarm", gluonlab_hub_registry="10.1.0.1:5000")
    assert result.returncode == 0, tail(result.stdout)
