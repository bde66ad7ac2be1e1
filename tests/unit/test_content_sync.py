"""Tutorial sync into users' homes (images/notebook/rootfs/content_sync.py, which runs in the
notebook container), on real temp folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# A standalone script of the notebook image, not part of the hub package.
ROOTFS = Path(__file__).resolve().parents[2] / "images" / "notebook" / "rootfs"
if str(ROOTFS) not in sys.path:
    sys.path.insert(0, str(ROOTFS))
import content_sync as cs  # noqa: E402

SCRIPT = Path(cs.__file__)


def write_tree(root: Path, files: dict[str, str], version: str) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (root / "VERSION").write_text(version + "\n")
    return root


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root (manifest included) -> its text, to compare whole trees."""
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


V1 = {
    "README.md": "# Tutorials v1\n",
    "chapter01/ndarray.md": "# NDArray\nx = nd.ones((2, 3))\n",
    "chapter01/autograd.md": "# Autograd v1\n",
    "chapter02/linear.md": "# Linear regression v1\n",
}


@pytest.fixture
def src_v1(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "src1", V1, "aaa111")


@pytest.fixture
def src_v2(tmp_path: Path) -> Path:
    v2 = dict(V1)
    v2["chapter01/autograd.md"] = "# Autograd v2 (fixed typo)\n"  # changed upstream
    v2["chapter02/linear.md"] = "# Linear regression v2\n"  # changed upstream
    v2["chapter03/cnn.md"] = "# CNN (new)\n"  # new file
    del v2["README.md"]  # dropped from the course
    return write_tree(tmp_path / "src2", v2, "bbb222")


def test_first_sync_copies_everything(src_v1: Path, tmp_path: Path) -> None:
    dest = tmp_path / "home" / "tutorials"
    result = cs.sync(src_v1, dest)
    assert result.first_sync and sorted(result.added) == sorted(V1)
    tree = snapshot(dest)
    assert {k: v for k, v in tree.items() if k != cs.MANIFEST_NAME} == V1
    assert "VERSION" not in tree  # the version lives in the manifest, not among the tutorials
    manifest = json.loads(tree[cs.MANIFEST_NAME])
    assert manifest["version"] == "aaa111" and sorted(manifest["files"]) == sorted(V1)
    assert result.report is None  # nothing to explain on first start


def test_same_version_is_a_no_op(src_v1: Path, tmp_path: Path) -> None:
    dest = tmp_path / "t"
    cs.sync(src_v1, dest)
    (dest / "chapter01" / "ndarray.md").write_text("my notes\n")
    before = snapshot(dest)
    mtimes = {p: p.stat().st_mtime_ns for p in dest.rglob("*")}
    result = cs.sync(src_v1, dest)
    assert result.unchanged_version
    assert snapshot(dest) == before
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*")} == mtimes


def test_update_with_user_edit_keeps_edit_and_saves_new_beside(src_v1: Path, src_v2: Path, tmp_path: Path) -> None:
    dest = tmp_path / "t"
    cs.sync(src_v1, dest)
    # The attendee edits one notebook that the new version also changes, and one it does not.
    (dest / "chapter01" / "autograd.md").write_text("# Autograd v1\nmy experiment\n")
    (dest / "chapter01" / "ndarray.md").write_text("# NDArray\nmy notes\n")

    result = cs.sync(src_v2, dest)

    assert (dest / "chapter01" / "autograd.md").read_text() == "# Autograd v1\nmy experiment\n"
    beside = dest / "chapter01" / "autograd.new-bbb222.md"
    assert beside.read_text() == "# Autograd v2 (fixed typo)\n"
    assert result.kept_user_edits == [("chapter01/autograd.md", "chapter01/autograd.new-bbb222.md")]
    # untouched files follow the new version; new files arrive
    assert (dest / "chapter02" / "linear.md").read_text() == "# Linear regression v2\n"
    assert (dest / "chapter03" / "cnn.md").read_text() == "# CNN (new)\n"
    assert result.updated == ["chapter02/linear.md"] and result.added == ["chapter03/cnn.md"]
    # an edited file the new version did not change: kept, and no pointless side copy
    assert (dest / "chapter01" / "ndarray.md").read_text() == "# NDArray\nmy notes\n"
    assert result.edited_not_changed_upstream == ["chapter01/ndarray.md"] and result.up_to_date == []
    assert sorted(p.name for p in (dest / "chapter01").iterdir()) == [
        "autograd.md",
        "autograd.new-bbb222.md",
        "ndarray.md",
    ]
    # dropped from the course: the user's copy stays
    assert (dest / "README.md").read_text() == "# Tutorials v1\n"
    assert result.dropped_upstream == ["README.md"]

    report = (dest / "CONTENT-UPDATE-bbb222.md").read_text()
    assert result.report == "CONTENT-UPDATE-bbb222.md"
    assert "aaa111 → bbb222" in report
    assert "保留了你的修改" in report and "Kept your edits" in report
    assert "`chapter01/autograd.md` → 新版本 / new version: `chapter01/autograd.new-bbb222.md`" in report
    assert "- chapter03/cnn.md" in report and "- chapter02/linear.md" in report
    assert json.loads((dest / cs.MANIFEST_NAME).read_text())["version"] == "bbb222"


def test_edited_file_stays_edited_through_later_updates(src_v1: Path, src_v2: Path, tmp_path: Path) -> None:
    dest = tmp_path / "t"
    cs.sync(src_v1, dest)
    (dest / "chapter01" / "autograd.md").write_text("mine\n")
    cs.sync(src_v2, dest)
    v3 = write_tree(tmp_path / "src3", {"chapter01/autograd.md": "# Autograd v3\n"}, "ccc333")
    result = cs.sync(v3, dest)
    assert (dest / "chapter01" / "autograd.md").read_text() == "mine\n"
    assert (dest / "chapter01" / "autograd.new-ccc333.md").read_text() == "# Autograd v3\n"
    assert (dest / "chapter01" / "autograd.new-bbb222.md").exists()  # earlier side copy untouched
    assert result.updated == []


def test_deleted_file_is_not_restored_but_new_files_are(src_v1: Path, src_v2: Path, tmp_path: Path) -> None:
    dest = tmp_path / "t"
    cs.sync(src_v1, dest)
    (dest / "chapter02" / "linear.md").unlink()
    result = cs.sync(src_v2, dest)
    assert not (dest / "chapter02" / "linear.md").exists()
    assert result.not_restored == ["chapter02/linear.md"]
    assert f"a copy is in {src_v2}" in (dest / result.report).read_text()
    # and it stays deleted on the next update too
    v3 = write_tree(tmp_path / "src3", {"chapter02/linear.md": "# v3\n"}, "ccc333")
    assert cs.sync(v3, dest).not_restored == ["chapter02/linear.md"]


def test_beside_name_never_overwrites(src_v1: Path, src_v2: Path, tmp_path: Path) -> None:
    dest = tmp_path / "t"
    cs.sync(src_v1, dest)
    (dest / "chapter01" / "autograd.md").write_text("mine\n")
    (dest / "chapter01" / "autograd.new-bbb222.md").write_text("a file the user happened to name so\n")
    result = cs.sync(src_v2, dest)
    assert (dest / "chapter01" / "autograd.new-bbb222.md").read_text() == "a file the user happened to name so\n"
    assert (dest / "chapter01" / "autograd.new-bbb222-2.md").read_text() == "# Autograd v2 (fixed typo)\n"
    assert result.kept_user_edits == [("chapter01/autograd.md", "chapter01/autograd.new-bbb222-2.md")]


@pytest.mark.parametrize("damage", ["{not json", '{"format": 1, "version": 5}', None])
def test_corrupt_or_missing_manifest_keeps_user_files(
    src_v1: Path, src_v2: Path, tmp_path: Path, damage: str | None
) -> None:
    dest = tmp_path / "t"
    cs.sync(src_v1, dest)
    (dest / "chapter01" / "autograd.md").write_text("mine\n")
    (dest / "chapter01" / "ndarray.md").unlink()
    if damage is None:
        (dest / cs.MANIFEST_NAME).unlink()
    else:
        (dest / cs.MANIFEST_NAME).write_text(damage)

    result = cs.sync(src_v2, dest)

    assert result.manifest_recovered and not result.first_sync
    # without a record every differing file may be the user's: kept, new version beside
    assert (dest / "chapter01" / "autograd.md").read_text() == "mine\n"
    assert (dest / "chapter02" / "linear.md").read_text() == "# Linear regression v1\n"
    assert (dest / "chapter02" / "linear.new-bbb222.md").read_text() == "# Linear regression v2\n"
    assert (dest / "chapter01" / "ndarray.md").exists()  # cannot tell deleted from never-had: copied
    assert "damaged" in (dest / result.report).read_text()
    assert json.loads((dest / cs.MANIFEST_NAME).read_text())["version"] == "bbb222"  # repaired
    assert cs.sync(src_v2, dest).unchanged_version


def test_crash_rerun_reuses_identical_side_copy(src_v1: Path, src_v2: Path, tmp_path: Path) -> None:
    dest = tmp_path / "t"
    cs.sync(src_v1, dest)
    (dest / "chapter01" / "autograd.md").write_text("mine\n")
    manifest = (dest / cs.MANIFEST_NAME).read_text()
    cs.sync(src_v2, dest)
    (dest / cs.MANIFEST_NAME).write_text(manifest)  # as if the start crashed before the manifest
    result = cs.sync(src_v2, dest)
    assert result.kept_user_edits == [("chapter01/autograd.md", "chapter01/autograd.new-bbb222.md")]
    assert not (dest / "chapter01" / "autograd.new-bbb222-2.md").exists()
    assert result.report == "CONTENT-UPDATE-bbb222-2.md"  # the first report is not overwritten
    assert (dest / "CONTENT-UPDATE-bbb222.md").exists()


def test_unwritable_path_is_reported_and_others_sync(src_v1: Path, src_v2: Path, tmp_path: Path) -> None:
    dest = tmp_path / "t"
    cs.sync(src_v1, dest)
    (dest / "chapter03").write_text("the user made a file where the new folder goes\n")
    result = cs.sync(src_v2, dest)
    assert [rel for rel, _ in result.errors] == ["chapter03/cnn.md"]
    assert (dest / "chapter03").read_text().startswith("the user made a file")
    assert (dest / "chapter02" / "linear.md").read_text() == "# Linear regression v2\n"
    # the failed file is not recorded, so it counts as new on the next try
    assert "chapter03/cnn.md" not in json.loads((dest / cs.MANIFEST_NAME).read_text())["files"]


def test_bad_source_changes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.md").write_text("x")
    with pytest.raises(cs.ContentSyncError, match="VERSION"):
        cs.sync(src, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
    with pytest.raises(cs.ContentSyncError, match="not a folder"):
        cs.sync(tmp_path / "missing", tmp_path / "dest")


def test_cli_prints_one_line_and_exit_codes(src_v1: Path, src_v2: Path, tmp_path: Path) -> None:
    dest = tmp_path / "t"

    def run(src: Path) -> subprocess.CompletedProcess[str]:
        # run as a standalone script, as the notebook image does: stdlib only, no package import
        return subprocess.run(
            [sys.executable, "-I", str(SCRIPT), "--source", str(src), "--dest", str(dest)],
            capture_output=True,
            text=True,
            env={"PATH": os.environ.get("PATH", "")},
            check=False,
        )

    first = run(src_v1)
    assert first.returncode == 0 and first.stdout.count("\n") == 1
    assert "copied 4 tutorial file(s), version aaa111" in first.stdout
    (dest / "chapter01" / "autograd.md").write_text("mine\n")
    second = run(src_v2)
    assert second.returncode == 0
    assert "aaa111 -> bbb222: 1 added, 1 updated, 1 kept" in second.stdout
    assert "CONTENT-UPDATE-bbb222.md" in second.stdout
    assert "nothing to do" in run(src_v2).stdout
    bad = run(tmp_path / "nowhere")
    assert bad.returncode == 2 and "nothing was changed" in bad.stderr


def test_uncreatable_dest_is_a_clear_error(src_v1: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder\n")  # fails for root too, unlike a permission bit
    with pytest.raises(cs.ContentSyncError, match="cannot create"):
        cs.sync(src_v1, home / "tutorials")
    assert home.read_text() == "not a folder\n"


def test_markdown_now_shipped_as_notebook_leaves_the_view_unless_edited(tmp_path: Path) -> None:
    """An older image shipped x.md and x.ipynb; the newer one only x.ipynb. Unedited .md copies
    move to a hidden folder (each tutorial listed once); an edited one stays where it is."""
    old = {"README.md": "# ToC\n", "README.ipynb": "{}\n", "ch/a.md": "# A\n", "ch/a.ipynb": "{}\n",
           "ch/b.md": "# B\n", "ch/b.ipynb": "{}\n", "ch/notes.md": "# notes\n"}
    new = {"README.ipynb": '{"v": 2}\n', "ch/a.ipynb": '{"v": 2}\n', "ch/b.ipynb": '{"v": 2}\n'}
    dest = tmp_path / "t"
    cs.sync(write_tree(tmp_path / "s1", old, "old1"), dest)
    (dest / "ch" / "b.md").write_text("# B\nmy notes\n")  # the learner edited this one
    result = cs.sync(write_tree(tmp_path / "s2", new, "new2"), dest)
    assert result.replaced_by_notebook == [("README.md", ".gluonlab-replaced/new2/README.md"),
                                           ("ch/a.md", ".gluonlab-replaced/new2/ch/a.md")]
    assert result.dropped_upstream == ["ch/b.md", "ch/notes.md"]  # edited, or no notebook form
    visible = sorted(k for k in snapshot(dest) if not k.startswith(".") and not k.startswith("CONTENT-UPDATE"))
    assert visible == ["README.ipynb", "ch/a.ipynb", "ch/b.ipynb", "ch/b.md", "ch/notes.md"]
    assert (dest / ".gluonlab-replaced" / "new2" / "ch" / "a.md").read_text() == "# A\n"  # nothing lost
    assert (dest / "ch" / "b.md").read_text() == "# B\nmy notes\n"
    report = (dest / result.report).read_text()
    assert "`ch/a.md` → `.gluonlab-replaced/new2/ch/a.md`" in report
