"""Notebook image build steps that run without Docker: the content version that content_sync
compares (images/notebook/build/content-version.sh), and our patches to pinned packages
(images/notebook/patches/), checked against the versions the locks pin."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "images" / "notebook"
CONTENT_VERSION = NOTEBOOK / "build" / "content-version.sh"
PATCHES = sorted((NOTEBOOK / "patches").glob("*.patch"))


def content_version(tree: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(CONTENT_VERSION), str(tree)], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", **env}, check=False)


def version_of(tree: Path) -> str:
    result = content_version(tree)
    assert result.returncode == 0, result.stderr
    version = result.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{12}", version), result.stdout
    return version


@pytest.fixture
def two_trees(tmp_path: Path) -> tuple[Path, Path]:
    """Two copies of the real tutorials, as two image builds would see them."""
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "*.pyc")
    return (Path(shutil.copytree(REPO / "content", tmp_path / "a", ignore=ignore)),
            Path(shutil.copytree(REPO / "content", tmp_path / "b", ignore=ignore)))


def test_same_content_same_version_wherever_it_lies(two_trees: tuple[Path, Path]) -> None:
    a, b = two_trees
    assert version_of(a) == version_of(b)
    # VERSION itself is not part of the hash (finalize.sh writes it after hashing).
    (b / "VERSION").write_text("whatever\n")
    assert version_of(a) == version_of(b)


def test_version_changes_when_content_changes(two_trees: tuple[Path, Path]) -> None:
    a, b = two_trees
    before = version_of(b)
    tutorial = sorted(b.glob("chapter*/*.md"))[0]
    tutorial.write_text(tutorial.read_text(encoding="utf-8") + "\n一处改动 (one edit).\n", encoding="utf-8")
    edited = version_of(b)
    assert edited != before == version_of(a)
    # A rename with the same bytes is a new version too: paths are hashed with the contents.
    tutorial.rename(tutorial.with_name("renamed.md"))
    assert version_of(b) not in (before, edited)
    (b / "chapter_new").mkdir()
    (b / "chapter_new" / "extra.md").write_text("# 新的一节\n", encoding="utf-8")
    assert len({before, edited, version_of(b)}) == 3


# Stand-ins for a step of the hash pipeline that fails: one with no output (which, without
# pipefail, hashed empty input into the same VERSION for every build, so homes silently
# stopped updating), one after part of its output (a partial tree's hash).
FAILING_STEPS = {
    "sort": "echo 'sort: read error: Input/output error' >&2; exit 2",
    "find": "printf './README.md\\0'; echo 'find: ./chapter01: Input/output error' >&2; exit 1",
}


@pytest.mark.parametrize("step", sorted(FAILING_STEPS))
def test_a_failing_step_fails_the_version(step: str, two_trees: tuple[Path, Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken-bin"
    broken.mkdir()
    (broken / step).write_text(f"#!/bin/sh\n{FAILING_STEPS[step]}\n")
    (broken / step).chmod(0o755)
    for tree in two_trees:
        result = content_version(tree, PATH=f"{broken}:/usr/bin:/bin")
        assert result.returncode != 0 and result.stdout == "", result.stdout
        assert "Input/output error" in result.stderr


def test_bad_folder_is_a_clear_error(tmp_path: Path) -> None:
    missing = content_version(tmp_path / "nowhere")
    assert missing.returncode == 1 and "is not a folder" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = content_version(tmp_path / "empty")
    assert empty.returncode == 1 and "no files under" in empty.stderr and empty.stdout == ""


# Locks of /opt/venv, where configure.sh applies the patches; the NGC kernel's lock is another
# Python (NGC's own), which no patch touches.
SERVER_LOCKS = sorted(set(NOTEBOOK.glob("requirements-*.txt")) - {NOTEBOOK / "requirements-ngc-kernel.txt"})


def patch_target(patch: Path) -> tuple[str, str]:
    """(package, version) from the patch's first line: '... (against <package> X.Y.Z).'"""
    match = re.search(r"\(against ([\w-]+) (\d+\.\d+\.\d+)\)", patch.read_text().splitlines()[0])
    assert match, f"{patch.name}: the first line must say '(against <package> X.Y.Z)'"
    return match.group(1), match.group(2)


def server_pins(package: str) -> dict[str, str]:
    pins = {}
    for lock in SERVER_LOCKS:
        found = re.search(rf"^{re.escape(package)}==(\S+)", lock.read_text(), re.M)
        if found:
            pins[lock.name] = found.group(1)
    return pins


def pinned_package_tree(package: str, version: str, tmp_path: Path) -> Path:
    """The package's files at *version*: the test environment's copy when it has that version
    (JupyterHub), else the wheel from the package index, as the image build gets it."""
    module = package.replace("-", "_")
    try:
        installed = __import__(module)
    except ImportError:
        installed = None
    if installed is not None and getattr(installed, "__version__", None) == version:
        return Path(installed.__file__).parent
    wheels = tmp_path / "wheels"
    got = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                          "--dest", str(wheels), f"{package}=={version}"], capture_output=True, text=True, check=False)
    assert got.returncode == 0, f"could not fetch {package}=={version} to check the patch: {got.stderr}"
    (wheel,) = wheels.glob("*.whl")
    unpacked = tmp_path / "unpacked"
    shutil.unpack_archive(wheel, unpacked, format="zip")
    return unpacked / module


@pytest.mark.parametrize("patch", PATCHES, ids=[p.name for p in PATCHES])
def test_patch_is_made_for_the_version_every_server_lock_pins(patch: Path) -> None:
    package, target = patch_target(patch)
    pins = server_pins(package)
    assert len(pins) >= 4, pins  # cpu, cu117, cu80, ngc-server
    stale = {lock: pin for lock, pin in pins.items() if pin != target}
    assert not stale, (f"{patch.name} is made for {package} {target}, but {stale} pin another version: "
                       "remake the patch against that version (or drop it if upstream fixed it), "
                       "and update its first line")


@pytest.mark.parametrize("patch", PATCHES, ids=[p.name for p in PATCHES])
def test_patch_applies_to_the_pinned_package(patch: Path, tmp_path: Path) -> None:
    """The image build applies the patch with `git apply` (configure.sh); here the same patch
    goes onto the same version of the package, so a drifted patch fails before any image is
    built. The patched modules must still compile."""
    package, target = patch_target(patch)
    source = pinned_package_tree(package, target, tmp_path)
    # A copy outside any git work tree: git apply inside one resolves paths from its top.
    site = tmp_path / "site-packages"
    shutil.copytree(source, site / source.name, ignore=shutil.ignore_patterns("__pycache__"))
    check = subprocess.run(["git", "apply", "--check", "--verbose", str(patch)], cwd=site,
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    subprocess.run(["git", "apply", str(patch)], cwd=site, check=True)
    touched = subprocess.run(["git", "apply", "--numstat", str(patch)], cwd=site, capture_output=True,
                             text=True, check=True).stdout.split("\n")
    files = [site / line.split("\t")[2] for line in touched if line]
    assert files and all(f.is_file() for f in files), files
    compiled = subprocess.run([sys.executable, "-m", "py_compile", *map(str, files)], capture_output=True, text=True,
                              check=False)
    assert compiled.returncode == 0, compiled.stderr


def test_every_variant_has_a_base_stage_a_base_arg_and_a_lock() -> None:
    """What scripts/build-images.sh relies on: each final stage `FROM tail AS <v>` has a
    `<v>-base` stage on the build arg <V>_BASE_IMAGE (NOTEBOOK_BASE_IMAGE replacing its public
    default) and a lock file for /opt/venv. A variant added without one fails here, not in a
    build."""
    dockerfile = (NOTEBOOK / "Dockerfile").read_text()
    variants = re.findall(r"^FROM tail AS ([a-z0-9]+)$", dockerfile, re.M)
    assert variants[0] == "cpu" and len(variants) >= 4, variants
    for variant in variants:
        arg = f"{variant.upper()}_BASE_IMAGE"
        assert re.search(rf"^ARG {arg}=\$\{{NOTEBOOK_BASE_IMAGE:-[^}}]+\}}$", dockerfile, re.M), arg
        assert re.search(rf"^FROM \$\{{{arg}\}} AS {variant}-base$", dockerfile, re.M), variant
        locks = [NOTEBOOK / f"requirements-{variant}{suffix}.txt" for suffix in ("", "-server")]
        assert any(lock.is_file() for lock in locks), locks
    assert re.search(r"^FROM \$\{NOTEBOOK_VARIANT\}-base AS tail$", dockerfile, re.M)


def test_the_settings_schema_offers_exactly_the_dockerfiles_variants() -> None:
    """NOTEBOOK_VARIANT's choices (hub settings) and the Dockerfile's final stages are one list."""
    from gluonlab_hub.settings import VARIANTS

    dockerfile = (REPO / "images" / "notebook" / "Dockerfile").read_text()
    assert tuple(re.findall(r"^FROM tail AS ([a-z0-9]+)$", dockerfile, re.M)) == VARIANTS
