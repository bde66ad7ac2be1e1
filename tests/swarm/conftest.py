"""Fixtures for tests/swarm: a 3-node Docker Swarm (tests/swarm/cluster.py) with the hub image on
the manager and the notebook image on the workers, and a hub running on the manager with
GLUONLAB_SPAWNER_BACKEND=swarm, reached from the test over the nodes' bridge network."""
from __future__ import annotations

import uuid

import docker
import pytest
import requests

from cluster import GPU_RESOURCE, SwarmCluster, _wait
from labclient import REPO_ROOT, HubClient, wait_until

INSTANCE = "swarmci"
HUB_PORT = 8000


class SwarmLab:
    def __init__(self, cluster: SwarmCluster, env: dict[str, str]):
        self.cluster = cluster
        self.admin_password = uuid.uuid4().hex
        self.env = {
            "GLUONLAB_SPAWNER_BACKEND": "swarm", "GLUONLAB_INSTANCE": INSTANCE,
            "GLUONLAB_ADMIN_PASSWORD": self.admin_password, "GLUONLAB_HUB_HOST": "hub",
            "GLUONLAB_SWARM_GPU_RESOURCE": GPU_RESOURCE, **env,
        }
        self.hub = None

    @property
    def url(self) -> str:
        return f"http://{self.cluster.manager.ip}:{HUB_PORT}"

    def start_hub(self, image: str) -> None:
        manager = self.cluster.manager.engine
        self.hub = manager.containers.run(
            image, name="hub", detach=True, network=INSTANCE, environment=self.env,
            ports={"8000/tcp": HUB_PORT}, volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock"}})
        self.wait_for_hub()

    def wait_for_hub(self, timeout: float = 120) -> None:
        def answers():
            self.hub.reload()
            if self.hub.status != "running":
                raise RuntimeError(f"the hub stopped: {self.logs()[-3000:]}")
            return requests.get(f"{self.url}/hub/api", timeout=5).ok
        wait_until(answers, timeout, what="the hub to answer through its proxy")

    def restart_hub(self) -> None:
        self.hub.restart(timeout=30)
        self.wait_for_hub()

    def logs(self) -> str:
        return self.hub.logs().decode(errors="replace") if self.hub else ""

    def admin(self) -> HubClient:
        client = HubClient(self.url)
        assert client.login("admin", self.admin_password).status_code == 302
        client.create_token("admin")
        return client

    def service_name(self, username: str) -> str:
        return f"{INSTANCE}-{username}"

    def container_of(self, username: str):
        """The user's container, from the engine of the node its task runs on."""
        hostname = self.cluster.node_of_task(self.service_name(username))
        node = self.cluster.nodes[hostname]
        found = node.engine.containers.list(filters={"label": f"gluonlab.user={username}"})
        assert len(found) == 1, f"{username}: {found}"
        return found[0]


def anchor_network(manager: docker.DockerClient, images: dict[str, str], timeout: float = 120) -> None:
    """One idle task on every node on the lab network, as the Ansible role docker_swarm runs:
    a worker's first attachment to the network updates its node object, and Swarm's constraint
    enforcer then rejects the GPU tasks on it (swarm_spawner.ENFORCER_REJECTED); and a node with
    nothing on the network leaves it, so the hub's container could not be restarted ("network
    not found"). *images*: role -> an image that node role holds (the test loads the notebook
    image on the workers only; the role runs one global service, every node has the image)."""
    for role, image in images.items():
        manager.services.create(
            image, ["python3", "-c", "import signal; signal.pause()"], name=f"{INSTANCE}-network-anchor-{role}",
            networks=[INSTANCE], mode=docker.types.ServiceMode("global"), constraints=[f"node.role=={role}"],
            endpoint_spec=docker.types.EndpointSpec(mode="dnsrr"), labels={"gluonlab.role": "network-anchor"},
            # The image's health check asks for a Jupyter server, which this task does not run; a
            # task with a health check counts as running only once healthy.
            healthcheck=docker.types.Healthcheck(test=["NONE"]))

    def running() -> bool:
        tasks = [t for role in images for t in manager.api.tasks(
            filters={"service": f"{INSTANCE}-network-anchor-{role}", "desired-state": "running"})]
        return len([t for t in tasks if t["Status"]["State"] == "running"]) == 3
    _wait(running, timeout, "the network anchor on every node")


@pytest.fixture(scope="module")
def swarm_lab(docker_client, hub_image, notebook_image):
    cluster = SwarmCluster(docker_client)
    lab = SwarmLab(cluster, {"GLUONLAB_GPU_POLICY": "exclusive", "GLUONLAB_GPU_EXHAUSTED": "refuse",
                             "GLUONLAB_MEM_LIMIT": "1G", "GLUONLAB_CPU_LIMIT": "1", "GLUONLAB_PIDS_LIMIT": "512",
                             "GLUONLAB_SPAWN_TIMEOUT": "180"})
    try:
        cluster.up()
        hub_tag, notebook_tag = hub_image.tags[0], notebook_image.tags[0]
        cluster.load_image(hub_tag, [cluster.manager])
        cluster.load_image(notebook_tag, cluster.workers)
        # The lab network: an overlay the hub's container attaches to (Ansible's docker_swarm role
        # creates it on a real cluster).
        manager = cluster.manager.engine
        manager.networks.create(INSTANCE, driver="overlay", attachable=True)
        anchor_network(manager, {"manager": hub_tag, "worker": notebook_tag})
        lab.env["GLUONLAB_NOTEBOOK_IMAGE"] = notebook_tag
        lab.start_hub(hub_tag)
        yield lab
    finally:
        artifacts = REPO_ROOT / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        try:
            (artifacts / "swarm-hub.log").write_text(lab.logs())
        except docker.errors.DockerException:
            pass
        cluster.down()
