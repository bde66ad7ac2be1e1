"""Walk-in enrolment: a join code with a seat limit and an expiry, in the hub database.

The admin opens enrolment (``gluonlab-accounts enrol open`` or /hub/gluonlab/enrolment); an
attendee at /hub/join gives the code, a username and a password, and gets an ordinary
NativeAuthenticator account (a ``users_info`` row plus a JupyterHub user, as ``store`` makes).

Two tables of our own sit next to the hub's (created on first use; JupyterHub's migrations
ignore tables they do not know): ``gluonlab_enrolment`` (one row per opening; the open one has
no ``closed_at``) and ``gluonlab_joined`` (who joined through which opening, when). A join
checks the code, the expiry, the seats and the username and inserts everything in one write
transaction (SQLite ``BEGIN IMMEDIATE``, :func:`store.begin_write`), so concurrent joins cannot
exceed the seats, and a ``close`` from the CLI (another process) takes effect for every join
that has not committed yet.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from .passwords import PASSWORD_ALPHABET
from .rows import AccountsError
from .store import _hub_users, begin_write, ensure_unique_usernames, existing_usernames

CODE_RE = re.compile(r"[a-z0-9-]{4,32}")
MAX_SEATS = 1000

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS gluonlab_enrolment ("
    " id INTEGER PRIMARY KEY, code TEXT NOT NULL, seats INTEGER NOT NULL,"
    " opened_at REAL NOT NULL, expires_at REAL NOT NULL, opened_by TEXT NOT NULL DEFAULT '',"
    " closed_at REAL)",
    "CREATE TABLE IF NOT EXISTS gluonlab_joined ("
    " username TEXT PRIMARY KEY, enrolment_id INTEGER NOT NULL, joined_at REAL NOT NULL)",
)

# Attendee-facing refusals (the join page shows them as they are).
WRONG_CODE = "加入码错误 / This join code is not valid: check it with your instructor."
CLOSED = "报名已关闭 / Enrolment is closed: ask your instructor."
EXPIRED = "加入码已过期 / This join code has expired: ask your instructor for a new one."
FULL = "名额已满 / All seats are taken: ask your instructor."
TAKEN = "用户名已被使用，请换一个 / This username is taken: choose another."


class JoinRefused(Exception):
    """A join that did not happen; ``str(exc)`` is the bilingual message for the page."""


@dataclass(frozen=True)
class Enrolment:
    id: int
    code: str
    seats: int
    opened_at: float
    expires_at: float
    opened_by: str
    closed_at: float | None
    seats_used: int

    def state(self, now: float | None = None) -> str:
        """``open``, ``closed``, ``expired`` or ``full``."""
        now = time.time() if now is None else now
        if self.closed_at is not None:
            return "closed"
        if now >= self.expires_at:
            return "expired"
        if self.seats_used >= self.seats:
            return "full"
        return "open"


@dataclass(frozen=True)
class Joined:
    username: str
    enrolment_id: int
    joined_at: float


def normalize_code(raw: str) -> str:
    """Codes are read off a projector: case and surrounding spaces do not matter."""
    return raw.strip().lower()


def code_problem(code: str) -> str | None:
    if not CODE_RE.fullmatch(code):
        return f"join code {code!r} must be 4 to 32 characters: lowercase letters, digits and '-'"
    return None


def generate_code(length: int = 6) -> str:
    """Easy to read aloud and type (no 0/O, 1/l); 6 characters: about 30 bits, enough for a
    code that expires the same day and whose guesses are throttled per address."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


def ensure_tables(db: Any) -> None:
    from sqlalchemy import text

    for statement in _SCHEMA:
        db.execute(text(statement))


def _row_to_enrolment(db: Any, row: Any) -> Enrolment:
    from sqlalchemy import text

    (used,) = db.execute(text("SELECT count(*) FROM gluonlab_joined WHERE enrolment_id = :id"), {"id": row[0]}).one()
    return Enrolment(*row, seats_used=used)


def _latest(db: Any) -> Enrolment | None:
    from sqlalchemy import text

    row = db.execute(text("SELECT id, code, seats, opened_at, expires_at, opened_by, closed_at "
                          "FROM gluonlab_enrolment ORDER BY id DESC LIMIT 1")).first()
    return None if row is None else _row_to_enrolment(db, row)


def current(db: Any) -> Enrolment | None:
    """The latest opening (open, closed, expired or full), or None if enrolment never opened.
    Read-only: a database without our tables has had no opening."""
    from sqlalchemy import inspect

    if not inspect(db.connection()).has_table("gluonlab_enrolment"):
        db.rollback()
        return None
    found = _latest(db)
    db.rollback()  # end the read transaction: the hub's session must not hold a snapshot
    return found


def open_enrolment(db: Any, *, seats: int, minutes: float, code: str | None = None, by: str = "",
                   now: float | None = None) -> Enrolment:
    """Open enrolment (closing any earlier opening) and commit; returns the new opening."""
    from sqlalchemy import text

    code = normalize_code(code) if code else generate_code()
    problem = code_problem(code)
    if problem:
        raise AccountsError(problem)
    if not 1 <= seats <= MAX_SEATS:
        raise AccountsError(f"seats must be between 1 and {MAX_SEATS}, got {seats}")
    if not 0 < minutes <= 7 * 24 * 60:
        raise AccountsError(f"the code must expire within a week (1 to {7 * 24 * 60} minutes), got {minutes}")
    now = time.time() if now is None else now
    try:
        begin_write(db)
        ensure_tables(db)
        db.execute(text("UPDATE gluonlab_enrolment SET closed_at = :now WHERE closed_at IS NULL"), {"now": now})
        db.execute(text("INSERT INTO gluonlab_enrolment (code, seats, opened_at, expires_at, opened_by) "
                        "VALUES (:code, :seats, :now, :expires, :by)"),
                   {"code": code, "seats": seats, "now": now, "expires": now + minutes * 60, "by": by})
        opened = _latest(db)
        db.commit()
    except Exception:
        db.rollback()
        raise
    assert opened is not None
    return opened


def close_enrolment(db: Any, now: float | None = None) -> bool:
    """Close the open enrolment at once; False if none was open."""
    from sqlalchemy import text

    now = time.time() if now is None else now
    try:
        begin_write(db)
        ensure_tables(db)
        closed = db.execute(text("UPDATE gluonlab_enrolment SET closed_at = :now WHERE closed_at IS NULL"),
                            {"now": now}).rowcount
        db.commit()
    except Exception:
        db.rollback()
        raise
    return bool(closed)


def check_code(enrolment: Enrolment | None, code: str, now: float | None = None) -> None:
    """Raise :class:`JoinRefused` unless ``code`` opens ``enrolment`` now. Only a wrong code
    says nothing about the enrolment's state; a right code learns why it cannot be used."""
    given = normalize_code(code or "")
    if enrolment is None or not hmac.compare_digest(given.encode(), enrolment.code.encode()):
        raise JoinRefused(WRONG_CODE)
    state = enrolment.state(now)
    if state != "open":
        raise JoinRefused({"closed": CLOSED, "expired": EXPIRED, "full": FULL}[state])


def name_taken(db: Any, username: str, reserved: set[str] = frozenset()) -> bool:
    """True if ``username`` has an account or a hub user (an admin named in config has a hub
    user before it has a password: a walk-in must not take it), or is ``reserved``."""
    taken = username in reserved or bool(existing_usernames(db, [username])) or bool(_hub_users(db, [username]))
    db.rollback()
    return taken


def join(db: Any, *, code: str, username: str, hashed: bytes, reserved: set[str] = frozenset(),
         now: float | None = None) -> Enrolment:
    """Create ``username`` (already validated; ``hashed`` its bcrypt hash) through the open
    enrolment, all checks and inserts under one write lock; commit. Raises :class:`JoinRefused`."""
    from jupyterhub import orm
    from nativeauthenticator.orm import UserInfo
    from sqlalchemy import text

    now = time.time() if now is None else now
    try:
        begin_write(db)
        ensure_tables(db)
        check_code(_latest(db), code, now)
        if username in reserved or existing_usernames(db, [username]) or _hub_users(db, [username]):
            raise JoinRefused(TAKEN)
        ensure_unique_usernames(db)
        enrolment = _latest(db)
        db.add(UserInfo(username=username, password=hashed, is_authorized=True))
        user = orm.User(name=username)
        role = orm.Role.find(db, "user")
        if role is not None:
            user.roles.append(role)
        db.add(user)
        db.flush()
        db.execute(text("INSERT INTO gluonlab_joined (username, enrolment_id, joined_at) VALUES (:u, :e, :t)"),
                   {"u": username, "e": enrolment.id, "t": now})
        db.commit()
    except Exception:
        db.rollback()
        raise
    return enrolment


def joined_accounts(db: Any, since: float | None = None) -> list[Joined]:
    """Accounts created by joining (oldest first), those still existing; ``since``: joined at or after."""
    from nativeauthenticator.orm import UserInfo
    from sqlalchemy import inspect, text

    if not inspect(db.connection()).has_table("gluonlab_joined"):
        db.rollback()
        return []
    rows = db.execute(text("SELECT username, enrolment_id, joined_at FROM gluonlab_joined "
                           "WHERE joined_at >= :since ORDER BY joined_at, username"), {"since": since or 0}).all()
    existing = {n for (n,) in db.query(UserInfo.username)}
    db.rollback()
    return [Joined(*row) for row in rows if row[0] in existing]


def forget_joined(db: Any, usernames: list[str]) -> None:
    """Drop removed accounts from the joined list (the caller commits)."""
    from sqlalchemy import inspect, text

    if inspect(db.connection()).has_table("gluonlab_joined"):
        for name in usernames:
            db.execute(text("DELETE FROM gluonlab_joined WHERE username = :u"), {"u": name})
