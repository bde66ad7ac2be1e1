"""kubernetes/z2jh-values.yaml against what the Docker hub runs and against jupyterhub-kubespawner.

No cluster and no Helm here: every profile's kubespawner_override is applied to a real
KubeSpawner (the pinned jupyterhub-kubespawner, pointed at a kubeconfig whose API server does
not exist and is never called) and rendered into the pod manifest Kubernetes would receive.
The chart's own values.schema.json is not on PyPI or npm, so the file is not checked against it.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "hub") not in sys.path:
    sys.path.insert(0, str(REPO / "hub"))
from gluonlab_hub import settings as schema  # noqa: E402

kubespawner = pytest.importorskip("kubespawner", reason="pip install -r tests/requirements.txt")
KubeSpawner = kubespawner.KubeSpawner
from kubernetes_asyncio.config import kube_config  # noqa: E402

VALUES_FILE = REPO / "kubernetes" / "z2jh-values.yaml"
GPU_RESOURCES = {"nvidia.com/gpu", "nvidia.com/mig-1g.10gb"}
# How the chart hands singleuser values to KubeSpawner (its hub's jupyterhub_config.py), for
# the keys this file sets; the rest (networkPolicy, storage) become separate chart objects.
CHART_TO_TRAIT = {
    ("uid",): "uid",
    ("fsGid",): "fs_gid",
    ("allowPrivilegeEscalation",): "allow_privilege_escalation",
    ("extraContainerConfig",): "extra_container_config",
    ("memory", "limit"): "mem_limit",
    ("memory", "guarantee"): "mem_guarantee",
    ("cpu", "limit"): "cpu_limit",
    ("cpu", "guarantee"): "cpu_guarantee",
    ("storage", "extraVolumes"): "volumes",
    ("storage", "extraVolumeMounts"): "volume_mounts",
}


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES_FILE.read_text())


@pytest.fixture(scope="module")
def profiles(values) -> list[dict]:
    return values["singleuser"]["profileList"]


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory) -> Path:
    """KubeSpawner reads a kubeconfig when it is created; rendering a pod never calls the API."""
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "none",
        "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "none", "user": {"token": "unused"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none", "namespace": "gluonlab"}}],
    }))
    return path


def default(env: str):
    return schema.meta(env)["default"]


def test_every_override_key_is_a_kubespawner_trait(profiles):
    traits = set(KubeSpawner.class_trait_names())
    for profile in profiles:
        unknown = set(profile["kubespawner_override"]) - traits
        assert not unknown, f"profile {profile['slug']}: {unknown} are not KubeSpawner traits"
    for trait in CHART_TO_TRAIT.values():
        assert trait in traits, trait


def test_profiles_run_every_notebook_variant_with_the_hubs_limits(profiles):
    images = {p["kubespawner_override"]["image"] for p in profiles}
    assert images == {f"gluonlab/notebook:{variant}" for variant in schema.VARIANTS}
    assert len({p["slug"] for p in profiles}) == len(profiles)
    assert [p["slug"] for p in profiles if p.get("default")] == ["cpu"]
    for profile in profiles:
        override = profile["kubespawner_override"]
        assert override["mem_limit"] == default("GLUONLAB_MEM_LIMIT"), profile["slug"]
        assert float(override["cpu_limit"]) == default("GLUONLAB_CPU_LIMIT"), profile["slug"]
        # Attendee-facing: Chinese with English beside it.
        assert " / " in profile["display_name"] and " / " in profile["description"], profile["slug"]


def test_gpu_profiles_ask_for_exactly_one_gpu_or_mig_slice(profiles):
    asked = {}
    for profile in profiles:
        limits = profile["kubespawner_override"].get("extra_resource_limits", {})
        guarantees = profile["kubespawner_override"].get("extra_resource_guarantees", {})
        assert set(limits) <= GPU_RESOURCES and limits == guarantees, profile["slug"]
        assert all(count == "1" for count in limits.values()), profile["slug"]
        is_cpu = profile["kubespawner_override"]["image"].endswith(":cpu")
        assert len(limits) == (0 if is_cpu else 1), profile["slug"]
        for resource in limits:
            asked.setdefault(resource, []).append(profile["slug"])
    assert set(asked) == GPU_RESOURCES, asked


def test_top_level_values_follow_the_settings_defaults(values):
    single = values["singleuser"]
    assert single["memory"]["limit"] == default("GLUONLAB_MEM_LIMIT")
    assert float(single["cpu"]["limit"]) == default("GLUONLAB_CPU_LIMIT")
    shm = next(v for v in single["storage"]["extraVolumes"] if v["name"] == "dshm")
    assert shm["emptyDir"]["sizeLimit"].lower().rstrip("i") == default("GLUONLAB_SHM_SIZE").lower()
    cull = values["cull"]
    assert cull["enabled"] is True and cull["users"] is False
    assert cull["timeout"] == default("GLUONLAB_CULL_TIMEOUT") and cull["maxAge"] == default("GLUONLAB_CULL_MAX_AGE")
    assert values["hub"]["concurrentSpawnLimit"] == default("GLUONLAB_CONCURRENT_SPAWN_LIMIT")
    policy = single["networkPolicy"]
    assert policy["enabled"] is True and policy["ingress"] == []
    rules = policy["egressAllowRules"]
    assert rules["privateIPs"] is False and rules["cloudMetadataServer"] is False
    assert rules["nonPrivateIPs"] is bool(default("GLUONLAB_USER_INTERNET"))


def render(values: dict, slug: str):
    """The pod KubeSpawner would create for this profile, with the chart's singleuser values."""
    single = values["singleuser"]
    config = {}
    for path, trait in CHART_TO_TRAIT.items():
        value = single
        for key in path:
            value = value[key]
        config[trait] = value

    async def pod():
        spawner = KubeSpawner(_mock=True, profile_list=single["profileList"], cmd=[single["cmd"]],
                              image=f"{single['image']['name']}:{single['image']['tag']}", **config)
        spawner.user_options = {"profile": slug}
        await spawner.load_user_options()
        return await spawner.get_pod_manifest()
    return asyncio.run(pod())


@pytest.mark.parametrize("slug", ["cpu", "gpu-cu117", "gpu-ngc", "gpu-cu80", "mig-1g-10gb"])
def test_each_profile_renders_a_hardened_pod(values, profiles, kubeconfig, monkeypatch, slug):
    # The client library read $KUBECONFIG at import; point it at ours and load it afresh.
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    kubespawner.clients.load_config.cache_clear()
    profile = next(p for p in profiles if p["slug"] == slug)
    pod = render(values, slug)
    container = pod.spec.containers[0]
    assert container.image == profile["kubespawner_override"]["image"]
    # The image's start script syncs the tutorials before the server starts.
    assert container.args[0] == "start-notebook.sh"
    limits = container.resources.limits
    assert limits["memory"] == 4 * 1024 ** 3 and float(limits["cpu"]) == 2.0
    for resource, count in profile["kubespawner_override"].get("extra_resource_limits", {}).items():
        assert limits[resource] == count and container.resources.requests[resource] == count
    asked = set(profile["kubespawner_override"].get("extra_resource_limits", {}))
    assert set(limits) == {"cpu", "memory"} | asked
    security = container.security_context
    assert security["runAsUser"] == 1000 and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]} and security["runAsNonRoot"] is True
    assert pod.spec.security_context["fsGroup"] == 100
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert ("dshm", "/dev/shm") in [(m.name, m.mount_path) for m in container.volume_mounts]
    shm = next(v for v in pod.spec.volumes if v.name == "dshm")
    assert shm.empty_dir == {"medium": "Memory", "sizeLimit": "1Gi"}
