"""A hostile room at the login form, against the compose stack: a wrong-password flood from an
attendee's address (with made-up X-Forwarded-For headers), bad input, NativeAuthenticator's
state-changing pages, and the hub's cookies. Strict timings are in bench/login_flood.py; here
the bounds are generous and only where a bound is the behaviour."""
from __future__ import annotations

import csv
import json
import re
import threading
import time

import docker
import pytest
import requests

from labclient import HubClient, LabStack

pytestmark = [pytest.mark.docker, pytest.mark.integration]

ATTENDEES = {"student01": "student-password-01", "student02": "student-password-02",
             "student03": "student-password-03", "student04": "student-password-04"}
INVALID = "Invalid username or password"

# Runs in a container on the lab network (where attendees' servers are): 20 wrong passwords a
# second, open loop, each claiming another address in X-Forwarded-For and X-Real-Ip; then
# the right admin password from the same place. Prints the status counts as JSON.
FLOOD = r"""
import json, sys, threading, time
import requests
base, rate, seconds, admin_password = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
statuses, lock = {}, threading.Lock()
def post(i, username, password):
    # A fresh form per attempt with the same made-up headers: JupyterHub ties the XSRF token
    # to the address tornado believes (X-Real-Ip first), so a script does this too.
    headers = {"X-Forwarded-For": f"10.9.{i % 250}.{i % 200 + 1}", "X-Real-Ip": f"10.8.{i % 250}.1"}
    try:
        session = requests.Session()
        session.get(base + "/hub/login", headers=headers, timeout=30)
        r = session.post(base + "/hub/login?next=", allow_redirects=False, timeout=30, headers=headers,
                         data={"username": username, "password": password, "_xsrf": session.cookies.get("_xsrf", "")})
        if r.status_code != 429 and "sample" not in statuses:
            statuses["sample"] = r.text[-600:]
        return str(r.status_code)
    except requests.RequestException as error:
        return type(error).__name__
def one(i):
    status = post(i, "student01" if i % 2 else f"ghost{i}", f"wrong-{i}")
    with lock:
        statuses[status] = statuses.get(status, 0) + 1
threads, start, i = [], time.monotonic(), 0
while time.monotonic() - start < seconds:
    threads.append(threading.Thread(target=one, args=(i,)))
    threads[-1].start()
    i += 1
    time.sleep(max(0.0, start + i / rate - time.monotonic()))
for t in threads:
    t.join()
sample = statuses.pop("sample", "")
print(json.dumps({"sent": i, "statuses": statuses, "sample": sample,
                  "right_password_after": post(i, "admin", admin_password)}))
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with LabStack().running(log_name="hostile-room-login-hub.log") as stack:
        csv_path = tmp_path_factory.mktemp("accounts") / "attendees.csv"
        with csv_path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["username", "password", "name"])
            for name, password in ATTENDEES.items():
                writer.writerow([name, password, name])
        stack.compose("cp", str(csv_path), "hub:/tmp/attendees.csv")
        stack.compose("exec", "-T", "hub", "gluonlab-accounts", "create", "--csv", "/tmp/attendees.csv",
                      "--hub-url", stack.url, "--out", "/tmp/handouts")
        yield stack


def hub_address(stack: LabStack) -> str:
    container_id = stack.compose("ps", "-q", "hub").stdout.strip()
    networks = docker.from_env().containers.get(container_id).attrs["NetworkSettings"]["Networks"]
    return networks[stack.instance]["IPAddress"]


@pytest.fixture(scope="module")
def flood(lab):
    """20 wrong passwords/s for 20 s from the lab network, while the host probes /hub/health
    every 0.2 s and an attendee logs in with the right password from the host."""
    client = docker.from_env()
    attacker = client.containers.run(
        "gluonlab/hub:latest", entrypoint=["/opt/venv/bin/python", "-c", FLOOD],
        command=[f"http://{hub_address(lab)}:8000", "20", "20", lab.admin_password],
        network=lab.instance, detach=True, labels={"gluonlab.test": lab.instance},
    )
    health, logins, done = [], [], threading.Event()

    def probe():
        while not done.is_set():
            started = time.monotonic()
            try:
                status = requests.get(f"{lab.url}/hub/health", timeout=30).status_code
            except requests.RequestException as error:
                status = type(error).__name__
            health.append((status, time.monotonic() - started))
            time.sleep(0.2)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        for _ in range(3):
            time.sleep(5)
            started = time.monotonic()
            status = HubClient(lab.url).login("student02", ATTENDEES["student02"]).status_code
            logins.append((status, time.monotonic() - started))
        result = attacker.wait(timeout=120)
        output = attacker.logs().decode()
        assert result["StatusCode"] == 0, output
    finally:
        done.set()
        prober.join()
        attacker.remove(force=True)
    return {"health": health, "logins": logins, **json.loads(output.strip().splitlines()[-1])}


def test_a_password_flood_does_not_slow_the_hub_for_others(flood):
    statuses = [status for status, _ in flood["health"]]
    assert statuses and set(statuses) == {200}, statuses
    seconds = sorted(t for _, t in flood["health"])
    assert seconds[int(0.95 * (len(seconds) - 1))] < 1.0, seconds[-10:]  # bench/: p95 in ms
    assert [status for status, _ in flood["logins"]] == [302, 302, 302]
    assert max(t for _, t in flood["logins"]) < 5.0, flood["logins"]


def test_a_flood_from_one_address_is_refused_without_password_checks(flood):
    statuses = flood["statuses"]
    assert sum(statuses.values()) == flood["sent"] >= 350
    assert set(statuses) <= {"403", "429"}, (statuses, flood["sample"])  # refused or wrong; never a 5xx or a hang
    # At most 30 failures a minute are checked per address; the rest are refused at once.
    assert statuses.get("403", 0) <= 30 and statuses["429"] >= flood["sent"] - 30, (statuses, flood["sample"])


def test_a_spoofed_x_forwarded_for_does_not_escape_the_address_throttle(flood):
    # Every flood request claimed another address; the hub counted them all as the sender's,
    # so even the right password from there is refused until the minute has passed.
    assert flood["right_password_after"] == "429"


def post_login(lab: LabStack, body: bytes | dict) -> requests.Response:
    session = requests.Session()
    session.get(f"{lab.url}/hub/login", timeout=10)
    xsrf = session.cookies.get("_xsrf", "")
    if isinstance(body, dict):
        return session.post(f"{lab.url}/hub/login?next=", data={**body, "_xsrf": xsrf},
                            allow_redirects=False, timeout=30)
    return session.post(f"{lab.url}/hub/login?next=", data=body + b"&_xsrf=" + xsrf.encode(),
                        headers={"Content-Type": "application/x-www-form-urlencoded"},
                        allow_redirects=False, timeout=30)


@pytest.mark.parametrize("body", [
    {"username": "student03", "password": "x" * 100},  # the 100 characters (HTTP 500 before)
    {"username": "student03", "password": "密" * 25},  # 75 bytes: over bcrypt's 72
    {"username": "s" * 300, "password": "whatever-password"},
    {"password": "no-username-at-all"},
    b"username=student03&password=%FF%FEnot-utf-8",
    b"username=%C3%28student03&password=whatever",
], ids=["100-chars", "75-bytes", "300-char-username", "no-username", "password-not-utf8", "username-not-utf8"])
def test_an_overlong_password_is_a_normal_failure_not_a_500(lab, body):
    response = post_login(lab, body)
    assert response.status_code == 403, response.text[:500]
    assert INVALID in response.text


def test_bad_input_counts_as_failures_for_the_username(lab):
    for _ in range(5):
        assert post_login(lab, {"username": "student04", "password": "y" * 100}).status_code == 403
    refused = post_login(lab, {"username": "student04", "password": ATTENDEES["student04"]})
    assert refused.status_code == 429 and re.search(r"请 \d+ 秒后再试 / .*try again in \d+ seconds", refused.content.decode())


def test_nativeauthenticators_state_changing_pages_are_not_served(lab):
    admin = HubClient(lab.url)
    assert admin.login("admin", lab.admin_password).status_code == 302
    for path in ("signup", "authorize", "authorize/student02", "discard/student02", "confirm/anything"):
        response = admin.session.get(f"{lab.url}/hub/{path}", allow_redirects=False, timeout=10)
        assert response.status_code == 404, (path, response.status_code)
    assert admin.session.get(f"{lab.url}/hub/change-password", timeout=10).status_code == 200
    # The GETs changed nothing: the account is still authorized.
    assert HubClient(lab.url).login("student02", ATTENDEES["student02"]).status_code == 302


def test_an_attendee_changes_their_password_and_a_wrong_current_one_is_refused(lab):
    attendee = HubClient(lab.url)
    assert attendee.login("student02", ATTENDEES["student02"]).status_code == 302
    url = f"{lab.url}/hub/change-password"

    def change(old: str, new: str) -> requests.Response:
        return attendee.session.post(url, timeout=30, data={
            "old_password": old, "new_password": new, "new_password_confirmation": new,
            "_xsrf": attendee.session.cookies.get("_xsrf", "")})

    wrong = change("not-my-password", "another-password-2")
    assert wrong.status_code == 200 and "current password is wrong" in wrong.text
    too_long = change(ATTENDEES["student02"], "z" * 80)
    assert too_long.status_code == 200 and "72 bytes" in too_long.text
    assert "has been changed" in change(ATTENDEES["student02"], "another-password-2").text
    assert HubClient(lab.url).login("student02", "another-password-2").status_code == 302
    assert HubClient(lab.url).login("student02", ATTENDEES["student02"]).status_code == 403
    ATTENDEES["student02"] = "another-password-2"


def test_hub_cookies_are_samesite_lax(lab):
    client = HubClient(lab.url)
    form = client.session.get(f"{lab.url}/hub/login", timeout=10)
    response = client.login("admin", lab.admin_password)
    assert response.status_code == 302
    set_cookies = form.raw.headers.getlist("Set-Cookie") + response.raw.headers.getlist("Set-Cookie")
    names = {header.split("=", 1)[0] for header in set_cookies}
    assert {"_xsrf", "jupyterhub-hub-login"} <= names, set_cookies
    for header in set_cookies:
        assert "samesite=lax" in header.lower(), header
        assert "httponly" in header.lower() or header.startswith("_xsrf="), header
