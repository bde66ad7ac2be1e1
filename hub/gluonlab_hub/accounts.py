"""Workshop attendee accounts: bulk creation from a CSV or a count, with a printable handout.

Accounts live in NativeAuthenticator's table (``users_info``) of the hub database, with the
password hashed exactly as NativeAuthenticator hashes it (``bcrypt.hashpw(pw, gensalt())``)
and marked authorized, plus a JupyterHub user row with the default ``user`` role, so they
show up in the admin panel before the first login. The core, :func:`create_accounts`, takes a
SQLAlchemy session, so it is tested against a temporary hub database without a running hub.

CLI (run inside the hub container, where the hub database is)::

    python -m gluonlab_hub.accounts create --csv attendees.csv --hub-url https://lab.example.org --out /srv/handouts
    python -m gluonlab_hub.accounts create --count 30 --prefix student --hub-url ... --out ...

CSV: columns ``username[,password][,name]``; an optional header row (first cell ``username``)
may name the columns in any order. Empty passwords are generated. Usernames are lowercased
(JupyterHub does the same at login). Exit codes: 0 all created; 1 some rows invalid or
skipped (the valid ones are created); 2 nothing done (bad usage, unreadable file, database
error).

The hub must let these users in: NativeAuthenticator only authenticates authorized rows,
so ``c.Authenticator.allow_all = True`` with ``c.NativeAuthenticator.enable_signup = False``
keeps the hub closed to everyone else.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import os
import re
import secrets
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

#: Where the hub keeps its database inside the hub container (same default as settings.py).
DEFAULT_STATE_DIR = "/srv/jupyterhub/state"
#: JupyterHub/NativeAuthenticator-safe names that also work in Docker container/volume names.
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
MAX_USERNAME_LEN = 32
MIN_PASSWORD_LEN = 8
MAX_PASSWORD_BYTES = 72  # bcrypt hashes at most 72 bytes (bcrypt 5 refuses longer ones)
COLUMNS = ("username", "password", "name")
#: No 0/O, 1/l/I: the password is read off a paper card.
PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
#: bcrypt cost for passwords an admin chose (CSV): NativeAuthenticator's default, because a
#: human-chosen password needs the slow hash to resist guessing from a stolen database.
CHOSEN_PASSWORD_ROUNDS = 12
#: bcrypt cost for passwords generated here (~60 random bits): OWASP's minimum of 10. Stretching
#: adds nothing to a secret that cannot be guessed (JupyterHub hashes its own generated tokens
#: with one round for this reason), and every login checks the hash: at a workshop start 20
#: logins cost 20 x 0.24 core-s at cost 12, 20 x 0.06 at cost 10 (bench/README.md).
GENERATED_PASSWORD_ROUNDS = 10
MAX_COUNT = 1000

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


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


@dataclass(frozen=True)
class Account:
    """A created account with its clear-text password (only ever written to the handout)."""

    username: str
    password: str
    name: str = ""


@dataclass
class ParsedRows:
    rows: list[AccountRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class CreateResult:
    created: list[Account] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)


# ---------------------------------------------------------------------- input rows


def normalize_username(raw: str) -> str:
    return raw.strip().lower()


def username_problem(username: str) -> str | None:
    """Why ``username`` (already normalized) cannot be used, or None."""
    if not username:
        return "username is empty"
    if len(username) > MAX_USERNAME_LEN:
        return f"username {username!r} is longer than {MAX_USERNAME_LEN} characters"
    if not USERNAME_RE.match(username):
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
        if password is not None and len(password) < MIN_PASSWORD_LEN:
            out.problems.append(
                Problem(
                    line,
                    username,
                    f"password for {username} is shorter than {MIN_PASSWORD_LEN} characters; "
                    "leave it empty to have one generated",
                )
            )
            continue
        if password is not None and len(password.encode()) > MAX_PASSWORD_BYTES:
            out.problems.append(
                Problem(
                    line,
                    username,
                    f"password for {username} is longer than {MAX_PASSWORD_BYTES} bytes (bcrypt's limit)",
                )
            )
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


def generate_password(groups: int = 3, group_len: int = 4) -> str:
    """A readable random password such as ``k7pm-x3qa-9fht`` (about 60 bits from ``secrets``)."""
    return "-".join("".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(group_len)) for _ in range(groups))


def hash_password(password: str, rounds: int = 12) -> bytes:
    """NativeAuthenticator's hashing: ``bcrypt.hashpw(pw, bcrypt.gensalt())`` (12 rounds by default)."""
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds))


# ------------------------------------------------------------------------ database


def open_hub_db(db_url: str) -> Any:
    """A session on the hub database; creates NativeAuthenticator's table if it is missing.

    A SQLite file that does not exist is refused rather than created next to the wrong hub.
    """
    from jupyterhub import orm
    from nativeauthenticator.orm import UserInfo  # noqa: F401  (registers users_info on orm.Base)

    if db_url.startswith("sqlite:///") and ":memory:" not in db_url:
        path = Path(db_url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise AccountsError(
                f"hub database {path} not found; start the hub once, or pass --db-url (or set GLUONLAB_HUB_DB_URL)"
            )
    try:
        return orm.new_session_factory(db_url)()
    except Exception as exc:  # sqlalchemy/alembic raise many kinds; all mean "cannot use this db"
        raise AccountsError(f"cannot open hub database {db_url}: {exc}") from exc


def create_accounts(db: Any, rows: Iterable[AccountRow], *, bcrypt_rounds: int | None = None) -> CreateResult:
    """Create the accounts in ``db`` (a SQLAlchemy session on the hub database) and commit.

    Rows whose username already has a NativeAuthenticator account are skipped, never changed.
    A hub user without a password (e.g. an admin named in config) gets one. Each new account
    is authorized and holds JupyterHub's default roles. Passwords are generated where missing.
    ``bcrypt_rounds`` None: CHOSEN_PASSWORD_ROUNDS for given passwords, GENERATED_PASSWORD_ROUNDS
    for generated ones.
    On a database error nothing is committed and the error propagates.
    """
    from jupyterhub import orm, roles
    from nativeauthenticator.orm import UserInfo

    result = CreateResult()
    todo: list[AccountRow] = []
    for row in rows:
        if UserInfo.find(db, row.username) is not None:
            result.skipped.append(Problem(row.line, row.username, f"{row.username} already exists; left unchanged"))
        else:
            todo.append(row)
    accounts = [Account(r.username, r.password or generate_password(), r.name) for r in todo]
    rounds = [bcrypt_rounds or (CHOSEN_PASSWORD_ROUNDS if r.password else GENERATED_PASSWORD_ROUNDS) for r in todo]
    # bcrypt releases the GIL: hash on all cores (12 rounds is ~0.25 s per password)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        hashes = list(pool.map(lambda a, n: hash_password(a.password, n), accounts, rounds))
    user_role = orm.Role.find(db, "user")  # created by the hub at its first start
    try:
        for account, hashed in zip(accounts, hashes, strict=True):
            db.add(UserInfo(username=account.username, password=hashed, is_authorized=True))
            user = orm.User.find(db, account.username)
            if user is None:
                user = orm.User(name=account.username)
                db.add(user)
                db.flush()
            if user_role is not None:
                roles.assign_default_roles(db, entity=user)
            result.created.append(account)
        db.commit()
    except Exception:
        db.rollback()
        raise
    return result


# ------------------------------------------------------------------------- handout


def _open_private(path: Path, exclusive: bool = True) -> Any:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)  # umask cannot widen it, and an old file cannot keep wider bits
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def render_handout_html(hub_url: str, accounts: Sequence[Account], title: str = "Gluon Lab") -> str:
    """One card per attendee; self-contained and print-friendly (cards never split across pages)."""
    esc = html.escape
    cards = "\n".join(
        f"""<section class="card">
  <h2>{esc(title)}</h2>
  {f'<p class="who">{esc(a.name)}</p>' if a.name else ""}
  <dl>
    <dt>地址 / Hub URL</dt><dd class="mono">{esc(hub_url)}</dd>
    <dt>用户名 / Username</dt><dd class="mono">{esc(a.username)}</dd>
    <dt>密码 / Password</dt><dd class="mono">{esc(a.password)}</dd>
  </dl>
  <p class="hint">请妥善保管，勿与他人共用。/ Keep this card; do not share your account.</p>
</section>"""
        for a in accounts
    )
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>{esc(title)} accounts</title>
<style>
  body {{ font-family: sans-serif; margin: 1cm; }}
  .cards {{ display: grid; grid-template-columns: repeat(2, 1fr); gap: 0.6cm; }}
  .card {{ border: 1px dashed #555; padding: 0.4cm 0.6cm; break-inside: avoid; page-break-inside: avoid; }}
  .card h2 {{ margin: 0 0 0.2cm; font-size: 14pt; }}
  .who {{ margin: 0 0 0.2cm; font-weight: bold; }}
  dl {{ display: grid; grid-template-columns: max-content 1fr; gap: 0.1cm 0.4cm; margin: 0; }}
  dt {{ color: #444; }}
  dd {{ margin: 0; }}
  .mono {{ font-family: "DejaVu Sans Mono", monospace; font-size: 12pt; word-break: break-all; }}
  .hint {{ font-size: 8pt; color: #555; margin: 0.2cm 0 0; }}
  @media print {{ body {{ margin: 0; }} @page {{ margin: 1cm; }} }}
</style>
</head>
<body>
<div class="cards">
{cards}
</div>
</body>
</html>
"""


def write_handout(
    out_dir: Path, hub_url: str, accounts: Sequence[Account], *, stamp: str | None = None
) -> tuple[Path, Path]:
    """Write ``accounts-<stamp>.html`` and ``.csv`` (mode 600) into ``out_dir``; never overwrites."""
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = stamp or datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base, n = f"accounts-{stamp}", 1
    while (out_dir / f"{base}.html").exists() or (out_dir / f"{base}.csv").exists():
        n += 1
        base = f"accounts-{stamp}-{n}"
    html_path, csv_path = out_dir / f"{base}.html", out_dir / f"{base}.csv"
    with _open_private(html_path) as f:
        f.write(render_handout_html(hub_url, accounts))
    with _open_private(csv_path) as f:
        w = csv.writer(f)
        w.writerow(["hub_url", "username", "password", "name"])
        w.writerows([hub_url, a.username, a.password, a.name] for a in accounts)
    return html_path, csv_path


# ----------------------------------------------------------------------------- CLI


def _read_csv_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets often add a BOM
    except FileNotFoundError:
        raise AccountsError(f"CSV file {path} not found") from None
    except UnicodeDecodeError as exc:
        raise AccountsError(f"CSV file {path} is not UTF-8 (byte {exc.start}); save it as UTF-8 CSV") from None
    except OSError as exc:
        raise AccountsError(f"cannot read {path}: {exc.strerror}") from None


def default_db_url() -> str:
    """The hub's database as the hub itself finds it (Settings.db_url: ``$GLUONLAB_HUB_DB_URL``,
    else SQLite in ``$GLUONLAB_STATE_DIR``)."""
    from .settings import Settings

    return Settings.from_env().db_url


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gluonlab-accounts", description="Create workshop accounts and a printable handout."
    )
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create", help="create accounts from a CSV or a count")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--csv", type=Path, help="CSV with username[,password][,name]; header optional")
    src.add_argument("--count", type=int, help="create PREFIX01..PREFIXnn")
    c.add_argument("--prefix", default="student", help="username prefix for --count (default: student)")
    c.add_argument("--start", type=int, default=1, help="first number for --count (default: 1)")
    c.add_argument("--hub-url", required=True, help="the URL attendees open, printed on each card")
    c.add_argument("--out", required=True, type=Path, help="folder for the handout (HTML and CSV, mode 600)")
    c.add_argument(
        "--db-url",
        default=default_db_url(),
        help="hub database URL (default: $GLUONLAB_HUB_DB_URL, else "
        f"sqlite:///$GLUONLAB_STATE_DIR/jupyterhub.sqlite with {DEFAULT_STATE_DIR} when unset)",
    )
    return p


def run_create(args: argparse.Namespace, *, bcrypt_rounds: int | None = None) -> int:
    if not re.match(r"^https?://[^\s/]+", args.hub_url):
        raise AccountsError(f"--hub-url {args.hub_url!r} must start with http:// or https:// and name a host")
    if args.csv is not None:
        parsed = parse_csv(_read_csv_file(args.csv))
    else:
        parsed = ParsedRows(rows=rows_from_count(args.count, args.prefix, args.start))
    if args.out.exists() and not args.out.is_dir():
        raise AccountsError(f"--out {args.out} is not a folder")

    db = open_hub_db(args.db_url)
    try:
        try:
            result = create_accounts(db, parsed.rows, bcrypt_rounds=bcrypt_rounds)
        except AccountsError:
            raise
        except Exception as exc:
            raise AccountsError(f"database error, nothing was created: {exc}") from exc
    finally:
        db.close()

    problems = sorted(parsed.problems + result.skipped, key=lambda p: p.line)
    for problem in problems:
        print(f"gluonlab-accounts: {problem}", file=sys.stderr)
    if result.created:
        try:
            html_path, csv_path = write_handout(args.out, args.hub_url, result.created)
        except OSError as exc:
            # The accounts exist now; print the passwords rather than lose them.
            print(f"gluonlab-accounts: could not write the handout ({exc}); the new accounts are:", file=sys.stderr)
            for a in result.created:
                print(f"{a.username},{a.password}", file=sys.stderr)
            return EXIT_PARTIAL
        print(f"gluonlab-accounts: created {len(result.created)} account(s); handout: {html_path} and {csv_path}")
    else:
        print("gluonlab-accounts: no account created")
    if problems:
        print(f"gluonlab-accounts: {len(problems)} row(s) not created (see above)")
        return EXIT_PARTIAL
    return EXIT_OK


def main(argv: list[str] | None = None, *, bcrypt_rounds: int | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_create(args, bcrypt_rounds=bcrypt_rounds)
    except AccountsError as exc:
        print(f"gluonlab-accounts: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
