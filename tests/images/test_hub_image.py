"""Checks inside the built hub image: the versions the stack depends on, and our package."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker


def run(client, image, command: str) -> str:
    return client.containers.run(image.id, ["bash", "-c", command], remove=True, entrypoint=[]).decode()


def test_hub_versions(docker_client, hub_image):
    out = run(docker_client, hub_image,
              "jupyterhub --version; configurable-http-proxy --version; "
              "python3 -c 'import dockerspawner, nativeauthenticator, jupyterhub_idle_culler; print(dockerspawner.__version__)'")
    hub_version, proxy_version, spawner_version = out.split()
    assert hub_version.startswith("5.")
    assert proxy_version.startswith("5.")
    assert spawner_version.startswith("14.")


def test_hub_package_and_config_load(docker_client, hub_image):
    out = run(docker_client, hub_image,
              "cd /tmp && python3 -c 'from gluonlab_hub.settings import Settings; print(Settings.from_env().notebook_image)' && "
              "gluonlab-accounts --help >/dev/null && echo accounts-ok")
    assert out.split() == ["gluonlab/notebook:cpu", "accounts-ok"]


def test_bad_setting_stops_the_hub_with_a_clear_message(docker_client, hub_image):
    import docker

    with pytest.raises(docker.errors.ContainerError) as failure:
        docker_client.containers.run(hub_image.id, environment={"NOTEBOOK_VARIANT": "gpu-please"}, remove=True)
    assert b"NOTEBOOK_VARIANT='gpu-please' is not valid: choose one of cpu, cu117, ngc, cu80" in failure.value.stderr


def test_misspelt_setting_stops_the_hub_naming_the_right_one(docker_client, hub_image):
    import docker

    with pytest.raises(docker.errors.ContainerError) as failure:
        docker_client.containers.run(hub_image.id, environment={"GLUONLAB_GPU_POLCY": "exclusive"}, remove=True)
    assert b"GLUONLAB_GPU_POLCY is not a Gluon Lab setting: did you mean GLUONLAB_GPU_POLICY?" in failure.value.stderr


def test_the_node_guard_has_its_tools_and_refuses_to_run_without_isolation(docker_client, hub_image):
    # nsenter (util-linux) enters a server's namespace; iptables-restore writes its chains there.
    out = run(docker_client, hub_image, "cd /tmp && command -v nsenter iptables-nft-restore iptables-legacy-restore && "
              "python3 -m gluonlab_hub.node_guard --help | head -1")
    assert out.split()[:3] == ["/usr/bin/nsenter", "/usr/sbin/iptables-nft-restore", "/usr/sbin/iptables-legacy-restore"]
    assert out.split()[3:5] == ["usage:", "python"]
    off = run(docker_client, hub_image, "cd /tmp && GLUONLAB_NETWORK_ISOLATION=0 python3 -m gluonlab_hub.node_guard "
              "--once 2>&1; echo rc=$?")
    assert "GLUONLAB_NETWORK_ISOLATION=0, nothing to guard" in off and off.strip().endswith("rc=2")
