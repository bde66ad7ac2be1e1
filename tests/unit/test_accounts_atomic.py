"""Accounts are atomic: overlapping `gluonlab-accounts create` runs create each user once, and
every password a handout prints logs in (hub/gluonlab_hub/accounts/store.py)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import bcrypt
import gluonlab_hub.accounts as acc
import pytest
from gluonlab_hub.accounts import cli, rows, store
from hubdb import FAST, login, make_hub_db
from jupyterhub import orm
from nativeauthenticator.orm import UserInfo
from sqlalchemy import func, inspect
from sqlalchemy.exc import IntegrityError

HUB = Path(acc.__file__).parents[2]
RUNS = 3  # the reproduction: three runs on one CSV
USERS = [f"ws{n:02d}" for n in range(1, 11)]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return make_hub_db(tmp_path / "jupyterhub.sqlite")


def rows_per_user(db_url: str) -> dict[str, int]:
    db = store.open_hub_db(db_url)
    try:
        return dict(db.query(UserInfo.username, func.count()).group_by(UserInfo.username))
    finally:
        db.close()


def handout_rows(folder: Path) -> list[dict[str, str]]:
    return [row for path in sorted(folder.glob("*.csv")) for row in csv.DictReader(path.open())]


def test_concurrent_runs_on_one_csv_create_each_user_once(db_url: str, tmp_path: Path) -> None:
    """RUNS real processes at once, as an admin who pressed enter in several terminals (real
    bcrypt cost: hashing is the window in which, before, every run saw every user missing)."""
    attendees = tmp_path / "attendees.csv"
    attendees.write_text("username,name\n" + "".join(f"{u},Attendee {u}\n" for u in USERS))
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(HUB), "GLUONLAB_HUB_DB_URL": db_url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gluonlab_hub.accounts", "create", "--csv", str(attendees),
             "--hub-url", "https://lab.test", "--out", str(tmp_path / f"out{i}")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for i in range(RUNS)
    ]
    runs = []
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=300)
        runs.append((proc.returncode, out, err, handout_rows(tmp_path / f"out{i}")))

    assert rows_per_user(db_url) == {u: 1 for u in USERS}
    created = sorted(row["username"] for *_, handout in runs for row in handout)
    assert created == USERS  # each user on exactly one handout
    db = store.open_hub_db(db_url)
    try:
        for code, out, err, handout in runs:
            assert "Traceback" not in err, err
            mine = {row["username"] for row in handout}
            for row in handout:
                stored = UserInfo.find(db, row["username"]).password
                assert bcrypt.checkpw(row["password"].encode(), stored)
                assert login(db, row["username"], row["password"]) == row["username"]
            # A run that found users existing says so, by name, and exits 1.
            for user in set(USERS) - mine:
                assert f"{user} already exists; left unchanged" in err
            assert code == (0 if mine == set(USERS) else 1), (code, out, err)
            assert (f"created {len(mine)} account(s)" if mine else "no account created") in out
    finally:
        db.close()


def test_unique_index_is_added_once_and_enforced(db_url: str) -> None:
    db = store.open_hub_db(db_url)
    try:
        store.create_accounts(db, [rows.AccountRow(1, "ana")], bcrypt_rounds=FAST)
        store.create_accounts(db, [rows.AccountRow(1, "bo")], bcrypt_rounds=FAST)  # index exists: no error
        [index] = [ix for ix in inspect(db.get_bind()).get_indexes("users_info") if ix["name"] == store.UNIQUE_INDEX]
        assert index["unique"] and index["column_names"] == ["username"]
        # Any other writer (the hub's own NativeAuthenticator code included) is stopped too.
        db.add(UserInfo(username="ana", password=b"x", is_authorized=True))
        with pytest.raises(IntegrityError):
            db.commit()
        db.rollback()
    finally:
        db.close()
    assert rows_per_user(db_url) == {"ana": 1, "bo": 1}


def test_existing_duplicates_are_reported_and_kept(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database from before this fix: two rows for ana, as two overlapping runs left them."""
    db = store.open_hub_db(db_url)
    for pw in ("first-password", "second-password"):
        db.add(UserInfo(username="ana", password=bcrypt.hashpw(pw.encode(), bcrypt.gensalt(FAST)), is_authorized=True))
    db.commit()
    db.close()
    attendees = tmp_path / "attendees.csv"
    attendees.write_text("ana\nbo\n")
    args = ["create", "--csv", str(attendees), "--hub-url", "https://lab.test", "--out", str(tmp_path / "o"),
            "--db-url", db_url]

    assert cli.main(args, bcrypt_rounds=FAST) == 1
    err = capsys.readouterr().err
    assert "more than one account row for ana (ids 1, 2)" in err
    assert "only the handout that created it has a working password" in err and "Nothing was changed" in err
    assert "line 1: ana already exists; left unchanged" in err
    assert rows_per_user(db_url) == {"ana": 2, "bo": 1}  # nothing lost, bo created all the same
    db = store.open_hub_db(db_url)
    try:
        # What the warning says: NativeAuthenticator reads the oldest row.
        assert login(db, "ana", "first-password") == "ana"
        assert login(db, "ana", "second-password") is None
        assert not store.has_unique_index(db)
        db.query(UserInfo).filter(UserInfo.id == 2).delete()
        db.commit()
    finally:
        db.close()

    attendees.write_text("cy\n")
    assert cli.main(args, bcrypt_rounds=FAST) == 0
    assert "more than one" not in capsys.readouterr().err
    db = store.open_hub_db(db_url)
    try:
        assert store.has_unique_index(db)
    finally:
        db.close()


def insert_elsewhere(db_url: str, username: str) -> str:
    """Another writer's committed account (its own connection), returning its password."""
    other = store.open_hub_db(db_url)
    try:
        [account] = store.create_accounts(other, [rows.AccountRow(0, username)], bcrypt_rounds=FAST).created
    finally:
        other.close()
    return account.password


def test_user_created_by_another_run_while_hashing_is_skipped(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_hash = store.hash_passwords

    def hash_then_other_run_commits(passwords, rounds):
        hashes = real_hash(passwords, rounds)
        if not started:  # once: the other run hashes through here too
            started.append(True)
            other_password.append(insert_elsewhere(db_url, "ana"))
        return hashes

    started: list[bool] = []
    other_password: list[str] = []
    monkeypatch.setattr(store, "hash_passwords", hash_then_other_run_commits)
    db = store.open_hub_db(db_url)
    try:
        result = store.create_accounts(db, [rows.AccountRow(3, "ana"), rows.AccountRow(4, "bo")], bcrypt_rounds=FAST)
        assert [a.username for a in result.created] == ["bo"]
        assert [str(p) for p in result.skipped] == [
            "line 3: ana already exists; left unchanged (another run created it just now)"
        ]
        assert login(db, "ana", other_password[0]) == "ana"  # the other run's password is the one that works
    finally:
        db.close()
    assert rows_per_user(db_url) == {"ana": 1, "bo": 1}


def test_without_the_lock_the_unique_index_makes_the_run_retry(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Databases where begin_write takes no lock: a row inserted between the check and the
    insert is refused by the index, and the run checks again instead of failing."""
    make_index = store.open_hub_db(db_url)
    store.ensure_unique_usernames(make_index)
    make_index.commit()
    make_index.close()
    monkeypatch.setattr(store, "begin_write", lambda db: None)
    real_existing = store.existing_usernames
    calls = []

    def existing_then_race(db, names):
        found = real_existing(db, names)
        if list(names) == ["ana", "bo"]:  # this run's checks, not the other writer's
            calls.append(names)
            if len(calls) == 2:  # the check inside the write transaction
                insert_elsewhere(db_url, "ana")
        return found

    monkeypatch.setattr(store, "existing_usernames", existing_then_race)
    db = store.open_hub_db(db_url)
    try:
        result = store.create_accounts(db, [rows.AccountRow(1, "ana"), rows.AccountRow(2, "bo")], bcrypt_rounds=FAST)
    finally:
        db.close()
    assert len(calls) == 3  # first check, the check that raced, the retry
    assert [a.username for a in result.created] == ["bo"]
    assert [p.username for p in result.skipped] == ["ana"]
    assert rows_per_user(db_url) == {"ana": 1, "bo": 1}
    db = store.open_hub_db(db_url)
    try:
        assert orm.User.find(db, "bo") is not None
    finally:
        db.close()
