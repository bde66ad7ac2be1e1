"""Fixtures for tests/swarm: a 3-node Docker Swarm (tests/swarm/cluster.py) with the hub image on
the manager and the notebook image on the workers, and a hub running on the manager with
GLUONLAB_SPAWNER_BACKEND=swarm, reached from the test over the nodes' bridge network."""
from __future__ import annotations

import docker
import pytest

from cluster import SwarmCluster, start_lab
from labclient import REPO_ROOT



@pytest.fixture(scope="module")
def swarm_lab(docker_client, hub_image, notebook_image):
    cluster = SwarmCluster(docker_client)
    env = {"GLUONLAB_GPU_POLICY": "exclusive", "GLUONLAB_GPU_EXHAUSTED": "refuse", "GLUONLAB_MEM_LIMIT": "1G",
           "GLUONLAB_CPU_LIMIT": "1", "GLUONLAB_PIDS_LIMIT": "512", "GLUONLAB_SPAWN_TIMEOUT": "180"}
    lab = None
    try:
        lab = start_lab(cluster, hub_image.tags[0], notebook_image.tags[0], env)
        yield lab
    finally:
        artifacts = REPO_ROOT / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        try:
            (artifacts / "swarm-hub.log").write_text(lab.logs() if lab else "")
        except docker.errors.DockerException:
            pass
        cluster.down()
