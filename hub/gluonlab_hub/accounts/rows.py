"""Requested accounts: CSV parsing, username rules and ``--count`` rows.

CSV: columns ``username[,password][,name]``; an optional header row (first cell ``username``)
may name the columns in any order. Usernames are lowercased (JupyterHub does the same at
login). Bad rows become :class:`Problem` entries with their line number; good rows go on.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from .passwords import password_problem

#: JupyterHub/NativeAuthenticator-safe names that also work in Docker container/volume names.
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
MAX_USERNAME_LEN = 32
COLUMNS = ("username", "password", "name")
MAX_COUNT = 1000


class AccountsError(Exception):
    """Bad usage or input that stops everything; nothing was created."""


@dataclass(frozen=True)
class AccountRow:
    """A requested account. ``line`` is the CSV line (0 for --count)."""

    line: int
    username: str
    password: str | None = None
    name: str = ""


@dataclass(frozen=True)
class Problem:
    """A row that was not created, and why (``line`` 0 when not from a file)."""

    line: int
    username: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.message}"


@dataclass
class ParsedRows:
    rows: list[AccountRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def normalize_username(raw: str) -> str:
    return raw.strip().lower()


def username_problem(username: str) -> str | None:
    """Why ``username`` (already normalized) cannot be used, or None."""
    if not username:
        return "username is empty"
    if len(username) > MAX_USERNAME_LEN:
        return f"username {username!r} is longer than {MAX_USERNAME_LEN} characters"
    if not USERNAME_RE.fullmatch(username):
        return (
            f"username {username!r} has characters that are not allowed: use lowercase letters, digits, "
            "'-', '_' and '.', starting with a letter or digit"
        )
    return None


def parse_csv(text: str) -> ParsedRows:
    """Rows and per-line problems from CSV text (see the module doc for the format).

    Raises :class:`AccountsError` only for a header naming unknown columns.
    """
    out = ParsedRows()
    seen: dict[str, int] = {}
    columns: tuple[str, ...] | None = None
    header_seen = False
    reader = csv.reader(io.StringIO(text))
    for cells in reader:
        line = reader.line_num
        if not cells or all(not c.strip() for c in cells):
            out.problems.append(Problem(line, "", "empty line skipped"))
            continue
        cells = [c.strip() for c in cells]
        if not header_seen and not out.rows and cells[0].lower() == "username":
            header_seen = True
            names = tuple(c.lower() for c in cells)
            unknown = [c for c in names if c not in COLUMNS]
            if unknown or len(set(names)) != len(names):
                raise AccountsError(
                    f"line {line}: header {','.join(cells)!r} must name each of "
                    f"{', '.join(COLUMNS)} at most once (username first)"
                )
            columns = names
            continue
        if columns is not None and len(cells) != len(columns):
            out.problems.append(
                Problem(
                    line, cells[0], f"has {len(cells)} columns, the header has {len(columns)} ({','.join(columns)})"
                )
            )
            continue
        if columns is None and len(cells) > len(COLUMNS):
            out.problems.append(
                Problem(line, cells[0], f"has {len(cells)} columns; expected 1 to 3: username[,password][,name]")
            )
            continue
        values = dict(zip(columns or COLUMNS, cells, strict=False))  # fewer cells than COLUMNS is fine
        username = normalize_username(values.get("username", ""))
        why = username_problem(username)
        if why:
            out.problems.append(Problem(line, username, why))
            continue
        if username in seen:
            out.problems.append(Problem(line, username, f"duplicate of line {seen[username]} ({username})"))
            continue
        password = values.get("password") or None
        why = password_problem(username, password)
        if why:
            out.problems.append(Problem(line, username, why))
            continue
        seen[username] = line
        out.rows.append(AccountRow(line, username, password, values.get("name", "")))
    return out


def rows_from_count(count: int, prefix: str, start: int = 1) -> list[AccountRow]:
    """``student01`` ... ``student30``: zero-padded to at least two digits."""
    if not 1 <= count <= MAX_COUNT:
        raise AccountsError(f"--count must be between 1 and {MAX_COUNT}, got {count}")
    if start < 0:
        raise AccountsError(f"--start must be 0 or more, got {start}")
    prefix = normalize_username(prefix)
    width = max(2, len(str(start + count - 1)))
    rows = [AccountRow(0, f"{prefix}{n:0{width}d}") for n in range(start, start + count)]
    why = username_problem(rows[-1].username) or username_problem(rows[0].username)
    if why:
        raise AccountsError(f"--prefix {prefix!r} gives bad usernames: {why}")
    return rows
