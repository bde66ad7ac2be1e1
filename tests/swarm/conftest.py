"""Fixtures for tests/swarm: a 3-node Docker Swarm (tests/swarm/cluster.py) with the hub image on
the manager and the notebook image on the workers, and a hub running on the manager with
GLUONLAB_SPAWNER_BACKEND=swarm, reached from the test over the nodes' bridge network."""
from __future__ import annotations

import docker
import pytest

from cluster import SwarmCluster, start_lab
from labclient import REPO_ROOT



#: Three kinds of server, as a room with GPU, CPU and MIG-slice seats has them: a start that names
#: no profile takes the first (one whole GPU, what these tests start by default).
PROFILES_PATH = "/srv/gluonlab-profiles.yml"
PROFILES = """\
profiles:
  - name: gpu
    display_name: {zh: GPU 座位, en: GPU seat}
    variant: cpu
    gpu: 1
  - name: cpu
    display_name: {zh: CPU 座位, en: CPU seat}
    variant: cpu
    mem_limit: 768m
  - name: slice
    display_name: {zh: GPU 切片, en: GPU slice}
    variant: cpu
    gpu: 1g.10gb
"""


@pytest.fixture(scope="module")
def swarm_lab(docker_client, hub_image, notebook_image):
    cluster = SwarmCluster(docker_client)
    env = {"GLUONLAB_GPU_POLICY": "exclusive", "GLUONLAB_GPU_EXHAUSTED": "refuse", "GLUONLAB_MEM_LIMIT": "1G",
           "GLUONLAB_CPU_LIMIT": "1", "GLUONLAB_PIDS_LIMIT": "512", "GLUONLAB_SPAWN_TIMEOUT": "180",
           # Node guards check every 3 s, so a server waits 14 s for a guard that is not there.
           "GLUONLAB_NETGUARD_INTERVAL": "3",
           # Sized homes, mounted by the node guards (gluonlab_hub/node_homes.py); small, so a
           # test can fill one.
           "GLUONLAB_HOME_SIZE": "64m",
           # Each worker's own copy of the course data (gluonlab_hub/course_data.py on Swarm).
           "GLUONLAB_COURSE_DATA_VOLUME": "swarmci-course-data",
           "GLUONLAB_PROFILES_FILE": PROFILES_PATH}
    lab = None
    try:
        lab = start_lab(cluster, hub_image.tags[0], notebook_image.tags[0], env, {PROFILES_PATH: PROFILES})
        yield lab
    finally:
        artifacts = REPO_ROOT / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        try:
            (artifacts / "swarm-hub.log").write_text(lab.logs() if lab else "")
        except docker.errors.DockerException:
            pass
        cluster.down()
