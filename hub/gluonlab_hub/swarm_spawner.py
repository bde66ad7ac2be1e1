"""Users' servers on a Docker Swarm: one hub URL for a room spread over several GPU hosts.

With ``GLUONLAB_SPAWNER_BACKEND=swarm`` the hub runs on a Swarm manager and each user's server
is a one-task Swarm service (dockerspawner's SwarmSpawner) on a worker node. Swarm places the
services; this module schedules nothing itself.

What the single-host spawner guarantees (spawner.py) holds here too:

* Hardening: no capabilities (CapabilityDrop ALL), a pids limit (Limits.Pids), memory and CPU
  limits, /dev/shm as a sized tmpfs, no health check, never privileged (services cannot be); the
  root file system read-only with /tmp a sized tmpfs (GLUONLAB_TMP_SIZE) and the container log
  capped, as homes.disk_host_config does on one host. Sized homes (GLUONLAB_HOME_SIZE): the home
  volume is created with the size as a label, and the node guard mounts a file system of that
  size onto it inside the server before letting it start (node_homes.py); without a node guard
  (GLUONLAB_NETWORK_ISOLATION=0) homes are plain volumes, and the hub says so at start.
  ``no-new-privileges`` has no field in the service API of Docker 20.10 (API 1.41): the workers'
  dockerd sets it for every container (daemon.json ``"no-new-privileges": true``, written by the
  Ansible role docker_swarm; the Swarm test checks it in a user's container).
* CPU-only servers get ``NVIDIA_VISIBLE_DEVICES=void``.
* GPUs: the service reserves one ``NVIDIA-GPU`` generic resource (GLUONLAB_SWARM_GPU_RESOURCE);
  Swarm hands the task one GPU UUID that no other task holds (exclusive policy), and the NVIDIA
  runtime (``swarm-resource`` in its config.toml) gives the container that GPU. The UUID is read
  back from the task (its GenericResources) into the hub's :class:`SwarmGpuLedger`, which the
  admin GPU page and the ``gluonlab_gpu_assigned`` gauge read, and the server's start command
  copies it from ``DOCKER_RESOURCE_<resource>`` into GLUONLAB_GPUS / GLUONLAB_GPU_DESCRIPTION for
  the terminal banner. When every GPU is taken: refused with a message, or (GLUONLAB_GPU_EXHAUSTED
  =cpu) started again without one.
* The shared policy as generic resources: a named resource goes to one task at a time, so a GPU
  that N users may share is registered as N *seats*, one kind each, all with the GPU's UUID as
  value: seat 1 is ``NVIDIA-GPU`` itself and seat n ``NVIDIA-GPU-SEAT-<n>`` (seat_resource; the
  docker_swarm role's ``docker_swarm_gpu_seats``). Each value is the GPU's real UUID, so the NVIDIA
  runtime reads it as it reads an exclusive one. A shared start reserves the lowest seat with
  one free where the user may run (choose_seat: seat 1 on every GPU fills before any seat 2, so
  users spread over the GPUs), and Swarm picks the GPU and node among the free values of that
  kind. The exclusive policy reserves seat 1 only, so a cluster registered for
  sharing serves an exclusive hub unchanged. The seats per GPU are the nodes' registration, not
  GLUONLAB_USERS_PER_GPU (that is one host's), as the GPUs are the nodes' and not GLUONLAB_GPUS.
* Server profiles (spawner.ProfileChoice, as on one host): the chosen profile's image and limits,
  and its whole GPUs as one reservation of N (Swarm finds them on one node). A MIG slice is a
  generic resource of its own kind per profile, ``<resource>-MIG-<profile>`` (the docker_swarm
  role registers each slice of a worker's GPUs in MIG mode so, and lists every kind in the NVIDIA
  runtime's ``swarm-resource``): a MIG profile reserves one of its kind, and Swarm hands the task
  one slice's ``MIG-`` UUID that no other task holds. A GPU in MIG mode is never registered
  whole, so whole-GPU and MIG reservations never meet on one GPU. A profile whose slices no node
  offers is refused at hub start (swarm_profile_problems).
* Network isolation: the node guard on each worker (node_guard.py) writes the server's firewall
  rules inside its network namespace; the start command waits for them (``node_guard_wait_s``)
  and a server whose node has no guard running does not start, with a message naming the node.
* Content sync, the login-rush throttle and the culler are the image's and the hub's, unchanged.

Homes follow the user by pinning: a home is a local Docker volume on the node where the user's
first server ran, so the spawner keeps that node's hostname in its state (``home_node``, saved in
the hub database) and every later start carries ``node.hostname==<home_node>``. Pinning is the
default because it needs nothing beyond Docker (no NFS server to run and secure, no shared disk
that every worker's I/O waits on) and keeps a home's I/O local to its GPU. Its price: a user
waits for a GPU on their own node even when another node has one free.

A node lost: poll() reports the server of a user whose node is down or drained as stopped, so
the hub and everyone else carry on. The next start says plainly that the files are on the lost
node and forgets the pin; the start after that lands on any node with an EMPTY home (the files
come back when the node does). An admin moves a user to another node by copying the volume and
``PUT /hub/api/gluonlab/home-node/<user>`` (:class:`HomeNodeAPIHandler`).

A hub restart finds the services again (their names and ids are in the spawner state, as with
containers) and the ledger is rebuilt from the services' tasks.
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Mapping

import docker
from docker.types import ContainerSpec, DriverConfig, EndpointSpec, Mount, Placement, Resources, RestartPolicy
from docker.types import TaskTemplate
from dockerspawner import SwarmSpawner
from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.scopes import needs_scope
from tornado import web
from traitlets import Float, Instance, Integer, List, Unicode, default

from . import gpus as gpu_mod
from .gpus import Gpu, GpuAllocator, GpuSetupError
from .course_data import COURSE_DATA_MOUNT
from .homes import LOG_CONFIG, NO_ROOM, SIZE_LABEL, parse_size
from .node_guard import GATE_EXIT, GATE_FILE
from .node_homes import HOME_FAILED_EXIT, NO_ROOM_EXIT, REFUSED_FILE
from .spawner import NO_HEALTHCHECK, ProfileChoice, ServerExited, class_executor, gpu_visibility_environment
from .spawner import wait_until_listening, within_start_timeout

log = logging.getLogger("gluonlab.swarm")

#: The notebook image's CMD (images/notebook/Dockerfile; tests/unit/test_swarm_spawner.py
#: compares them). Named here because the manager need not hold the image to inspect it.
NOTEBOOK_CMD = ["start-notebook.sh"]
#: Task states on the way to running (Swarm's own names).
STARTING_STATES = {"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting"}
#: How often a starting service's task is looked at.
TASK_POLL_INTERVAL_S = 0.5
#: How long a new service may have no task yet: Swarm's orchestrator creates it a moment after
#: the service (seen: a start 6 ms after the create found none, on a busy 2-core machine).
TASK_APPEAR_TIMEOUT_S = 30.0
#: The scheduler's words for a task no node can take (swarmkit: "no suitable node (...)").
NO_SUITABLE_NODE = "no suitable node"
INSUFFICIENT_RESOURCES = "insufficient resources"
#: What Swarm's constraint enforcer writes when it rejects a task. Its resource check is inverted
#: for generic resources (swarmkit constraintenforcer: `if HasResource(...)` removes the task
#: when the GPU IS there), so any update of a node object (its first network attachment, a
#: label, a status change) rejects the GPU tasks on that node. A start that meets it tries again:
#: the update that caused it is done by then (README "One server or several", limits).
ENFORCER_REJECTED = "assigned node no longer meets constraints"
#: Starts tried again after such a rejection.
ENFORCER_RETRIES = 2
#: Looks at a server's service before a failure to look is the hub's answer (poll()).
POLL_TRIES = 3
POLL_RETRY_S = 1.0
#: How long a task may stay unplaceable before the attendee is told. A GPU given back a moment
#: ago (a server just stopped) is held until that task has shut down on its node, a few seconds.
PLACEMENT_GRACE_S = 20.0

# The start command. First, where a node guard keeps servers apart (GLUONLAB_NETWORK_ISOLATION=1),
# wait for it to say this server's rules (and its sized home) are in place (node_guard.GATE_FILE),
# so nothing listens before them; give up with GATE_EXIT when it does not come, or with the
# status and reason the guard wrote when it refused (node_homes.REFUSED_FILE). Then copy the GPU
# Swarm picked into the variables the banner shows and run the image's command, without the
# gate's variables. Python, not sh: the GPU variable's name has a '-', and dash drops such
# variables from the environment of what it runs.
_START_SCRIPT = f"""\
import os, sys, time
gate = os.environ.pop('GLUONLAB_NODE_GUARD_GATE', '')
refused = os.environ.pop('GLUONLAB_NODE_GUARD_REFUSED', '')
wait = float(os.environ.pop('GLUONLAB_NODE_GUARD_WAIT', '0') or 0)
deadline = time.monotonic() + wait
while gate and not os.path.exists(gate):
    if refused and os.path.exists(refused):
        status, _, reason = open(refused).read().strip().partition(' ')
        print(f'gluonlab: the node guard did not let this server start: {{reason}}', file=sys.stderr)
        sys.exit(int(status) if status.isdigit() else 1)
    if time.monotonic() > deadline:
        print(f'gluonlab: no node guard put this server\\'s network rules in place within {{wait:.0f}} s: '
              'not starting without them', file=sys.stderr)
        sys.exit({GATE_EXIT})
    time.sleep(0.1)
gpu = os.environ.get('DOCKER_RESOURCE_' + sys.argv[1].upper(), '')
if gpu:
    what = 'MIG slice' if gpu.startswith('MIG-') else 'GPU'
    os.environ.update(GLUONLAB_GPUS=gpu, GLUONLAB_GPU_DESCRIPTION=f'{{what}} {{gpu}} (picked by Swarm)')
os.execvp(sys.argv[2], sys.argv[2:])
"""


class NodeUnavailable(RuntimeError):
    """The node holding the user's home is down, drained or gone; ``str()`` is for the attendee."""

    def __init__(self, username: str, node: str, why: str) -> None:
        self.node = node
        super().__init__(
            f"你的文件所在的节点 {node} 不可用（{why}）。再次启动将在其他节点上打开一个空的主目录；"
            f"你的文件留在 {node} 上，节点恢复后讲师可以把你移回。/ "
            f"The node that holds your files, {node}, is unavailable ({why}). Start again to get a new "
            f"server on another node with an EMPTY home folder; your files stay on {node} and the "
            f"instructor can move you back when it returns."
        )


class ServiceNotPlaced(RuntimeError):
    """Swarm could not place or run the user's service; ``str()`` is for the attendee."""


class HomeMoveRefused(ValueError):
    """An admin's move of a user's home pin cannot be done; ``str()`` says why."""


# ------------------------------------------------------------------ reading Swarm objects


def mig_resource(resource: str, profile: str) -> str:
    """The generic resource kind of one MIG slice of *profile*: ``NVIDIA-GPU-MIG-1g.10gb``."""
    return f"{resource}-MIG-{profile}"


def seat_resource(resource: str, seat: int) -> str:
    """The generic resource kind of seat *seat* (1, 2, ...) of a shared GPU: *resource* itself for
    the first (what the exclusive policy reserves), ``NVIDIA-GPU-SEAT-2`` for the second."""
    return resource if seat == 1 else f"{resource}-SEAT-{seat}"


def _seat(kind: str, resource: str) -> int | None:
    """The seat number of a whole GPU's kind (seat_resource), None for any other kind."""
    if kind == resource:
        return 1
    prefix = f"{resource}-SEAT-"
    number = kind[len(prefix):] if kind.startswith(prefix) else ""
    return int(number) if number.isdigit() and int(number) >= 2 else None


def resource_variable(kind: str) -> str:
    """The variable Swarm sets in a task for its generic resources of *kind* (swarmkit's
    EnvFormat: ``DOCKER_RESOURCE_`` and the kind, upper-cased), which the NVIDIA runtime's
    ``swarm-resource`` names."""
    return f"DOCKER_RESOURCE_{kind}".upper()


def _gpu_kind(kind: str, resource: str) -> str | None:
    """"" for a whole GPU's kind (any of its seats), the MIG profile for a slice's, None for
    anything else."""
    if _seat(kind, resource) is not None:
        return ""
    prefix = mig_resource(resource, "")
    if kind.startswith(prefix) and gpu_mod.MIG_PROFILE_RE.match(kind[len(prefix):]):
        return kind[len(prefix):]
    return None


def _named_resources(node: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """(kind, value) of each named generic resource *node* advertises."""
    for item in ((node.get("Description") or {}).get("Resources") or {}).get("GenericResources") or []:
        named = item.get("NamedResourceSpec") or {}
        if named.get("Kind") and named.get("Value"):
            yield named["Kind"], named["Value"]


def _hostname(node: Mapping[str, Any]) -> str:
    return (node.get("Description") or {}).get("Hostname", node.get("ID", "?"))


def node_gpus(nodes: Iterable[Mapping[str, Any]], resource: str) -> list[Gpu]:
    """The GPUs and MIG slices the nodes advertise as named generic resources *resource* (and its
    seats, seat_resource) and ``<resource>-MIG-<profile>`` (one UUID each), once each, in node
    hostname order. Counted resources (``NVIDIA-GPU=4``) name no GPU and are left out."""
    found: dict[str, Gpu] = {}
    for node in sorted(nodes, key=_hostname):
        for kind, value in _named_resources(node):
            profile = _gpu_kind(kind, resource)
            if profile is not None and value not in found:
                found[value] = Gpu(device_id=value, uuid=value, name=f"on {_hostname(node)}", mig_profile=profile)
    return list(found.values())


def gpu_seats(nodes: Iterable[Mapping[str, Any]], resource: str) -> dict[str, int]:
    """How many seats each whole GPU has: the seat kinds (seat_resource) the nodes register with
    its UUID. A GPU registered only as *resource* has one."""
    seats: Counter[str] = Counter()
    for node in nodes:
        for kind, value in _named_resources(node):
            if _seat(kind, resource) is not None:
                seats[value] += 1
    return dict(seats)


def choose_seat(nodes: Iterable[Mapping[str, Any]], tasks: Iterable[Mapping[str, Any]], resource: str, *,
                claims: Mapping[str, str], username: str, home_node: str = "") -> tuple[str, int]:
    """(the seat kind a shared start reserves, how many seats of it are free): the lowest seat
    with one free on the nodes that can take servers (only *home_node* when the user is pinned),
    so every GPU's first seat is taken before any GPU's second and users spread over the GPUs.

    Free = registered on those nodes - held by *tasks* (every task of the Swarm meant to run,
    which holds its generic resources) - *claims* (user -> kind of starts whose tasks hold
    nothing yet; *username*'s own is not counted). Nothing free: seat 1 with 0, and Swarm's
    refusal says the rest."""
    registered: dict[str, set[str]] = {}
    for node in nodes:
        if node_problem(node) or (home_node and _hostname(node) != home_node):
            continue
        for kind, value in _named_resources(node):
            if _seat(kind, resource) is not None:
                registered.setdefault(kind, set()).add(value)
    held: dict[str, set[str]] = {}
    holders: set[str] = set()
    for task in tasks:
        user = (((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Labels") or {}).get(gpu_mod.LABEL_USER)
        for item in task.get("GenericResources") or []:
            named = item.get("NamedResourceSpec") or {}
            if _seat(named.get("Kind", ""), resource) is not None:
                held.setdefault(named["Kind"], set()).add(named.get("Value", ""))
                holders.add(user)
    waiting = Counter(kind for user, kind in claims.items() if user != username and user not in holders)
    free = {kind: len(values - held.get(kind, set())) - waiting[kind] for kind, values in registered.items()}
    for kind in sorted(free, key=lambda k: _seat(k, resource) or 0):
        if free[kind] > 0:
            return kind, free[kind]
    return resource, 0


def assigned_gpus(task: Mapping[str, Any] | None, resource: str) -> list[str]:
    """The GPU or MIG slice UUIDs Swarm gave *task*: its GenericResources of kind *resource* or
    a MIG kind of it (the engine API's name for what swarmkit calls the task's assigned generic
    resources)."""
    values = []
    for item in (task or {}).get("GenericResources") or []:
        named = item.get("NamedResourceSpec") or {}
        if _gpu_kind(named.get("Kind", ""), resource) is not None and named.get("Value"):
            values.append(named["Value"])
    return values


def node_problem(node: Mapping[str, Any] | None) -> str:
    """Why user servers cannot run on *node* ("" when it can take them)."""
    if node is None:
        return "it has left the swarm"
    state = (node.get("Status") or {}).get("State", "unknown")
    if state != "ready":
        return f"its state is {state}"
    availability = (node.get("Spec") or {}).get("Availability", "active")
    if availability != "active":
        return f"the admin set it to {availability}"
    return ""


def pending_reason(task: Mapping[str, Any]) -> str:
    """The scheduler's reason a pending task has no node ("" while it is still being placed)."""
    status = task.get("Status") or {}
    err = status.get("Err") or ""
    return err if NO_SUITABLE_NODE in err else ""


# ------------------------------------------------------------------ the service spec


def service_create_kwargs(
    *,
    name: str,
    image: str,
    args: list[str],
    env: Mapping[str, str],
    labels: Mapping[str, str],
    home_volume: str,
    home_dir: str,
    network: str,
    mem_limit: int | None,
    cpu_limit: float | None,
    pids_limit: int,
    shm_size: str,
    constraints: Iterable[str],
    gpu_resource: str,
    want_gpu: bool,
    tmp_size: str = "0",
    course_data_volume: str = "",
    gpu_count: int = 1,
    home_size: int = 0,
) -> dict[str, Any]:
    """Arguments of docker-py's ``create_service`` for one user's server (module doc). ``tmp_size``
    as GLUONLAB_TMP_SIZE: a read-only root with /tmp that size, or "0" for Docker's writable root;
    ``course_data_volume``: that node's copy of the course data, read-only (course_data.py);
    ``gpu_count``: how many GPUs a GPU server reserves (a profile's ``gpu: N``; all on one node);
    ``home_size``: bytes of a sized home, which the node guard mounts (0: a plain volume)."""
    mounts = [
        # A new sized home's volume carries its size (node_homes.py); labels of a volume that
        # exists already are left as they are (a plain home stays plain: nothing hidden).
        Mount(target=home_dir, source=home_volume, type="volume",
              labels={SIZE_LABEL: str(home_size)} if home_size else None),
        # Services have no ShmSize: a tmpfs of the same size takes /dev/shm's place.
        Mount(target="/dev/shm", source=None, type="tmpfs", tmpfs_size=docker.utils.parse_bytes(shm_size)),
    ]
    tmp_bytes = parse_size(tmp_size)
    if tmp_bytes:
        # Sticky and world-writable like a real /tmp (the single host's Tmpfs mode=1777).
        mounts.append(Mount(target="/tmp", source=None, type="tmpfs", tmpfs_size=tmp_bytes, tmpfs_mode=0o1777))
    if course_data_volume:
        # no_copy: a node without the volume yet gets an empty one (the tutorials then download),
        # never a copy of the image's folder under the mount point.
        mounts.append(Mount(target=COURSE_DATA_MOUNT, source=course_data_volume, type="volume", read_only=True,
                            no_copy=True))
    container = ContainerSpec(
        image,
        args=args,
        env=dict(env),
        labels=dict(labels),
        mounts=mounts,
        cap_drop=["ALL"],
        healthcheck={"Test": NO_HEALTHCHECK["test"]},  # the engine API form
        read_only=bool(tmp_bytes),
    )
    resources = Resources(
        cpu_limit=int(cpu_limit * 1e9) if cpu_limit else None,
        mem_limit=mem_limit or None,
        generic_resources={gpu_resource: gpu_count} if want_gpu else None,
    )
    resources.setdefault("Limits", {})["Pids"] = pids_limit
    task = TaskTemplate(
        container_spec=container,
        resources=resources,
        # Like a container under DockerSpawner: a server that exits stays stopped, and the hub
        # notices (Swarm would otherwise restart it, or move it away from its home).
        restart_policy=RestartPolicy(condition="none"),
        placement=Placement(constraints=list(constraints)),
        networks=[network],
        log_driver=DriverConfig(LOG_CONFIG["Type"], LOG_CONFIG["Config"]),
    )
    return {
        "name": name,
        "task_template": task,
        # No virtual IP: the hub reaches the one task by the service's name (DNS round robin),
        # and kernels without IPVS have no VIP load balancer at all.
        "endpoint_spec": EndpointSpec(mode="dnsrr"),
        "labels": dict(labels),
    }


def start_args(resource: str, cmd: list[str]) -> list[str]:
    """The start command: *cmd* behind the script that waits for the node guard (when asked to)
    and copies Swarm's GPU into the banner's variables."""
    return ["python3", "-c", _START_SCRIPT, resource, *cmd]


# ------------------------------------------------------------------ the hub's GPU ledger


class SwarmGpuLedger(GpuAllocator):
    """Who holds which GPU on the Swarm. Swarm picks the GPU; the hub records what it picked
    (from the tasks), so the admin page and the gauge read the same object as on one host."""

    def __init__(self, gpus: Iterable[Gpu], policy: str, seats: Mapping[str, int] | None = None) -> None:
        #: Seats per whole GPU under the shared policy (gpu_seats: the nodes' registration).
        self.seats_by_gpu = dict(seats or {})
        super().__init__(gpus, policy=policy, users_per_gpu=max(self.seats_by_gpu.values(), default=1))

    def _capacity(self, g: Gpu) -> int:
        if g.is_slice or self.policy != "shared":
            return 1
        return self.seats_by_gpu.get(g.device_id, 1)

    def most_users_per_gpu(self) -> int:
        """The most users one whole GPU takes under this policy (for the attendee's message)."""
        return max((self._capacity(g) for g in self.gpus if not g.is_slice), default=1)

    def allocate(self, username: str) -> list[str]:
        raise RuntimeError("on Swarm the scheduler picks GPUs: record() what it picked")

    # A reservation of N GPUs is met on one node (Swarm places a task whole): seats for N > 1
    # are counted per node, not over the cluster. (node_gpus names each GPU "on <hostname>".)

    def free_seats(self, request: gpu_mod.GpuRequest = gpu_mod.ONE_GPU) -> int | None:
        if request.kind != "whole" or request.count <= 1 or self.policy == "none":
            return super().free_seats(request)
        with self._lock:
            load = self._load()
        return self._seats_per_node(request.count, [g for g in self.gpus if load[g.device_id] == 0])

    def seats(self, request: gpu_mod.GpuRequest = gpu_mod.ONE_GPU) -> int:
        if request.kind != "whole" or request.count <= 1 or self.policy == "none":
            return super().seats(request)
        return self._seats_per_node(request.count, self.gpus)

    @staticmethod
    def gpus_per_node(gpus: Iterable[Gpu]) -> dict[str, int]:
        """How many whole GPUs of *gpus* each node has (keyed by the GPU's "on <hostname>" name;
        MIG slices are not whole GPUs)."""
        return dict(Counter(gpu.name for gpu in gpus if not gpu.is_slice))

    @classmethod
    def _seats_per_node(cls, count: int, gpus: Iterable[Gpu]) -> int:
        return sum(n // count for n in cls.gpus_per_node(gpus).values())

    def record(self, username: str, ids: Iterable[str]) -> None:
        """*username*'s server holds *ids* (from its task); no ids = it holds none."""
        ids = tuple(ids)
        with self._lock:
            if ids:
                self._holdings[username] = gpu_mod._Holding(ids=ids, since=self._clock(), confirmed=True)
            else:
                self._holdings.pop(username, None)

    def rebuild_from_swarm(self, client: Any, resource: str, instance: str) -> dict[str, list[str]]:
        """Re-read every running user service's GPU from its task (hub start)."""
        services = client.api.services(filters={"label": [gpu_mod.LABEL_USER, f"{gpu_mod.LABEL_INSTANCE}={instance}"]})
        with self._lock:
            self._holdings = {}
        for service in services:
            user = service["Spec"].get("Labels", {}).get(gpu_mod.LABEL_USER)
            tasks = client.api.tasks(filters={"service": service["ID"], "desired-state": "running"})
            for task in tasks:
                self.record(user, assigned_gpus(task, resource))
        return self.assignments()


def hub_swarm_ledger(settings: Any, docker_client: Any = None) -> SwarmGpuLedger:
    """The hub's GPU ledger on Swarm, built when the hub starts: the GPUs every node advertises
    and who holds them now. Raises GpuSetupError naming what to fix when this engine is no
    Swarm manager."""
    policy = settings.gpu_policy
    try:
        client = docker_client or docker.from_env()
        swarm = client.info().get("Swarm") or {}
        if not swarm.get("ControlAvailable"):
            raise GpuSetupError(
                "GLUONLAB_SPAWNER_BACKEND=swarm: the hub's Docker engine is not a Swarm manager "
                f"(swarm state: {swarm.get('LocalNodeState', 'unknown')}); run the hub on the manager "
                "(Ansible role docker_swarm) or set GLUONLAB_SPAWNER_BACKEND=docker")
        nodes = client.api.nodes() if policy != "none" else []
        gpus = node_gpus(nodes, settings.swarm_gpu_resource)
        seats = gpu_seats(nodes, settings.swarm_gpu_resource)
        ledger = SwarmGpuLedger(gpus, policy=policy, seats=seats)
        rebuilt = ledger.rebuild_from_swarm(client, settings.swarm_gpu_resource, settings.instance)
    except docker.errors.DockerException as error:
        raise GpuSetupError(f"GLUONLAB_SPAWNER_BACKEND=swarm: the hub needs the manager's Docker engine: {error}") from error
    if policy != "none" and not gpus:
        log.warning("GLUONLAB_GPU_POLICY=%s but no node advertises a %s generic resource: every GPU start "
                    "will be refused", settings.gpu_policy, settings.swarm_gpu_resource)
    for line in seat_problems(ledger, settings.users_per_gpu):
        log.warning("%s", line)
    log.info("Swarm GPUs: %s; held: %s", ", ".join(g.describe() for g in gpus) or "none",
             rebuilt or "nobody holds a GPU")
    return ledger


def seat_problems(ledger: SwarmGpuLedger, users_per_gpu: int) -> list[str]:
    """What the shared policy will not do as the admin may expect, given the nodes' seats: a GPU
    with one seat is one user's, and GLUONLAB_USERS_PER_GPU is not what counts on Swarm."""
    if ledger.policy != "shared":
        return []
    whole = [g for g in ledger.gpus if not g.is_slice]
    seats = {g.device_id: ledger.seats_by_gpu.get(g.device_id, 1) for g in whole}
    if whole and all(n == 1 for n in seats.values()):
        return ["GLUONLAB_GPU_POLICY=shared, but every Swarm GPU is registered with one seat, so each goes to "
                "one user: set docker_swarm_gpu_seats (users per GPU) for the GPU hosts and re-run the "
                "docker_swarm role (README \"One server or several\")"]
    odd = sorted(f"{g.device_id} {g.name}: {seats[g.device_id]}" for g in whole if seats[g.device_id] != users_per_gpu)
    if odd:
        return [f"the Swarm's GPUs have the seats their hosts register (docker_swarm_gpu_seats), not "
                f"GLUONLAB_USERS_PER_GPU={users_per_gpu}: {'; '.join(odd)}"]
    return []


# ------------------------------------------------------------------ the spawner


def swarm_profile_problems(profiles: Any, ledger: "SwarmGpuLedger") -> list[str]:
    """What the Swarm cannot serve of the server profiles, one line per profile: a MIG slice no
    node offers, or more whole GPUs than any one node has."""
    most = max(SwarmGpuLedger.gpus_per_node(ledger.gpus).values(), default=0)
    problems = []
    for profile in profiles.profiles:
        request = profile.gpu
        if request.kind == "mig" and request.mig_profile not in ledger.mig_profiles():
            have = ", ".join(ledger.mig_profiles()) or "none"
            problems.append(f"profile {profile.name!r} asks for a MIG {request.mig_profile} slice, but no Swarm "
                            f"node offers one (slices offered: {have}); the docker_swarm role registers the "
                            "slices of each worker's GPUs in MIG mode: re-run it after creating the MIG "
                            "instances (nvidia-smi -L lists them), or change the profile's gpu")
        elif request.kind == "whole" and request.count > most:
            problems.append(f"profile {profile.name!r} asks for {request.describe()} on one node, but no node has "
                            f"that many (most on one node: {most}): lower its gpu")
    return problems


class LabSwarmSpawner(ProfileChoice, SwarmSpawner):
    """SwarmSpawner with the single-host spawner's hardening, GPUs as generic resources, homes
    pinned to their node, and lost nodes reported (see module doc)."""

    gpu_ledger = Instance(SwarmGpuLedger, help="The hub's GPU ledger (hub_swarm_ledger builds it).").tag(config=True)
    gpu_policy = Unicode("none", help="none, exclusive (seat 1 of a GPU) or shared (any seat of one: "
                         "choose_seat).").tag(config=True)
    gpu_when_exhausted = Unicode("refuse", help="refuse, or cpu: start without a GPU.").tag(config=True)
    gpu_resource = Unicode("NVIDIA-GPU", help="The node generic resource that stands for a GPU.").tag(config=True)
    pids_limit = Integer(1024, help="Most processes a user server may run.").tag(config=True)
    shm_size = Unicode("1g", help="Size of a user server's /dev/shm.").tag(config=True)
    tmp_size = Unicode("0", help="Size of /tmp (tmpfs) under a read-only root; 0 = writable root.").tag(config=True)
    constraints = List(Unicode(), help="Placement constraints of every user server.").tag(config=True)
    placement_grace_s = Float(PLACEMENT_GRACE_S, help="Seconds a task may wait for a node before the "
                              "attendee is told none can take it.").tag(config=True)
    home_volume = Unicode("{prefix}-home-{username}", help="Name template of a user's home volume.").tag(config=True)
    course_data_volume = Unicode("", help="Volume with the course data on every worker, mounted read-only; "
                                 "empty: none.").tag(config=True)
    node_guard_wait_s = Float(0, help="Seconds a new server waits for its node guard's rules before it gives "
                              "up; 0: no node guard (GLUONLAB_NETWORK_ISOLATION=0).").tag(config=True)
    home_size = Unicode("0", help="Size of a new home (GLUONLAB_HOME_SIZE), mounted by the node guard; 0: "
                        "plain volumes.").tag(config=True)
    #: The node holding this user's home volume ("" until their first server ran); in the state.
    home_node = Unicode("")

    @default("gpu_ledger")
    def _no_gpus(self) -> SwarmGpuLedger:
        return SwarmGpuLedger([], policy="none")

    @default("cmd")
    def _notebook_cmd(self) -> list[str]:
        return list(NOTEBOOK_CMD)

    _lab_executor: ThreadPoolExecutor | None = None
    _want_gpu = False
    #: GPUs the current start reserves when it wants any (a profile's whole-GPU count, else 1),
    #: and their generic resource kind (gpu_resource, or a MIG profile's kind: mig_resource).
    _gpu_count = 1
    _reserved_kind = ""
    #: Seat kinds chosen by shared starts whose tasks may not hold them yet (user -> kind), one
    #: dict per hub: choose_seat counts them so a login rush does not send everyone to one seat.
    _seat_claims: dict[str, str] = {}
    #: Whether this start may still choose another seat when Swarm finds none of its kind.
    _may_choose_again = False

    def profile_seats(self, profile) -> int:
        return self.gpu_ledger.free_seats(profile.gpu)

    def gpu_reservation(self) -> tuple[bool, int, str]:
        """(whether this start reserves GPUs, how many, of which generic resource kind): the
        profile's whole GPUs or its one MIG slice, else one GPU when the policy hands out GPUs."""
        if self.profile is None:
            return self.gpu_policy != "none", 1, self.gpu_resource
        request = self.profile.gpu
        if request.kind == "mig":
            return True, 1, mig_resource(self.gpu_resource, request.mig_profile)
        return request.kind == "whole", max(request.count, 1), self.gpu_resource

    @property
    def executor(self) -> ThreadPoolExecutor:
        return class_executor(LabSwarmSpawner, "swarm-api")

    # -- state: the home pin outlives every server (clear_state keeps it)

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        self.home_node = state.get("home_node", "")

    def get_state(self) -> dict:
        state = super().get_state()
        if self.home_node:
            state["home_node"] = self.home_node
        return state

    # -- what the service gets

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        if self.profile is not None:
            env["GLUONLAB_PROFILE"] = self.profile.label()
        if self.node_guard_wait_s:
            env.update(GLUONLAB_NODE_GUARD_GATE=GATE_FILE, GLUONLAB_NODE_GUARD_REFUSED=REFUSED_FILE,
                       GLUONLAB_NODE_GUARD_WAIT=f"{self.node_guard_wait_s:g}")
        if not self._want_gpu:  # with a GPU, the start command sets these (start_args)
            env.update(gpu_mod.container_environment([]))
            env.update(gpu_visibility_environment([]))
        return env

    def placement_constraints(self) -> list[str]:
        pin = [f"node.hostname=={self.home_node}"] if self.home_node else []
        return [*self.constraints, *pin]

    async def create_object(self) -> dict:
        labels = {gpu_mod.LABEL_USER: self.user.name, gpu_mod.LABEL_INSTANCE: self.prefix}
        cmd = await self.get_command()
        kwargs = service_create_kwargs(
            name=self.service_name,
            image=self.image,
            args=start_args(self._reserved_kind or self.gpu_resource, cmd),
            env=self.get_env(),
            labels=labels,
            home_volume=self._render_templates(self.home_volume),
            home_dir=self.notebook_dir or "/home/jovyan",
            network=self.network_name,
            mem_limit=self.mem_limit,
            cpu_limit=self.cpu_limit,
            pids_limit=self.pids_limit,
            shm_size=self.shm_size,
            constraints=self.placement_constraints(),
            gpu_resource=self._reserved_kind or self.gpu_resource,
            want_gpu=self._want_gpu,
            gpu_count=self._gpu_count,
            tmp_size=self.tmp_size,
            course_data_volume=self.course_data_volume,
            home_size=parse_size(self.home_size),
        )
        return await self.docker("create_service", **kwargs)

    # -- lifecycle

    async def start(self):
        return await within_start_timeout(self._start_service(), self.start_timeout)

    async def _start_service(self):
        await self._check_home_node()
        if self.profiles is not None and self.profile is None:  # started without JupyterHub's hook
            self.apply_profile(self.user_options)
        self._want_gpu, self._gpu_count, self._reserved_kind = self.gpu_reservation()
        try:
            if self._shares_a_gpu():
                self._reserved_kind, _ = await self._choose_seat()
                self._may_choose_again = True
            ip, port = await super().start()
            try:
                waited = await wait_until_listening(ip, port, timeout=self.http_timeout, exited=self.poll)
            except ServerExited as error:
                raise ServerExited(await self._exit_explained() or f"{error}: {await self._task_summary()}") from None
            await self._after_start()
            self.log.info("Server for %s listens on node %s after %.1f s more", self.user.name, self.home_node, waited)
            return ip, port
        except BaseException:
            # A failed, timed-out or cancelled start leaves no service behind holding a GPU.
            await self._remove_quietly()
            self.gpu_ledger.record(self.user.name, [])
            raise
        finally:
            self._seat_claims.pop(self.user.name, None)

    async def stop(self, now: bool = False) -> None:
        try:
            await super().stop(now=now)
        finally:
            self.gpu_ledger.record(self.user.name, [])

    async def poll(self):
        """None while the server runs, else why not. A failed look at Swarm is tried again
        (POLL_TRIES) before it is given up: the hub takes a poll that raises for a stopped server
        and forgets it, and logging the exception's traceback while other threads talk to Docker
        once crashed the hub at a restart (segfault in CPython 3.11's frame handling)."""
        for attempt in range(1, POLL_TRIES + 1):
            try:
                return await self._poll_once()
            except Exception as error:  # noqa: BLE001  (tried again, then raised as it came)
                if attempt == POLL_TRIES:
                    raise
                self.log.warning("Looking at %s's service failed (%s: %s): trying again", self.user.name,
                                 type(error).__name__, error)
                await asyncio.sleep(POLL_RETRY_S)

    async def _poll_once(self):
        task = await self.get_task()
        if not task:
            return await super().poll()
        node_id = task.get("NodeID")
        if node_id:
            problem = node_problem(await self._inspect_node(node_id))
            if problem:
                # The hub takes a non-None poll for a stopped server and calls no stop(): the GPU
                # of a lost node is given back here.
                self.log.warning("Server of %s is lost with its node: %s", self.user.name, problem)
                self.gpu_ledger.record(self.user.name, [])
                return f"node {self.home_node or node_id} is unavailable: {problem}"
        status = await super().poll()
        self.gpu_ledger.record(self.user.name, assigned_gpus(task, self.gpu_resource) if status is None else [])
        return status

    async def start_object(self) -> None:
        """Wait until the service's task runs; say at once when no node can take it."""
        retries = ENFORCER_RETRIES
        loop = asyncio.get_running_loop()
        unplaced_since = None
        created_at = loop.time()
        while True:
            task = await self.get_task()
            if not task:
                if loop.time() - created_at < TASK_APPEAR_TIMEOUT_S:
                    await asyncio.sleep(TASK_POLL_INTERVAL_S)
                    continue
                raise ServiceNotPlaced(f"Swarm service {self.service_name} has no task after "
                                       f"{TASK_APPEAR_TIMEOUT_S:.0f} s: is a Swarm manager reachable?")
            state = task["Status"]["State"].lower()
            if state == "running":
                return
            reason = pending_reason(task) if state == "pending" else ""
            if reason:
                unplaced_since = unplaced_since if unplaced_since is not None else loop.time()
                if loop.time() - unplaced_since >= self.placement_grace_s:
                    await self._not_placed(reason)
                    unplaced_since = None
                    continue  # the CPU fallback made a new service
            else:
                unplaced_since = None
            if state == "rejected" and ENFORCER_REJECTED in (task["Status"].get("Err") or "") and retries:
                retries -= 1
                self.log.warning("Swarm's constraint enforcer rejected %s's task: starting it again", self.user.name)
                await self._recreate()
                continue
            if state not in STARTING_STATES:
                raise ServiceNotPlaced(
                    f"服务器无法启动 / Your server could not start on node {await self._task_node_name(task)}: "
                    f"{task['Status'].get('Err') or state}. Tell the instructor.")
            await asyncio.sleep(TASK_POLL_INTERVAL_S)

    async def _not_placed(self, reason: str) -> None:
        """No node can take the task: fall back to the CPU, or raise the attendee's message."""
        gpu_short = self._want_gpu and INSUFFICIENT_RESOURCES in reason
        if gpu_short and self._shares_a_gpu() and self._may_choose_again:
            # Another start took the last seat of this kind first: take one of another kind.
            self._may_choose_again = False
            kind, free = await self._choose_seat()
            if free and kind != self._reserved_kind:
                self.log.info("No %s seat free for %s: reserving a %s seat", self._reserved_kind, self.user.name, kind)
                self._reserved_kind = kind
                await self._recreate()
                return
        if gpu_short and self.gpu_when_exhausted == "cpu":
            self.log.warning("No GPU free for %s (%s): starting without one", self.user.name, reason)
            self._want_gpu = False
            await self._recreate()
            return
        where = f"on node {self.home_node}, where your files are," if self.home_node else "on any node"
        if gpu_short and self.profile is not None and self.profile.gpu.kind == "mig":
            profile, total = self.profile.gpu.mig_profile, self.gpu_ledger.seats(self.profile.gpu)
            raise ServiceNotPlaced(
                f"所有 MIG {profile} GPU 切片都已分配，请联系讲师或选择其他类型。/ Every MIG {profile} slice "
                f"{where} is in use ({total} in the cluster, one user each); ask the instructor to free one, "
                "or choose another kind of server.")
        if gpu_short:
            whole = [gpu for gpu in self.gpu_ledger.gpus if not gpu.is_slice]
            most = self.gpu_ledger.most_users_per_gpu()
            each = "one user each" if most == 1 else f"up to {most} users each"
            raise ServiceNotPlaced(
                f"所有 GPU 都已分配，请联系讲师。/ All GPUs {where} are in use ({len(whole)} GPU(s) in the "
                f"cluster, {each}); ask the instructor to free one or to allow CPU fallback.")
        raise ServiceNotPlaced(f"没有节点可以运行你的服务器 / No node can run your server {where}: {reason}. "
                               "Tell the instructor.")

    async def move_home(self, node: str) -> str:
        """Pin this user's next servers to *node* (an admin who copied their home volume there);
        "" forgets the pin. Returns the node now pinned."""
        if self.active:
            raise HomeMoveRefused(f"stop {self.user.name}'s server first")
        if node:
            problem = node_problem(await self._inspect_node(node))
            if problem:
                raise HomeMoveRefused(f"node {node} cannot take servers: {problem}")
        self.home_node = node
        return node

    # -- helpers

    def _shares_a_gpu(self) -> bool:
        """Whether this start takes a seat of a shared GPU (one whole GPU under the shared policy;
        several GPUs or a MIG slice are one user's, as on one host)."""
        return (self._want_gpu and self.gpu_policy == "shared" and self._gpu_count == 1
                and _seat(self._reserved_kind, self.gpu_resource) is not None)

    async def _choose_seat(self) -> tuple[str, int]:
        """Choose this start's seat kind (choose_seat) and claim it until its task holds it."""
        nodes = await self.docker("nodes")
        tasks = await self.docker("tasks", filters={"desired-state": "running"})
        # No await between the choice and the claim: the next start's choice counts this one.
        kind, free = choose_seat(nodes, tasks, self.gpu_resource, claims=self._seat_claims,
                                 username=self.user.name, home_node=self.home_node)
        self._seat_claims[self.user.name] = kind
        self.log.info("%s reserves a %s seat (%d free where they may run)", self.user.name, kind, free)
        return kind, free

    async def _recreate(self) -> None:
        await self.remove_object()
        service = await self.create_object()
        self.object_id = service[self.object_id_key]

    async def _check_home_node(self) -> None:
        if not self.home_node:
            return
        problem = node_problem(await self._inspect_node(self.home_node))
        if problem:
            lost, self.home_node = self.home_node, ""
            self.log.warning("Home node %s of %s is unavailable (%s): unpinned", lost, self.user.name, problem)
            raise NodeUnavailable(self.user.name, lost, problem)

    async def _after_start(self) -> None:
        task = await self.get_task()
        hostname = await self._task_node_name(task)
        if not self.home_node:
            self.home_node = hostname  # the home volume was created there
        self.gpu_ledger.record(self.user.name, assigned_gpus(task, self.gpu_resource))

    async def _inspect_node(self, node: str) -> dict | None:
        try:
            return await self.docker("inspect_node", node)
        except docker.errors.NotFound:
            return None

    async def _task_node_name(self, task: Mapping[str, Any] | None) -> str:
        node_id = (task or {}).get("NodeID")
        node = await self._inspect_node(node_id) if node_id else None
        return (node or {}).get("Description", {}).get("Hostname", node_id or "?")

    async def _task_summary(self) -> str:
        task = await self.get_task()
        status = (task or {}).get("Status") or {}
        return f"task {status.get('State', 'gone')} {status.get('Err', '')}".strip()

    async def _exit_explained(self) -> str:
        """The attendee's message for a server that stopped during its start, where the hub knows
        why (the node guard never let it start, or refused its home); "" otherwise."""
        task = await self.get_task()
        status = (task or {}).get("Status") or {}
        code = (status.get("ContainerStatus") or {}).get("ExitCode")
        if code not in (GATE_EXIT, NO_ROOM_EXIT, HOME_FAILED_EXIT) or not self.node_guard_wait_s:
            return ""
        node = await self._task_node_name(task)
        if code == NO_ROOM_EXIT:
            return f"{NO_ROOM} (node {node}: its disk has no room for a {self.home_size} home.)"
        if code == HOME_FAILED_EXIT:
            return (f"节点 {node} 无法挂载你的主目录，服务器未启动，请联系讲师。/ Your home folder could not be "
                    f"mounted on node {node}, so your server did not start; your files are untouched. Tell "
                    f"the instructor: `docker logs {self.prefix}-node-guard` on {node} says why.")
        return (f"节点 {node} 的网络隔离服务（node guard）没有响应，服务器未启动，请联系讲师。/ The node guard on "
                f"node {node} did not put your server's network rules in place within "
                f"{self.node_guard_wait_s:g} s, so it did not start (without them it would be open to the room). "
                f"Tell the instructor: the {self.prefix}-node-guard container must run on {node} "
                "(ansible site.yml starts it).")

    async def _remove_quietly(self) -> None:
        if not self.object_id:
            return
        try:
            await self.remove_object()
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as error:
            self.log.warning("Could not remove service %s: %s", self.service_name, error)
        self.object_id = ""


# ------------------------------------------------------------------ the admins' move of a home


class HomeNodeAPIHandler(APIHandler):
    """PUT /hub/api/gluonlab/home-node/<user> {"node": "<hostname>"}: pin a user's servers to
    the node their home volume was copied to ("" forgets the pin). Admins only (admin:servers)."""

    @needs_scope("admin:servers")
    async def put(self, user_name: str) -> None:
        user = self.find_user(user_name)
        if user is None:
            raise web.HTTPError(404, f"no user {user_name}")
        spawner = user.spawners[""]
        node = (self.get_json_body() or {}).get("node", "")
        if not isinstance(node, str):
            raise web.HTTPError(400, 'send {"node": "<hostname>"}')
        try:
            pinned = await spawner.move_home(node)
        except HomeMoveRefused as error:
            raise web.HTTPError(409, str(error)) from None
        spawner.orm_spawner.state = spawner.get_state()
        self.db.commit()
        self.write({"user": user_name, "home_node": pinned})


def home_node_handlers() -> list[tuple[str, type]]:
    """For c.JupyterHub.extra_handlers with the swarm backend."""
    return [(r"/api/gluonlab/home-node/([^/]+)", HomeNodeAPIHandler)]
