"""Users' disk: each home is its own size-limited file system, the root file system is read-only.

Homes. With GLUONLAB_HOME_SIZE set, a user's home volume is an ext4 file system of that size in
an image file, mounted by Docker's ``local`` volume driver (``type=ext4``, ``device=`` a loop
device): writing past it fails with "No space left on device" in that home only. The image files
live in one Docker volume, ``<instance>-homes`` (on the Docker disk, next to the hub's state), and
are allocated in full when a home is created (fallocate), so homes that exist can never fill the
disk under the hub's database or another home; a home that does not fit any more is refused at
its first spawn, with a message saying so.

Loop devices need the host's root, which the hub does not have (it has the Docker socket). So
the home work runs in a helper container (the hub's own image, ``python -m gluonlab_hub.homes
serve``) with SYS_ADMIN, access to loop devices only (device cgroup rules) and the host's /dev.
The hub keeps one helper running (``KeptHelper``) and talks to it over its attached stdin and
stdout, one JSON line per batch each way: a container per batch cost the engine ~0.35 core-s
and the batch a second or more of wall time in a login rush, on the CPU the attendees' own starts
were waiting for. The helper exits when its stdin closes (the hub stopped or restarted: Docker
closes a ``StdinOnce`` stdin when its one client detaches) and Docker removes it (auto-remove);
one that died is replaced at the next batch, which is run again (every operation is idempotent),
and one left created but never started (a hub that died in between) is removed then. Helper work is group-committed (``HelperBatches``): one batch at a time, taking every
request that came in while the one before it ran. The helper creates the image on first use
(fallocate, mkfs.ext4 owned by uid 1000, its root left empty so that Docker copies the image's
home skeleton in at the first mount, as into a new plain volume), attaches it to a free loop device and points ``<user>.dev`` in the images volume at it; the home
volume's ``device=`` is that link, so the volume never changes. Once the server's container has
started (Docker has mounted the home), a later helper run (``release``) detaches the loop device
lazily: the kernel frees it when Docker unmounts the home (server stopped, dockerd restarted,
``compose down``), and removes the link, so a stale link can never send a mount to a loop device
that another user's image has taken since. Nothing is left attached between servers, a host
reboot or dockerd restart leaves nothing to repair, and every start attaches afresh.

Outside the home (``disk_host_config``): the root file system is read-only, /tmp is a tmpfs of
GLUONLAB_TMP_SIZE (memory, counted in the server's memory limit), and the container's log
(json-file, what the server prints) is capped, so nothing an attendee writes reaches the Docker
disk except through their home.

An existing home volume that is not one of these (created before the setting was on) is used as
it is, without a limit, and the hub log says so: nothing is lost or moved.
"""
from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, Callable, Optional

log = logging.getLogger("gluonlab.homes")

#: Where the helper mounts the images volume.
IMAGES_MOUNT = "/homes"
#: Owner of a new home's root (the notebook image's jovyan, NB_UID/NB_GID).
HOME_UID = HOME_GID = 1000
#: Smallest home: ext4's journal and metadata take a few MB.
MIN_HOME_BYTES = 32 * 1024**2
#: Labels of the volumes this module creates.
SIZE_LABEL = "org.gluonlab.home-size"
INSTANCE_LABEL = "org.gluonlab.instance"
ROLE_LABEL, HELPER_ROLE = "org.gluonlab.role", "homes-helper"
#: A container's own log (what its processes print to stdout/stderr) stays under 2 x 10 MB.
LOG_CONFIG = {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "2"}}
#: The helper's privileges: mount-related ioctls (SYS_ADMIN) on loop devices (block major 7,
#: /dev/loop-control 10:237) and nothing else; the host's /dev, since loop devices it attaches
#: may be new (a container's own /dev is a copy made at its start).
HELPER_CAPS = ["SYS_ADMIN"]
HELPER_DEVICE_RULES = ["b 7:* rwm", "c 10:237 rwm"]
#: A batch's answer is awaited this long (twenty new homes take about a second).
HELPER_TIMEOUT_S = 60
#: Spawns wait for their home work in threads of their own (a batch of new homes takes up to a
#: second), which must not hold up the spawner's Docker calls (their pool has 4 threads).
HELPER_THREADS = 8
#: Operations one batch takes at most (one JSON line to the helper).
MAX_BATCH = 32
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

#: What an attendee reads when a new home does not fit on the host (bilingual).
NO_ROOM = ("服务器磁盘空间不足，无法创建你的主目录，请联系管理员。"
           " / The server has no room left for your home folder; please tell the workshop staff.")


class HomeError(RuntimeError):
    """A home could not be prepared; the message says what to fix."""


class NoRoom(HomeError):
    """A new home does not fit on the disk that holds the images."""


def parse_size(text: str) -> int:
    """Bytes of a size setting (``2g``, ``512m``, ``0``); Docker's units (k, m, g: powers of 1024)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgG]?)", (text or "0").strip())
    if not match:
        raise ValueError(f"{text!r} is not a size: use e.g. 2g, 512m or 0")
    unit = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match.group(2).lower()]
    return int(float(match.group(1)) * unit)


def disk_host_config(tmp_size: str) -> dict[str, Any]:
    """Host config (engine API form) for what a user container writes outside its home: read-only
    root, /tmp a tmpfs of *tmp_size* (sticky, world-writable like a real /tmp), capped log.
    ``tmp_size`` "0": Docker's writable root (for an image that needs it), log still capped."""
    config: dict[str, Any] = {"LogConfig": LOG_CONFIG}
    if parse_size(tmp_size):
        config["ReadonlyRootfs"] = True
        config["Tmpfs"] = {"/tmp": f"size={parse_size(tmp_size)},mode=1777,nosuid,nodev"}
    return config


def homes_volume(instance: str) -> str:
    """The volume that holds the sized homes' image files: on the host, or on each Swarm worker."""
    return f"{instance}-homes"


def volume_options(device: str) -> dict[str, str]:
    """``local`` driver options of a sized home: the ext4 file system on *device* (a host path)."""
    return {"type": "ext4", "device": device, "o": "nosuid,nodev"}


def home_names(volume: str) -> tuple[str, str]:
    """(image file, device link) names inside the images volume for home *volume*."""
    if not _NAME.match(volume):
        raise HomeError(f"volume name {volume!r} cannot name a home image")
    return f"{volume}.img", f"{volume}.dev"


# --- The helper: runs as root in a short-lived container with the images volume at IMAGES_MOUNT.
def _run(*argv: str) -> str:
    result = subprocess.run(list(argv), capture_output=True, text=True)
    if result.returncode != 0:
        raise HomeError(f"{' '.join(argv)}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip()


def create_image(image: Path, size: int) -> bool:
    """Create *image* (allocated in full, ext4 owned by the attendee); False when it exists."""
    if image.exists():
        return False
    part = image.with_suffix(".part")
    part.unlink(missing_ok=True)
    try:
        with open(part, "wb") as handle:
            os.posix_fallocate(handle.fileno(), 0, size)
    except OSError as error:
        part.unlink(missing_ok=True)
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise NoRoom(f"no room for a {size // 1024**2} MiB home on the Docker disk "
                            f"({image.name}): free space or lower GLUONLAB_HOME_SIZE") from None
        raise
    # -m 0: no blocks reserved for root (nobody is root in there); root_owner: jovyan's home;
    # nodiscard: mke2fs would otherwise punch the allocation out of the file again.
    _run("mkfs.ext4", "-q", "-F", "-m", "0", "-E", f"root_owner={HOME_UID}:{HOME_GID},nodiscard", str(part))
    # An empty root, as a new plain volume has: Docker copies the image's home skeleton (.bashrc,
    # .profile...) into a volume at its first mount only when the volume is empty, and mkfs's
    # lost+found would keep it from doing so (e2fsck makes lost+found again if it ever needs one).
    _run("debugfs", "-w", "-R", "rmdir lost+found", str(part))
    part.rename(image)
    return True


def attached_device(image: Path) -> Optional[str]:
    """The loop device *image* is attached to now, if any."""
    out = _run("losetup", "--noheadings", "--output", "NAME", "--associated", str(image))
    return out.splitlines()[0].strip() if out else None


def attach(volume: str, size: int, root: Path = Path(IMAGES_MOUNT)) -> dict[str, Any]:
    """Make home *volume* mountable: image created if missing, attached, link pointing at it."""
    image_name, link_name = home_names(volume)
    image, link = root / image_name, root / link_name
    created = create_image(image, size)
    device = attached_device(image) or _run("losetup", "--find", "--show", str(image))
    # Replace the link in one rename: a mount never sees a missing or half-written one.
    tmp = root / f".{link_name}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(device)
    tmp.rename(link)
    return {"device": device, "created": created, "size": image.stat().st_size}


def release(volume: str, root: Path = Path(IMAGES_MOUNT)) -> dict[str, Any]:
    """After the home is mounted: remove the link and detach lazily (the kernel frees the loop
    device when the file system is unmounted; at once when nothing has it open)."""
    image_name, link_name = home_names(volume)
    (root / link_name).unlink(missing_ok=True)
    image = root / image_name
    device = attached_device(image) if image.exists() else None
    if device:
        _run("losetup", "--detach", device)
    return {"device": device}


def delete(volume: str, root: Path = Path(IMAGES_MOUNT)) -> dict[str, Any]:
    """The clean end (gluonlab-accounts remove): home *volume*'s image file deleted, after its
    link and any loop device still attached to it are gone; its disk space is free again."""
    image_name, _ = home_names(volume)
    detached = release(volume, root)["device"]
    image = root / image_name
    size = image.stat().st_size if image.exists() else 0
    image.unlink(missing_ok=True)
    return {"device": detached, "freed": size}


#: What one helper operation may be: ``[action, volume, *arguments]``.
OPERATIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "attach": lambda volume, size, root: attach(volume, int(size), root),  # JSON may carry the size as text
    "release": release,
    "delete": delete,
}


def run_batch(operations: list[list], root: Optional[Path] = None) -> list[dict[str, Any]]:
    """Run a batch in the helper: one result per operation, ``{"error": ...}`` for a failed one
    (the others go on). One volume's operations run in the order given; different volumes side
    by side (mkfs of twenty new homes at once, not one after the other)."""
    root = root or Path(IMAGES_MOUNT)
    results: list[dict[str, Any]] = [{} for _ in operations]
    by_volume: dict[str, list[int]] = {}
    for index, operation in enumerate(operations):
        by_volume.setdefault(str(operation[1]) if len(operation) > 1 else "", []).append(index)

    def run_volume(indexes: list[int]) -> None:
        for index in indexes:
            action, *arguments = operations[index]
            try:
                if action not in OPERATIONS:
                    raise HomeError(f"unknown homes helper operation {action!r}")
                results[index] = OPERATIONS[action](*arguments, root=root)
            except HomeError as error:
                results[index] = {"error": str(error)}
            except (OSError, TypeError, ValueError) as error:
                results[index] = {"error": f"{action} {' '.join(map(str, arguments))}: {error}"}

    with ThreadPoolExecutor(max(1, min(len(by_volume), HELPER_THREADS))) as pool:
        list(pool.map(run_volume, by_volume.values()))
    return results


def helper_main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gluonlab_hub.homes",
                                     description="Helper of the hub's sized homes (runs in a helper container).")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("serve", help="read batches from stdin, one per line, each a JSON list of [action, volume, "
                                 "*args] (attach VOLUME SIZE, release VOLUME, delete VOLUME), and answer each "
                                 "with a line of results until stdin closes (the helper the hub keeps)")
    # For admins, in the hub container: a stopped user's sized home is not attached, so tools that
    # mount it (scripts/export-homes.sh) need it attached first, and released after.
    for name, what in (("open", "attach a stopped user's home so that it can be mounted (hub container)"),
                       ("close", "release it again (hub container)")):
        sub.add_parser(name, help=what).add_argument("volume")
    args = parser.parse_args(argv)
    try:
        if args.action == "serve":
            return serve(sys.stdin, sys.stdout)
        from .settings import Settings

        settings = Settings.from_env()
        store = HomeStore(settings.instance, settings.home_size)
        result = {"sized": store.prepare(args.volume)} if args.action == "open" else store.release(args.volume)
    except HomeError as error:
        print(json.dumps({"error": str(error)}))
        return 1
    print(json.dumps(result))
    return 0


def serve(lines: Any, out: Any) -> int:
    """The kept helper's loop: each line a batch (a JSON list of operations), each answered with
    one line, its results or ``{"error": ...}`` for a line that is not a batch. Ends at EOF."""
    for line in lines:
        if not line.strip():
            continue
        try:
            operations = json.loads(line)
            if not isinstance(operations, list) or not all(isinstance(op, list) and op for op in operations):
                raise ValueError("expected a list of [action, volume, ...] lists")
        except ValueError as error:
            answer: Any = {"error": f"homes helper got a line that is not a batch: {error}"}
        else:
            answer = run_batch(operations)
        out.write(json.dumps(answer) + "\n")
        out.flush()
    return 0


class HelperBatches:
    """Group commit of helper work: ``call`` hands one operation to the next batch and waits for
    its result. One batch at a time; a batch takes everything queued (up to MAX_BATCH). *run*
    takes a list of operations and returns their results in order (KeptHelper.run); if it
    raises, every operation of that batch fails with its message and the next batch goes on."""

    def __init__(self, run: Callable[[list[list]], list[dict[str, Any]]], max_batch: int = MAX_BATCH):
        self._run, self.max_batch = run, max_batch
        self._lock = threading.Lock()
        self._queue: list[tuple[list, Future]] = []
        self._draining = False
        self._runner = ThreadPoolExecutor(1, thread_name_prefix="homes-batch")

    def call(self, operation: list, timeout: float = 3 * HELPER_TIMEOUT_S) -> dict[str, Any]:
        future: Future = Future()
        with self._lock:
            self._queue.append((operation, future))
            if not self._draining:
                self._draining = True
                self._runner.submit(self._drain)
        try:
            result = future.result(timeout=timeout)
        except FutureTimeout:
            raise HomeError(f"the homes helper did not answer within {timeout:.0f} s: see the hub's log "
                            "and the engine's (docker ps -a --filter label=org.gluonlab.role=homes-helper)") from None
        if "error" in result:
            raise HomeError(result["error"])
        return result

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
                if not batch:
                    self._draining = False
                    return
            try:
                results = self._run([operation for operation, _ in batch])
                if len(results) != len(batch):
                    raise HomeError(f"homes helper gave {len(results)} results for {len(batch)} operations")
            except Exception as error:  # noqa: BLE001  (every caller of this run gets the message)
                for _, future in batch:
                    future.set_exception(error if isinstance(error, HomeError) else HomeError(str(error)))
                continue
            for (_, future), result in zip(batch, results):
                future.set_result(result)


# --- The hub side -------------------------------------------------------------------------------
class HelperGone(HomeError):
    """The kept helper's stream ended: the container exited or was removed."""


class KeptHelper:
    """The homes helper the hub keeps running (module doc): a container started at the first
    batch, its stdin and stdout attached (Docker's multiplexed stream: an 8-byte header, stream
    and length, before each chunk), one JSON line per batch each way. *client* and *image* are
    called when a helper is started (the Docker client and the hub's own image). ``run`` is
    HelperBatches' *run*: one batch at a time."""

    def __init__(self, client: Callable[[], Any], image: Callable[[], str], instance: str,
                 timeout: float = HELPER_TIMEOUT_S):
        self._client, self._image, self.instance, self.timeout = client, image, instance, timeout
        self._lock = threading.Lock()
        self.container: Any = None
        self._socket: Any = None
        self._stdout = b""
        self.started = 0  #: helpers this hub has started (one unless one died)

    @property
    def labels(self) -> dict[str, str]:
        return {INSTANCE_LABEL: self.instance, ROLE_LABEL: HELPER_ROLE}

    def run(self, operations: list[list]) -> list[dict[str, Any]]:
        with self._lock:
            for attempt in (1, 2):
                if self.container is None:
                    self._start()
                try:
                    answer = self._exchange(operations)
                except HelperGone as error:
                    # Died between batches or during this one: every operation is idempotent, so
                    # a new helper runs the batch again; a second death is reported.
                    reason = self._discard(str(error))
                    if attempt == 2:
                        raise HelperGone(f"the homes helper stopped twice running one batch: {reason}") from None
                    continue
                except BaseException as error:  # stuck, or out of step with us: a new one next time
                    self._discard(str(error))
                    raise
                if isinstance(answer, dict) and "error" in answer:
                    raise HomeError(answer["error"])
                return answer
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Stop the helper (its stdin closes, it exits, and is removed)."""
        with self._lock:
            if self.container is not None:
                self._discard("closed")

    def _start(self) -> None:
        client = self._client()
        filters = {"label": [f"{k}={v}" for k, v in self.labels.items()], "status": ["exited", "created", "dead"]}
        for stale in client.containers.list(all=True, filters=filters):
            stale.remove(force=True)  # left by an earlier hub (or a helper that died)
        # Named after the instance (stacks are cleaned up by that prefix); the capital letter keeps
        # it from ever being a user's container name (usernames are lower case).
        container = client.containers.create(
            self._image(), ["python3", "-m", "gluonlab_hub.homes", "serve"], user="0",
            name=f"{self.instance}-Homes-helper-{uuid.uuid4().hex[:8]}",
            # stdin_open: docker-py sets StdinOnce with it (closed when the hub's attach ends).
            stdin_open=True, tty=False, auto_remove=True,
            network_mode="none", cap_drop=["ALL"], cap_add=HELPER_CAPS, device_cgroup_rules=HELPER_DEVICE_RULES,
            security_opt=["no-new-privileges:true"], labels=self.labels, log_config=LOG_CONFIG,
            volumes={"/dev": {"bind": "/dev", "mode": "rw"},
                     homes_volume(self.instance): {"bind": IMAGES_MOUNT, "mode": "rw"}},
            entrypoint=[])
        try:
            # Attached before it starts, so that nothing it prints is missed.
            stream = client.api.attach_socket(container.id, params={"stdin": 1, "stdout": 1, "stream": 1})
            container.start()
        except BaseException:
            container.remove(force=True)
            raise
        self.container, self._socket, self._stdout = container, stream, b""
        self.started += 1
        log.info("homes helper %s started", container.short_id)

    def _raw(self) -> Any:
        # docker-py hands back socket.SocketIO for the unix socket (its socket in ._sock), a
        # socket itself over TLS.
        return getattr(self._socket, "_sock", self._socket)

    def _exchange(self, operations: list[list]) -> Any:
        raw = self._raw()
        raw.settimeout(self.timeout)
        try:
            raw.sendall((json.dumps(operations) + "\n").encode())
            line = self._read_line(raw)
        except socket.timeout:
            raise HomeError(f"the homes helper did not answer within {self.timeout:.0f} s (it was stopped; "
                            "the next batch starts a new one): see the hub's log") from None
        except OSError as error:
            raise HelperGone(str(error)) from None
        try:
            return json.loads(line)
        except ValueError:
            raise HomeError(f"the homes helper printed {line[:200]!r} instead of results") from None

    def _read_line(self, raw: Any) -> str:
        while b"\n" not in self._stdout:
            stream, chunk = _frame(raw)
            if stream == 1:
                self._stdout += chunk
        line, self._stdout = self._stdout.split(b"\n", 1)
        return line.decode(errors="replace")

    def _discard(self, why: str) -> str:
        """Forget the helper: close its stream, remove it; returns why it went, with its last
        words (stderr) when it said any."""
        container, stream = self.container, self._socket
        self.container = self._socket = None
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
        if container is None:
            return why
        import docker

        try:
            last = container.logs(stdout=False, stderr=True, tail=20).decode(errors="replace").strip()
            container.remove(force=True)
        except docker.errors.NotFound:
            last = ""  # already removed (by an admin, or docker rm -f): nothing more to say
        log.warning("homes helper %s discarded: %s%s", container.short_id, why, f"; it said: {last[-500:]}" if last else "")
        return f"{why}; it said: {last[-500:]}" if last else why


def _frame(raw: Any) -> tuple[int, bytes]:
    """One chunk of an attached, non-TTY container stream: (1 stdout or 2 stderr, bytes)."""
    header = _exactly(raw, 8)
    stream, length = struct.unpack(">BxxxL", header)
    return stream, _exactly(raw, length)


def _exactly(raw: Any, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = raw.recv(size - len(data))
        if not chunk:
            raise HelperGone("its output ended (the helper container exited)")
        data += chunk
    return data


class HomeStore:
    """Sized homes for one lab instance: the hub's half (Docker API calls, blocking: run them
    in the spawner's executor)."""

    def __init__(self, instance: str, size: str, client: Any = None, helper_image: Optional[str] = None):
        self._client, self.instance = client, instance
        self.size = parse_size(size)
        if self.size < MIN_HOME_BYTES:
            raise HomeError(f"GLUONLAB_HOME_SIZE={size!r} is below {MIN_HOME_BYTES // 1024**2}m: use e.g. 2g, or 0 "
                            "for unlimited homes")
        self._helper_image = helper_image
        self.executor = ThreadPoolExecutor(HELPER_THREADS, thread_name_prefix="homes-helper")
        self.helper = KeptHelper(lambda: self.client, lambda: self.helper_image, self.instance)
        self.batches = HelperBatches(self.helper.run)

    def __deepcopy__(self, memo: dict) -> "HomeStore":
        # One store per hub (its helper pool and Docker client): traitlets deep-copies config
        # values into every spawner, and each must get this same store.
        return self

    @property
    def client(self) -> Any:
        """The Docker client, made at first use (the hub's config is built before any engine call)."""
        if self._client is None:
            import docker

            self._client = docker.from_env()
        return self._client

    @property
    def images_volume(self) -> str:
        return homes_volume(self.instance)

    @property
    def helper_image(self) -> str:
        """The hub's own image (it has the helper's code and tools): found from the hub's
        container (its hostname is the container id)."""
        if self._helper_image is None:
            try:
                self._helper_image = self.client.containers.get(socket.gethostname()).image.id
            except Exception as error:  # noqa: BLE001  (outside a container: say what to set)
                raise HomeError(f"cannot find the hub's own image for the homes helper ({error}); "
                                "run the hub in its container or set GLUONLAB_HOME_SIZE=0") from None
        return self._helper_image

    def _images_mountpoint(self) -> str:
        import docker

        try:
            volume = self.client.volumes.get(self.images_volume)
        except docker.errors.NotFound:
            volume = self.client.volumes.create(self.images_volume, labels={INSTANCE_LABEL: self.instance})
        return volume.attrs["Mountpoint"]

    def _helper(self, *operation: str) -> dict[str, Any]:
        return self.batches.call(list(operation))

    def prepare(self, volume: str) -> bool:
        """Before the server's container is created: make home *volume* a sized file system
        (created on first use) and attach it. False when *volume* is an older, plain volume,
        used as it is."""
        import docker

        home_names(volume)  # a name the helper can use, before anything is created
        try:
            existing = self.client.volumes.get(volume)
        except docker.errors.NotFound:
            existing = None
        if existing is not None and (existing.attrs.get("Labels") or {}).get(SIZE_LABEL) is None:
            log.warning("home volume %s predates GLUONLAB_HOME_SIZE: used as it is, without a size limit", volume)
            return False
        link = f"{self._images_mountpoint()}/{home_names(volume)[1]}"
        result = self._helper("attach", volume, str(self.size))
        if existing is None:
            self.client.volumes.create(volume, driver="local", driver_opts=volume_options(link),
                                       labels={SIZE_LABEL: str(result["size"]), INSTANCE_LABEL: self.instance})
        log.info("home %s: %s on %s%s", volume, _mib(result["size"]), result["device"],
                 " (new)" if result["created"] else "")
        return True

    def release(self, volume: str) -> dict[str, Any]:
        """Once the server's container runs (its home mounted): let the loop device go with the mount."""
        return self._helper("release", volume)

    def delete(self, volume: str) -> dict[str, Any]:
        """After home *volume* was removed (gluonlab-accounts remove): delete its image file."""
        return self._helper("delete", volume)


def _mib(size: int) -> str:
    return f"{size // 1024**2} MiB"


if __name__ == "__main__":
    sys.exit(helper_main())
