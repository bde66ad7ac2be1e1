"""The workshop day on the real compose stack: walk-in enrolment (join code opened and closed
with gluonlab-accounts in the hub container and on the admins' page, joins through /hub/join,
seats under concurrent joins, wrong codes throttled per address) and the hub's pages in
Chinese with English beside it."""
from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from labclient import HubClient, LabStack

pytestmark = [pytest.mark.docker, pytest.mark.integration]

PASSWORD = "walk-in-" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def lab():
    stack = LabStack(instance=f"glday-{uuid.uuid4().hex[:8]}", extra_env={"GLUONLAB_MEM_LIMIT": "1G"})
    with stack.running(log_name="workshop-day-hub.log"):
        yield stack


def accounts(lab: LabStack, *args: str) -> str:
    result = lab.compose("exec", "-T", "hub", "gluonlab-accounts", *args, check=False, timeout=120)
    assert result.returncode == 0, f"gluonlab-accounts {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def post_join(lab: LabStack, session: requests.Session | None = None, **fields: str) -> requests.Response:
    """The join form as a browser sends it: GET (XSRF cookie), then POST."""
    session = session or requests.Session()
    form = session.get(f"{lab.url}/hub/join", timeout=30)
    assert form.status_code == 200, form.text[:300]
    data = {"code": "", "username": "", "password": PASSWORD, "password_confirmation": PASSWORD, **fields}
    return session.post(f"{lab.url}/hub/join", data={**data, "_xsrf": session.cookies.get("_xsrf", "")},
                        allow_redirects=False, timeout=60)


def html(response: requests.Response) -> str:
    """The page as a browser reads it: JupyterHub's text/html carries no charset, so requests would
    guess Latin-1; the page's own <meta charset="utf-8"> says UTF-8."""
    return response.content.decode("utf-8")


def admin(lab: LabStack) -> HubClient:
    hub = HubClient(lab.url)
    assert hub.login("admin", lab.admin_password).status_code == 302
    hub.create_token("admin")
    return hub


def test_hub_pages_are_in_chinese_with_english_beside(lab):
    page = html(requests.get(f"{lab.url}/hub/login", timeout=30))
    for chinese, english in (("登录", "Sign in"), ("用户名", "Username"), ("密码", "Password"), ("加入工作坊", "Join")):
        assert chinese in page and english in page
    assert 'href="/hub/join"' in page
    missing = requests.get(f"{lab.url}/hub/no-such-page", timeout=30)
    assert missing.status_code == 404 and "页面不存在" in html(missing) and "Not Found" in html(missing)
    hub = admin(lab)
    home = html(hub.session.get(f"{lab.url}/hub/home", timeout=30))
    assert "启动我的服务器" in home and "Start My Server" in home


def test_an_admins_announcement_reaches_the_hub_pages(lab):
    """jupyterhub-announcement as a hub-managed service: the admin posts on its page (OAuth
    through the hub), its public JSON has it, and every hub page fetches it for the banner."""
    hub = admin(lab)
    page = hub.session.get(f"{lab.url}/services/announcement/", timeout=60)  # OAuth redirects, no consent page
    assert page.status_code == 200 and 'name="announcement"' in page.text, page.text[:500]
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
    posted = hub.session.post(f"{lab.url}/services/announcement/update", timeout=60,
                              data={"announcement": "10:30 休息 / Break at 10:30<script>x()</script>", "_xsrf": xsrf})
    assert posted.status_code == 200
    latest = requests.get(f"{lab.url}/services/announcement/latest", timeout=30).json()
    assert latest["announcement"] == "10:30 休息 / Break at 10:30"  # sanitized: no script
    login = html(requests.get(f"{lab.url}/hub/login", timeout=30))
    assert 'id="gluonlab-announcement"' in login and 'fetch("/services/announcement/latest"' in login
    # A user cannot post one.
    hub.session.cookies.clear()
    subprocess.run(["docker", "exec", "-i", f"{lab.instance}-hub-1", "sh", "-c", "cat > /tmp/nosy.csv"],
                   input="username,password\nnosy,nosy-password\n", text=True, check=True, timeout=60)
    accounts(lab, "create", "--csv", "/tmp/nosy.csv", "--hub-url", lab.url, "--out", "/tmp/nosy-handout")
    walker = HubClient(lab.url)
    assert walker.login("nosy", "nosy-password").status_code == 302
    user_page = walker.session.get(f"{lab.url}/services/announcement/", timeout=60)
    token = re.search(r'name="_xsrf" value="([^"]+)"', user_page.text)
    denied = walker.session.post(f"{lab.url}/services/announcement/update", timeout=60,
                                 data={"announcement": "fake", "_xsrf": token.group(1) if token else ""})
    assert denied.status_code in (403, 404)
    assert requests.get(f"{lab.url}/services/announcement/latest", timeout=30).json()["announcement"] != "fake"


def test_join_before_enrolment_opens_is_refused_on_the_same_page(lab):
    response = post_join(lab, code="nothing-open", username="early")
    assert response.status_code == 403 and "加入码错误" in html(response) and "not valid" in response.text


def test_a_walk_in_joins_lands_in_their_server_and_is_an_ordinary_account(lab):
    out = accounts(lab, "enrol", "open", "--seats", "3", "--minutes", "60", "--code", "Day-One")
    assert "code day-one, 3 seats" in out
    browser = requests.Session()
    joined = post_join(lab, browser, code=" DAY-ONE ", username="Walkin01")
    assert joined.status_code == 302 and joined.headers["Location"] == "/hub/spawn", joined.text[:500]
    # Logged in: following the redirect starts the server and ends in the Lab.
    landed = browser.get(f"{lab.url}/hub/spawn", timeout=180)
    hub = admin(lab)

    def ready():
        server = hub.api("GET", "/users/walkin01").json().get("servers", {}).get("")
        return bool(server and server.get("ready"))

    deadline = time.monotonic() + 180
    while not ready():
        assert time.monotonic() < deadline, "walkin01's server did not become ready"
        time.sleep(1)
    assert landed.status_code == 200
    lab_page = browser.get(f"{lab.url}/user/walkin01/lab", timeout=60)
    assert lab_page.status_code == 200 and "JupyterLab" in lab_page.text
    # An ordinary account: the login form takes the chosen password; no admin rights.
    again = HubClient(lab.url)
    assert again.login("walkin01", PASSWORD).status_code == 302
    assert hub.api("GET", "/users/walkin01").json()["admin"] is False
    assert again.session.get(f"{lab.url}/hub/gluonlab/enrolment", timeout=30).status_code == 403
    hub.stop_server("walkin01")


@pytest.mark.parametrize("fields, status, fragment", [
    ({"username": "admin"}, 409, "用户名已被使用"),
    ({"username": "walkin01"}, 409, "This username is taken"),
    ({"username": "Bad Name!"}, 400, "lowercase letters, digits"),
    ({"username": "x" * 40}, 400, "at most 32 characters"),
    ({"username": "shortpw", "password": "short", "password_confirmation": "short"}, 400, "at least 8 characters"),
    ({"username": "typo", "password_confirmation": "something-else"}, 400, "两次输入的密码不一致"),
    ({"username": ""}, 400, "请填写所有字段"),
], ids=["admin", "taken", "characters", "too-long", "password-short", "mismatch", "missing"])
def test_bad_input_gets_a_bilingual_message_on_the_join_page(lab, fields, status, fragment):
    response = post_join(lab, code="day-one", **fields)
    assert response.status_code == status and fragment in html(response), html(response)[:500]
    assert 'id="join-error"' in html(response) and 'name="code"' in html(response)  # the same page


def test_concurrent_joins_take_exactly_the_seats_left(lab):
    """Seats 3, one taken above: 10 attendees press Join at once; exactly 2 get accounts."""
    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(lambda n: post_join(lab, code="day-one", username=f"rush{n:02d}"), range(10)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(302) == 2, statuses
    assert all("名额已满" in html(r) and "All seats are taken" in r.text for r in responses if r.status_code != 302)
    status = accounts(lab, "enrol", "status")
    assert "seats: 3/3" in status and "state: full" in status
    joined = accounts(lab, "enrol", "joined").splitlines()
    winners = sorted(f"rush{n:02d}" for n, r in enumerate(responses) if r.status_code == 302)
    assert joined[0] == "username,joined_at_utc"
    assert sorted(line.split(",")[0] for line in joined[1:]) == sorted(["walkin01", *winners])


def test_the_admin_page_opens_and_closing_takes_effect_at_once(lab):
    hub = admin(lab)
    xsrf = hub.session.cookies.get("_xsrf", "")
    opened = hub.session.post(f"{lab.url}/hub/gluonlab/enrolment", timeout=30,
                              data={"action": "open", "seats": "5", "minutes": "30", "code": "", "_xsrf": xsrf})
    assert opened.status_code == 200
    code = re.search(r'<code id="enrolment-code">([a-z0-9-]+)</code>', opened.text).group(1)
    assert "walkin01" in opened.text and "0 / 5" in opened.text
    assert post_join(lab, code=code, username="pagejoin").status_code == 302
    bad = hub.session.post(f"{lab.url}/hub/gluonlab/enrolment", timeout=30,
                           data={"action": "open", "seats": "many", "minutes": "30", "_xsrf": xsrf})
    assert bad.status_code == 400 and "seats and minutes must be numbers" in bad.text
    csv_text = hub.session.get(f"{lab.url}/hub/gluonlab/enrolment?format=csv", timeout=30).text
    assert "pagejoin," in csv_text and "walkin01," in csv_text
    accounts(lab, "enrol", "close")
    late = post_join(lab, code=code, username="toolate")
    assert late.status_code == 403 and "报名已关闭" in html(late) and "Enrolment is closed" in late.text
    # Expired: a code that lasts a second.
    accounts(lab, "enrol", "open", "--seats", "5", "--minutes", "0.02", "--code", "blink")
    time.sleep(2)
    expired = post_join(lab, code="blink", username="toolate")
    assert expired.status_code == 403 and "加入码已过期" in html(expired) and "has expired" in expired.text


def test_a_help_request_round_trip_with_scope_checks(lab):
    """gluonlab-help in the Lab (the server's own token) -> the instructor's list -> done; that
    token may post only its own user's requests and cannot read the list."""
    subprocess.run(["docker", "exec", "-i", f"{lab.instance}-hub-1", "sh", "-c", "cat > /tmp/help.csv"],
                   input="username,password\nhelpee,help-me-please\nbystander,just-watching\n", text=True,
                   check=True, timeout=60)
    accounts(lab, "create", "--csv", "/tmp/help.csv", "--hub-url", lab.url, "--out", "/tmp/help-handout")
    hub = admin(lab)
    hub.start_server("helpee")
    (server,) = [c for c in lab.user_containers() if c.labels.get("gluonlab.user") == "helpee"]
    sent = server.exec_run(["gluonlab-help", "我的 GPU 看不到"], demux=True)
    out = (sent.output[0] or b"").decode()
    assert sent.exit_code == 0 and re.search(r"Help request #\d+ sent", out), sent.output
    number = int(re.search(r"#(\d+)", out).group(1))
    # The list: user, message and exactly the doctor's FAILs in this server.
    doctor = server.exec_run(["bash", "/opt/gluonlab/scripts/doctor.sh", "--json"]).output.decode()
    expected = [c["name"] for c in json.loads(doctor)["checks"] if c["status"] == "FAIL"]
    listed = {r["id"]: r for r in hub.api("GET", "/gluonlab/help").json()["open"]}
    assert listed[number]["user"] == "helpee" and listed[number]["message"] == "我的 GPU 看不到"
    assert [f["name"] for f in listed[number]["fails"]] == expected
    # Scopes: the server's token posts for its own user only and cannot read the list. JupyterHub
    # answers 404 where a token holds the scope for other users only (it does not reveal who exists).
    token = server.exec_run(["printenv", "JUPYTERHUB_API_TOKEN"]).output.decode().strip()
    own = hub.api("POST", "/gluonlab/help/helpee", token=token, json={"message": "again"})
    assert own.status_code == 201
    assert hub.api("POST", "/gluonlab/help/bystander", token=token, json={"message": "as someone else"}).status_code == 404
    assert hub.api("GET", "/gluonlab/help", token=token).status_code == 403
    assert hub.api("POST", "/gluonlab/help/helpee", token=token, json={"message": " "}).status_code == 400
    other = HubClient(lab.url)
    assert other.login("bystander", "just-watching").status_code == 302
    other.create_token("bystander")
    assert other.api("POST", "/gluonlab/help/helpee", json={"message": "impersonating"}).status_code == 404
    assert other.api("POST", "/gluonlab/help/bystander", json={"message": "my own"}).status_code == 201
    assert other.session.get(f"{lab.url}/hub/gluonlab/help", timeout=30).status_code == 403
    # The instructor's page lists both and marks one done.
    page = hub.session.get(f"{lab.url}/hub/gluonlab/help", timeout=30)
    assert page.status_code == 200 and f'id="help-{number}"' in page.text and "helpee" in page.text
    done = hub.session.post(f"{lab.url}/hub/gluonlab/help", timeout=30,
                            data={"id": str(number), "_xsrf": hub.session.cookies.get("_xsrf", "")})
    assert done.status_code == 200 and f'id="help-{number}"' not in done.text
    left = [(r["user"], r["message"]) for r in hub.api("GET", "/gluonlab/help").json()["open"]]
    assert left == [("helpee", "again"), ("bystander", "my own")]
    hub.stop_server("helpee")


def test_the_clean_end_removes_accounts_servers_and_volumes_after_exporting_homes(lab):
    import docker

    client = docker.from_env()
    csv_text = "username,password\nrm01,remove-me-1\nrm02,remove-me-2\n"
    subprocess.run(["docker", "exec", "-i", f"{lab.instance}-hub-1", "sh", "-c", "cat > /tmp/rm.csv"],
                   input=csv_text, text=True, check=True, timeout=60)
    accounts(lab, "create", "--csv", "/tmp/rm.csv", "--hub-url", lab.url, "--out", "/tmp/rm-handout")
    hub = admin(lab)
    hub.start_server("rm01")
    (worker,) = [c for c in lab.user_containers() if c.labels.get("gluonlab.user") == "rm01"]
    assert worker.exec_run(["sh", "-c", "echo my-work > /home/jovyan/notes-rm01.txt"]).exit_code == 0
    volume = f"{lab.instance}-home-rm01"
    assert client.volumes.get(volume)

    plan = accounts(lab, "remove", "--prefix", "rm", "--dry-run")
    assert "would remove 2 account(s): rm01, rm02" in plan
    assert hub.api("GET", "/users/rm01").json()["servers"]  # nothing changed

    refused = lab.compose("exec", "-T", "hub", "gluonlab-accounts", "remove", "--prefix", "adm", check=False)
    assert refused.returncode == 1 and "admin is an admin: not removed" in refused.stderr
    assert hub.api("GET", "/users/admin").status_code == 200

    done = accounts(lab, "remove", "--prefix", "rm", "--out", "/srv/jupyterhub/state/exports/day")
    assert "rm01: server stopped" in done and "rm01: home exported to /srv/jupyterhub/state/exports/day/rm01.tar.gz" in done
    assert f"rm01: volume {volume} removed" in done and "removed 2 account(s)" in done
    # Sized homes (GLUONLAB_HOME_SIZE, on by default): the image file goes too, its space freed.
    assert "rm01: home image deleted (" in done, done
    for name in ("rm01", "rm02"):
        assert hub.api("GET", f"/users/{name}").status_code == 404
        assert HubClient(lab.url).login(name, "remove-me-1").status_code == 403
    assert not [v for v in client.volumes.list(filters={"name": volume})]
    assert not [c for c in lab.user_containers() if c.labels.get("gluonlab.user") == "rm01"]
    archive = lab.compose("exec", "-T", "hub", "sh", "-c", "stat -c %a /srv/jupyterhub/state/exports/day/rm01.tar.gz"
                          " && tar -xzOf /srv/jupyterhub/state/exports/day/rm01.tar.gz --wildcards '*notes-rm01.txt'")
    assert archive.stdout.split() == ["600", "my-work"], archive.stdout

    # Everyone who joined today (walk-ins above), homes not kept.
    joined = [line.split(",")[0] for line in accounts(lab, "enrol", "joined").splitlines()[1:]]
    assert "walkin01" in joined
    gone = accounts(lab, "remove", "--joined-today", "--no-export")
    assert f"removed {len(joined)} account(s)" in gone and "exported" not in gone
    assert accounts(lab, "enrol", "joined").splitlines() == ["username,joined_at_utc"]
    assert not client.volumes.list(filters={"name": f"{lab.instance}-home-walkin01"})


def test_wrong_codes_are_throttled_per_address(lab):
    """Last in the module: the test's address stays throttled for the window. The hub allows 20
    wrong codes per address in 5 minutes; one test above sent one already."""
    accounts(lab, "enrol", "open", "--seats", "5", "--minutes", "30", "--code", "right-code")
    statuses = [post_join(lab, code=f"guess-{n}", username="guesser").status_code for n in range(20)]
    assert statuses == [403] * 19 + [429], statuses
    blocked = post_join(lab, code="right-code", username="guesser")
    assert blocked.status_code == 429
    assert re.search(r"请 \d+ 秒后再试 / .*try again in \d+ seconds", html(blocked))
