"""GPU discovery and per-user GPU pinning for DockerSpawner.

A workshop runs many users on one GPU host. Docker's ``--gpus 1`` (``count=1``) gives
*every* container GPU 0, so the hub must pick GPUs itself and request them by id
(``device_ids``). This module:

* parses ``nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits``
  output and a configured GPU spec (``"auto"``, ``""``/``"none"``, ``"0,1"``, ``"GPU-…"``,
  ``"MIG-…"``, ``"MIG-…=1g.10gb"``);
* parses ``nvidia-smi -L`` for the MIG devices of GPUs in MIG mode (listed under their parent
  GPU with ``MIG-`` UUIDs), strictly: a line it does not understand is an error;
* discovers GPUs through Docker (a throwaway container with all GPUs requested);
* allocates GPUs to users under three policies (exclusive, shared, none), by request: N whole
  GPUs or one MIG slice of a given profile (slices are always exclusive; a GPU in MIG mode is
  never handed out whole, so whole-GPU and MIG requests never meet on one GPU);
* rebuilds its state from the running containers' labels, so after a hub restart nothing
  is double-assigned: the containers are the source of truth, the allocator only caches
  them plus the spawns that have not created their container yet;
* exposes who holds which GPU as the Prometheus metric ``gluonlab_gpu_assigned``, read from
  the allocator at scrape time (:class:`AssignmentCollector`).

The allocator is thread-safe: JupyterHub may run several spawns concurrently.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .settings import GPU_POLICIES as POLICIES
from .settings import WHEN_EXHAUSTED

log = logging.getLogger(__name__)

#: Container label naming the hub user that owns a container.
LABEL_USER = "gluonlab.user"
#: Container label holding the GPU device ids given to that container ("" = CPU only).
LABEL_GPUS = "gluonlab.gpus"
#: Optional label naming the hub instance, so hubs sharing one engine (tests) stay apart.
LABEL_INSTANCE = "gluonlab.instance"

#: Optional label naming the server profile a container was started with.
LABEL_PROFILE = "gluonlab.profile"

#: The nvidia-smi arguments whose output :func:`parse_nvidia_smi_csv` reads.
NVIDIA_SMI_QUERY = [
    "--query-gpu=index,uuid,name,memory.total,mig.mode.current",
    "--format=csv,noheader,nounits",
]
#: ``nvidia-smi -L``: GPUs and, under each GPU in MIG mode, its MIG devices (:func:`parse_nvidia_smi_list`).
NVIDIA_SMI_LIST = ["-L"]

Policy = Literal["exclusive", "shared", "none"]
WhenExhausted = Literal["refuse", "cpu"]

_UUID_RE = re.compile(r"^(GPU|MIG)-[0-9A-Za-z-]+$")
# An explicit GPU list's MIG entry: "MIG-<uuid>" (profile from discovery) or "MIG-<uuid>=1g.10gb".
_MIG_ENTRY_RE = re.compile(r"^(?P<uuid>MIG-[0-9A-Za-z-]+)(=(?P<profile>.*))?$")
_INDEX_RE = re.compile(r"^\d+$")
# nvidia-smi -L (driver R470 and later): "GPU 0: <name> (UUID: GPU-...)" and, indented under a
# GPU in MIG mode, "  MIG 1g.10gb     Device  0: (UUID: MIG-...)".
_LIST_GPU_RE = re.compile(r"^GPU (?P<index>\d+): (?P<name>.+?) \(UUID: (?P<uuid>GPU-[0-9a-fA-F-]+)\)$")
_LIST_MIG_RE = re.compile(r"^\s+MIG (?P<profile>(\d+c\.)?\d+g\.\d+gb(\+me)?)\s+Device\s+(?P<index>\d+): "
                          r"\(UUID: (?P<uuid>MIG-[0-9a-fA-F-]+)\)$")


class GpuError(Exception):
    """Base class of this module's errors."""


class GpuSpecError(GpuError, ValueError):
    """A GPU spec or nvidia-smi output could not be understood."""


class GpuDiscoveryError(GpuError):
    """GPUs could not be discovered through Docker."""


class GpuSetupError(GpuError):
    """The hub's GPU settings cannot be used; the message names the setting and what to fix."""


class GpusExhausted(GpuError):
    """Every GPU is taken under the current policy and the policy says refuse.

    ``str(exc)`` is a message meant for the attendee (shown on the spawn page).
    """

    def __init__(self, username: str, ngpus: int, policy: str, users_per_gpu: int,
                 request: "GpuRequest | None" = None) -> None:
        self.username = username
        self.ngpus = ngpus
        self.policy = policy
        self.users_per_gpu = users_per_gpu
        self.request = request or GpuRequest("whole", 1)
        if self.request.kind == "mig":
            message = (f"所有 MIG {self.request.mig_profile} GPU 切片都已分配，请联系讲师或选择其他类型。/ Every MIG "
                       f"{self.request.mig_profile} slice is in use ({ngpus} slice(s)); ask the instructor to "
                       "free one, or choose another profile.")
        else:
            message = ("所有 GPU 都已分配，请联系讲师。/ All GPUs are in use "
                       f"({ngpus} GPU(s), {users_per_gpu} user(s) each, policy {policy}"
                       f"{'' if self.request.count == 1 else f'; {self.request.count} GPUs asked'}); "
                       "ask the instructor to free one or to allow CPU fallback.")
        super().__init__(message)


@dataclass(frozen=True)
class GpuRequest:
    """What a server asks of the pool: nothing, ``count`` whole GPUs, or one MIG slice of
    ``mig_profile`` (a server profile's ``gpu:``, parsed by :meth:`parse`)."""

    kind: Literal["none", "whole", "mig"] = "none"
    count: int = 0
    mig_profile: str = ""

    @classmethod
    def parse(cls, value: Any) -> "GpuRequest":
        """``none``/``0`` -> no GPU, an integer N -> N whole GPUs, ``1g.10gb`` -> one MIG slice."""
        if isinstance(value, GpuRequest):
            return value
        if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
            return cls()
        if isinstance(value, bool):
            raise ValueError("write none, a number of whole GPUs (1, 2 ...) or a MIG profile such as 1g.10gb")
        if isinstance(value, int):
            if value < 0:
                raise ValueError("a number of GPUs cannot be negative")
            return cls("whole", value) if value else cls()
        if isinstance(value, str) and MIG_PROFILE_RE.match(value.strip()):
            return cls("mig", 1, value.strip())
        raise ValueError(f"{value!r} is not a GPU request: write none, a number of whole GPUs (1, 2 ...) "
                         "or a MIG profile such as 1g.10gb (as nvidia-smi -L names the slices)")

    def describe(self) -> str:
        if self.kind == "whole":
            return f"{self.count} GPU" if self.count == 1 else f"{self.count} GPUs"
        if self.kind == "mig":
            return f"MIG {self.mig_profile}"
        return "CPU"


#: A MIG device profile as nvidia-smi names it: 1g.10gb, 2g.20gb, 1g.10gb+me, 1c.3g.20gb ...
MIG_PROFILE_RE = re.compile(r"^(\d+c\.)?\d+g\.\d+gb(\+me)?$")
#: One whole GPU: what every server asked for before profiles.
ONE_GPU = GpuRequest("whole", 1)


@dataclass(frozen=True)
class Gpu:
    """One GPU of the host.

    ``device_id`` is what goes into Docker's ``device_ids`` and so into the container's
    ``NVIDIA_VISIBLE_DEVICES``: the index (``"0"``) or the UUID (``"GPU-…"``), whichever the
    admin configured (discovered GPUs use the index unless asked for UUIDs).
    """

    device_id: str
    index: int | None = None
    uuid: str | None = None
    name: str = ""
    memory_mib: int | None = None
    #: A physical GPU in MIG mode: never handed out whole, its slices are.
    mig_mode: bool = False
    #: For a MIG slice: its profile (``1g.10gb``) and its parent GPU's index.
    mig_profile: str = ""
    parent_index: int | None = None

    @property
    def is_slice(self) -> bool:
        return bool(self.mig_profile)

    @property
    def is_mig_entry(self) -> bool:
        """A MIG device (a ``MIG-`` UUID), whether or not its profile is known yet."""
        return self.device_id.startswith("MIG-")

    def describe(self) -> str:
        """Human-readable one-liner, e.g. ``GPU 0 (NVIDIA H100 80GB HBM3, 79.6 GiB)`` or
        ``MIG 1g.10gb slice 0 of GPU 0 (NVIDIA H100 80GB HBM3)``."""
        if self.is_slice and self.parent_index is None:  # declared in GLUONLAB_GPUS, not discovered
            return f"MIG {self.mig_profile} slice {self.device_id}"
        if self.is_slice:
            name = f" ({self.name})" if self.name else ""
            return f"MIG {self.mig_profile} slice {self.index} of GPU {self.parent_index}{name}"
        details = [d for d in (self.name, _gib(self.memory_mib), "MIG mode" if self.mig_mode else "") if d]
        suffix = f" ({', '.join(details)})" if details else ""
        return f"GPU {self.device_id}{suffix}"


def _gib(memory_mib: int | None) -> str:
    return "" if memory_mib is None else f"{memory_mib / 1024:.1f} GiB"


# --------------------------------------------------------------------------- parsing


def parse_nvidia_smi_csv(text: str, *, use_uuid: bool = False) -> list[Gpu]:
    """Parse ``nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits``.

    Extra trailing columns are ignored (so richer queries parse too); a header line, blank
    lines and ``[N/A]`` memory are tolerated. Raises :class:`GpuSpecError` naming the line
    when a row is malformed. GPUs come back sorted by index.
    """
    gpus: list[Gpu] = []
    rows = csv.reader(io.StringIO(text), skipinitialspace=True)
    for lineno, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if cells[0].lower() == "index":  # header of --format=csv without noheader
            continue
        if len(cells) < 4:
            raise GpuSpecError(
                f"nvidia-smi output line {lineno}: expected index, uuid, name, memory.total; got {row!r}"
            )
        index_s, uuid, name, mem_s = cells[:4]
        if not _INDEX_RE.match(index_s) or not _UUID_RE.match(uuid):
            raise GpuSpecError(
                f"nvidia-smi output line {lineno}: {index_s!r} is not a GPU index or "
                f"{uuid!r} is not a GPU UUID (was the query run with --format=csv,noheader,nounits?)"
            )
        mem_s = mem_s.removesuffix("MiB").strip()
        memory = int(mem_s) if mem_s.isdigit() else None  # "[N/A]" on some MIG setups
        index = int(index_s)
        # mig.mode.current, when queried: Enabled, Disabled, or [N/A] (a GPU without MIG)
        mig = len(cells) > 4 and cells[4].lower() == "enabled"
        gpus.append(
            Gpu(
                device_id=uuid if use_uuid else str(index),
                index=index,
                uuid=uuid,
                name=name,
                memory_mib=memory,
                mig_mode=mig,
            )
        )
    ids = [g.index for g in gpus]
    if len(set(ids)) != len(ids):
        raise GpuSpecError(f"nvidia-smi output lists a GPU index twice: {ids}")
    return sorted(gpus, key=lambda g: g.index if g.index is not None else -1)


def parse_nvidia_smi_list(text: str) -> list[Gpu]:
    """The MIG slices in ``nvidia-smi -L`` output, as :class:`Gpu` objects whose ``device_id``
    is the slice's ``MIG-`` UUID (what Docker's device_ids and NVIDIA_VISIBLE_DEVICES accept).

    Strict: every non-blank line must be a GPU line or a MIG line under a GPU; anything else
    raises :class:`GpuSpecError` naming the line, so a changed output format is noticed
    instead of silently giving no slices.
    """
    slices: list[Gpu] = []
    parent: re.Match[str] | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.rstrip()
        if not line.strip():
            continue
        gpu = _LIST_GPU_RE.match(line)
        if gpu:
            parent = gpu
            continue
        mig = _LIST_MIG_RE.match(line)
        if mig is None:
            raise GpuSpecError(f"nvidia-smi -L output line {lineno}: not a GPU or MIG device line: {line!r}")
        if parent is None:
            raise GpuSpecError(f"nvidia-smi -L output line {lineno}: MIG device listed before any GPU: {line!r}")
        slices.append(Gpu(device_id=mig["uuid"], index=int(mig["index"]), uuid=mig["uuid"], name=parent["name"],
                          mig_profile=mig["profile"], parent_index=int(parent["index"])))
    ids = [s.device_id for s in slices]
    if len(set(ids)) != len(ids):
        raise GpuSpecError("nvidia-smi -L output lists a MIG device UUID twice")
    return slices


def parse_gpu_spec(spec: str) -> Literal["auto"] | list[Gpu]:
    """Parse the admin's GPU setting.

    * ``"auto"``: discover through Docker (returned as the string ``"auto"``);
    * ``""`` or ``"none"``: no GPUs (``[]``);
    * a comma-separated list of indices and/or UUIDs: ``"0,1"``, ``"GPU-2b18…,GPU-9c…"``;
      a ``MIG-`` UUID is one MIG slice, either bare (its profile and parent GPU come from
      discovery, :func:`resolve_gpu_list`) or with its profile declared, ``MIG-…=1g.10gb``
      (used as it is when discovery cannot run).

    Raises :class:`GpuSpecError` with the offending entry for anything else, and for duplicates.
    A bare ``MIG-`` entry comes back with an empty ``mig_profile`` (``is_mig_entry`` but not yet
    ``is_slice``): only :func:`discover_gpus` makes it a slice.
    """
    s = spec.strip()
    if s.lower() == "auto":
        return "auto"
    if s.lower() in ("", "none"):
        return []
    gpus: list[Gpu] = []
    seen: set[str] = set()
    for raw in s.split(","):
        item = raw.strip()
        if not item:
            raise GpuSpecError(f"GPU spec {spec!r} has an empty entry; write e.g. '0,1'")
        mig = _MIG_ENTRY_RE.match(item)
        if _INDEX_RE.match(item):
            item = str(int(item))  # "01" and "1" are the same GPU
            gpu = Gpu(device_id=item, index=int(item))
        elif mig:
            profile = (mig["profile"] or "").strip()
            if mig["profile"] is not None and not MIG_PROFILE_RE.match(profile):
                raise GpuSpecError(
                    f"GPU spec entry {item!r}: {profile!r} is not a MIG profile; write the slice as "
                    "MIG-<uuid>=<profile> with the profile nvidia-smi -L shows, e.g. 1g.10gb, or just MIG-<uuid>"
                )
            item = mig["uuid"]
            gpu = Gpu(device_id=item, uuid=item, mig_profile=profile)
        elif _UUID_RE.match(item):
            gpu = Gpu(device_id=item, uuid=item)
        else:
            raise GpuSpecError(
                f"GPU spec entry {item!r} is neither a GPU index (0, 1, ...) nor a UUID "
                "(GPU-..., MIG-... or MIG-...=1g.10gb); use 'auto', 'none' or a comma-separated list "
                "such as '0,1'"
            )
        if item in seen:
            raise GpuSpecError(f"GPU spec {spec!r} lists GPU {item} twice")
        seen.add(item)
        gpus.append(gpu)
    return gpus


# ------------------------------------------------------------------------- discovery


def device_requests(ids: Iterable[str]) -> list[dict[str, Any]]:
    """Docker device requests that give a container exactly these GPUs.

    Never ``count=1``: that means "any one GPU" and Docker then hands every user GPU 0.
    Returns ``[]`` for no ids (a CPU-only container). The requests are the keyword arguments of
    ``docker.types.DeviceRequest``, which docker-py's ``HostConfig`` (``device_requests=``)
    accepts as they are.
    """
    id_list = [str(i) for i in ids]
    if not id_list:
        return []
    return [{"driver": "nvidia", "device_ids": id_list, "capabilities": [["gpu"]]}]


def run_nvidia_smi(docker_client: Any, image: str, *, args: Iterable[str] = NVIDIA_SMI_QUERY,
                   timeout_s: float = 60.0) -> str:
    """Run ``nvidia-smi`` in a throwaway container of ``image`` with all GPUs requested.

    The image needs no nvidia-smi of its own: the NVIDIA container toolkit mounts the host's.
    Raises :class:`GpuDiscoveryError` with what to fix when Docker cannot give GPUs or the
    command fails. The container is always removed.
    """
    import docker.errors
    from docker.types import DeviceRequest

    container = None
    try:
        container = docker_client.containers.create(
            image,
            entrypoint=["nvidia-smi"],
            command=list(args),
            device_requests=[DeviceRequest(count=-1, capabilities=[["gpu"]])],
            # utility is the driver capability that provides nvidia-smi
            environment={"NVIDIA_DRIVER_CAPABILITIES": "utility"},
            labels={"gluonlab.role": "gpu-discovery"},
            network_disabled=True,
        )
        container.start()
        result = container.wait(timeout=timeout_s)
        out = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        err = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
        status = int(result.get("StatusCode", -1))
        if status != 0:
            raise GpuDiscoveryError(
                f"nvidia-smi in image {image} exited {status}: {(err or out).strip()[:300]}. "
                "Check the NVIDIA driver on the host (nvidia-smi), or set the GPU list "
                "explicitly (e.g. '0,1') or to 'none'."
            )
        return out
    except docker.errors.ImageNotFound as exc:
        raise GpuDiscoveryError(
            f"GPU discovery image {image} is not on this host; pull or build it first ({exc.explanation})"
        ) from exc
    except docker.errors.APIError as exc:
        if "executable file not found" in str(exc):
            raise GpuDiscoveryError(
                "Docker accepted the GPU request but the container has no nvidia-smi: the NVIDIA "
                "container toolkit (which mounts the host's nvidia-smi) is missing or not configured. "
                "Install it, or set the GPU list explicitly (e.g. '0,1') or to 'none'."
            ) from exc
        raise GpuDiscoveryError(
            "Docker could not start a container with GPUs "
            f"({exc.explanation or exc}). Install and configure the NVIDIA container toolkit "
            "(nvidia-ctk runtime configure), or set the GPU list explicitly or to 'none'."
        ) from exc
    except docker.errors.DockerException as exc:
        raise GpuDiscoveryError(f"GPU discovery through Docker failed: {exc}") from exc
    finally:
        if container is not None:
            try:
                container.remove(force=True)
            except docker.errors.DockerException:
                log.warning("could not remove GPU discovery container %s", container.id)


def discover_gpus(
    spec: str,
    docker_client: Any | None = None,
    image: str | None = None,
    *,
    use_uuid: bool = False,
) -> list[Gpu]:
    """GPUs named by ``spec`` (see :func:`parse_gpu_spec`).

    ``"auto"`` needs ``docker_client`` and ``image``: it runs nvidia-smi in a throwaway
    container (:func:`run_nvidia_smi`). ``use_uuid`` makes discovered GPUs be requested by
    UUID instead of index. GPUs in MIG mode come back marked (``mig_mode``), followed by their
    slices from ``nvidia-smi -L`` (run only when a GPU is in MIG mode).

    An explicit list runs discovery only when it names MIG devices, to learn each slice's
    profile and parent GPU (:func:`resolve_gpu_list`); a list of whole GPUs needs no Docker.
    """
    parsed = parse_gpu_spec(spec)
    if parsed != "auto":
        if not any(g.is_mig_entry for g in parsed):
            return parsed
        try:
            found = _discover_all(docker_client, image, use_uuid=use_uuid)
        except GpuDiscoveryError as error:
            return resolve_gpu_list(parsed, None, discovery_error=str(error))
        return resolve_gpu_list(parsed, found)
    return _discover_all(docker_client, image, use_uuid=use_uuid)


def _discover_all(docker_client: Any | None, image: str | None, *, use_uuid: bool = False) -> list[Gpu]:
    """Every GPU of the host (nvidia-smi in a throwaway container), then the MIG slices."""
    if docker_client is None or not image:
        raise GpuDiscoveryError("GPU discovery needs a Docker client and an image to run nvidia-smi in")
    gpus = parse_nvidia_smi_csv(run_nvidia_smi(docker_client, image), use_uuid=use_uuid)
    if not gpus:
        raise GpuDiscoveryError("nvidia-smi ran but listed no GPUs; set the GPU spec to 'none' for a CPU-only hub")
    if any(g.mig_mode for g in gpus):
        gpus += with_mig_slices(gpus, run_nvidia_smi(docker_client, image, args=NVIDIA_SMI_LIST))
    return gpus


def resolve_gpu_list(listed: list[Gpu], found: list[Gpu] | None, *, discovery_error: str = "") -> list[Gpu]:
    """An explicit GPU list (:func:`parse_gpu_spec`) made concrete with what discovery ``found``
    (GPUs, then MIG slices, as ``discover_gpus("auto")`` returns them), or ``None`` when discovery
    failed with ``discovery_error``.

    With discovery, every entry must be a device of this host: a MIG entry takes the profile and
    parent GPU nvidia-smi reports (a declared ``=profile`` must agree), a whole GPU must not be in
    MIG mode (it is only handed out as slices). Without it, each MIG entry needs its profile
    declared, and the list may not also name whole GPUs: nothing could tell whether one of them is
    a listed slice's parent, and whole-GPU and MIG requests must never meet on one GPU. Raises
    :class:`GpuSpecError` naming the entry and what to write instead.
    """
    if found is None:
        bare = [g.device_id for g in listed if g.is_mig_entry and not g.mig_profile]
        if bare:
            raise GpuSpecError(
                f"MIG entr{'y' if len(bare) == 1 else 'ies'} {', '.join(bare)} need{'s' if len(bare) == 1 else ''} "
                f"a MIG profile, which comes from GPU discovery, and discovery failed ({discovery_error}). "
                f"Make discovery work (the NVIDIA container toolkit, the notebook image on this host), or "
                f"declare each slice's profile as nvidia-smi -L shows it, e.g. {bare[0]}=1g.10gb"
            )
        whole = [g.device_id for g in listed if not g.is_mig_entry]
        if whole:
            raise GpuSpecError(
                f"the list names MIG slices and whole GPUs ({', '.join(whole)}), and without GPU discovery "
                f"({discovery_error}) the hub cannot check that none of those GPUs holds the slices (a GPU in "
                "MIG mode is only handed out as slices). Make discovery work, or list only MIG slices"
            )
        log.warning("GPU discovery failed (%s): using the MIG slices as GLUONLAB_GPUS declares them", discovery_error)
        return listed
    by_index = {g.index: g for g in found if not g.is_slice}
    by_uuid = {g.uuid: g for g in found if g.uuid}
    resolved: list[Gpu] = []
    for entry in listed:
        if entry.is_mig_entry:
            real = by_uuid.get(entry.device_id)
            if real is None or not real.is_slice:
                have = ", ".join(f"{s.device_id}={s.mig_profile}" for s in found if s.is_slice) or "none"
                raise GpuSpecError(f"entry {entry.device_id!r} is not a MIG device of this host; its MIG devices "
                                   f"(nvidia-smi -L) are: {have}")
            if entry.mig_profile and entry.mig_profile != real.mig_profile:
                raise GpuSpecError(f"entry {entry.device_id}={entry.mig_profile}: nvidia-smi -L says that slice is "
                                   f"{real.mig_profile}; write {entry.device_id}={real.mig_profile} or just "
                                   f"{entry.device_id}")
            resolved.append(real)
            continue
        real = by_index.get(entry.index) if entry.index is not None else by_uuid.get(entry.uuid)
        if real is None:
            have = ", ".join(f"{g.index} ({g.uuid})" for g in found if not g.is_slice)
            raise GpuSpecError(f"entry {entry.device_id!r} is not a GPU of this host; nvidia-smi lists: {have}")
        if real.mig_mode:
            slices = [s.device_id for s in found if s.is_slice and s.parent_index == real.index]
            raise GpuSpecError(f"GPU {entry.device_id} is in MIG mode, so it is only handed out as slices: list "
                               f"its MIG devices instead ({', '.join(slices) or 'none created yet'})")
        resolved.append(Gpu(device_id=entry.device_id, index=real.index, uuid=real.uuid, name=real.name,
                            memory_mib=real.memory_mib))
    return resolved


def with_mig_slices(gpus: Iterable[Gpu], listing: str) -> list[Gpu]:
    """The slices of ``nvidia-smi -L`` output that belong to GPUs in MIG mode among ``gpus``.

    A GPU in MIG mode with no slices is logged (the admin has not created instances yet)."""
    in_mig = {g.index for g in gpus if g.mig_mode}
    slices = [s for s in parse_nvidia_smi_list(listing) if s.parent_index in in_mig]
    empty = in_mig - {s.parent_index for s in slices}
    if empty:
        log.warning("GPU(s) %s are in MIG mode but have no MIG devices (nvidia-smi mig -cgi ... -C creates "
                    "them); they are not handed out", sorted(empty))
    return slices


# ------------------------------------------------------------------- container glue


def container_labels(username: str, ids: Iterable[str], instance: str | None = None,
                     profile: str | None = None) -> dict[str, str]:
    """Labels that let :meth:`GpuAllocator.rebuild` find this assignment after a restart."""
    labels = {LABEL_USER: username, LABEL_GPUS: ",".join(ids)}
    if instance:
        labels[LABEL_INSTANCE] = instance
    if profile:
        labels[LABEL_PROFILE] = profile
    return labels


def container_environment(ids: Iterable[str], gpus: Iterable[Gpu] = ()) -> dict[str, str]:
    """Environment for the user's container, shown in the terminal banner and launcher.

    Docker itself sets ``NVIDIA_VISIBLE_DEVICES`` from the device request; these add the
    human-readable side. ``GLUONLAB_GPUS`` is empty for a CPU-only server.
    """
    id_list = list(ids)
    by_id = {g.device_id: g for g in gpus}
    described = [by_id[i].describe() if i in by_id else f"GPU {i}" for i in id_list]
    return {
        "GLUONLAB_GPUS": ",".join(id_list),
        "GLUONLAB_GPU_DESCRIPTION": "; ".join(described) if described else "CPU only",
    }


# ------------------------------------------------------------------------ allocator


@dataclass
class _Holding:
    ids: tuple[str, ...]
    since: float
    confirmed: bool  # True once seen on a running container


class GpuAllocator:
    """Assigns GPUs and MIG slices to users.

    Policies (for whole GPUs):

    * ``exclusive``: one user per GPU;
    * ``shared``: up to ``users_per_gpu`` users per GPU, least-loaded GPU first, ties broken
      by the order of ``gpus`` (index order when discovered);
    * ``none``: everyone runs on the CPU.

    MIG slices (``gpus`` entries with a ``mig_profile``) are always one user each, handed out by
    profile in the order of ``gpus``. A GPU in MIG mode (``mig_mode``) is never handed out whole,
    so whole-GPU and MIG requests never share a GPU.

    When nothing has room: ``when_exhausted="refuse"`` raises :class:`GpusExhausted`,
    ``"cpu"`` returns ``[]`` (the user gets a CPU-only server; nothing is recorded, so a later
    spawn can get a freed GPU).

    Spawns whose container does not exist yet are kept as *pending* through
    :meth:`rebuild` for ``pending_grace_s`` seconds, so a rebuild during a concurrent
    spawn does not hand that spawn's GPU to someone else.
    """

    def __init__(
        self,
        gpus: Iterable[Gpu],
        policy: str = "exclusive",
        users_per_gpu: int = 1,
        when_exhausted: str = "refuse",
        *,
        pending_grace_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"GPU policy {policy!r} is not one of {', '.join(POLICIES)}")
        if when_exhausted not in WHEN_EXHAUSTED:
            raise ValueError(f"when_exhausted {when_exhausted!r} is not one of {', '.join(WHEN_EXHAUSTED)}")
        if isinstance(users_per_gpu, bool) or not isinstance(users_per_gpu, int) or users_per_gpu < 1:
            raise ValueError(f"users_per_gpu must be an integer >= 1, got {users_per_gpu!r}")
        listed = tuple(gpus)
        #: GPUs in MIG mode: shown (admin page, doctor), never allocated whole.
        self.mig_parents: tuple[Gpu, ...] = tuple(g for g in listed if g.mig_mode)
        #: What can be handed out: whole GPUs and MIG slices.
        self.gpus: tuple[Gpu, ...] = tuple(g for g in listed if not g.mig_mode)
        ids = [g.device_id for g in self.gpus]
        if len(set(ids)) != len(ids):
            raise ValueError(f"GPU list names a device twice: {ids}")
        unresolved = [g.device_id for g in self.gpus if g.is_mig_entry and not g.is_slice]
        if unresolved:
            raise ValueError(f"MIG device(s) {unresolved} have no MIG profile; discover_gpus resolves them "
                             "(or declare it: MIG-<uuid>=1g.10gb)")
        whole_indexes = {g.index for g in self.gpus if not g.is_slice and g.index is not None}
        overlap = sorted({g.parent_index for g in self.gpus if g.is_slice} & whole_indexes)
        if overlap:
            raise ValueError(f"GPU(s) {overlap} are listed whole and as MIG slices; a GPU in MIG mode is only "
                             "handed out as slices")
        self.policy = policy
        # exclusive is shared with one seat per GPU; keeping one code path avoids drift
        self.users_per_gpu = 1 if policy == "exclusive" else users_per_gpu
        self.when_exhausted = when_exhausted
        self.pending_grace_s = pending_grace_s
        self._clock = clock
        self._lock = threading.Lock()
        self._holdings: dict[str, _Holding] = {}

    def __deepcopy__(self, memo: dict) -> "GpuAllocator":
        # One pool per hub: traitlets deep-copies config values into every spawner, and each
        # copy must be this same allocator, not a fork of its state.
        return self

    # -- queries

    def assignments(self) -> dict[str, list[str]]:
        """``{username: [device ids]}`` of everyone holding GPUs (sorted by user)."""
        with self._lock:
            return {u: list(h.ids) for u, h in sorted(self._holdings.items())}

    def holders(self) -> dict[str, list[str]]:
        """``{device id: [usernames]}`` for every known GPU, including idle ones."""
        with self._lock:
            out: dict[str, list[str]] = {g.device_id: [] for g in self.gpus}
            for user, holding in sorted(self._holdings.items()):
                for i in holding.ids:
                    out.setdefault(i, []).append(user)
            return out

    def device(self, device_id: str) -> Gpu | None:
        for g in self.gpus:
            if g.device_id == device_id:
                return g
        return None

    def mig_profiles(self) -> list[str]:
        """The MIG slice profiles this pool has, in order of first appearance."""
        return list(dict.fromkeys(g.mig_profile for g in self.gpus if g.is_slice))

    def _capacity(self, g: Gpu) -> int:
        return 1 if g.is_slice else self.users_per_gpu

    def _load(self) -> dict[str, int]:
        load = {g.device_id: 0 for g in self.gpus}
        for holding in self._holdings.values():
            for i in holding.ids:
                if i in load:
                    load[i] += 1
        return load

    def _candidates(self, request: GpuRequest) -> list[Gpu]:
        if request.kind == "mig":
            return [g for g in self.gpus if g.mig_profile == request.mig_profile]
        return [g for g in self.gpus if not g.is_slice]

    def free_seats(self, request: GpuRequest = ONE_GPU) -> int | None:
        """How many more servers with this request fit now (None: no limit, a CPU request)."""
        if request.kind == "none":
            return None
        if self.policy == "none":
            return 0
        with self._lock:
            load = self._load()
            candidates = self._candidates(request)
            if request.kind == "mig" or request.count == 1:
                return sum(max(0, self._capacity(g) - load[g.device_id]) for g in candidates)
            return sum(1 for g in candidates if load[g.device_id] == 0) // request.count

    def seats(self, request: GpuRequest = ONE_GPU) -> int:
        """How many servers with this request the pool holds when empty."""
        if request.kind == "none" or self.policy == "none":
            return 0
        candidates = self._candidates(request)
        if request.kind == "mig" or request.count == 1:
            return sum(self._capacity(g) for g in candidates)
        return len(candidates) // request.count

    # -- changes

    def allocate(self, username: str, request: GpuRequest = ONE_GPU) -> list[str]:
        """Device ids for ``username``'s server; the same ids again if they already hold some.

        ``request`` is the server profile's: ``count`` whole GPUs (exclusive: free GPUs only;
        shared: the least loaded one) or one free MIG slice of its profile. Raises
        :class:`GpusExhausted` when nothing fits and ``when_exhausted`` is refuse.
        """
        with self._lock:
            held = self._holdings.get(username)
            if held is not None:
                return list(held.ids)
            if self.policy == "none" or request.kind == "none" or not self.gpus:
                return []
            load = self._load()
            candidates = self._candidates(request)
            order = {g.device_id: n for n, g in enumerate(self.gpus)}
            free = [g.device_id for g in candidates if load[g.device_id] < self._capacity(g)]
            want = 1 if request.kind == "mig" else request.count
            if want > 1:  # several whole GPUs: only unused ones (the parser allows this only when exclusive)
                free = [i for i in free if load[i] == 0]
            if len(free) < want:
                if self.when_exhausted == "cpu":
                    log.warning("no %s free: %s gets a CPU-only server", request.describe(), username)
                    return []
                raise GpusExhausted(username, len(candidates), self.policy, self.users_per_gpu, request)
            chosen = tuple(sorted(free, key=lambda i: (load[i], order[i]))[:want])
            self._holdings[username] = _Holding(ids=chosen, since=self._clock(), confirmed=False)
            log.info("%s assigned to %s", ",".join(chosen), username)
            return list(chosen)

    def release(self, username: str) -> list[str]:
        """Forget ``username``'s GPUs (server stopped or culled); returns what they held."""
        with self._lock:
            held = self._holdings.pop(username, None)
        if held is not None:
            log.info("GPU(s) %s released by %s", ",".join(held.ids), username)
        return list(held.ids) if held else []

    def rebuild(self, containers: Iterable[Any]) -> dict[str, list[str]]:
        """Re-derive the state from the running containers' labels.

        ``containers`` are docker SDK ``Container`` objects (or anything with ``.labels``
        and optionally ``.status``). Containers that are not running hold nothing; containers
        without the user label are ignored. Pending spawns younger than ``pending_grace_s``
        are kept. Returns :meth:`assignments`.
        """
        found: dict[str, tuple[str, ...]] = {}
        for c in containers:
            labels: Mapping[str, str] = getattr(c, "labels", None) or {}
            status = getattr(c, "status", "running")
            user = labels.get(LABEL_USER)
            if not user or status not in ("running", "restarting", "paused"):
                continue
            ids = tuple(i.strip() for i in labels.get(LABEL_GPUS, "").split(",") if i.strip())
            if ids:
                found[user] = ids
        now = self._clock()
        with self._lock:
            new: dict[str, _Holding] = {u: _Holding(ids, now, True) for u, ids in found.items()}
            for user, h in self._holdings.items():
                if user not in new and not h.confirmed and now - h.since < self.pending_grace_s:
                    new[user] = h
            self._holdings = new
            capacity = {g.device_id: self._capacity(g) for g in self.gpus}
            overfull = {i: n for i, n in self._load().items() if n > capacity[i]}
        if overfull:
            # Reality wins (the containers run); new spawns just avoid these GPUs.
            log.warning("GPUs or MIG slices over their user limit (%d per GPU, 1 per slice) after rebuild: %s",
                        self.users_per_gpu, overfull)
        return self.assignments()

    def rebuild_from_docker(self, docker_client: Any, instance: str | None = None) -> dict[str, list[str]]:
        """:meth:`rebuild` from the running containers carrying the user label.

        With ``instance``, only containers labelled with that hub instance count (see
        :func:`container_labels`); without it, every Gluon Lab container on the engine does.
        """
        labels = [LABEL_USER] + ([f"{LABEL_INSTANCE}={instance}"] if instance else [])
        containers = docker_client.containers.list(filters={"label": labels})
        return self.rebuild(containers)


# --------------------------------------------------------------------------- metrics


class AssignmentCollector(Collector):
    """``gluonlab_gpu_assigned{user,gpu} 1`` for each GPU a user's server holds, read from
    the allocator at every scrape (JupyterHub serves the default registry at /hub/metrics)."""

    def __init__(self, allocator: GpuAllocator) -> None:
        self.allocator = allocator

    def collect(self):
        family = GaugeMetricFamily(
            "gluonlab_gpu_assigned", "GPUs held by users' servers (1 = held)", labels=["user", "gpu"]
        )
        for user, ids in self.allocator.assignments().items():
            for gpu in ids:
                family.add_metric([user, gpu], 1)
        yield family
