"""Sized homes on Swarm (gluonlab_hub/node_homes.py) without an engine: which mount is a sized
home, the refusal the guard writes in a server, the skeleton copied into a new home, and the
guard's one try per server. The mount itself (loop device, another container's mount namespace)
is tests/images/test_hub_image.py::test_the_node_guard_mounts_a_sized_home_into_a_server, and
through the hub on a real Swarm tests/swarm/test_swarm_hub.py::test_homes_on_workers_are_sized."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from gluonlab_hub import node_guard, node_homes
from gluonlab_hub.homes import SIZE_LABEL, HomeError

MIB = 1024**2


def volume_mount(name: str, dest: str = "/home/jovyan") -> dict:
    return {"Type": "volume", "Name": name, "Destination": dest, "Driver": "local"}


def test_the_sized_home_is_the_volume_labelled_with_its_size():
    labels = {"lab-home-alice": {SIZE_LABEL: str(64 * MIB)}, "course-data": {}}
    mounts = [{"Type": "tmpfs", "Destination": "/tmp"}, volume_mount("course-data", "/srv/data"),
              volume_mount("lab-home-alice")]
    home = node_homes.sized_home(mounts, labels.get)
    assert home == node_homes.HomeMount(volume="lab-home-alice", size=64 * MIB, target="/home/jovyan")
    # A plain home (made before sizes were on) is nobody's business here: used as it is.
    assert node_homes.sized_home([volume_mount("lab-home-bob")], lambda name: {}) is None


@pytest.mark.parametrize("label", ["2g", "1024", "-5"])
def test_a_size_label_that_is_not_a_size_is_refused_with_the_volume_named(label):
    with pytest.raises(HomeError, match=f"volume lab-home-alice has {SIZE_LABEL}="):
        node_homes.sized_home([volume_mount("lab-home-alice")], lambda name: {SIZE_LABEL: label})


def server_tmp(tmp_path: Path, pid: int = 4242) -> Path:
    tmp = tmp_path / "proc" / str(pid) / "root" / "tmp"
    tmp.mkdir(parents=True)
    return tmp


def test_the_refusal_carries_the_status_and_reason_and_is_written_once(tmp_path):
    tmp = server_tmp(tmp_path)
    assert node_homes.refuse(4242, node_homes.NO_ROOM_EXIT, "no room for a 64 MiB home", proc=tmp_path / "proc")
    written = (tmp / Path(node_homes.REFUSED_FILE).name).read_text()
    assert written == f"{node_homes.NO_ROOM_EXIT} no room for a 64 MiB home\n"
    assert not node_homes.refuse(4242, node_homes.HOME_FAILED_EXIT, "other", proc=tmp_path / "proc")
    assert (tmp / Path(node_homes.REFUSED_FILE).name).read_text() == written


def test_the_refusal_never_follows_a_link_planted_in_its_place(tmp_path):
    tmp = server_tmp(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    (tmp / Path(node_homes.REFUSED_FILE).name).symlink_to(victim)
    assert not node_homes.refuse(4242, node_homes.HOME_FAILED_EXIT, "x", proc=tmp_path / "proc")
    assert victim.read_text() == "keep\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files to another owner needs root")
def test_the_skeleton_is_copied_with_its_owners_and_links_never_followed(tmp_path):
    source, dest = tmp_path / "skeleton", tmp_path / "new-home"
    (source / ".jupyter").mkdir(parents=True)
    (source / ".bashrc").write_text("# shell\n")
    (source / ".jupyter" / "lab.json").write_text("{}\n")
    (source / "outside").symlink_to("/etc")
    for path in (source / ".bashrc", source / ".jupyter", source / ".jupyter" / "lab.json"):
        os.chown(path, 1000, 1000)
    os.chown(source, 1000, 1000)
    dest.mkdir()
    node_homes.copy_skeleton(source, dest)
    assert dest.stat().st_uid == 1000  # the home's own owner, as in the skeleton
    assert (dest / ".bashrc").read_text() == "# shell\n" and (dest / ".jupyter" / "lab.json").read_text() == "{}\n"
    assert {(p.name, p.lstat().st_uid) for p in dest.rglob("*") if p.name != "outside"} == {
        (".bashrc", 1000), (".jupyter", 1000), ("lab.json", 1000)}
    assert (dest / "outside").is_symlink() and os.readlink(dest / "outside") == "/etc"
    assert (dest / "outside").lstat().st_uid == 0  # as in the skeleton


class Guard(node_guard.NodeGuard):
    """A NodeGuard whose engine answers one server's container and volumes."""

    def __init__(self, mounts: list[dict], labels: dict[str, dict]):  # noqa: D107 (no engine, no iptables)
        self.home_busy_since, self.home_release_wait, self.wake = {}, 9.0, threading.Event()
        self.client = SimpleNamespace(
            containers=SimpleNamespace(get=lambda name: SimpleNamespace(attrs={"Mounts": mounts})),
            volumes=SimpleNamespace(get=lambda name: SimpleNamespace(attrs={"Labels": labels.get(name)})))


def test_the_guard_mounts_a_sized_home_and_lets_the_server_start(monkeypatch):
    mounted = []
    monkeypatch.setattr(node_guard, "mount_home",
                        lambda pid, home: mounted.append((pid, home)) or {"size": home.size, "created": True})
    guard = Guard([volume_mount("lab-home-alice")], {"lab-home-alice": {SIZE_LABEL: str(64 * MIB)}})
    assert guard.mount_home("lab-alice", 4242) is True
    assert mounted == [(4242, node_homes.HomeMount("lab-home-alice", 64 * MIB, "/home/jovyan"))]
    # A plain home: nothing mounted, the server starts.
    assert Guard([volume_mount("lab-home-bob")], {"lab-home-bob": None}).mount_home("lab-bob", 4243) is True
    assert len(mounted) == 1


@pytest.mark.parametrize("status", [node_homes.NO_ROOM_EXIT, node_homes.HOME_FAILED_EXIT])
def test_a_home_that_cannot_be_mounted_refuses_the_server_with_its_status(monkeypatch, status):
    def fail(pid, home):
        raise node_homes._failed(status, "why it failed")

    refused = []
    monkeypatch.setattr(node_guard, "mount_home", fail)
    monkeypatch.setattr(node_guard, "refuse", lambda pid, code, reason: refused.append((pid, code, reason)))
    guard = Guard([volume_mount("lab-home-alice")], {"lab-home-alice": {SIZE_LABEL: str(64 * MIB)}})
    assert guard.mount_home("lab-alice", 4242) is False
    assert refused == [(4242, status, "why it failed")]


def test_an_engine_error_refuses_the_server_too(monkeypatch):
    refused = []
    monkeypatch.setattr(node_guard, "refuse", lambda pid, code, reason: refused.append((pid, code, reason)))
    guard = Guard([], {})
    guard.client.containers.get = lambda name: (_ for _ in ()).throw(OSError("engine went away"))
    assert guard.mount_home("lab-alice", 4242) is False
    assert refused == [(4242, node_homes.HOME_FAILED_EXIT, "engine went away")]


def test_a_home_still_held_by_the_users_previous_server_is_waited_for_then_refused(monkeypatch):
    # A quick stop and start on Swarm: the old task's container still holds the home a moment.
    clock = [100.0]
    monkeypatch.setattr(node_guard.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(node_guard, "HOME_RETRY_S", 0.01)
    answers = [node_homes.HomeBusy("home lab-home-alice is mounted already (/dev/loop2)"), None]

    def mount(pid, home):
        answer = answers.pop(0)
        if answer:
            raise answer
        return {"size": home.size, "created": False}

    monkeypatch.setattr(node_guard, "mount_home", mount)
    guard = Guard([volume_mount("lab-home-alice")], {"lab-home-alice": {SIZE_LABEL: str(64 * MIB)}})
    assert guard.mount_home("lab-alice", 4242) is None  # not yet: looked at again in a second
    assert guard.wake.wait(5)  # ...by waking the guard's loop
    clock[0] += 3
    assert guard.mount_home("lab-alice", 4242) is True  # let go: mounted, the server starts
    # Still held after the whole wait: refused with the reason, as any other failure.
    refused = []
    monkeypatch.setattr(node_guard, "refuse", lambda pid, code, reason: refused.append((pid, code, reason)))
    monkeypatch.setattr(node_guard, "mount_home",
                        lambda pid, home: (_ for _ in ()).throw(node_homes.HomeBusy("mounted already")))
    assert guard.mount_home("lab-bob", 4243) is None
    clock[0] += 9.5
    assert guard.mount_home("lab-bob", 4243) is False
    assert refused == [(4243, node_homes.HOME_FAILED_EXIT, "mounted already")]

