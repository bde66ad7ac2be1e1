"""The handout: printable HTML cards (templates/handout.html.j2) and a CSV, both mode 600.

The CSV is meant for spreadsheets and mail merges, so a cell that a spreadsheet would run as a
formula (it starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return) gets a leading
apostrophe, as OWASP's CSV-injection guidance says: the spreadsheet shows it as text. Names
and admin-chosen passwords are the cells this can touch (generated passwords start with a
letter or digit); the HTML cards always show the exact value.
"""

from __future__ import annotations

import csv
import itertools
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .store import Account

TEMPLATES = Path(__file__).with_name("templates")
CSV_HEADER = ("hub_url", "username", "password", "name")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """``cell`` with a leading apostrophe if a spreadsheet would read it as a formula."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def render_handout_html(hub_url: str, accounts: Sequence[Account], title: str = "Gluon Lab") -> str:
    """One card per attendee; self-contained and print-friendly (cards never split across pages)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("handout.html.j2").render(hub_url=hub_url, accounts=accounts, title=title)


def _open_private(path: Path) -> Any:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)  # whatever the umask
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def write_handout(
    out_dir: Path, hub_url: str, accounts: Sequence[Account], *, stamp: str | None = None
) -> tuple[Path, Path]:
    """Write ``accounts-<stamp>.html`` and ``.csv`` (mode 600) into ``out_dir``; never overwrites."""
    page = render_handout_html(hub_url, accounts)  # before any file exists: a template error leaves none
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = stamp or datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    for n in itertools.count(1):
        base = f"accounts-{stamp}" if n == 1 else f"accounts-{stamp}-{n}"
        html_path, csv_path = out_dir / f"{base}.html", out_dir / f"{base}.csv"
        # O_EXCL on both names: a concurrent run in the same second takes the next number.
        try:
            html_file = _open_private(html_path)
        except FileExistsError:
            continue
        try:
            csv_file = _open_private(csv_path)
        except FileExistsError:
            html_file.close()
            html_path.unlink()
            continue
        break
    with html_file as f:
        f.write(page)
    with csv_file as f:
        w = csv.writer(f)
        w.writerow(CSV_HEADER)
        w.writerows([spreadsheet_safe(c) for c in (hub_url, a.username, a.password, a.name)] for a in accounts)
    return html_path, csv_path
