"""Settings from the environment: safe defaults, and bad values named with their fix."""
from __future__ import annotations

import pytest

from gluonlab_hub.settings import Settings, SettingsError


def test_defaults_are_cpu_only_and_safe():
    s = Settings.from_env({})
    assert s.notebook_variant == "cpu" and s.notebook_image == "gluonlab/notebook:cpu"
    assert s.gpu_policy == "none" and s.gpus == ""
    assert s.admin_users == ("admin",)
    assert s.network == "gluonlab" and s.home_volume_template == "gluonlab-home-{username}"
    assert s.cull_timeout == 3600 and s.shm_size == "1g"
    assert s.warnings() == []


def test_gpu_variant_and_policy():
    s = Settings.from_env({"NOTEBOOK_VARIANT": "cu117", "GLUONLAB_GPU_POLICY": "shared", "GLUONLAB_USERS_PER_GPU": "3"})
    assert s.notebook_image == "gluonlab/notebook:cu117"
    assert s.gpus == "auto" and s.users_per_gpu == 3


def test_instance_names_every_docker_object():
    s = Settings.from_env({"GLUONLAB_INSTANCE": "ws-2026"})
    assert s.network == "ws-2026" and s.home_volume_template == "ws-2026-home-{username}"


def test_short_cull_timeout_warns():
    assert "below 330 s" in Settings.from_env({"GLUONLAB_CULL_TIMEOUT": "120"}).warnings()[0]


def test_gpu_policy_on_cpu_image_warns():
    s = Settings.from_env({"GLUONLAB_GPU_POLICY": "exclusive", "GLUONLAB_GPUS": "0,1"})
    assert "NOTEBOOK_VARIANT=cu117" in s.warnings()[0]


@pytest.mark.parametrize("env, needle", [
    ({"NOTEBOOK_VARIANT": "cuda"}, "NOTEBOOK_VARIANT='cuda' is not valid: choose one of cpu, cu117, ngc, cu80"),
    ({"GLUONLAB_GPU_POLICY": "all"}, "GLUONLAB_GPU_POLICY='all' is not valid"),
    ({"GLUONLAB_GPU_EXHAUSTED": "wait"}, "choose 'refuse' or 'cpu'"),
    ({"GLUONLAB_MEM_LIMIT": "lots"}, "GLUONLAB_MEM_LIMIT='lots' is not valid: use a size"),
    ({"GLUONLAB_SHM_SIZE": "1 GB"}, "GLUONLAB_SHM_SIZE"),
    ({"GLUONLAB_CULL_TIMEOUT": "30"}, "GLUONLAB_CULL_TIMEOUT='30' is not valid: must be at least 60"),
    ({"GLUONLAB_CPU_LIMIT": "two"}, "must be a number"),
    ({"GLUONLAB_ADMIN_USERS": "Admin!"}, "GLUONLAB_ADMIN_USERS='Admin!'"),
    ({"GLUONLAB_ADMIN_USERS": " , "}, "name at least one admin"),
    ({"GLUONLAB_INSTANCE": "My Lab"}, "GLUONLAB_INSTANCE='My Lab'"),
    ({"GLUONLAB_SSL_CERT": "/c.pem"}, "set both the certificate and the key"),
])
def test_bad_values_name_the_setting_and_the_fix(env, needle):
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert needle in str(error.value)
