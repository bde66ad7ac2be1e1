"""Who `gluonlab-accounts remove` would remove (hub/gluonlab_hub/accounts/removal.py), against a
real hub database: admins refused whatever selects them, unknown names reported, prefix and
"joined today" selections, CSV usernames, and --dry-run changing nothing. The removal itself
(API, export, volumes) runs on the real stack: tests/integration/test_workshop_day.py."""
from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest
from hubdb import make_hub_db
from jupyterhub import orm
from nativeauthenticator.orm import UserInfo

from gluonlab_hub.accounts import cli, enrolment, removal, store
from gluonlab_hub.accounts.rows import AccountRow, AccountsError


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = make_hub_db(tmp_path / "jupyterhub.sqlite")
    db = store.open_hub_db(url)
    store.create_accounts(db, [AccountRow(1, n, "a-password-1") for n in ("ws01", "ws02", "other")], bcrypt_rounds=4)
    boss = orm.User(name="wsboss", admin=True)
    db.add(boss)
    db.commit()
    enrolment.open_enrolment(db, seats=5, minutes=60, code="today")
    hashed = bcrypt.hashpw(b"walk-in-pass", bcrypt.gensalt(4))
    enrolment.join(db, code="today", username="early", hashed=hashed, now=1000.0)  # long ago
    enrolment.join(db, code="today", username="walkin", hashed=hashed)
    db.close()
    return url


@pytest.fixture
def db(db_url):
    session = store.open_hub_db(db_url)
    yield session
    session.close()


def test_prefix_selects_matching_accounts_and_refuses_admins(db):
    todo = removal.plan(db, admins={"admin"}, prefix="ws")
    assert todo.remove == ["ws01", "ws02"] and todo.refused == ["wsboss"] and not todo.unknown
    with pytest.raises(AccountsError, match="must not be empty"):
        removal.plan(db, admins=set(), prefix="")


def test_names_from_a_csv_refuse_configured_admins_and_report_unknown_ones(db):
    names = removal.usernames_from_csv("username,password\nWS01,x\n\nghost\nother,y,Name\n")
    assert names == ["ws01", "ghost", "other"]
    todo = removal.plan(db, admins={"other"}, names=names)
    assert (todo.remove, todo.refused, todo.unknown) == (["ws01"], ["other"], ["ghost"])


def test_joined_since_selects_only_recent_walk_ins(db):
    assert removal.plan(db, admins=set(), joined_since=2000.0).remove == ["walkin"]
    assert removal.plan(db, admins=set()).remove == ["early", "walkin"]


def test_dry_run_prints_the_plan_and_changes_nothing(db_url, db, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GLUONLAB_STATE_DIR", str(tmp_path))
    code = cli.main(["remove", "--prefix", "ws", "--dry-run", "--db-url", db_url])
    captured = capsys.readouterr()
    assert code == cli.EXIT_PARTIAL  # an admin was refused
    assert "would remove 2 account(s): ws01, ws02" in captured.out and "wsboss is an admin" in captured.err
    assert sorted(n for (n,) in db.query(UserInfo.username)) == ["early", "other", "walkin", "ws01", "ws02"]
    assert cli.main(["remove", "--joined-today", "--dry-run", "--no-export", "--db-url", db_url]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "would remove 1 account(s): walkin" in out and "deleted unexported" in out
