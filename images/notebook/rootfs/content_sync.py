#!/usr/bin/env python3
"""Sync the tutorials shipped in the notebook image into the user's persistent home.

Runs in the *notebook* container at start (start-notebook.sh, before Jupyter), so it is standard
library only; the image has it as /opt/gluonlab/bin/content_sync.py.

Rules (``SRC`` = the image's content, carrying a ``VERSION`` file; ``DEST`` = ``~/tutorials``;
the manifest ``DEST/.gluonlab-content.json`` records the version and each file's SHA-256 as
last synced):

* First start (no manifest, no ``DEST`` files): copy everything.
* Same version as the manifest: do nothing (a fast no-op: only two small files are read).
* A different version (the image's ``VERSION`` is a content hash, so "different" is "newer"):

  - new file (not in the manifest) -> copied in (if a user file already sits at that path,
    the user file is kept and the new one saved beside it);
  - file the user has not changed (hash equals the manifest's) -> updated;
  - file the user edited -> kept; if this version changed it, the new version is saved
    beside it as ``name.new-<version>.ext`` (never overwriting an existing file);
  - file the user deleted (in the manifest, gone from ``DEST``) -> not restored; the report
    says how to get it back;
  - file dropped from the content -> the user's copy is kept, untouched; except a markdown
    tutorial the image now ships as a notebook (``x.md`` gone, ``x.ipynb`` in the content) that
    the user never edited: it is moved into ``DEST/.gluonlab-replaced/<version>/`` (hidden in
    the Lab), so each tutorial is listed once and nothing is lost.

  A bilingual report ``DEST/CONTENT-UPDATE-<version>.md`` lists what happened.
* Missing or corrupt manifest with files present in ``DEST``: treated conservatively as
  "every existing file may be the user's": identical files are adopted, different ones kept
  with the new version beside them, missing ones copied.

Nothing here deletes a user file. Writes go through a temporary file and ``os.replace`` so a
crash leaves either the old or the new file; the manifest is written last.

CLI: ``python content_sync.py --source /opt/gluonlab/content --dest ~/tutorials`` prints a
one-line summary and exits 0 (1 when some files could not be written; 2 on bad usage).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MANIFEST_NAME = ".gluonlab-content.json"
VERSION_NAME = "VERSION"
MANIFEST_FORMAT = 1
REPORT_PREFIX = "CONTENT-UPDATE-"
REPLACED_DIR = ".gluonlab-replaced"


class ContentSyncError(Exception):
    """Bad input (missing source, unreadable VERSION): nothing was changed."""


@dataclass
class SyncResult:
    """What a sync did; paths are relative to ``dest`` with ``/`` separators."""

    version: str
    previous_version: str | None
    source: str = ""
    first_sync: bool = False
    unchanged_version: bool = False
    manifest_recovered: bool = False
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    kept_user_edits: list[tuple[str, str]] = field(default_factory=list)  # (file, new version beside it)
    not_restored: list[str] = field(default_factory=list)
    edited_not_changed_upstream: list[str] = field(default_factory=list)
    dropped_upstream: list[str] = field(default_factory=list)
    replaced_by_notebook: list[tuple[str, str]] = field(default_factory=list)  # (file, where it was moved)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    report: str | None = None

    def summary(self) -> str:
        if self.unchanged_version:
            return f"content_sync: tutorials already at version {self.version}; nothing to do"
        if self.first_sync:
            head = f"content_sync: copied {len(self.added)} tutorial file(s), version {self.version}"
        else:
            head = (
                f"content_sync: {self.previous_version or 'unknown'} -> {self.version}: "
                f"{len(self.added)} added, {len(self.updated)} updated, "
                f"{len(self.kept_user_edits)} kept (your edits, new version beside), "
                f"{len(self.not_restored)} deleted by you not restored"
            )
        if self.errors:
            head += f", {len(self.errors)} error(s)"
        if self.report:
            head += f"; report: {self.report}"
        return head


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_version(source: Path) -> str:
    """The content version from ``source/VERSION`` (first line, stripped)."""
    try:
        raw = (source / VERSION_NAME).read_text(encoding="utf-8").strip().splitlines()
    except FileNotFoundError:
        raise ContentSyncError(
            f"{source / VERSION_NAME} is missing; the image must ship a content VERSION file"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ContentSyncError(f"cannot read {source / VERSION_NAME}: {exc}") from None
    if not raw or not raw[0].strip():
        raise ContentSyncError(f"{source / VERSION_NAME} is empty; it must hold the content version")
    return raw[0].strip()


def safe_version(version: str) -> str:
    """The version as it may appear in a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", version)[:64] or "unknown"


def list_source_files(source: Path) -> dict[str, Path]:
    """Regular files under ``source`` by relative POSIX path (VERSION and symlinks excluded)."""
    files: dict[str, Path] = {}
    for root, dirs, names in os.walk(source):
        dirs.sort()
        # hidden folders such as .ipynb_checkpoints are build debris, not content
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in sorted(names):
            path = Path(root) / name
            rel = path.relative_to(source).as_posix()
            if rel in (VERSION_NAME, MANIFEST_NAME) or path.is_symlink() or not path.is_file():
                continue
            files[rel] = path
    return files


def load_manifest(dest: Path) -> dict | None:
    """The manifest, or None when it is missing or cannot be trusted."""
    try:
        data = json.loads((dest / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(data, dict)
        or data.get("format") != MANIFEST_FORMAT
        or not isinstance(data.get("version"), str)
        or not isinstance(data.get("files"), dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in data["files"].items())
    ):
        return None
    return data


def _atomic_write_bytes(target: Path, data: bytes, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".gluonlab-tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _atomic_copy(src: Path, target: Path) -> None:
    """Copy ``src`` over ``target`` via a temporary file in the same folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # the user can always edit their copy
    _atomic_write_bytes(target, src.read_bytes(), (src.stat().st_mode & 0o777) | 0o600)


def _copy_new(src: Path, target: Path) -> None:
    """Copy to a path that must not exist yet (fails rather than overwrite)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with src.open("rb") as fin, open(target, "xb") as fout:
        shutil.copyfileobj(fin, fout)
    os.chmod(target, (src.stat().st_mode & 0o777) | 0o600)


def beside_name(rel: str, version: str, usable: Callable[[str], bool]) -> str:
    """``a/lesson.md`` -> ``a/lesson.new-<version>.md``, or ``-2``, ``-3``... until ``usable``."""
    p = PurePosixPath(rel)
    suffix = p.suffix if p.stem else ""
    stem = p.name[: len(p.name) - len(suffix)] if suffix else p.name
    tag = safe_version(version)
    n = 1
    while True:
        extra = "" if n == 1 else f"-{n}"
        candidate = str(p.with_name(f"{stem}.new-{tag}{extra}{suffix}"))
        if usable(candidate):
            return candidate
        n += 1


def _is_plain_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def sync(source: Path, dest: Path) -> SyncResult:
    """Sync ``source`` into ``dest`` following the module's rules. See :class:`SyncResult`."""
    source = Path(source)
    dest = Path(dest)
    if not source.is_dir():
        raise ContentSyncError(f"content source {source} is not a folder")
    version = read_version(source)
    if dest.exists() and not dest.is_dir():
        raise ContentSyncError(f"{dest} exists and is not a folder; move it away so tutorials can be copied there")

    manifest = load_manifest(dest)
    if manifest is not None and manifest["version"] == version:
        return SyncResult(version=version, previous_version=version, unchanged_version=True)

    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ContentSyncError(f"cannot create {dest}: {exc.strerror}") from None
    src_files = list_source_files(source)
    has_user_files = any(p.name != MANIFEST_NAME for p in dest.iterdir())
    result = SyncResult(
        version=version,
        previous_version=manifest["version"] if manifest else None,
        source=str(source),
        first_sync=manifest is None and not has_user_files,
        manifest_recovered=manifest is None and has_user_files,
    )
    recorded: dict[str, str] = dict(manifest["files"]) if manifest else {}
    new_manifest: dict[str, str] = {}

    for rel, src in src_files.items():
        target = dest / rel
        try:
            src_hash = sha256_file(src)
            new_manifest[rel] = src_hash
            if not target.exists() and not target.is_symlink():
                if manifest is not None and rel in recorded:
                    result.not_restored.append(rel)  # the user deleted it: respect that
                else:
                    _atomic_copy(src, target)
                    result.added.append(rel)
                continue
            if not _is_plain_file(target):
                raise OSError(f"{rel} is a folder or link in your tutorials; left as it is")
            cur_hash = sha256_file(target)
            if cur_hash == src_hash:
                result.up_to_date.append(rel)
            elif rel in recorded and cur_hash == recorded[rel]:
                _atomic_copy(src, target)
                result.updated.append(rel)
            elif rel in recorded and src_hash == recorded[rel]:
                result.edited_not_changed_upstream.append(rel)  # their edit; nothing new to offer
            else:

                def usable(c: str, want: str = src_hash) -> bool:
                    # free, or already holding exactly this new version (a rerun after a crash)
                    p = dest / c
                    if not p.exists() and not p.is_symlink():
                        return True
                    return _is_plain_file(p) and sha256_file(p) == want

                beside = beside_name(rel, version, usable)
                if not (dest / beside).exists():
                    _copy_new(src, dest / beside)
                result.kept_user_edits.append((rel, beside))
        except OSError as exc:
            result.errors.append((rel, exc.strerror or str(exc)))
            # keep the old record so the next start retries with the same knowledge
            if rel in recorded:
                new_manifest[rel] = recorded[rel]
            else:
                new_manifest.pop(rel, None)

    for rel in sorted(r for r in recorded if r not in src_files):
        moved = _move_replaced_markdown(dest, rel, recorded[rel], src_files, version)
        if moved:
            result.replaced_by_notebook.append((rel, moved))
        else:
            result.dropped_upstream.append(rel)

    if not result.first_sync:
        result.report = write_report(dest, result)
    _atomic_write_bytes(
        dest / MANIFEST_NAME,
        json.dumps(
            {"format": MANIFEST_FORMAT, "version": version, "files": new_manifest}, indent=1, sort_keys=True
        ).encode(),
    )
    return result


def _move_replaced_markdown(dest: Path, rel: str, recorded_hash: str, src_files: dict[str, Path],
                            version: str) -> str | None:
    """Move an unedited ``x.md`` that the content now ships as ``x.ipynb`` out of sight; returns
    where it went, or None when it stays (edited, not markdown, no notebook form, or an error)."""
    path = PurePosixPath(rel)
    target = dest / rel
    if path.suffix != ".md" or str(path.with_suffix(".ipynb")) not in src_files:
        return None
    try:
        if not _is_plain_file(target) or sha256_file(target) != recorded_hash:
            return None
        moved = PurePosixPath(REPLACED_DIR, safe_version(version), rel)
        (dest / moved).parent.mkdir(parents=True, exist_ok=True)
        os.replace(target, dest / moved)
    except OSError:
        return None
    return str(moved)


def render_report(result: SyncResult) -> str:
    """The Markdown report (Chinese and English lines) for an update."""
    src = result.source or "the image's content folder"
    lines = [
        f"# 教程内容更新 / Tutorial content update: {result.previous_version or '?'} → {result.version}",
        "",
        "你的文件没有被删除或覆盖。/ None of your files were deleted or overwritten.",
        "",
    ]
    if result.manifest_recovered:
        lines += [
            "上次同步的记录丢失或损坏：所有与新版本不同的文件都视为你的修改而保留。",
            (
                "The record of the last sync was missing or damaged: every file that differs from the new "
                "version was treated as your edit and kept."
            ),
            "",
        ]

    def section(zh: str, en: str, items: list[str]) -> None:
        if items:
            lines.extend([f"## {zh} / {en}", ""] + [f"- {i}" for i in items] + [""])

    section("新增", "Added", result.added)
    section("已更新（你未修改过）", "Updated (you had not changed them)", result.updated)
    section(
        "保留了你的修改，新版本放在旁边",
        "Kept your edits; the new version is saved beside them",
        [f"`{f}` → 新版本 / new version: `{b}`" for f, b in result.kept_user_edits],
    )
    section(
        "你删除的文件未恢复",
        f"Files you deleted were not restored (a copy is in {src})",
        result.not_restored,
    )
    section("已从课程中移除（你的副本保留）", "Removed from the course (your copy is kept)", result.dropped_upstream)
    section(
        "改为笔记本提供：未修改过的 Markdown 副本已移到隐藏文件夹",
        "Now shipped as notebooks: your unedited Markdown copies were moved to a hidden folder",
        [f"`{f}` → `{m}`" for f, m in result.replaced_by_notebook],
    )
    section("无法写入", "Could not be written", [f"{f}: {why}" for f, why in result.errors])
    return "\n".join(lines).rstrip() + "\n"


def write_report(dest: Path, result: SyncResult) -> str:
    """Write the report without overwriting an older one; returns its name."""
    base = f"{REPORT_PREFIX}{safe_version(result.version)}"
    name = f"{base}.md"
    n = 2
    while (dest / name).exists() or (dest / name).is_symlink():
        name = f"{base}-{n}.md"
        n += 1
    with open(dest / name, "x", encoding="utf-8") as f:
        f.write(render_report(result))
    return name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Copy the image's tutorials into the user's home, keeping the user's edits.",
    )
    parser.add_argument("--source", required=True, type=Path, help="content shipped in the image (has a VERSION file)")
    parser.add_argument("--dest", required=True, type=Path, help="the user's tutorials folder, e.g. ~/tutorials")
    args = parser.parse_args(argv)
    try:
        result = sync(args.source, args.dest.expanduser())
    except ContentSyncError as exc:
        print(f"content_sync: {exc}; nothing was changed", file=sys.stderr)
        return 2
    except OSError as exc:
        # e.g. a full disk while writing the manifest: files already synced stay, the next
        # start finishes the job (unchanged files then match, edited ones are kept again)
        print(f"content_sync: stopped by {exc}; your files are untouched", file=sys.stderr)
        return 1
    print(result.summary())
    for rel, why in result.errors:
        print(f"content_sync: could not write {rel}: {why}", file=sys.stderr)
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
