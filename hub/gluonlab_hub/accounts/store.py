"""Accounts in the hub database: NativeAuthenticator's ``users_info`` plus JupyterHub's user.

Each account is a ``users_info`` row (bcrypt hash, authorized) and a JupyterHub user with the
default roles, so it shows in the admin panel before the first login. The functions take a
SQLAlchemy session, so they are tested against a temporary hub database without a hub.

Creation is atomic: the check "does this user exist?" and the insert happen in one write
transaction (SQLite ``BEGIN IMMEDIATE``), so overlapping runs cannot both create a user and
hand out two passwords of which only one works. A unique index on ``users_info.username``
(added here: NativeAuthenticator 1.3.0 defines none) also stops any other writer; a database
that already holds duplicates keeps them, reported by :attr:`CreateResult.duplicates`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .passwords import generate_password, hash_passwords, rounds_for
from .rows import AccountRow, AccountsError, Problem

#: Our index on NativeAuthenticator's table; the name says who added it.
UNIQUE_INDEX = "gluonlab_users_info_username_unique"
#: How long a run waits for another run's (or the hub's) write transaction, in ms.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Retries when the unique index rejects a row another writer inserted after our check.
MAX_ATTEMPTS = 3
_IN_CHUNK = 500  # names per IN (...) query, well under SQLite's variable limit


@dataclass(frozen=True)
class Account:
    """A created account with its clear-text password (only ever written to the handout)."""

    username: str
    password: str
    name: str = ""


@dataclass
class CreateResult:
    created: list[Account] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    #: username -> users_info ids, for users that already had more than one row (see module doc).
    duplicates: dict[str, list[int]] = field(default_factory=dict)


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


def existing_usernames(db: Any, names: Sequence[str]) -> set[str]:
    from nativeauthenticator.orm import UserInfo

    found: set[str] = set()
    for i in range(0, len(names), _IN_CHUNK):
        chunk = names[i : i + _IN_CHUNK]
        found.update(n for (n,) in db.query(UserInfo.username).filter(UserInfo.username.in_(chunk)))
    return found


def duplicate_rows(db: Any) -> dict[str, list[int]]:
    """username -> ids (oldest first) for every username with more than one users_info row."""
    from nativeauthenticator.orm import UserInfo
    from sqlalchemy import func

    dup_names = db.query(UserInfo.username).group_by(UserInfo.username).having(func.count() > 1)
    rows = db.query(UserInfo.username, UserInfo.id).filter(UserInfo.username.in_(dup_names.scalar_subquery()))
    found: dict[str, list[int]] = {}
    for name, row_id in rows.order_by(UserInfo.username, UserInfo.id):
        found.setdefault(name, []).append(row_id)
    return found


def has_unique_index(db: Any) -> bool:
    from sqlalchemy import inspect

    return any(ix["name"] == UNIQUE_INDEX for ix in inspect(db.connection()).get_indexes("users_info"))


def ensure_unique_usernames(db: Any) -> dict[str, list[int]]:
    """Add the unique index on users_info.username unless present; returns the duplicates that
    prevent it (nothing is deleted: which row is right is the admin's call). Call inside the
    write transaction so that two runs do not race on the DDL."""
    from sqlalchemy import text

    if has_unique_index(db):
        return {}
    duplicates = duplicate_rows(db)
    if not duplicates:
        # Plain SQL, not sqlalchemy.Index: that would attach the index to NativeAuthenticator's
        # table metadata, and create_all would then add it to every database made in-process.
        db.execute(text(f"CREATE UNIQUE INDEX {UNIQUE_INDEX} ON users_info (username)"))
    return duplicates


def begin_write(db: Any) -> None:
    """Take the database's write lock now, before the existence check, not at the first insert.

    SQLite: ``BEGIN IMMEDIATE``. pysqlite starts transactions only before a write, so after
    reads the connection is idle and the explicit BEGIN is ours; if the session already wrote,
    its transaction holds the write lock already. Other databases rely on the unique index.
    """
    from sqlalchemy import text

    if db.get_bind().dialect.name != "sqlite":
        return
    dbapi = db.connection().connection.dbapi_connection
    if dbapi.in_transaction:
        return
    (current,) = db.execute(text("PRAGMA busy_timeout")).one()
    if current < SQLITE_BUSY_TIMEOUT_MS:
        db.execute(text(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"))
    db.execute(text("BEGIN IMMEDIATE"))


def _grant_default_roles(db: Any, user: Any) -> None:
    """jupyterhub.roles.assign_default_roles without its commits, which would end our lock."""
    from jupyterhub import orm, roles

    if user.admin:
        roles.grant_role(db, entity=user, rolename="admin", commit=False)
    elif orm.Role.find(db, "admin") in user.roles:
        roles.strip_role(db, entity=user, rolename="admin", commit=False)
    roles.grant_role(db, entity=user, rolename="user", commit=False)


def _hub_users(db: Any, names: Sequence[str]) -> dict[str, Any]:
    from jupyterhub import orm

    found = {}
    for i in range(0, len(names), _IN_CHUNK):
        found.update((u.name, u) for u in db.query(orm.User).filter(orm.User.name.in_(names[i : i + _IN_CHUNK])))
    return found


def _insert_missing(db: Any, accounts: Sequence[Account], hashes: Sequence[bytes], result: CreateResult) -> None:
    """One locked transaction: re-check, insert what is still missing, commit. Batched (one query
    per 500 names, one flush): the hub's own writes wait while the lock is held."""
    from jupyterhub import orm
    from nativeauthenticator.orm import UserInfo

    begin_write(db)
    result.duplicates = ensure_unique_usernames(db)
    taken = existing_usernames(db, [a.username for a in accounts])
    new = [(a, h) for a, h in zip(accounts, hashes, strict=True) if a.username not in taken]
    hub_users = _hub_users(db, [a.username for a, _ in new])
    user_role = orm.Role.find(db, "user")  # created by the hub at its first start
    with db.no_autoflush:
        for account, hashed in new:
            db.add(UserInfo(username=account.username, password=hashed, is_authorized=True))
            user = hub_users.get(account.username)
            if user is None:
                user = orm.User(name=account.username)
                db.add(user)
                if user_role is not None:
                    user.roles.append(user_role)  # a new user is no admin: its default roles are just this
            elif user_role is not None:
                _grant_default_roles(db, user)
    db.commit()
    result.created.extend(a for a, _ in new)
    result.skipped.extend(
        Problem(0, a.username, f"{a.username} already exists; left unchanged (another run created it just now)")
        for a in accounts
        if a.username in taken
    )


def create_accounts(db: Any, rows: Iterable[AccountRow], *, bcrypt_rounds: int | None = None) -> CreateResult:
    """Create the accounts in ``db`` (a SQLAlchemy session on the hub database) and commit.

    Rows whose username already has a NativeAuthenticator account are skipped, never changed.
    A hub user without a password (e.g. an admin named in config) gets one. Each new account
    is authorized and holds JupyterHub's default roles. Passwords are generated where missing.
    ``bcrypt_rounds`` None: CHOSEN_PASSWORD_ROUNDS for given passwords, GENERATED_PASSWORD_ROUNDS
    for generated ones. Hashing (slow) happens before the write lock is taken; under it, the
    rows are checked again, so a user another run created meanwhile is skipped and reported.
    On a database error nothing is committed and the error propagates.
    """
    from sqlalchemy.exc import IntegrityError

    rows = list(rows)
    result = CreateResult()
    taken = existing_usernames(db, [r.username for r in rows])
    todo = []
    for row in rows:
        if row.username in taken:
            result.skipped.append(Problem(row.line, row.username, f"{row.username} already exists; left unchanged"))
        else:
            todo.append(row)
    accounts = [Account(r.username, r.password or generate_password(), r.name) for r in todo]
    hashes = hash_passwords([a.password for a in accounts], [rounds_for(bool(r.password), bcrypt_rounds) for r in todo])
    lines = {r.username: r.line for r in todo}
    for attempt in range(1, MAX_ATTEMPTS + 1):
        attempt_result = CreateResult()
        try:
            _insert_missing(db, accounts, hashes, attempt_result)
        except IntegrityError:
            # Only where the lock is not available: the unique index refused a row that another
            # writer inserted after our check; the next attempt's check sees it.
            db.rollback()
            if attempt == MAX_ATTEMPTS:
                raise
            continue
        except Exception:
            db.rollback()
            raise
        break
    result.created = attempt_result.created
    result.duplicates = attempt_result.duplicates
    result.skipped.extend(Problem(lines[p.username], p.username, p.message) for p in attempt_result.skipped)
    return result
