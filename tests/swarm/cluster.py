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
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import docker

NODE_DIR = Path(__file__).resolve().parent / "node"
LOCAL_BASE = os.environ.get("GLUONLAB_LOCAL_BASE", "gluonlab/debian-base:bookworm")
ADDRESS_POOL = "172.31.0.0/16"
GPU_RESOURCE = "NVIDIA-GPU"
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
            self.nodes[key] = self._start_node(image, key, gpus)
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

    def _start_node(self, image: str, key: str, gpus: list[str]) -> Node:
        name = f"{self.prefix}-{key}"
        command = ["--host=unix:///var/run/docker.sock", f"--host=tcp://0.0.0.0:{ENGINE_PORT}",
                   # What the Ansible role writes in the workers' daemon.json: the service API of
                   # this engine has no per-service no-new-privileges.
                   "--no-new-privileges"]
        command += [f"--node-generic-resource={GPU_RESOURCE}={gpu}" for gpu in gpus]
        api = self.host.api
        host_config = api.create_host_config(
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
        return Node(name=name, hostname=key, container=container, ip=ip, gpus=gpus)

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
