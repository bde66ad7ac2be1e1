"""``gluonlab-accounts remove`` on Swarm (gluonlab_hub/accounts/swarm_homes.py) without a Swarm:
what each node does with a home (a real ext4 image read with debugfs; the engine a stand-in),
how the nodes' reports become per-account outcomes, and which accounts are deleted. The whole
path on a real 3-node Swarm is tests/swarm/test_swarm_hub.py (removal, and a worker down)."""
from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from types import SimpleNamespace

import docker
import pytest

from gluonlab_hub.accounts import swarm_homes
from gluonlab_hub.swarm_jobs import JobError, NodeResult

needs_e2fsprogs = pytest.mark.skipif(not (shutil.which("mkfs.ext4") and shutil.which("debugfs")),
                                     reason="e2fsprogs (mkfs.ext4, debugfs) missing")


class Engine:
    """A node's engine: which volumes exist, which containers use them, what was removed."""

    def __init__(self, volumes: list[str]):
        self.existing, self.removed = set(volumes), []

        def get(name):
            if name not in self.existing:
                raise docker.errors.NotFound(f"no volume {name}")
            return SimpleNamespace(remove=lambda: (self.existing.discard(name), self.removed.append(name)))

        self.volumes = SimpleNamespace(get=get)
        self.containers = SimpleNamespace(list=lambda **kwargs: [])


def sized_image(path: Path, files: dict[str, str]) -> Path:
    """An ext4 home image holding *files* (mkfs.ext4 -d: no mount needed)."""
    tree = path.parent / f"{path.name}.tree"
    for name, text in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(text)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), str(path), "8M"], check=True)
    shutil.rmtree(tree)
    return path


@needs_e2fsprogs
def test_a_sized_home_is_exported_from_its_image_then_removed(tmp_path):
    images, exports = tmp_path / "homes", tmp_path / "exports" / "20261203-150000"
    images.mkdir()
    exports.mkdir(parents=True)
    image = sized_image(images / "lab-home-alice.img", {"notes.txt": "kept\n", "day1/model.params": "weights"})
    engine, said = Engine(["lab-home-alice"]), []
    failures = swarm_homes.remove_here(engine, {"alice": "lab-home-alice", "bob": "lab-home-bob"}, exports, images,
                                       "gluonlab/hub:latest", said.append, gone_s=0)
    assert failures == 0
    # bob's home is not on this node: nothing said about him here.
    assert said == [{"user": "alice", "volume": "lab-home-alice", "exported": "20261203-150000/alice.tar.gz",
                     "freed": 8 * 1024**2}]
    with tarfile.open(exports / "alice.tar.gz") as tar:
        assert tar.extractfile("./notes.txt").read() == b"kept\n"
        assert tar.extractfile("./day1/model.params").read() == b"weights"
    assert (exports / "alice.tar.gz").stat().st_mode & 0o777 == 0o600
    assert not image.exists() and engine.removed == ["lab-home-alice"]
    assert sorted(p.name for p in exports.iterdir()) == ["alice.tar.gz"]  # no work folder or .part left


@needs_e2fsprogs
def test_an_export_already_there_keeps_the_home(tmp_path):
    images, exports = tmp_path / "homes", tmp_path / "exports" / "stamp"
    images.mkdir()
    exports.mkdir(parents=True)
    image = sized_image(images / "lab-home-alice.img", {"notes.txt": "kept\n"})
    (exports / "alice.tar.gz").write_text("an earlier export")
    engine, said = Engine(["lab-home-alice"]), []
    assert swarm_homes.remove_here(engine, {"alice": "lab-home-alice"}, exports, images, "img", said.append,
                                   gone_s=0) == 1
    assert "exists in this export already" in said[0]["error"]
    assert image.exists() and engine.removed == [] and (exports / "alice.tar.gz").read_text() == "an earlier export"


def test_a_home_still_used_by_a_container_is_not_touched(tmp_path):
    engine, said = Engine(["lab-home-alice"]), []
    engine.containers.list = lambda **kwargs: [SimpleNamespace(name="lab-alice.1.x")]
    assert swarm_homes.remove_here(engine, {"alice": "lab-home-alice"}, None, tmp_path, "img", said.append,
                                   gone_s=0) == 1
    assert said[0]["error"] == "still used by lab-alice.1.x: stop it first" and engine.removed == []


def node_result(node: str, *reports: dict, state: str = "complete", code: int = 0, error: str = "") -> NodeResult:
    return NodeResult(node=node, state=state, exit_code=code, error=error,
                      lines=["some output", *(json.dumps(r) for r in reports)])


def test_the_nodes_reports_become_each_accounts_outcome():
    results = [node_result("worker1", {"user": "alice", "volume": "v", "exported": "s/alice.tar.gz", "freed": 2 << 30}),
               node_result("worker2", {"user": "bob", "volume": "v", "error": "still used by x"}, state="failed",
                           code=1)]
    found = swarm_homes.outcomes(results, ["alice", "bob", "carol"])
    assert found["alice"] == {"done": ["home exported on worker1 to s/alice.tar.gz in its exports volume",
                                       "home removed on worker1 (2048 MiB freed)"], "failed": []}
    assert found["bob"]["failed"] == ["on worker2: still used by x"]
    assert found["carol"] == {"done": [], "failed": []}  # no home anywhere: nothing to do


def test_a_node_that_failed_or_was_not_reached_fails_every_account():
    crashed = node_result("worker1", state="failed", code=1)
    crashed.lines.append("Traceback: boom")
    down = NodeResult(node="worker2", state="not reached", exit_code=1, error="the node is down")
    found = swarm_homes.outcomes([crashed, down], ["alice", "bob"])
    for user in ("alice", "bob"):
        assert found[user]["failed"][0] == "on worker1: its task failed (exit 1): Traceback: boom"
        assert found[user]["failed"][1].startswith("on worker2: not looked at, the node is down; run remove again")


class Hub:
    def __init__(self):
        self.stopped, self.deleted = [], []

    def stop_server(self, name):
        self.stopped.append(name)

    def delete_user(self, name):
        self.deleted.append(name)


def removal(monkeypatch, run):
    import gluonlab_hub.accounts.enrolment as enrolment

    monkeypatch.setattr(enrolment, "forget_joined", lambda db, names: None)
    settings = SimpleNamespace(home_volume_template="lab-home-{username}", swarm_constraints="node.role==worker",
                               instance="lab", swarm_hub_image="reg:5000/gluonlab/hub:latest")
    hub, lines = Hub(), []
    db = SimpleNamespace(commit=lambda: None, rollback=lambda: None)
    failed = swarm_homes.remove(["alice", "bob"], api=hub, db=db, client=None, settings=settings, stamp="s",
                                log=lines.append, run=run)
    return failed, hub, lines


def test_only_accounts_whose_homes_are_handled_everywhere_are_deleted(monkeypatch):
    specs = []

    def run(client, spec, timeout, what, every_node):
        specs.append(spec)
        return [node_result("worker1", {"user": "alice", "volume": "lab-home-alice", "exported": "s/alice.tar.gz"}),
                node_result("worker2", {"user": "bob", "volume": "lab-home-bob", "error": "still used by x"},
                            state="failed", code=1)]

    failed, hub, lines = removal(monkeypatch, run)
    assert failed == ["bob"] and hub.stopped == ["alice", "bob"] and hub.deleted == ["alice"]
    assert "bob: FAILED to export or remove its home on worker2: still used by x (the account is kept)" in lines
    assert "alice: account deleted" in lines
    command = specs[0]["task_template"]["ContainerSpec"]["Command"]
    assert json.loads(command[command.index("--homes") + 1]) == {"alice": "lab-home-alice", "bob": "lab-home-bob"}
    assert specs[0]["task_template"]["ContainerSpec"]["Image"] == "reg:5000/gluonlab/hub:latest"
    assert command[-2:] == ["--export", "s"] and specs[0]["mode"] == {"global": {}}


def test_a_removal_that_cannot_run_keeps_every_account(monkeypatch):
    def run(client, spec, timeout, what, every_node):
        raise JobError("cannot create the home removal service on the Swarm: no manager")

    failed, hub, lines = removal(monkeypatch, run)
    assert failed == ["alice", "bob"] and hub.deleted == []
    assert any(line.startswith("alice: FAILED to remove its home on the workers: cannot create") for line in lines)



@needs_e2fsprogs
def test_a_home_whose_image_is_still_mounted_is_not_read_or_removed(tmp_path):
    # ext4 marks its superblock needs_recovery while mounted: as a stopped server's home looks
    # until the kernel has unmounted it (or after a power cut). Set here with debugfs, no mount.
    images = tmp_path / "homes"
    images.mkdir()
    image = sized_image(images / "lab-home-alice.img", {"notes.txt": "kept\n"})
    subprocess.run(["debugfs", "-w", "-R", "feature needs_recovery", str(image)], check=True, capture_output=True)
    engine, said = Engine(["lab-home-alice"]), []
    assert swarm_homes.remove_here(engine, {"alice": "lab-home-alice"}, None, images, "img", said.append,
                                   gone_s=0) == 1
    assert said[0]["error"].startswith("lab-home-alice.img is still mounted, or was not unmounted cleanly")
    assert image.exists() and engine.removed == []
    subprocess.run(["debugfs", "-w", "-R", "feature ^needs_recovery", str(image)], check=True, capture_output=True)
    assert swarm_homes.remove_here(engine, {"alice": "lab-home-alice"}, None, images, "img", said.append,
                                   gone_s=0) == 0
    assert not image.exists() and engine.removed == ["lab-home-alice"]
