"""kubernetes/values.yaml (Zero to JupyterHub) without a cluster: it parses, every
kubespawner_override key and every hub.config KubeSpawner key is a configurable trait of the
installed jupyterhub-kubespawner, and its limits and culler are the lab's defaults (settings.py),
so the two deployments cannot drift apart silently. Nothing here runs it on a cluster."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from docker.utils import parse_bytes
from kubespawner import KubeSpawner
from traitlets import HasTraits, TraitError

from gluonlab_hub.settings import meta

VALUES = Path(__file__).resolve().parents[2] / "kubernetes" / "values.yaml"
CONFIGURABLE = set(KubeSpawner.class_traits(config=True))


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES.read_text(encoding="utf-8"))


def test_every_override_key_is_a_kubespawner_trait(values):
    profiles = values["singleuser"]["profileList"]
    assert len(profiles) == 3
    for profile in profiles:
        unknown = set(profile["kubespawner_override"]) - CONFIGURABLE
        assert not unknown, f"{profile['display_name']}: not KubeSpawner traits: {unknown}"
    assert not set(values["hub"]["config"]["KubeSpawner"]) - CONFIGURABLE


def test_profiles_are_cpu_one_gpu_and_a_mig_slice(values):
    limits = [p["kubespawner_override"].get("extra_resource_limits", {}) for p in values["singleuser"]["profileList"]]
    assert limits == [{}, {"nvidia.com/gpu": "1"}, {"nvidia.com/mig-1g.10gb": "1"}]
    cpu = values["singleuser"]["profileList"][0]["kubespawner_override"]["environment"]
    assert cpu["NVIDIA_VISIBLE_DEVICES"] == "void"


def test_limits_and_culler_are_the_labs_defaults(values):
    single = values["singleuser"]
    assert parse_bytes(single["memory"]["limit"]) == parse_bytes(meta("GLUONLAB_MEM_LIMIT")["default"])
    assert float(single["cpu"]["limit"]) == meta("GLUONLAB_CPU_LIMIT")["default"]
    assert values["cull"]["timeout"] == meta("GLUONLAB_CULL_TIMEOUT")["default"]
    assert values["cull"]["maxAge"] == meta("GLUONLAB_CULL_MAX_AGE")["default"]
    shm = values["hub"]["config"]["KubeSpawner"]["volumes"][0]["emptyDir"]["sizeLimit"]
    assert parse_bytes(shm.replace("Gi", "g")) == parse_bytes(meta("GLUONLAB_SHM_SIZE")["default"])


def test_every_value_has_its_traits_type(values):
    # A value of the wrong type (a list where the trait wants a dict) fails here, as the hub would
    # fail at its start; traits validate without a spawner (and without a cluster).
    traits = KubeSpawner.class_traits(config=True)
    settings = [(k, v) for p in values["singleuser"]["profileList"] for k, v in p["kubespawner_override"].items()]
    settings += list(values["hub"]["config"]["KubeSpawner"].items())
    holder = HasTraits()  # any HasTraits object: validation needs one to report on, not a spawner
    for key, value in settings:
        traits[key].validate(holder, value)
    with pytest.raises(TraitError):
        traits["extra_resource_limits"].validate(holder, ["nvidia.com/gpu"])
