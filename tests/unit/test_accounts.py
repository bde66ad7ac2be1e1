"""Workshop accounts (hub/gluonlab_hub/accounts/) against a real temporary hub database.

The database is created with JupyterHub's own ORM, and logins are checked with the real
NativeAuthenticator reading that database, so hashing and authorization are what the hub uses.
"""

from __future__ import annotations

import asyncio
import csv
import html
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import gluonlab_hub.accounts as acc
import pytest
from gluonlab_hub.accounts import cli, handout, passwords, store
from gluonlab_hub.accounts import rows as input_rows
from hubdb import FAST, login, make_hub_db
from jupyterhub import orm
from nativeauthenticator import NativeAuthenticator
from nativeauthenticator.orm import UserInfo

HUB = Path(acc.__file__).parents[2]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return make_hub_db(tmp_path / "jupyterhub.sqlite")


@pytest.fixture
def db(db_url: str):
    session = store.open_hub_db(db_url)
    yield session
    session.close()


# --------------------------------------------------------------------------- parsing


def test_parse_reports_bad_rows_by_line_and_keeps_good_ones() -> None:
    text = "\n".join(
        [
            "alice",  # 1
            "Bob,,Bob Smith",  # 2 normalized to bob
            "",  # 3 empty
            "carol,correct-horse,Carol",  # 4
            "d@ve",  # 5 bad character
            "alice",  # 6 duplicate
            "erin,pw,Erin,extra",  # 7 too many columns
            "-frank",  # 8 must start with a letter/digit
            "gina,short",  # 9 password too short
            "h.i_j-k9",  # 10 fine
            "ivan," + "x" * 73,  # 11 longer than bcrypt takes
        ]
    )
    parsed = input_rows.parse_csv(text + "\n")
    assert [(r.line, r.username, r.password, r.name) for r in parsed.rows] == [
        (1, "alice", None, ""),
        (2, "bob", None, "Bob Smith"),
        (4, "carol", "correct-horse", "Carol"),
        (10, "h.i_j-k9", None, ""),
    ]
    assert [p.line for p in parsed.problems] == [3, 5, 6, 7, 8, 9, 11]
    msgs = {p.line: str(p) for p in parsed.problems}
    assert msgs[3] == "line 3: empty line skipped"
    assert "not allowed" in msgs[5] and "'d@ve'" in msgs[5]
    assert "duplicate of line 1" in msgs[6]
    assert "4 columns" in msgs[7]
    assert "starting with a letter or digit" in msgs[8]
    assert "shorter than 8" in msgs[9]
    assert "longer than 72 bytes" in msgs[11]


def test_parse_header_sets_column_order_and_count() -> None:
    parsed = input_rows.parse_csv("username,name,password\nana,Ana Lima,s3cret-pass\nbo,Bo\n")
    assert [(r.username, r.name, r.password) for r in parsed.rows] == [("ana", "Ana Lima", "s3cret-pass")]
    assert [str(p) for p in parsed.problems] == ["line 3: has 2 columns, the header has 3 (username,name,password)"]
    with pytest.raises(input_rows.AccountsError, match="line 1: header"):
        input_rows.parse_csv("username,email\nana,a@x\n")


def test_count_rows() -> None:
    rows = input_rows.rows_from_count(3, "Student")
    assert [r.username for r in rows] == ["student01", "student02", "student03"]
    assert input_rows.rows_from_count(100, "s")[-1].username == "s100"
    with pytest.raises(input_rows.AccountsError, match="--prefix"):
        input_rows.rows_from_count(3, "bad prefix")
    with pytest.raises(input_rows.AccountsError, match="between 1"):
        input_rows.rows_from_count(0, "s")


def test_generated_passwords_are_readable_and_unique() -> None:
    pws = {passwords.generate_password() for _ in range(500)}
    assert len(pws) == 500
    for pw in pws:
        assert len(pw) == 14 and pw.count("-") == 2
        assert not set(pw) & set("0O1lI")


# --------------------------------------------------------------------------- database


def test_created_accounts_log_in_through_native_authenticator(db) -> None:
    rows = input_rows.parse_csv("ana,chosen-password\nbo\n").rows
    result = store.create_accounts(db, rows, bcrypt_rounds=FAST)
    assert [a.username for a in result.created] == ["ana", "bo"] and result.skipped == []
    bo_pw = result.created[1].password

    info = UserInfo.find(db, "ana")
    assert info.is_authorized
    assert info.password.startswith(b"$2") and b"chosen-password" not in info.password  # bcrypt, not clear text
    assert login(db, "ana", "chosen-password") == "ana"
    assert login(db, "Bo", bo_pw) == "bo"  # usernames are normalized at login too
    assert login(db, "bo", "wrong-password") is None

    # hub users exist with the default role, so the admin panel lists them before first login
    user = orm.User.find(db, "bo")
    assert user is not None and [r.name for r in user.roles] == ["user"]


def test_hash_cost_follows_who_chose_the_password(db) -> None:
    # Admin-chosen passwords keep NativeAuthenticator's cost 12; generated ones (~60 random
    # bits) get cost 10, which makes each workshop login 4x cheaper. Both still log in.
    result = store.create_accounts(db, input_rows.parse_csv("ana,chosen-password\nbo\n").rows)
    assert UserInfo.find(db, "ana").password.startswith(b"$2b$12$")
    assert UserInfo.find(db, "bo").password.startswith(b"$2b$10$")
    assert login(db, "ana", "chosen-password") == "ana"
    assert login(db, "bo", result.created[1].password) == "bo"
    # An explicit cost applies to every new account.
    store.create_accounts(db, input_rows.parse_csv("cy\n").rows, bcrypt_rounds=FAST)
    assert UserInfo.find(db, "cy").password.startswith(b"$2b$04$")


def test_existing_accounts_are_never_overwritten(db) -> None:
    first = store.create_accounts(db, input_rows.parse_csv("ana\n").rows, bcrypt_rounds=FAST)
    old_hash = UserInfo.find(db, "ana").password
    again = store.create_accounts(db, input_rows.parse_csv("ana,another-password\ncy\n").rows, bcrypt_rounds=FAST)
    assert [a.username for a in again.created] == ["cy"]
    assert [str(p) for p in again.skipped] == ["line 1: ana already exists; left unchanged"]
    assert UserInfo.find(db, "ana").password == old_hash
    assert login(db, "ana", first.created[0].password) == "ana"


def test_hub_user_without_password_gets_one(db) -> None:
    # e.g. an admin named in c.Authenticator.admin_users: the hub made the user, nobody set a password
    db.add(orm.User(name="teacher", admin=True))
    db.commit()
    [account] = store.create_accounts(db, [input_rows.AccountRow(1, "teacher")], bcrypt_rounds=FAST).created
    assert login(db, "teacher", account.password) == "teacher"
    assert sorted(r.name for r in orm.User.find(db, "teacher").roles) == ["admin", "user"]


def test_failed_logins_are_rate_limited(db) -> None:
    [account] = store.create_accounts(db, [input_rows.AccountRow(1, "ana")], bcrypt_rounds=FAST).created
    auth = NativeAuthenticator(db=db, allowed_failed_logins=3, seconds_before_next_try=600)

    def attempt(pw: str) -> str | None:
        return asyncio.run(auth.authenticate(None, {"username": "ana", "password": pw}))

    for _ in range(3):
        assert attempt("guess-guess") is None
    assert attempt(account.password) is None  # blocked even with the right password


def test_missing_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(input_rows.AccountsError, match="start the hub once"):
        store.open_hub_db(f"sqlite:///{tmp_path / 'nope.sqlite'}")
    assert not (tmp_path / "nope.sqlite").exists()


# ---------------------------------------------------------------------------- handout


def test_handout_is_private_and_escaped(tmp_path: Path) -> None:
    accounts = [store.Account("ana", "abcd-efgh-jkmn", "<b>Ana</b> & co"), store.Account("bo", "pqrs-tuvw-xyz2")]
    html_path, csv_path = handout.write_handout(tmp_path / "out", "https://lab.example.org/", accounts, stamp="t")
    html_path2, _ = handout.write_handout(tmp_path / "out", "https://lab.example.org/", accounts, stamp="t")
    assert html_path2 != html_path  # a second run never overwrites the first handout
    for p in (html_path, csv_path):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    page = html_path.read_text()
    assert page.count('<section class="card">') == 2
    assert "break-inside: avoid" in page
    assert html.escape("<b>Ana</b> & co") in page and "<b>Ana</b>" not in page
    assert "abcd-efgh-jkmn" in page and "https://lab.example.org/" in page
    assert "<link" not in page and "<script" not in page  # self-contained
    rows = list(csv.reader(csv_path.open()))
    assert rows == [
        ["hub_url", "username", "password", "name"],
        ["https://lab.example.org/", "ana", "abcd-efgh-jkmn", "<b>Ana</b> & co"],
        ["https://lab.example.org/", "bo", "pqrs-tuvw-xyz2", ""],
    ]


# -------------------------------------------------------------------------------- CLI


def run_cli(args: list[str]) -> int:
    return cli.main(args, bcrypt_rounds=FAST)


def test_cli_csv_partial_success(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    attendees = tmp_path / "attendees.csv"
    attendees.write_text("\ufeffusername,password,name\nana,,Ana\nb@d,,X\nbo,,Bo\n", encoding="utf-8")
    out = tmp_path / "handouts"
    code = run_cli(
        ["create", "--csv", str(attendees), "--hub-url", "http://127.0.0.1:8000", "--out", str(out), "--db-url", db_url]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "line 3: username 'b@d'" in captured.err
    assert "created 2 account(s)" in captured.out
    [csv_file] = out.glob("*.csv")
    rows = list(csv.DictReader(csv_file.open()))
    assert [r["username"] for r in rows] == ["ana", "bo"]
    db = store.open_hub_db(db_url)
    try:
        assert login(db, "ana", rows[0]["password"]) == "ana"
    finally:
        db.close()
    assert stat.S_IMODE(out.stat().st_mode) == 0o700


def test_cli_count_all_created_then_rerun_skips(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "create",
        "--count",
        "3",
        "--prefix",
        "student",
        "--hub-url",
        "https://lab.test",
        "--out",
        str(tmp_path / "o"),
        "--db-url",
        db_url,
    ]
    assert run_cli(args) == 0
    assert "created 3 account(s)" in capsys.readouterr().out
    assert run_cli(args) == 1
    captured = capsys.readouterr()
    assert "student01 already exists; left unchanged" in captured.err
    assert "no account created" in captured.out
    assert len(list((tmp_path / "o").glob("*.html"))) == 1  # no empty handout


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--csv", "MISSING"], "not found"),
        (["--count", "3", "--hub-url", "lab.test"], "must start with http"),
        (["--count", "3", "--db-url", "sqlite:////nonexistent/hub.sqlite"], "start the hub once"),
        (["--csv", "LATIN1"], "not UTF-8"),
    ],
)
def test_cli_bad_usage_exits_2_and_creates_nothing(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], needle: str
) -> None:
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("jos\xe9\n".encode("latin-1"))
    extra = [{"MISSING": str(tmp_path / "missing.csv"), "LATIN1": str(latin1)}.get(x, x) for x in extra]
    base = {"--hub-url": "https://lab.test", "--db-url": db_url, "--out": str(tmp_path / "o")}
    for flag, value in base.items():
        if flag not in extra:
            extra += [flag, value]
    assert run_cli(["create", *extra]) == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    db = store.open_hub_db(db_url)
    try:
        assert UserInfo.all_users(db) == []
    finally:
        db.close()


def test_cli_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["create", "--hub-url", "https://x", "--out", "o"])  # neither --csv nor --count
    assert exc.value.code == 2
    assert "--csv" in capsys.readouterr().err


def test_default_db_url_follows_the_hub_state_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLUONLAB_HUB_DB_URL", raising=False)
    monkeypatch.delenv("GLUONLAB_STATE_DIR", raising=False)
    assert cli.default_db_url() == "sqlite:////srv/jupyterhub/state/jupyterhub.sqlite"
    monkeypatch.setenv("GLUONLAB_STATE_DIR", "/data/hub")
    assert cli.default_db_url() == "sqlite:////data/hub/jupyterhub.sqlite"
    monkeypatch.setenv("GLUONLAB_HUB_DB_URL", "sqlite:////x.sqlite")
    assert cli.default_db_url() == "sqlite:////x.sqlite"


def test_module_entry_point_end_to_end(db_url: str, tmp_path: Path) -> None:
    """`python -m gluonlab_hub.accounts` as the hub container runs it (real bcrypt cost)."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(HUB), "GLUONLAB_HUB_DB_URL": db_url}
    out = tmp_path / "handout"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gluonlab_hub.accounts",
            "create",
            "--count",
            "2",
            "--prefix",
            "ws",
            "--hub-url",
            "http://127.0.0.1:8000",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "created 2 account(s)" in proc.stdout
    [csv_file] = out.glob("*.csv")
    rows = list(csv.DictReader(csv_file.open()))
    db = store.open_hub_db(db_url)
    try:
        assert UserInfo.find(db, "ws01").password.startswith(b"$2b$10$")  # generated: GENERATED_PASSWORD_ROUNDS
        assert [login(db, r["username"], r["password"]) for r in rows] == ["ws01", "ws02"]
    finally:
        db.close()
    assert rows[0]["password"] not in proc.stdout + proc.stderr  # passwords only go to the handout


def test_bad_unrelated_setting_is_a_clear_error_not_a_traceback(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GLUONLAB_GPU_POLICY", "bogus")
    monkeypatch.setenv("GLUONLAB_HUB_DB_URL", db_url)
    args = ["create", "--count", "1", "--hub-url", "https://lab.test", "--out", str(tmp_path / "o")]
    cli.build_parser()  # the parser never reads settings
    with pytest.raises(SystemExit) as exc:
        cli.main(["create", "--help"])
    assert exc.value.code == 0 and "--db-url" in capsys.readouterr().out
    assert run_cli(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("gluonlab-accounts: cannot find the hub database: configuration error: ")
    assert "GLUONLAB_GPU_POLICY" in err and "bogus" in err
    assert "pass --db-url" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
    # An explicit --db-url needs no settings at all.
    assert run_cli([*args, "--db-url", db_url]) == 0
    assert "created 1 account(s)" in capsys.readouterr().out


def test_console_script_and_package_api() -> None:
    """hub/pyproject.toml's gluonlab-accounts and the names other modules import still resolve."""
    scripts = tomllib.loads((HUB / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, func = scripts["gluonlab-accounts"].partition(":")
    assert getattr(__import__(module, fromlist=[func]), func) is cli.main is acc.main
    from gluonlab_hub.accounts import AccountRow, create_accounts, generate_password  # bootstrap.py's import

    assert (AccountRow, create_accounts, generate_password) == (
        input_rows.AccountRow, store.create_accounts, passwords.generate_password)
