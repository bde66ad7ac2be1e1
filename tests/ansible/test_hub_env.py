"""The .env the gluonlab_hub role writes, rendered from the role's defaults and from inventory
overrides: the values docker-compose.yml reads must follow the inventory."""
from __future__ import annotations

import json
import sys

from conftest import REPO_ROOT, run_tool, tail

PLAYBOOK = REPO_ROOT / "tests" / "ansible" / "fixtures" / "render-hub-env.yml"


def render(tmp_path, **extra_vars) -> dict[str, str]:
    out = tmp_path / "env"
    extra = {"out": str(out), "ansible_python_interpreter": sys.executable, **extra_vars}
    result = run_tool(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", json.dumps(extra),
                       str(PLAYBOOK)], timeout=120)
    assert result.returncode == 0, tail(result.stdout)
    lines = [line for line in out.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_defaults_keep_the_hub_on_loopback_with_gpus(tmp_path):
    env = render(tmp_path)
    assert env["GLUONLAB_HUB_BIND"] == "127.0.0.1" and env["GLUONLAB_HUB_PORT"] == "8000"
    assert env["NOTEBOOK_VARIANT"] == "cu117" and env["GLUONLAB_GPU_POLICY"] == "exclusive"
    assert env["GLUONLAB_GPUS"] == "auto"
    assert env["GLUONLAB_SSL_CERT"] == "" and env["GLUONLAB_SSL_KEY"] == ""
    # Absent, not empty: an empty build arg would replace the Dockerfiles' default base image.
    assert "NOTEBOOK_BASE_IMAGE" not in env and "HUB_BASE_IMAGE" not in env


def test_https_opens_port_443_and_points_at_the_mounted_certificate(tmp_path):
    env = render(tmp_path, gluonlab_hub_tls="provided", gluonlab_hub_domain="lab.example.org",
                 gluonlab_hub_gpu_policy="none", gluonlab_hub_notebook_variant="cpu",
                 gluonlab_hub_admin_users=["alice", "bob"], gluonlab_hub_pip_index_url="https://pypi.example/simple",
                 gluonlab_hub_env_extra={"GLUONLAB_SPAWN_TIMEOUT": 300})
    assert env["GLUONLAB_HUB_BIND"] == "0.0.0.0" and env["GLUONLAB_HUB_PORT"] == "443"
    assert env["GLUONLAB_SSL_CERT"] == "/srv/jupyterhub/certs/hub.crt"
    assert env["GLUONLAB_SSL_KEY"] == "/srv/jupyterhub/certs/hub.key"
    assert env["GLUONLAB_GPUS"] == "" and env["GLUONLAB_ADMIN_USERS"] == "alice,bob"
    assert env["PIP_INDEX_URL"] == "https://pypi.example/simple"
    assert env["GLUONLAB_SPAWN_TIMEOUT"] == "300"
