"""A real 3-node Docker Swarm on one machine: a manager and two workers, each a Docker engine in
a container (Docker-in-Docker), with fake GPUs as node generic resources.

The flags are the ones that work in our CI sandbox (shared/notes/swarm-on-ci.md): no
--privileged (the sandbox lacks CAP_SYS_RESOURCE), every other capability, no seccomp/AppArmor
confinement, the host's cgroups, a named volume for each inner engine's /var/lib/docker
(overlay2 instead of vfs), an address pool that does not collide with the sandbox's routes, and
no VIPs (no IPVS in this kernel: services use dnsrr). Each inner engine also listens on TCP on
the test's own bridge network, so the tests use the docker SDK against every node.

The fake GPUs prove Swarm's scheduling and the hub's bookkeeping (which UUID went to whom, two
users never on one GPU), not GPU access: there is no NVIDIA runtime in these nodes.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tarfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import docker
import requests

from labclient import REPO_ROOT, HubClient, wait_until

sys.path.insert(0, str(REPO_ROOT / "hub"))
from gluonlab_hub import node_guard  # noqa: E402

NODE_DIR = Path(__file__).resolve().parent / "node"
LOCAL_BASE = os.environ.get("GLUONLAB_LOCAL_BASE", "gluonlab/debian-base:bookworm")
ADDRESS_POOL = "172.31.0.0/16"
GPU_RESOURCE = "NVIDIA-GPU"
#: worker2 also has one MIG slice of this profile, registered as the docker_swarm role does
#: (swarm_spawner.mig_resource): a GPU in MIG mode beside its whole one, as no real GPU can be.
MIG_PROFILE = "1g.10gb"
#: Seats per worker GPU, registered as the docker_swarm role does with docker_swarm_gpu_seats: 2
#: (swarm_spawner.seat_resource): an exclusive hub uses seat 1 only, a shared one both.
SEATS_PER_GPU = 2
#: Inner engines listen here on the test bridge network only (plain TCP: test nodes, no secrets).
ENGINE_PORT = 2375
#: Nodes heartbeat this often, so a killed worker is marked down within seconds (default 5 s).
HEARTBEAT_S = 2


def node_image(host: docker.DockerClient) -> str:
    """The node image, built once per content of its Dockerfile and base (cached under that tag)."""
    digest = hashlib.sha256((NODE_DIR / "Dockerfile").read_bytes() + LOCAL_BASE.encode()).hexdigest()[:12]
    tag = f"gluonlab-swarmci/node:{digest}"
    try:
        host.images.get(tag)
    except docker.errors.ImageNotFound:
        host.images.build(path=str(NODE_DIR), tag=tag, buildargs={"NODE_BASE_IMAGE": LOCAL_BASE}, rm=True,
                          labels={"gluonlab.role": "swarm-test-node"})
    return tag


@dataclass
class Node:
    name: str
    hostname: str
    container: object
    ip: str
    gpus: list[str]
    #: MIG slice UUIDs (of MIG_PROFILE) the node offers.
    slices: list[str] = field(default_factory=list)

    @property
    def engine(self) -> docker.DockerClient:
        # The API version of the nodes' engine (Debian's docker.io 20.10), so no call is made before it is up.
        return docker.DockerClient(base_url=f"tcp://{self.ip}:{ENGINE_PORT}", version="1.41", timeout=120)


@dataclass
class SwarmCluster:
    host: docker.DockerClient
    gpus_per_worker: int = 1
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    nodes: dict[str, Node] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"gluonlab-swarmci-{self.run_id}"

    @property
    def manager(self) -> Node:
        return self.nodes["manager"]

    @property
    def workers(self) -> list[Node]:
        return [n for key, n in self.nodes.items() if key != "manager"]

    def up(self, timeout: float = 120) -> "SwarmCluster":
        image = node_image(self.host)
        self.host.networks.create(self.prefix, driver="bridge", labels={"gluonlab.role": "swarm-test"})
        for key in ("manager", "worker1", "worker2"):
            gpus = [] if key == "manager" else [f"GPU-fake-{self.run_id}-{key}-{i}" for i in range(self.gpus_per_worker)]
            slices = [f"MIG-fake-{self.run_id}-{key}-0"] if key == "worker2" else []
            self.nodes[key] = self._start_node(image, key, gpus, slices)
        for node in self.nodes.values():
            _wait(lambda n=node: _pings(n.engine), timeout, f"the engine in {node.name}")
        manager = self.manager.engine
        manager.swarm.init(advertise_addr=self.manager.ip, default_addr_pool=[ADDRESS_POOL], subnet_size=24,
                           dispatcher_heartbeat_period=HEARTBEAT_S * 10**9)
        token = manager.swarm.attrs["JoinTokens"]["Worker"]
        for node in self.workers:
            node.engine.swarm.join(remote_addrs=[f"{self.manager.ip}:2377"], join_token=token, advertise_addr=node.ip)
        _wait(lambda: len([n for n in manager.nodes.list() if n.attrs["Status"]["State"] == "ready"]) == 3,
              timeout, "three ready nodes")
        # Nothing publishes through the routing mesh, and its VIPs need IPVS, which this kernel lacks.
        manager.networks.get("ingress").remove()
        return self

    def _start_node(self, image: str, key: str, gpus: list[str], slices: list[str]) -> Node:
        name = f"{self.prefix}-{key}"
        command = ["--host=unix:///var/run/docker.sock", f"--host=tcp://0.0.0.0:{ENGINE_PORT}",
                   # What the Ansible role writes in the workers' daemon.json: the service API of
                   # this engine has no per-service no-new-privileges.
                   "--no-new-privileges"]
        command += [f"--node-generic-resource={GPU_RESOURCE}={gpu}" for gpu in gpus]
        command += [f"--node-generic-resource={GPU_RESOURCE}-SEAT-{seat}={gpu}" for gpu in gpus
                    for seat in range(2, SEATS_PER_GPU + 1)]
        command += [f"--node-generic-resource={GPU_RESOURCE}-MIG-{MIG_PROFILE}={uuid}" for uuid in slices]
        api = self.host.api
        # The host's loop devices, for the sized homes the node guard mounts (gluonlab_hub/
        # node_homes.py): a node's /dev is its own, so only devices that exist now are in it.
        loops = sorted(str(p) for p in Path("/dev").glob("loop*") if p.is_block_device() or p.name == "loop-control")
        host_config = api.create_host_config(
            devices=[f"{d}:{d}:rwm" for d in loops],
            cap_add=["ALL"], cap_drop=["SYS_RESOURCE"],
            security_opt=["seccomp=unconfined", "apparmor=unconfined"], cgroupns="host",
            binds={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
                   f"{name}-data": {"bind": "/var/lib/docker", "mode": "rw"}},
            network_mode=self.prefix)
        # The CLI's --security-opt systempaths=unconfined, which the SDK does not know: no /proc paths
        # masked or read-only (the inner engine mounts its containers' /proc).
        host_config.update(MaskedPaths=[], ReadonlyPaths=[])
        created = api.create_container(image, command, name=name, hostname=key, host_config=host_config,
                                       labels={"gluonlab.role": "swarm-test-node"})
        container = self.host.containers.get(created["Id"])
        container.start()
        container.reload()
        ip = container.attrs["NetworkSettings"]["Networks"][self.prefix]["IPAddress"]
        return Node(name=name, hostname=key, container=container, ip=ip, gpus=gpus, slices=slices)

    def load_image(self, tag: str, nodes: list[Node]) -> None:
        """Copy *tag* from the host's engine into each of *nodes* (docker save | docker load),
        one save streamed to all of them at once."""
        stream = self.host.api.get_image(tag, chunk_size=4 << 20)  # by name: the tar keeps the tag
        pipes = [os.pipe() for _ in nodes]
        errors: list[BaseException] = []

        def load(node: Node, read_fd: int) -> None:
            try:
                with os.fdopen(read_fd, "rb") as source:
                    node.engine.api.load_image(iter(lambda: source.read(4 << 20), b""))
            except BaseException as error:  # noqa: BLE001  (re-raised below, in the test's thread)
                errors.append(error)

        threads = [threading.Thread(target=load, args=(n, r)) for n, (r, _) in zip(nodes, pipes)]
        for thread in threads:
            thread.start()
        sinks = [os.fdopen(w, "wb") for _, w in pipes]
        try:
            for chunk in stream:
                for sink in sinks:
                    sink.write(chunk)
        finally:
            for sink in sinks:
                sink.close()
            for thread in threads:
                thread.join()
        if errors:
            raise errors[0]
        for node in nodes:
            node.engine.images.get(tag)  # loaded, or ImageNotFound names it

    def node_of_task(self, service_name: str) -> str:
        """Hostname of the node running *service_name*'s task (the manager's view)."""
        manager = self.manager.engine
        tasks = manager.api.tasks(filters={"service": service_name, "desired-state": "running"})
        return manager.api.inspect_node(tasks[0]["NodeID"])["Description"]["Hostname"]

    def down(self) -> None:
        for node in self.nodes.values():
            try:
                node.container.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
        for node in self.nodes.values():
            try:
                self.host.volumes.get(f"{node.name}-data").remove(force=True)
            except docker.errors.NotFound:
                pass
        try:
            self.host.networks.get(self.prefix).remove()
        except docker.errors.NotFound:
            pass


def _pings(engine: docker.DockerClient) -> bool:
    try:
        return engine.ping()
    except (docker.errors.DockerException, OSError):
        return False


def _wait(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


# --- a hub on the cluster (tests/swarm and bench/swarm_rush.py) ---------------------------------

INSTANCE = "swarmci"
HUB_PORT = 8000


class SwarmLab:
    def __init__(self, cluster: SwarmCluster, env: dict[str, str], files: dict[str, str] | None = None):
        self.cluster = cluster
        #: Files put into the hub's container before it starts ({absolute path: text}).
        self.files = dict(files or {})
        self.admin_password = uuid.uuid4().hex
        self.env = {
            "GLUONLAB_SPAWNER_BACKEND": "swarm", "GLUONLAB_INSTANCE": INSTANCE,
            "GLUONLAB_ADMIN_PASSWORD": self.admin_password, "GLUONLAB_HUB_HOST": "hub",
            "GLUONLAB_SWARM_GPU_RESOURCE": GPU_RESOURCE, **env,
        }
        self.hub = None
        #: The logs of hub containers replace_hub removed.
        self.past_logs = ""

    @property
    def url(self) -> str:
        return f"http://{self.cluster.manager.ip}:{HUB_PORT}"

    def start_hub(self, image: str) -> None:
        manager = self.cluster.manager.engine
        self.hub = manager.containers.create(
            image, name="hub", network=INSTANCE, environment=self.env,
            ports={"8000/tcp": HUB_PORT},
            # The state (database, secrets) on a volume, as docker-compose.yml keeps it: a hub
            # container replaced with other settings (replace_hub) finds its users and servers.
            volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock"},
                     f"{INSTANCE}-hub-state": {"bind": "/srv/jupyterhub/state"}},
            # As docker-compose.yml runs it: a hub that crashes comes back and finds its servers.
            restart_policy={"Name": "unless-stopped"})
        for path, text in self.files.items():
            assert self.hub.put_archive(os.path.dirname(path), tar_of({os.path.basename(path): text.encode()}))
        self.hub.start()
        self.wait_for_hub()

    def wait_for_hub(self, timeout: float = 120) -> None:
        def answers():
            self.hub.reload()
            if self.hub.status in ("exited", "dead"):
                state = {k: self.hub.attrs["State"].get(k) for k in ("ExitCode", "OOMKilled", "Error", "FinishedAt")}
                raise RuntimeError(f"the hub stopped ({state}): {self.logs()[-8000:]}")
            return self.hub.status == "running" and requests.get(f"{self.url}/hub/api", timeout=5).ok
        wait_until(answers, timeout, what="the hub to answer through its proxy")
        if self.hub.attrs.get("RestartCount"):
            # Said, not hidden: the hub crashed and its restart policy brought it back (the image's
            # PYTHONFAULTHANDLER put the stacks in its log).
            crash = self._current_logs().split("Fatal Python error", 1)
            warnings.warn(f"the hub restarted itself {self.hub.attrs['RestartCount']} time(s)"
                          + (f": Fatal Python error{crash[1][:3000]}" if len(crash) > 1 else ""))

    def restart_hub(self) -> None:
        self.hub.restart(timeout=30)
        self.wait_for_hub()

    def replace_hub(self, env: dict[str, str]) -> None:
        """A new hub container with *env* changed, as an admin's ``docker compose up -d`` after an
        edit of .env: the old one stopped and removed, its state volume kept."""
        image = self.hub.image.id
        self.hub.stop(timeout=30)
        self.past_logs += self._current_logs()
        self.hub.remove()
        self.env.update(env)
        self.start_hub(image)

    def logs(self) -> str:
        return self.past_logs + self._current_logs()

    def _current_logs(self) -> str:
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


def tar_of(files: dict[str, bytes]) -> bytes:
    """A tar of *files* ({relative path: bytes}), owned by root, mode 0644: for put_archive."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def start_lab(cluster: SwarmCluster, hub_tag: str, notebook_tag: str, env: dict[str, str],
              files: dict[str, str] | None = None) -> SwarmLab:
    """The cluster up, the hub image on the manager and the notebook image on the workers, the lab
    network (an attachable overlay, as the docker_swarm role makes it) with its anchor, and the hub
    on the manager with *env* (and *files* in its container). The caller calls ``cluster.down()``
    whatever happens."""
    lab = SwarmLab(cluster, env, files)
    cluster.up()
    # The hub image on every node: the hub on the manager, the node guard on the workers.
    cluster.load_image(hub_tag, list(cluster.nodes.values()))
    cluster.load_image(notebook_tag, cluster.workers)
    manager = cluster.manager.engine
    # Not encrypted, unlike the docker_swarm role's default: this CI kernel has no AES-GCM AEAD
    # for IPsec, so an encrypted overlay drops all traffic between nodes (the role's probe,
    # gluonlab-esp-probe.sh, refuses such a kernel; tests/ansible/test_swarm_wiring.py runs it).
    manager.networks.create(INSTANCE, driver="overlay", attachable=True)
    anchor_network(manager, {"manager": hub_tag, "worker": notebook_tag})
    lab.env["GLUONLAB_NOTEBOOK_IMAGE"] = notebook_tag
    for node in cluster.workers:
        # As the docker_swarm role runs it (tasks/node_guard.yml): one per worker, beside Swarm.
        node.engine.containers.run(**node_guard.guard_container_kwargs(
            hub_tag, {k: v for k, v in lab.env.items() if k in NODE_GUARD_SETTINGS}, f"{INSTANCE}-node-guard"))
    lab.start_hub(hub_tag)
    return lab


#: The settings the node guard reads (the rest stay with the hub).
NODE_GUARD_SETTINGS = ("GLUONLAB_INSTANCE", "GLUONLAB_HUB_HOST", "GLUONLAB_USER_INTERNET", "GLUONLAB_NETWORK_ISOLATION",
                       "GLUONLAB_NETGUARD_INTERVAL")


def node_guard_status(node: Node) -> dict:
    """What the node guard on *node* reports for the servers there (its --status, JSON)."""
    guard = node.engine.containers.get(f"{INSTANCE}-node-guard")
    result = guard.exec_run(["python3", "-m", "gluonlab_hub.node_guard", "--status"])
    return json.loads(result.output.decode().strip().splitlines()[-1])
