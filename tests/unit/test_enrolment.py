"""Walk-in enrolment without a hub (hub/gluonlab_hub/accounts/enrolment.py, join.py): the code,
seats and expiry against a real hub database, seats under concurrent joins from separate
connections, the CLI, the per-address throttle's wait, and the bilingual hub pages rendered
with JupyterHub's own templates. Through the real hub and a browser:
tests/integration/test_workshop_day.py, tests/workshop/test_join_browser.py."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import bcrypt
import pytest
from hubdb import make_hub_db
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader
from jupyterhub import orm
from jupyterhub._data import DATA_FILES_PATH
from nativeauthenticator.orm import UserInfo

from gluonlab_hub import admin_view
from gluonlab_hub.accounts import cli, enrolment, store
from gluonlab_hub.accounts.rows import AccountRow, AccountsError
from gluonlab_hub.auth import FailureLog, ThreadedNativeAuthenticator, throttled_message
from gluonlab_hub.gpus import GpusExhausted

HASH = bcrypt.hashpw(b"walk-in-pass-1", bcrypt.gensalt(4))


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return make_hub_db(tmp_path / "jupyterhub.sqlite")


@pytest.fixture
def db(db_url):
    session = store.open_hub_db(db_url)
    yield session
    session.close()


def join(db, name: str, code: str, **kwargs) -> enrolment.Enrolment:
    return enrolment.join(db, code=code, username=name, hashed=HASH, **kwargs)


def refusal(db, name: str, code: str, **kwargs) -> str:
    with pytest.raises(enrolment.JoinRefused) as info:
        join(db, name, code, **kwargs)
    return str(info.value)


def test_a_joined_account_is_an_ordinary_account_that_logs_in(db):
    enrolment.open_enrolment(db, seats=5, minutes=60, code="gluon-42")
    join(db, "walkin1", " GLUON-42 ")  # case and spaces do not matter
    info = db.query(UserInfo).filter_by(username="walkin1").one()
    assert info.is_authorized and bcrypt.checkpw(b"walk-in-pass-1", info.password)
    user = orm.User.find(db, "walkin1")
    assert [r.name for r in user.roles] == ["user"] and not user.admin
    auth = ThreadedNativeAuthenticator(db=db)
    import asyncio
    assert asyncio.run(auth.authenticate(None, {"username": "walkin1", "password": "walk-in-pass-1"})) == "walkin1"
    assert [j.username for j in enrolment.joined_accounts(db)] == ["walkin1"]
    assert enrolment.current(db).seats_used == 1


def test_wrong_closed_expired_and_full_codes_are_refused_with_bilingual_reasons(db):
    assert refusal(db, "a1", "anything") == enrolment.WRONG_CODE  # never opened
    opened = enrolment.open_enrolment(db, seats=1, minutes=10, code="abcd", now=1000.0)
    assert refusal(db, "a1", "abce", now=1001.0) == enrolment.WRONG_CODE
    assert refusal(db, "a1", "abcd", now=1000.0 + 601) == enrolment.EXPIRED
    join(db, "a1", "abcd", now=1001.0)
    assert refusal(db, "a2", "abcd", now=1002.0) == enrolment.FULL
    enrolment.close_enrolment(db)
    assert refusal(db, "a2", "abcd") == enrolment.CLOSED
    for message in (enrolment.WRONG_CODE, enrolment.EXPIRED, enrolment.FULL, enrolment.CLOSED, enrolment.TAKEN):
        chinese, english = message.split(" / ")
        assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese) and english.isascii()
    assert opened.code == "abcd"


def test_taken_reserved_and_admin_names_cannot_be_joined(db):
    store.create_accounts(db, [AccountRow(1, "csvuser", "csv-password-1")], bcrypt_rounds=4)
    db.add(orm.User(name="configadmin"))  # an admin named in config, no password yet
    db.commit()
    enrolment.open_enrolment(db, seats=10, minutes=60, code="open-code")
    assert refusal(db, "csvuser", "open-code") == enrolment.TAKEN
    assert refusal(db, "configadmin", "open-code") == enrolment.TAKEN
    assert refusal(db, "admin", "open-code", reserved={"admin"}) == enrolment.TAKEN
    assert enrolment.name_taken(db, "csvuser") and not enrolment.name_taken(db, "fresh")
    join(db, "fresh", "open-code")
    assert refusal(db, "fresh", "open-code") == enrolment.TAKEN
    assert db.query(UserInfo).filter_by(username="csvuser").one().is_authorized  # unchanged


def test_reopening_closes_the_old_code_and_counts_seats_afresh(db):
    enrolment.open_enrolment(db, seats=1, minutes=60, code="first")
    join(db, "u1", "first")
    enrolment.open_enrolment(db, seats=1, minutes=60, code="second")
    assert refusal(db, "u2", "first") == enrolment.WRONG_CODE
    join(db, "u2", "second")
    assert [j.username for j in enrolment.joined_accounts(db)] == ["u1", "u2"]


@pytest.mark.parametrize("kwargs, fragment", [
    ({"seats": 0, "minutes": 10}, "seats must be"),
    ({"seats": 5, "minutes": 0}, "expire within a week"),
    ({"seats": 5, "minutes": 10, "code": "a b"}, "join code"),
    ({"seats": 5, "minutes": 10, "code": "abc"}, "4 to 32"),
])
def test_bad_enrolment_settings_are_refused_and_change_nothing(db, kwargs, fragment):
    with pytest.raises(AccountsError, match=fragment):
        enrolment.open_enrolment(db, **kwargs)
    assert enrolment.current(db) is None


def test_a_generated_code_is_valid_and_readable():
    codes = {enrolment.generate_code() for _ in range(50)}
    assert len(codes) == 50 and all(enrolment.code_problem(c) is None and not set(c) & set("0o1l") for c in codes)


def test_concurrent_joins_from_separate_connections_fill_exactly_the_seats(db_url, db):
    """20 joins at once, each on its own connection (as the hub and a CLI are), 7 seats: exactly
    7 accounts, and every other join is told the seats are full."""
    seats, joiners = 7, 20
    enrolment.open_enrolment(db, seats=seats, minutes=60, code="race")
    barrier = threading.Barrier(joiners)
    results: dict[str, str] = {}

    def attempt(n: int) -> None:
        session = store.open_hub_db(db_url)
        try:
            barrier.wait()
            join(session, f"racer{n:02d}", "race")
            results[f"racer{n:02d}"] = "ok"
        except enrolment.JoinRefused as refused:
            results[f"racer{n:02d}"] = str(refused)
        finally:
            session.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(joiners)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(set(results.values())) == sorted({"ok", enrolment.FULL})
    winners = sorted(n for n, r in results.items() if r == "ok")
    assert len(winners) == seats
    assert sorted(n for (n,) in db.query(UserInfo.username)) == winners
    assert enrolment.current(db).seats_used == seats


def test_cli_opens_shows_lists_and_closes(db_url, db, capsys):
    assert cli.main(["enrol", "open", "--seats", "3", "--minutes", "30", "--code", "Class-A", "--db-url", db_url]) == 0
    assert "code class-a, 3 seats" in capsys.readouterr().out
    join(db, "viacli", "class-a")
    assert cli.main(["enrol", "status", "--db-url", db_url]) == 0
    out = capsys.readouterr().out
    assert "state: open" in out and "seats: 1/3" in out
    assert cli.main(["enrol", "joined", "--db-url", db_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "username,joined_at_utc" and lines[1].startswith("viacli,")
    assert cli.main(["enrol", "close", "--db-url", db_url]) == 0
    assert refusal(db, "late", "class-a") == enrolment.CLOSED  # at once, from another connection
    assert cli.main(["enrol", "open", "--seats", "0", "--db-url", db_url]) == cli.EXIT_USAGE
    assert "seats must be" in capsys.readouterr().err


def test_throttle_says_how_long_to_wait(db):
    log = FailureLog(limit=2, window=60)
    log.record("a", now=100)
    assert log.retry_in("a", now=101) is None
    log.record("a", now=110)
    assert log.retry_in("a", now=120) == pytest.approx(40)
    assert log.retry_in("a", now=161) is None
    assert throttled_message(39.2) == "尝试次数过多，请 40 秒后再试 / Too many failed attempts: try again in 40 seconds."
    auth = ThreadedNativeAuthenticator(db=db, failed_join_codes_per_address=3, join_code_window=120)
    assert (auth.join_failures.limit, auth.join_failures.window) == (3, 120)


def test_join_and_enrolment_pages_are_routed_by_the_authenticator(db):
    routes = [pattern for pattern, _ in ThreadedNativeAuthenticator(db=db).get_handlers(None)]
    assert "/join" in routes and "/gluonlab/enrolment" in routes


# --- the hub's pages, rendered as JupyterHub renders them ------------------------------------

HUB_TEMPLATES = os.path.join(DATA_FILES_PATH, "templates")


def render(name: str, **context) -> str:
    # JupyterHub's loaders for c.JupyterHub.template_paths (app.init_tornado_settings).
    loader = ChoiceLoader([PrefixLoader({"templates": FileSystemLoader([HUB_TEMPLATES])}, "/"),
                           FileSystemLoader([admin_view.TEMPLATE_DIR, HUB_TEMPLATES])])
    env = Environment(loader=loader, autoescape=True)
    base = dict(base_url="/hub/", prefix="/", user=None, static_url=lambda path, **_: f"/hub/static/{path}",
                parsed_scopes={}, expanded_scopes=set(), services=[], xsrf="x", login_url="/hub/login",
                next="", username="")
    return env.get_template(name).render(**{**base, **context})


def bilingual(html: str, *pairs: tuple[str, str]) -> None:
    for chinese, english in pairs:
        assert chinese in html and english in html, (chinese, english)


def test_login_page_is_bilingual_shows_the_wait_and_links_to_join():
    html = render("native-login.html", login_error=throttled_message(42))
    bilingual(html, ("登录", "Sign in"), ("用户名", "Username"), ("密码", "Password"), ("加入工作坊", "Join"))
    assert 'href="/hub/join"' in html and "请 42 秒后再试" in html and "try again in 42 seconds" in html
    assert '<nav class="navbar' in html  # inside JupyterHub's page.html


def test_join_page_keeps_the_username_and_escapes_it():
    html = render("join.html", join_error=enrolment.FULL, username="<b>x</b>")
    bilingual(html, ("加入码", "Join code"), ("名额已满", "All seats are taken"))
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert 'action="/hub/join"' in html and 'name="_xsrf" value="x"' in html


def test_home_and_spawn_pending_pages_are_bilingual():
    server = type("S", (), {"active": False})()
    home = render("home.html", default_server=server, url="/hub/spawn", allow_named_servers=False)
    bilingual(home, ("启动我的服务器", "Start My Server"))
    assert 'id="start"' in home and 'require(["home"])' in home  # JupyterHub's script still drives it
    running = render("home.html", default_server=type("S", (), {"active": True})(), url="/user/a/",
                     allow_named_servers=False)
    bilingual(running, ("停止我的服务器", "Stop My Server"))
    pending = render("spawn_pending.html", progress_url="/hub/api/users/a/server/progress")
    bilingual(pending, ("服务器正在启动", "Your server is starting up"))
    assert 'id="progress-bar"' in pending and "EventSource" in pending


def test_error_page_is_bilingual_for_the_spawn_throttle_and_gpus_exhausted():
    throttled = render("error.html", status_code=429, status_message="Too Many Requests",
                       message="Too many users trying to log in right now. Try again in 10 seconds.")
    bilingual(throttled, ("请 10 秒后再试", "try again in 10 seconds"), ("请求过多", "Too Many Requests"))
    minutes = render("error.html", status_code=429, status_message="Too Many Requests",
                     message="Active user limit exceeded. Try again in a few minutes.")
    assert "请 几分钟后再试" in minutes and "try again in a few minutes" in minutes
    exhausted = str(GpusExhausted("ana", 2, "exclusive", 1))
    gpus = render("error.html", status_code=500, status_message="Internal Server Error", message=exhausted)
    bilingual(gpus, ("所有 GPU 都已分配", "All GPUs are in use"), ("服务器内部错误", "Internal Server Error"),
              ("返回主页", "Back to the home page"))


def test_enrolment_admin_page_shows_code_seats_and_joined(db):
    opened = enrolment.open_enrolment(db, seats=4, minutes=60, code="room-7")
    join(db, "ann", "room-7")
    html = render("enrolment.html", current=enrolment.current(db), state="open",
                  joined=[("ann", "2026-01-01 09:00 UTC")], stamp=lambda s: time.strftime("%H:%M", time.gmtime(s)),
                  join_url="/hub/join", message=None, alert="")
    assert '<code id="enrolment-code">room-7</code>' in html and "1 / 4" in html and "<td>ann</td>" in html
    assert opened.seats == 4


def test_every_hub_page_carries_the_announcement_banner_and_the_help_list_renders():
    html = render("native-login.html")
    assert 'id="gluonlab-announcement" hidden' in html and "通知 / Announcement" in html
    assert 'fetch("/services/announcement/latest"' in html
    requests = [{"id": 3, "user": "<i>ana</i>", "created": "09:00:00 UTC", "message": "我的 GPU 看不到",
                 "fails": [{"name": "gpu", "found": "nvidia-smi: not found", "diagnosis": ""}]}]
    page = render("help.html", requests=requests, message=None)
    bilingual(page, ("求助", "Help requests"), ("已处理", "Done"), ("自检失败项", "doctor FAILs"))
    assert 'id="help-3"' in page and "&lt;i&gt;ana&lt;/i&gt;" in page and "<b>gpu</b>: nvidia-smi: not found" in page
    assert "没有未处理的求助 / No open help requests" in render("help.html", requests=[], message=None)
