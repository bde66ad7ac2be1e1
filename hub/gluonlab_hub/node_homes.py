"""Sized homes on a Swarm worker: the node guard mounts each server's home file system.

On one host (homes.py) a helper container attaches a home's image file to a loop device before
Docker mounts the volume. A Swarm service can be given neither devices nor SYS_ADMIN, and a task's
volumes are mounted on its worker before anything of ours runs there, so on Swarm the node guard
(node_guard.py), which already enters each new server's namespaces before the server may start,
mounts the home itself:

1. The spawner mounts the user's home volume as without sizes, created on its node with the label
   SIZE_LABEL (the size in bytes, GLUONLAB_HOME_SIZE when it was made). Docker makes it a small
   local volume holding the image's home skeleton; it stays the home's name on that node.
2. For a new server whose home volume carries the label, the guard creates ``<volume>.img`` of
   that size in the node's ``<instance>-homes`` volume (mounted in the guard at IMAGES_DIR;
   allocated in full, ext4, as on one host) with the skeleton's files copied in, attaches it to a
   loop device, mounts it, and moves that mount onto the home folder inside the server's own mount
   namespace (``open_tree`` + ``setns`` + ``move_mount``: Linux 5.2 or later). The loop device is
   detached at once (lazily), so the kernel frees it when the server's container ends: nothing
   stays attached between servers, a guard or node restart leaves nothing to repair.
3. Only then does the guard let the server start (the gate, node_guard.py). When the home cannot
   be mounted it writes REFUSED_FILE in the server instead, holding an exit status and the
   reason; the start command prints the reason and exits with that status, and the hub tells the
   attendee (NO_ROOM_EXIT: the node's disk is full; HOME_FAILED_EXIT: anything else, the guard's
   log says what).

A home whose image is attached already (mounted by a server that still runs on this node) is
never mounted a second time: two mounts of one ext4 file system would corrupt it. The guard
waits for it to be let go (a stopped Swarm task's container outlives its service for a moment, so
a quick stop and start meets the old one) while the new server can still wait for its gate
(node_guard.home_release_wait_s), then refuses. A home volume without the label
(made before sizes were on) is used as it is, without a limit, and the guard's log says so:
nothing is lost or hidden.

The mount runs in a child process (``python -m gluonlab_hub.node_homes mount ...``): the kernel
lets only a single-threaded process enter another mount namespace, and the guard has threads.
"""
from __future__ import annotations

import argparse
import ctypes
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from .homes import MIN_HOME_BYTES, SIZE_LABEL, HomeError, NoRoom, _run, attached_device, create_image, home_names

#: Where the guard mounts the node's ``<instance>-homes`` volume (the image files).
IMAGES_DIR = Path("/homes")
#: What the guard writes in a server it will not let start: "<exit status> <reason>".
REFUSED_FILE = "/tmp/.gluonlab-node-guard-refused"
NO_ROOM_EXIT = 73  # EX_CANTCREAT: the node's disk has no room for a new home
HOME_FAILED_EXIT = 74  # EX_IOERR: the home could not be mounted (the guard's log says why)
#: How long one home's mount may take (a new 2 GiB image: fallocate + mkfs.ext4 ~0.3 s).
MOUNT_TIMEOUT_S = 60
#: The child's exit status for a home mounted already (between the child and the guard only).
BUSY_CHILD_EXIT = 3
#: The guard's extra rights for this (node_guard.GUARD_CAPABILITIES holds them all): SYS_CHROOT to
#: enter a mount namespace, loop devices (block major 7, /dev/loop-control 10:237), the host's /dev.
DEVICE_RULES = ("b 7:* rwm", "c 10:237 rwm")

# Linux's new mount API (the same numbers on every architecture since 5.2).
_SYS_OPEN_TREE, _SYS_MOVE_MOUNT = 428, 429
_OPEN_TREE_CLONE, _OPEN_TREE_CLOEXEC = 1, os.O_CLOEXEC
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_AT_FDCWD = -100
_CLONE_NEWNS = 0x00020000


class HomeBusy(HomeError):
    """The home is mounted already (its user's previous server on this node still holds it)."""


@dataclass(frozen=True)
class HomeMount:
    """A sized home a new server needs: its volume, size in bytes and folder in the server."""

    volume: str
    size: int
    target: str


def sized_home(mounts: Sequence[Mapping[str, Any]], labels_of: Callable[[str], Mapping[str, str]]) -> Optional[HomeMount]:
    """The sized home among a container's *mounts* (engine API ``Mounts``), if any: the volume
    whose labels (``labels_of(name)``) carry SIZE_LABEL. A label that is not a size is an error."""
    for mount in mounts:
        if mount.get("Type") != "volume" or not mount.get("Name"):
            continue
        size = (labels_of(mount["Name"]) or {}).get(SIZE_LABEL)
        if size is None:
            continue
        if not size.isdigit() or int(size) < MIN_HOME_BYTES:
            raise HomeError(f"volume {mount['Name']} has {SIZE_LABEL}={size!r}: not a size of at least "
                            f"{MIN_HOME_BYTES} bytes")
        return HomeMount(volume=mount["Name"], size=int(size), target=mount["Destination"])
    return None


def create_in_server(pid: int, path: str, text: str, proc: Path = Path("/proc")) -> bool:
    """Create *path* holding *text* in the file system of process *pid* (a new server's first
    process); False when it is there already. Never follows a link there, never overwrites."""
    target = proc / str(pid) / "root" / path.lstrip("/")
    try:
        handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        return False
    os.write(handle, text.encode())
    os.close(handle)
    return True


def in_use(image: Path) -> bool:
    """Whether the ext4 file system in *image* is mounted (or was not unmounted cleanly): ext4 sets
    ``needs_recovery`` in its superblock while mounted and clears it at a clean unmount, so this
    needs no loop device and sees a mount in any namespace; read only once it is False, the image
    holds everything written in it."""
    result = subprocess.run(["dumpe2fs", "-h", str(image)], capture_output=True, text=True)
    if result.returncode != 0:
        raise HomeError(f"reading {image.name}: {result.stderr.strip().splitlines()[-1:] or result.returncode}")
    features = next((line for line in result.stdout.splitlines() if line.startswith("Filesystem features:")), "")
    return "needs_recovery" in features.split()


def refuse(pid: int, status: int, reason: str, proc: Path = Path("/proc")) -> bool:
    """Write REFUSED_FILE in process *pid*: its start command exits *status* with *reason*."""
    return create_in_server(pid, REFUSED_FILE, f"{status} {reason}\n", proc)


def mount_home(pid: int, home: HomeMount, root: Path = IMAGES_DIR, python: str = sys.executable) -> dict[str, Any]:
    """Mount *home* into process *pid*'s mount namespace (in a child process, module doc).
    Returns the child's report; raises HomeError (``.status`` the exit status for the server)."""
    argv = [python, "-m", "gluonlab_hub.node_homes", "mount", str(pid), home.volume, str(home.size), home.target,
            "--root", str(root)]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=MOUNT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise _failed(HOME_FAILED_EXIT, f"mounting {home.volume} took over {MOUNT_TIMEOUT_S} s") from None
    if result.returncode == 0:
        return json.loads(result.stdout)
    reason = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
    if result.returncode == BUSY_CHILD_EXIT:
        raise _failed(HOME_FAILED_EXIT, reason, HomeBusy)
    raise _failed(NO_ROOM_EXIT if result.returncode == NO_ROOM_EXIT else HOME_FAILED_EXIT, reason)


def _failed(status: int, reason: str, kind: type = HomeError) -> HomeError:
    """A *kind* error carrying the exit status the server's start command is to end with."""
    error = kind(reason)
    error.status = status  # type: ignore[attr-defined]
    return error


# ------------------------------------------------------------------ the child process


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def copy_skeleton(source: Path, dest: Path) -> None:
    """The home volume's first files (the image's skeleton, copied there by Docker) into a new
    home: links copied as links, never followed; owners kept, the home's own too (the guard has
    no DAC_OVERRIDE, so it writes into the new home while it owns it)."""
    os.chown(dest, os.getuid(), os.getgid())
    for entry in source.iterdir():
        target = dest / entry.name
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, target, symlinks=True)
        else:
            shutil.copy2(entry, target, follow_symlinks=False)
    for folder, dirs, files in os.walk(source):  # never into a linked folder
        for name in [*dirs, *files]:
            info = os.lstat(os.path.join(folder, name))
            os.lchown(dest / Path(folder).relative_to(source) / name, info.st_uid, info.st_gid)
    info = os.stat(source)
    os.chown(dest, info.st_uid, info.st_gid)


def _mounted_tree(image: Path, pid: int, target: str, seed: bool) -> int:
    """*image* attached, mounted on a folder of ours, (when *seed*) given the skeleton from the
    server's *target*, and cloned as a detached mount (its fd); the folder and the device let go."""
    device = _run("losetup", "--find", "--show", str(image))
    stage = Path(tempfile.mkdtemp(prefix="home-", dir="/tmp"))
    try:
        _run("mount", "-t", "ext4", "-o", "nosuid,nodev", device, str(stage))
        try:
            if seed:
                copy_skeleton(Path(f"/proc/{pid}/root") / target.lstrip("/"), stage)
            return _check(_libc().syscall(_SYS_OPEN_TREE, _AT_FDCWD, str(stage).encode(),
                                          _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC), "open_tree")
        finally:
            _run("umount", str(stage))
    finally:
        # Lazy: the kernel frees the device when the last mount of it (the server's) goes.
        _run("losetup", "--detach", device)
        stage.rmdir()


def mount_into(pid: int, volume: str, size: int, target: str, root: Path) -> dict[str, Any]:
    """In the child: the image ready, attached, mounted here, and that mount moved to *target* in
    *pid*'s mount namespace; the loop device detached lazily. The guard's own namespace keeps
    nothing mounted."""
    image_name, _ = home_names(volume)
    image = root / image_name
    in_use = attached_device(image) if image.exists() else None
    if in_use:
        raise HomeBusy(f"home {volume} is mounted already ({in_use}): a server of this user still runs on "
                       "this node; stop it first")
    created = create_image(image, size)
    try:
        tree = _mounted_tree(image, pid, target, seed=created)
    except BaseException:
        if created:  # a new, never used home that could not be seeded: nothing of anyone's in it
            image.unlink(missing_ok=True)
        raise
    report = {"volume": volume, "created": created, "size": image.stat().st_size}
    libc = _libc()
    # From here on, paths are the server's: nothing of ours is looked up after the setns.
    namespace = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    _check(libc.setns(namespace, _CLONE_NEWNS), "setns into the server's mount namespace")
    os.chdir("/")
    _check(libc.syscall(_SYS_MOVE_MOUNT, tree, b"", _AT_FDCWD, target.encode(), _MOVE_MOUNT_F_EMPTY_PATH),
           f"move_mount onto {target}")
    return report


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gluonlab_hub.node_homes",
                                     description="Mount a sized home into a server (run by the node guard).")
    sub = parser.add_subparsers(dest="command", required=True)
    mount = sub.add_parser("mount", help="mount VOLUME's file system of SIZE bytes onto TARGET in process PID")
    mount.add_argument("pid", type=int)
    mount.add_argument("volume")
    mount.add_argument("size", type=int)
    mount.add_argument("target")
    mount.add_argument("--root", type=Path, default=IMAGES_DIR, help="folder of the image files")
    args = parser.parse_args(argv)
    try:
        print(json.dumps(mount_into(args.pid, args.volume, args.size, args.target, args.root)))
    except NoRoom as error:
        print(error, file=sys.stderr)
        return NO_ROOM_EXIT
    except HomeBusy as error:
        print(error, file=sys.stderr)
        return BUSY_CHILD_EXIT
    except HomeError as error:
        print(error, file=sys.stderr)
        return HOME_FAILED_EXIT
    except OSError as error:
        print(f"mounting {args.volume}: {error}", file=sys.stderr)
        return NO_ROOM_EXIT if error.errno in (errno.ENOSPC, errno.EDQUOT) else HOME_FAILED_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main())
