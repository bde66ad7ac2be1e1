"""The hub's whole configuration, built without a hub or an engine (CPU-only settings)."""
from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from traitlets.config import Config

from gluonlab_hub.hub_config import configure
from gluonlab_hub.settings import Settings
from gluonlab_hub.spawner import LabDockerSpawner


def configured(tmp_path, **env) -> Config:
    c = Config()
    configure(c, Settings.from_env({"GLUONLAB_STATE_DIR": str(tmp_path), **env}), registry=CollectorRegistry())
    return c


def test_a_cpu_only_lab_spawns_the_lab_spawner_with_only_its_own_image(tmp_path):
    c = configured(tmp_path, GLUONLAB_INSTANCE="lab1", NOTEBOOK_VARIANT="cpu")
    assert c.JupyterHub.spawner_class is LabDockerSpawner
    assert c.DockerSpawner.image == "gluonlab/notebook:cpu"
    assert c.DockerSpawner.allowed_images == ["gluonlab/notebook:cpu"]
    assert c.DockerSpawner.network_name == c.DockerSpawner.prefix == "lab1"
    assert c.DockerSpawner.volumes == {"lab1-home-{username}": "/home/jovyan"}
    assert c.LabDockerSpawner.gpu_allocator.assignments() == {}
    assert c.Spawner.disable_user_config is True


def test_state_lives_in_the_state_folder_and_secrets_are_made_once(tmp_path):
    first = configured(tmp_path)
    again = configured(tmp_path)
    assert first.JupyterHub.db_url == f"sqlite:///{tmp_path}/jupyterhub.sqlite"
    assert first.JupyterHub.cookie_secret == again.JupyterHub.cookie_secret
    assert first.ConfigurableHTTPProxy.auth_token == again.ConfigurableHTTPProxy.auth_token
    assert (tmp_path / "jupyterhub_cookie_secret").stat().st_mode & 0o777 == 0o600


def test_https_settings_switch_the_proxy_to_https(tmp_path):
    assert configured(tmp_path).JupyterHub.bind_url == "http://:8000"
    c = configured(tmp_path, GLUONLAB_SSL_CERT="/certs/hub.crt", GLUONLAB_SSL_KEY="/certs/hub.key")
    assert c.JupyterHub.bind_url == "https://:8000"
    assert (c.JupyterHub.ssl_cert, c.JupyterHub.ssl_key) == ("/certs/hub.crt", "/certs/hub.key")


def test_spawn_throttle_and_cookie_options_both_reach_tornado(tmp_path):
    settings = configured(tmp_path).JupyterHub.tornado_settings
    assert settings["spawn_throttle_retry_range"] == (5, 10)
    assert settings["cookie_options"] == {"samesite": "Lax"}


def test_the_culler_and_the_gpu_page_get_their_roles(tmp_path):
    c = configured(tmp_path, GLUONLAB_ADMIN_USERS="root,teacher", GLUONLAB_CULL_TIMEOUT="900")
    services = {s["name"]: s for s in c.JupyterHub.services}
    assert "--timeout=900" in services["idle-culler"]["command"]
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["idle-culler"]["services"] == ["idle-culler"]
    assert any(set(r.get("users", ())) == {"root", "teacher"} for r in roles.values())


def test_a_bad_gpu_setting_stops_the_hub_naming_it(tmp_path):
    with pytest.raises(SystemExit) as stopped:
        configured(tmp_path, GLUONLAB_GPU_POLICY="exclusive", GLUONLAB_GPUS="gpu0")
    assert "GLUONLAB_GPUS='gpu0'" in str(stopped.value)
