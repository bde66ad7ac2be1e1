"""Daily copies of the hub's SQLite database, kept in the hub's state volume.

Run by the hub as a JupyterHub service (hub/jupyterhub_config.py): one copy at start, then one a
day, named ``jupyterhub-YYYY-MM-DD.sqlite`` (mode 600; a copy of the same day is replaced), and
only the newest ``--keep`` are kept. The copy uses SQLite's online backup API, so it is
consistent while the hub writes. It is written as ``<name>.part`` and renamed, so a crash never
leaves a half copy under a backup's name.

Restore (README, "Exposure and secrets"): stop the hub, copy a backup over
``/srv/jupyterhub/state/jupyterhub.sqlite``, start it again.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import sqlite3
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger("gluonlab.backup")

NAME = re.compile(r"^jupyterhub-\d{4}-\d{2}-\d{2}\.sqlite$")
DAY_S = 86400


def backup_once(db: Path, folder: Path, keep: int, now: datetime | None = None) -> Path:
    """Copy *db* into *folder* as today's backup, drop all but the newest *keep*; return the copy."""
    if not db.is_file():
        raise FileNotFoundError(f"no hub database at {db}")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    day = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d")
    final = folder / f"jupyterhub-{day}.sqlite"
    part = folder / f"{final.name}.part"
    part.unlink(missing_ok=True)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    source = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    target = sqlite3.connect(part)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    os.replace(part, final)
    for old in sorted((p for p in folder.iterdir() if NAME.match(p.name)), reverse=True)[keep:]:
        old.unlink()
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gluonlab_hub.backup",
                                     description="Daily consistent copies of the hub's SQLite database.")
    parser.add_argument("--db", type=Path, required=True, help="the hub's SQLite file")
    parser.add_argument("--dir", type=Path, required=True, help="folder for the copies")
    parser.add_argument("--keep", type=int, default=7, help="copies kept (one a day)")
    parser.add_argument("--interval", type=float, default=DAY_S, help="seconds between copies")
    parser.add_argument("--once", action="store_true", help="one copy, then exit")
    args = parser.parse_args(argv)
    if args.keep < 1:
        parser.error("--keep must be at least 1")
    logging.basicConfig(level=logging.INFO, format="[gluonlab-backup] %(message)s")
    while True:
        try:
            log.info("hub database copied to %s", backup_once(args.db, args.dir, args.keep))
        except (OSError, sqlite3.Error) as error:
            # A failed copy (disk full, database being created) must not stop the service: the
            # hub would restart it at once, in a loop; the next day's try goes on.
            log.error("backup failed: %s", error)
            if args.once:
                return 1
        if args.once:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
