"""Sized homes and the read-only root (gluonlab_hub/homes.py) without a Docker engine: sizes,
the container's disk settings, a home image made for real (fallocate + mkfs.ext4 on a file),
and what the hub asks the engine for. Against the real engine, loop devices and a full home:
tests/integration/hostile_room/test_disk.py."""
from __future__ import annotations

import errno
import io
import json
import shutil
import socket
import threading
import time
import struct
import subprocess
from types import SimpleNamespace

import pytest
from traitlets.config import Config

from gluonlab_hub import homes
from gluonlab_hub.hub_config import configure
from gluonlab_hub.settings import Settings, SettingsError
from test_spawner import FROM_DOCKERSPAWNER, lab_spawner
from gluonlab_hub.gpus import GpuAllocator
from prometheus_client import CollectorRegistry


@pytest.mark.parametrize("text,size", [("2g", 2 << 30), ("512m", 512 << 20), ("1.5G", 3 << 29), ("0", 0),
                                       ("64k", 64 << 10), ("100", 100)])
def test_sizes_use_dockers_units(text, size):
    assert homes.parse_size(text) == size


def test_a_size_that_is_not_one_is_refused_with_an_example():
    with pytest.raises(ValueError, match="e.g. 2g"):
        homes.parse_size("2 GB")


def test_the_root_is_read_only_with_a_sized_tmp_and_a_capped_log():
    config = homes.disk_host_config("256m")
    assert config["ReadonlyRootfs"] is True
    assert config["Tmpfs"] == {"/tmp": f"size={256 << 20},mode=1777,nosuid,nodev"}
    assert config["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "2"}}


def test_tmp_size_zero_keeps_dockers_writable_root_but_still_caps_the_log():
    assert homes.disk_host_config("0") == {"LogConfig": homes.LOG_CONFIG}


def test_the_spawner_creates_containers_with_the_disk_settings():
    alice = lab_spawner("alice", GpuAllocator([], policy="none"), tmp_size="128m")
    host = alice.lab_create_kwargs(FROM_DOCKERSPAWNER)[0]["host_config"]
    assert host["ReadonlyRootfs"] is True and host["Tmpfs"]["/tmp"].startswith(f"size={128 << 20},")
    assert host["Binds"] == FROM_DOCKERSPAWNER["host_config"]["Binds"] and host["CapDrop"] == ["ALL"]


@pytest.mark.parametrize("name", ["../etc", "a/b", "", ".hidden"])
def test_a_volume_name_that_could_escape_the_images_folder_is_refused(name):
    with pytest.raises(homes.HomeError, match="cannot name a home image"):
        homes.home_names(name)


def test_a_home_below_the_minimum_is_refused_naming_the_setting():
    with pytest.raises(homes.HomeError, match="GLUONLAB_HOME_SIZE='8m' is below 32m"):
        homes.HomeStore("lab", "8m")


# --- The hub's configuration ------------------------------------------------------------------
def test_every_spawner_shares_the_configured_store_and_its_helper_pool():
    from gluonlab_hub.spawner import LabDockerSpawner

    store = homes.HomeStore("lab", "64m")
    config = Config()
    config.LabDockerSpawner.home_store = store
    first, second = LabDockerSpawner(config=config), LabDockerSpawner(config=config)
    assert first.home_store is store and second.home_store is store
    assert store.executor._max_workers == homes.HELPER_THREADS

def configured(tmp_path, **env) -> Config:
    c = Config()
    configure(c, Settings.from_env({"GLUONLAB_STATE_DIR": str(tmp_path), **env}), registry=CollectorRegistry())
    return c


def test_by_default_homes_are_sized_and_the_root_read_only(tmp_path):
    c = configured(tmp_path, GLUONLAB_INSTANCE="lab1")
    store = c.LabDockerSpawner.home_store
    assert isinstance(store, homes.HomeStore) and store.size == 2 << 30 and store.images_volume == "lab1-homes"
    assert c.LabDockerSpawner.tmp_size == "512m"


def test_home_size_zero_keeps_plain_volumes(tmp_path):
    assert configured(tmp_path, GLUONLAB_HOME_SIZE="0").LabDockerSpawner.home_store is None


def test_a_too_small_home_stops_the_hub_naming_the_setting(tmp_path):
    with pytest.raises(SystemExit, match="GLUONLAB_HOME_SIZE='1m'"):
        configured(tmp_path, GLUONLAB_HOME_SIZE="1m")


def test_a_home_size_that_is_no_size_is_a_settings_error():
    with pytest.raises(SettingsError, match="GLUONLAB_HOME_SIZE='lots'"):
        Settings.from_env({"GLUONLAB_HOME_SIZE": "lots"})


# --- The helper's image file, made for real -----------------------------------------------------
@pytest.mark.skipif(shutil.which("mkfs.ext4") is None, reason="needs mkfs.ext4 (e2fsprogs)")
def test_a_new_home_image_is_allocated_in_full_and_is_ext4_owned_by_the_attendee(tmp_path):
    image = tmp_path / "lab-home-alice.img"
    assert homes.create_image(image, 40 << 20) is True
    assert image.stat().st_size == 40 << 20
    assert image.stat().st_blocks * 512 >= 40 << 20, "allocated, not sparse"
    raw = image.read_bytes()[1024:1024 + 1024]  # the ext4 superblock
    assert struct.unpack_from("<H", raw, 0x38)[0] == 0xEF53
    assert struct.unpack_from("<I", raw, 0x08)[0] == 0, "no blocks reserved for root"
    assert not (tmp_path / "lab-home-alice.part").exists()
    # Its root is empty (no lost+found), so Docker copies the image's home skeleton in, and clean.
    listing = subprocess.run(["debugfs", "-R", "ls -p /", str(image)], capture_output=True, text=True, check=True)
    # Parseable rows: /inode/mode/uid/gid/name/size/
    rows = [line.split("/") for line in listing.stdout.splitlines() if line.startswith("/")]
    assert [(row[5], row[3]) for row in rows] == [(".", "1000"), ("..", "1000")], listing.stdout
    assert subprocess.run(["e2fsck", "-fn", str(image)], capture_output=True).returncode == 0
    # A second call keeps the home as it is (the user's files).
    before = image.stat().st_mtime_ns
    assert homes.create_image(image, 80 << 20) is False and image.stat().st_mtime_ns == before


@pytest.mark.skipif(shutil.which("losetup") is None, reason="needs losetup (util-linux)")
def test_deleting_a_removed_users_home_frees_its_image_and_link(tmp_path):
    (tmp_path / "lab-home-bob.img").write_bytes(b"\0" * 4096)
    (tmp_path / "lab-home-bob.dev").symlink_to("/dev/loop-nothing")
    assert homes.delete("lab-home-bob", root=tmp_path) == {"device": None, "freed": 4096}
    assert list(tmp_path.iterdir()) == []
    # Again (a retried removal): nothing left to free, no error.
    assert homes.delete("lab-home-bob", root=tmp_path) == {"device": None, "freed": 0}


def test_no_room_for_a_new_home_is_a_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(homes.os, "posix_fallocate", full)
    with pytest.raises(homes.HomeError, match="no room for a 64 MiB home.*GLUONLAB_HOME_SIZE"):
        homes.create_image(tmp_path / "x.img", 64 << 20)
    assert list(tmp_path.iterdir()) == []


# --- What the hub asks the engine for (a recording stand-in; the real engine: test_disk.py) --------
def answer_like_the_helper(operations):
    """What the helper answers for a batch of attaches (the stand-in's default)."""
    return [{"device": "/dev/loop7", "created": True, "size": 67108864} for _ in operations]


class Engine:
    """Records volume and container calls. A helper container's attached stream is a socket pair:
    its far end reads the batches the hub writes and answers each as Docker frames a
    container's output (8-byte header per chunk), with a line on stderr before it to be skipped.
    *answer* maps a batch to what the helper prints, or to None: the helper dies without a word."""

    def __init__(self, volumes=None, answer=answer_like_the_helper):
        self.created, self.helpers, self.existing = [], [], dict(volumes or {})
        self.batches, self.removed, self.stale, self.answer = [], [], [], answer
        engine = self

        class Volumes:
            def get(self, name):
                import docker

                if name not in engine.existing:
                    raise docker.errors.NotFound(name)
                return SimpleNamespace(attrs=engine.existing[name])

            def create(self, name, **kwargs):
                engine.created.append((name, kwargs))
                engine.existing[name] = {"Mountpoint": f"/var/lib/docker/volumes/{name}/_data",
                                         "Labels": kwargs.get("labels")}
                return SimpleNamespace(attrs=engine.existing[name])

        class Container:
            def __init__(self, name):
                self.id = self.short_id = name

            def start(self):
                pass

            def logs(self, stdout=True, stderr=True, tail="all"):
                return b"mkfs.ext4: killed" if stderr else b""

            def remove(self, force):
                engine.removed.append(self.id)

        class Containers:
            def create(self, image, command, **kwargs):
                engine.helpers.append((command, kwargs))
                return Container(kwargs["name"])

            def list(self, all, filters):
                engine.listed_with = filters
                return engine.stale

        def far_end(end):
            with end, end.makefile("rb") as lines:
                for line in lines:
                    engine.batches.append(json.loads(line))
                    answer = engine.answer(json.loads(line))
                    if answer is None:
                        return  # the helper died reading this batch
                    for stream, data in ((2, b"helper: working\n"), (1, json.dumps(answer).encode() + b"\n")):
                        end.sendall(struct.pack(">BxxxL", stream, len(data)) + data)

        def attach_socket(container_id, params):
            assert params == {"stdin": 1, "stdout": 1, "stream": 1}
            near, far = socket.socketpair()
            threading.Thread(target=far_end, args=(far,), daemon=True).start()
            return near

        self.volumes, self.containers = Volumes(), Containers()
        self.api = SimpleNamespace(attach_socket=attach_socket)


def test_a_new_home_is_attached_by_the_kept_helper_and_its_volume_points_at_the_link():
    engine = Engine()
    store = homes.HomeStore("lab", "64m", client=engine, helper_image="sha256:hub")
    assert store.prepare("lab-home-alice") is True
    (command, options), = engine.helpers
    assert command == ["python3", "-m", "gluonlab_hub.homes", "serve"]
    assert engine.batches == [[["attach", "lab-home-alice", str(64 << 20)]]]
    assert options["cap_drop"] == ["ALL"] and options["cap_add"] == ["SYS_ADMIN"]
    assert options["device_cgroup_rules"] == ["b 7:* rwm", "c 10:237 rwm"] and options["network_mode"] == "none"
    # Its stdin closes with the hub's connection, and the engine removes it when it exits.
    assert options["stdin_open"] and options["auto_remove"] and not options["tty"]
    assert options["name"].startswith("lab-Homes-helper-")
    assert [name for name, _ in engine.created] == ["lab-homes", "lab-home-alice"]
    home = engine.created[1][1]
    assert home["driver_opts"] == {"type": "ext4", "device": "/var/lib/docker/volumes/lab-homes/_data/"
                                   "lab-home-alice.dev", "o": "nosuid,nodev"}
    assert home["labels"][homes.SIZE_LABEL] == str(64 << 20)


def test_one_kept_helper_answers_every_batch():
    engine = Engine()
    store = homes.HomeStore("lab", "64m", client=engine, helper_image="sha256:hub")
    for name in ("ana", "ben", "cai"):
        store.prepare(f"lab-home-{name}")
    store.release("lab-home-ana")
    assert len(engine.helpers) == 1 and store.helper.started == 1
    assert engine.batches[-1] == [["release", "lab-home-ana"]] and len(engine.batches) == 4
    # Only this instance's helpers that are no longer running are cleared away at its start.
    assert engine.listed_with == {"label": ["org.gluonlab.instance=lab", "org.gluonlab.role=homes-helper"],
                                  "status": ["exited", "created", "dead"]}


def test_a_helper_that_died_is_replaced_and_the_batch_runs_again():
    deaths = []

    def answer(operations):
        if not deaths:
            deaths.append(operations)
            return None
        return [{"device": None} for _ in operations]

    engine = Engine(answer=answer)
    helper = homes.KeptHelper(lambda: engine, lambda: "sha256:hub", "lab", timeout=5)
    assert helper.run([["release", "lab-home-ana"]]) == [{"device": None}]
    assert helper.started == 2 and len(engine.batches) == 2
    first, second = (options["name"] for _, options in engine.helpers)
    assert engine.removed == [first] and helper.container.id == second


def test_a_helper_that_dies_twice_on_one_batch_fails_it_with_its_last_words():
    engine = Engine(answer=lambda operations: None)
    batches = homes.HomeStore("lab", "64m", client=engine, helper_image="sha256:hub").batches
    with pytest.raises(homes.HomeError, match="stopped twice running one batch.*it said: mkfs.ext4: killed"):
        batches.call(["attach", "lab-home-ana", "64"], timeout=10)
    assert len(engine.removed) == 2


def test_a_stuck_helper_is_stopped_and_the_next_batch_gets_a_new_one():
    stuck = threading.Event()
    engine = Engine(answer=lambda operations: stuck.wait(10) and None
                    if operations[0][1] == "lab-home-ana" else [{"device": None}])
    helper = homes.KeptHelper(lambda: engine, lambda: "sha256:hub", "lab", timeout=0.3)
    with pytest.raises(homes.HomeError, match="did not answer within 0 s"):
        helper.run([["release", "lab-home-ana"]])
    assert len(engine.removed) == 1 and helper.container is None
    assert helper.run([["release", "lab-home-ben"]]) == [{"device": None}] and helper.started == 2
    stuck.set()


def test_exited_helpers_of_an_earlier_hub_are_removed_when_one_starts():
    engine = Engine()
    left = SimpleNamespace(remove=lambda force: engine.removed.append("left-by-the-last-hub"))
    engine.stale = [left]
    homes.KeptHelper(lambda: engine, lambda: "sha256:hub", "lab").run([["release", "lab-home-ana"]])
    assert engine.removed == ["left-by-the-last-hub"]


def test_the_served_helper_answers_each_line_and_ends_with_its_input(tmp_path, monkeypatch):
    monkeypatch.setattr(homes, "IMAGES_MOUNT", str(tmp_path))
    (tmp_path / "lab-home-ana.img").write_bytes(b"x" * 10)
    lines = [json.dumps([["delete", "lab-home-ana"]]) + "\n", "\n", "not json\n", json.dumps({"a": 1}) + "\n",
             json.dumps([["release", "lab-home-ben"]]) + "\n"]
    out = io.StringIO()
    assert homes.serve(iter(lines), out) == 0
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert answers[0] == [{"device": None, "freed": 10}] and not (tmp_path / "lab-home-ana.img").exists()
    assert [answer["error"].startswith("homes helper got a line that is not a batch") for answer in answers[1:3]] \
        == [True, True]
    assert answers[3] == [{"device": None}] and len(answers) == 4


def test_an_older_plain_home_is_used_as_it_is_and_nothing_is_attached():
    engine = Engine({"lab-home-bob": {"Labels": {}, "Mountpoint": "/x"}})
    store = homes.HomeStore("lab", "64m", client=engine, helper_image="sha256:hub")
    assert store.prepare("lab-home-bob") is False
    assert engine.helpers == [] and engine.created == []


def test_only_the_writable_home_is_made_a_sized_home_not_the_read_only_course_data():
    import asyncio

    class Recorder(homes.HomeStore):
        def prepare(self, volume):
            self.prepared.append(volume)
            return True

    store = Recorder("lab", "64m")
    store.prepared = []
    spawner = lab_spawner("alice", GpuAllocator([], policy="none"), home_store=store,
                          volumes={"lab-home-{username}": "/home/jovyan",
                                   "lab-course-data": {"bind": "/opt/gluonlab/course-data", "mode": "ro"}})
    assert asyncio.run(spawner._homes("prepare")) == ["lab-home-alice"]
    assert store.prepared == ["lab-home-alice"]


# --- Group commit of helper work ----------------------------------------------------------------
def test_a_batch_runs_each_volumes_operations_in_order_and_reports_each_failure_alone(tmp_path, monkeypatch):
    done = []
    monkeypatch.setitem(homes.OPERATIONS, "attach",
                        lambda volume, size, root: done.append(("attach", volume)) or {"device": volume})
    monkeypatch.setitem(homes.OPERATIONS, "release",
                        lambda volume, root: done.append(("release", volume)) or {"device": None})
    results = homes.run_batch([["release", "a"], ["attach", "a", "64"], ["attach", "b", "64"], ["format", "c"],
                               ["delete", "../x"]], root=tmp_path)
    assert results[:3] == [{"device": None}, {"device": "a"}, {"device": "b"}]
    assert results[3] == {"error": "unknown homes helper operation 'format'"}
    assert "cannot name a home image" in results[4]["error"]
    assert done.index(("release", "a")) < done.index(("attach", "a"))


def test_helper_work_that_arrives_during_a_run_shares_the_next_helper():
    running, release = threading.Event(), threading.Event()
    seen = []

    def run(operations):
        seen.append([op[1] for op in operations])
        if len(seen) == 1:
            running.set()
            release.wait(10)
        return [{"volume": op[1]} for op in operations]

    batches = homes.HelperBatches(run)
    with homes.ThreadPoolExecutor(8) as callers:
        first = callers.submit(batches.call, ["attach", "v0", "1"])
        assert running.wait(10)
        later = [callers.submit(batches.call, ["attach", f"v{i}", "1"]) for i in range(1, 7)]
        while len(batches._queue) < 6:  # all six queued behind the running helper
            time.sleep(0.01)
        release.set()
        assert first.result(10) == {"volume": "v0"}
        assert [f.result(10) for f in later] == [{"volume": f"v{i}"} for i in range(1, 7)]
    assert [len(batch) for batch in seen] == [1, 6]  # one helper run for the six
    assert sorted(seen[1]) == [f"v{i}" for i in range(1, 7)]


def test_a_failed_operation_fails_its_caller_only_and_a_failed_helper_every_caller_of_that_run():
    def run(operations):
        if any(op[1] == "crash" for op in operations):
            raise RuntimeError("helper container exited 137")
        return [{"error": "no room"} if op[1] == "full" else {"ok": op[1]} for op in operations]

    batches = homes.HelperBatches(run)
    with pytest.raises(homes.HomeError, match="no room"):
        batches.call(["attach", "full", "1"])
    assert batches.call(["attach", "fine", "1"]) == {"ok": "fine"}
    with pytest.raises(homes.HomeError, match="exited 137"):
        batches.call(["attach", "crash", "1"])
    assert batches.call(["attach", "after", "1"]) == {"ok": "after"}  # the next run goes on


def test_a_helper_that_never_answers_fails_its_callers_with_what_to_look_at():
    stuck = threading.Event()
    batches = homes.HelperBatches(lambda operations: stuck.wait(5) and [])
    with pytest.raises(homes.HomeError, match="did not answer within 0 s"):
        batches.call(["attach", "v", "1"], timeout=0.2)
    stuck.set()
