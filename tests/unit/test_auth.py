"""The login check against a real hub database: NativeAuthenticator's rules (right/wrong
password, unauthorized accounts, throttling), bcrypt never on the event loop, throttling per
client address (with X-Forwarded-For trusted only from the proxy) and bad input refused as a
normal failure."""
from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from types import SimpleNamespace

import bcrypt
import pytest
from jupyterhub import orm
from nativeauthenticator.orm import UserInfo
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

from gluonlab_hub import accounts as acc
from gluonlab_hub.auth import (
    ADDRESS_BUSY,
    BCRYPT_NICE,
    BUSY,
    THROTTLED,
    FailureLog,
    LoginRefused,
    ThreadedNativeAuthenticator,
    client_address,
)

PASSWORD = "right-password-1"


@pytest.fixture
def db(tmp_path):
    session = orm.new_session_factory(f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}")()
    acc.create_accounts(session, [acc.AccountRow(1, "ana", PASSWORD), acc.AccountRow(2, "ben", PASSWORD)],
                        bcrypt_rounds=4)
    yield session
    session.close()


class FakeSocket:
    def __init__(self, peer: str, local: str):
        self.peer, self.local = peer, local

    def getpeername(self):
        return (self.peer, 40000)

    def getsockname(self):
        return (self.local, 8081)


def request_from(peer: str = "127.0.0.1", local: str = "127.0.0.1", headers: dict | None = None,
                 claimed_remote_ip: str = "203.0.113.99") -> HTTPServerRequest:
    """A request as tornado hands it to the hub: ``remote_ip`` is what tornado's xheaders made
    of the client's headers (spoofable), the socket says who really connected."""
    connection = SimpleNamespace(stream=SimpleNamespace(socket=FakeSocket(peer, local)),
                                 context=SimpleNamespace(remote_ip=claimed_remote_ip, protocol="http"))
    return HTTPServerRequest(start_line=RequestStartLine("POST", "/hub/login", "HTTP/1.1"), headers=HTTPHeaders({"Host": "hub.example:8000", **(headers or {})}),
                             connection=connection)


def proxied(client: str) -> SimpleNamespace:
    """A handler for a login that came through the proxy from ``client``."""
    return SimpleNamespace(request=request_from(headers={"X-Forwarded-For": client}))


def login(auth, username, password, handler=None, **extra):
    data = {"username": username, "password": password, **extra}
    return asyncio.run(auth.authenticate(handler or proxied("192.0.2.10"), data))


def refused(auth, username, password, handler=None) -> int:
    with pytest.raises(LoginRefused) as info:
        login(auth, username, password, handler)
    return info.value.status_code


@pytest.fixture
def bcrypt_threads(monkeypatch):
    """Every bcrypt call, with whether it ran on the thread that runs the event loop."""
    calls: list[tuple[str, bool]] = []
    loop_threads: set[int] = set()
    real_run = asyncio.run

    def run(coro):
        async def marked():
            loop_threads.add(threading.get_ident())
            return await coro
        return real_run(marked())

    def recorder(name, real):
        def wrapper(*args, **kwargs):
            calls.append((name, threading.get_ident() in loop_threads))
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(asyncio, "run", run)
    monkeypatch.setattr(bcrypt, "checkpw", recorder("checkpw", bcrypt.checkpw))
    monkeypatch.setattr(bcrypt, "hashpw", recorder("hashpw", bcrypt.hashpw))
    return calls


def test_right_password_logs_in_wrong_does_not(db):
    auth = ThreadedNativeAuthenticator(db=db)
    assert login(auth, "ana", PASSWORD) == "ana"
    assert login(auth, "Ana", PASSWORD) == "ana"
    assert login(auth, "ana", "wrong-password") is None
    assert login(auth, "nobody", PASSWORD) is None


def test_unauthorized_account_cannot_log_in(db):
    UserInfo.find(db, "ana").is_authorized = False
    db.commit()
    assert login(ThreadedNativeAuthenticator(db=db), "ana", PASSWORD) is None


def test_repeated_failures_are_throttled(db):
    auth = ThreadedNativeAuthenticator(db=db, allowed_failed_logins=3, seconds_before_next_try=600)
    for _ in range(3):
        assert login(auth, "ana", "guess") is None
    assert refused(auth, "ana", PASSWORD) == 429


def test_bcrypt_never_runs_on_the_event_loop_for_any_login(db, bcrypt_threads):
    auth = ThreadedNativeAuthenticator(db=db, allowed_failed_logins=2, seconds_before_next_try=600)
    assert login(auth, "ana", PASSWORD) == "ana"  # right
    assert login(auth, "ana", "wrong-1") is None  # wrong
    assert login(auth, "ana", "wrong-2") is None
    checks_before_lock = len(bcrypt_threads)
    assert refused(auth, "ana", PASSWORD) == 429  # locked: refused, no check at all
    assert len(bcrypt_threads) == checks_before_lock
    assert login(auth, "nobody", PASSWORD) is None  # unknown
    UserInfo.find(db, "ben").is_authorized = False
    db.commit()
    assert login(auth, "ben", PASSWORD) is None  # unauthorized: no check either
    assert len(bcrypt_threads) == checks_before_lock == 3
    UserInfo.find(db, "ben").is_authorized = True
    db.commit()
    assert asyncio.run(auth.change_password_async("ben", "a-new-password-2")) is None
    assert login(auth, "ben", "a-new-password-2") == "ben"
    assert {name for name, _ in bcrypt_threads} == {"checkpw", "hashpw"}
    assert not any(on_loop for _, on_loop in bcrypt_threads), bcrypt_threads


def test_nativeauthenticators_own_hashing_on_the_calling_thread_is_refused(db):
    with pytest.raises(RuntimeError, match="event loop"):
        ThreadedNativeAuthenticator(db=db).change_password("ana", "a-new-password-2")


@pytest.mark.parametrize("password", [
    "x" * 100,  # the 100 characters: bcrypt 5 raises on more than 72 bytes
    "密" * 25,  # 25 characters, 75 bytes
    "right\udcffpassword",  # a form field that was not UTF-8 (decoded with surrogateescape)
    "right\x00password",
    "",
])
def test_an_overlong_or_undecodable_password_is_a_normal_failure_not_a_500(db, bcrypt_threads, password):
    auth = ThreadedNativeAuthenticator(db=db, allowed_failed_logins=3, seconds_before_next_try=600)
    assert login(auth, "ana", password) is None
    assert bcrypt_threads == []
    assert auth.username_failures.blocked("ana") is False
    assert login(auth, "ana", password) is None and login(auth, "ana", password) is None
    assert auth.username_failures.blocked("ana")  # counted as failures


@pytest.mark.parametrize("data", [
    {"username": "a" * 129, "password": PASSWORD},
    {"username": "ana\udcff", "password": PASSWORD},
    {"username": "", "password": PASSWORD},
    {"password": PASSWORD},
    {"username": "ana"},
    {},
])
def test_an_overlong_odd_or_missing_username_is_a_normal_failure_counted_per_address(db, bcrypt_threads, data):
    auth = ThreadedNativeAuthenticator(db=db, failed_logins_per_address=2, seconds_before_next_try=600)
    handler = proxied("192.0.2.20")
    for _ in range(2):
        assert asyncio.run(auth.authenticate(handler, data)) is None
    assert bcrypt_threads == []
    assert refused(auth, "ana", PASSWORD, handler) == 429
    assert login(auth, "ana", PASSWORD, proxied("192.0.2.21")) == "ana"


def test_a_flood_from_one_address_is_refused_without_checks_while_others_log_in(db, bcrypt_threads):
    auth = ThreadedNativeAuthenticator(db=db, failed_logins_per_address=4, allowed_failed_logins=100,
                                       seconds_before_next_try=600)
    attacker = proxied("192.0.2.66")
    for name in ("ana", "ben", "ana", "ben"):  # rotating names: a per-name limit alone would not stop it
        assert login(auth, name, "guess", attacker) is None
    checks = len(bcrypt_threads)
    for _ in range(20):
        assert refused(auth, "ana", "guess", attacker) == 429
    assert len(bcrypt_threads) == checks
    assert refused(auth, "ana", PASSWORD, attacker) == 429  # even the right one, from there
    assert login(auth, "ana", PASSWORD, proxied("192.0.2.10")) == "ana"


def test_a_success_does_not_reset_an_addresses_failure_count(db):
    auth = ThreadedNativeAuthenticator(db=db, failed_logins_per_address=3, seconds_before_next_try=600)
    attacker = proxied("192.0.2.66")
    assert login(auth, "ana", "guess-1", attacker) is None
    assert login(auth, "ana", "guess-2", attacker) is None
    assert login(auth, "ben", PASSWORD, attacker) == "ben"
    assert login(auth, "ana", "guess-3", attacker) is None
    assert refused(auth, "ana", PASSWORD, attacker) == 429


def test_a_full_check_queue_refuses_at_once_instead_of_queueing(db, monkeypatch):
    auth = ThreadedNativeAuthenticator(db=db, bcrypt_workers=1, max_pending_checks=2)
    release = threading.Event()
    real_checkpw = bcrypt.checkpw

    def slow_checkpw(*args):
        release.wait(10)
        return real_checkpw(*args)

    monkeypatch.setattr(bcrypt, "checkpw", slow_checkpw)

    async def burst():
        tasks = [asyncio.ensure_future(auth.authenticate(proxied(f"192.0.2.{i}"), {"username": "ana", "password": PASSWORD}))
                 for i in range(1, 6)]
        await asyncio.sleep(0.2)
        release.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(burst())
    assert results.count("ana") == 2
    busy = [r for r in results if isinstance(r, LoginRefused)]
    assert len(busy) == 3 and all(r.status_code == 503 and r.message == BUSY for r in busy)


def test_a_spoofed_x_forwarded_for_through_the_proxy_is_ignored():
    # The proxy appends the address it saw; what the client sent comes before it.
    assert client_address(request_from(headers={"X-Forwarded-For": "198.51.100.1, 192.0.2.7"})) == "192.0.2.7"
    assert client_address(request_from(headers={"X-Forwarded-For": "198.51.100.1,192.0.2.7"})) == "192.0.2.7"
    # X-Real-Ip (which tornado prefers) is the client's claim: ignored.
    assert client_address(request_from(headers={"X-Forwarded-For": "192.0.2.7", "X-Real-Ip": "198.51.100.1"})) == "192.0.2.7"
    # The proxy reaches the hub on the container's own address, not only on loopback.
    assert client_address(request_from("172.18.0.2", "172.18.0.2", {"X-Forwarded-For": "192.0.2.7"})) == "192.0.2.7"
    # Node reports IPv4 clients as IPv4-mapped IPv6; IPv6 clients count by /64.
    assert client_address(request_from(headers={"X-Forwarded-For": "::ffff:192.0.2.7"})) == "192.0.2.7"
    assert client_address(request_from(headers={"X-Forwarded-For": "2001:db8:1:2::99"})) == "2001:db8:1:2::/64"
    # Direct from the host (health checks, tools in the container): the peer.
    assert client_address(request_from()) == "127.0.0.1"


def test_x_forwarded_for_from_anyone_but_the_proxy_is_ignored():
    # A user's container on the lab network talks to the hub's port directly.
    direct = request_from("172.18.0.9", "172.18.0.2", {"X-Forwarded-For": "192.0.2.7", "X-Real-Ip": "192.0.2.8"})
    assert direct.remote_ip == "203.0.113.99"  # what tornado would have believed
    assert client_address(direct) == "172.18.0.9"


def test_failure_log_is_a_sliding_window_with_bounded_memory():
    log = FailureLog(limit=2, window=60, max_keys=3)
    log.record("a", now=0)
    assert not log.blocked("a", now=1)
    log.record("a", now=10)
    assert log.blocked("a", now=59) and not log.blocked("a", now=61) and not log.blocked("a", now=71)
    for key in "bcde":
        log.record(key, now=100)
    assert len(log._failures) == 3
    assert FailureLog(limit=0, window=60).blocked("x") is False


def test_only_the_login_and_change_password_pages_are_routed(db):
    routes = [pattern for pattern, _ in ThreadedNativeAuthenticator(db=db).get_handlers(None)]
    assert routes == ["/login", "/change-password", "/change-password/([^/]+)", "/join", "/gluonlab/enrolment"]


def test_a_new_password_bcrypt_cannot_take_is_refused_with_a_reason(db):
    auth = ThreadedNativeAuthenticator(db=db, minimum_password_length=8)
    assert "72 bytes" in asyncio.run(auth.change_password_async("ana", "x" * 73))
    assert "shorter than 8" in asyncio.run(auth.change_password_async("ana", "short"))
    assert "no account" in asyncio.run(auth.change_password_async("nobody", "a-new-password-2"))
    assert login(auth, "ana", PASSWORD) == "ana"


def test_throttled_message_tells_the_attendee_to_wait(db):
    assert "wait a minute" in THROTTLED and "一分钟" in THROTTLED
    auth = ThreadedNativeAuthenticator(db=db, allowed_failed_logins=2, seconds_before_next_try=60)
    for _ in range(2):
        assert login(auth, "ana", "wrong") is None
    with pytest.raises(LoginRefused) as info:
        login(auth, "ana", PASSWORD)
    assert re.fullmatch(r"尝试次数过多，请 (\d+) 秒后再试 / Too many failed attempts: try again in \1 seconds\.",
                        info.value.message)


def test_a_burst_from_one_address_cannot_queue_more_checks_than_its_limit(db, monkeypatch):
    auth = ThreadedNativeAuthenticator(db=db, checks_per_address=3, failed_logins_per_address=3,
                                       allowed_failed_logins=100, bcrypt_workers=1, max_pending_checks=50)
    checks = []
    real_checkpw = bcrypt.checkpw

    def counted_checkpw(*args):
        checks.append(1)
        time.sleep(0.05)
        return real_checkpw(*args)

    monkeypatch.setattr(bcrypt, "checkpw", counted_checkpw)

    async def burst():
        attacker = proxied("192.0.2.66")
        return await asyncio.gather(*(auth.authenticate(attacker, {"username": "ana", "password": f"guess-{i}"})
                                      for i in range(10)), return_exceptions=True)

    results = asyncio.run(burst())
    assert results.count(None) == 3 and len(checks) == 3
    refused = [r for r in results if r is not None]
    assert all(isinstance(r, LoginRefused) and r.status_code == 429 for r in refused)
    assert {r.message for r in refused} == {ADDRESS_BUSY}
    # Its three failures are now known: the address is throttled, without a check.
    with pytest.raises(LoginRefused) as info:
        login(auth, "ana", PASSWORD, handler=proxied("192.0.2.66"))
    assert info.value.status_code == 429 and "try again in" in info.value.message and len(checks) == 3


def test_passwords_are_checked_on_every_core_at_a_lower_priority_than_the_hub(db):
    auth = ThreadedNativeAuthenticator(db=db)
    assert auth.bcrypt_workers == max(1, len(os.sched_getaffinity(0)))

    def own_nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = own_nice()
    # A real check runs in the pool's thread, which reports its own niceness.
    assert asyncio.run(auth._in_pool(own_nice)) == max(before, BCRYPT_NICE)
    assert asyncio.run(auth.authenticate(proxied("192.0.2.7"), {"username": "ana", "password": PASSWORD})) == "ana"
    assert own_nice() == before  # the hub's own threads keep theirs
