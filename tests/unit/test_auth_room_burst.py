"""A whole room logging in at the same moment gets in: the login check queue's default holds it,
from one address each or all from one address (a room behind one NAT).

The bench's N=20 rush met 4 login 503s ("busy") per run while the queue held 16 checks."""
from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import bcrypt
import pytest
from jupyterhub import orm
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

from gluonlab_hub import accounts as acc
from gluonlab_hub.auth import LoginRefused, ThreadedNativeAuthenticator

ROOM = 50  # the bench's N=50 rush
PASSWORD = "right-password-1"


@pytest.fixture
def room_db(tmp_path):
    session = orm.new_session_factory(f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}")()
    acc.create_accounts(session, [acc.AccountRow(i, f"attendee{i:03d}", PASSWORD) for i in range(1, ROOM + 1)],
                        bcrypt_rounds=4)
    yield session
    session.close()


def _through_proxy(client: str) -> SimpleNamespace:
    socket = SimpleNamespace(getpeername=lambda: ("127.0.0.1", 40000), getsockname=lambda: ("127.0.0.1", 8081))
    connection = SimpleNamespace(stream=SimpleNamespace(socket=socket),
                                 context=SimpleNamespace(remote_ip=client, protocol="http"))
    request = HTTPServerRequest(start_line=RequestStartLine("POST", "/hub/login", "HTTP/1.1"),
                                headers=HTTPHeaders({"Host": "hub.example:8000", "X-Forwarded-For": client}),
                                connection=connection)
    return SimpleNamespace(request=request)


@pytest.mark.parametrize("one_nat", [False, True], ids=["own-addresses", "one-address-behind-a-nat"])
def test_a_room_of_50_logging_in_at_once_on_one_worker_all_get_in(room_db, monkeypatch, one_nat):
    auth = ThreadedNativeAuthenticator(db=room_db, bcrypt_workers=1)  # the queue's default size
    release = threading.Event()
    real_checkpw = bcrypt.checkpw

    def held_checkpw(*args):  # every check waits until all 50 are queued: the worst moment
        release.wait(10)
        return real_checkpw(*args)

    monkeypatch.setattr(bcrypt, "checkpw", held_checkpw)

    async def rush():
        tasks = [asyncio.ensure_future(auth.authenticate(_through_proxy("192.0.2.1" if one_nat else f"192.0.2.{i}"),
                                                         {"username": f"attendee{i:03d}", "password": PASSWORD}))
                 for i in range(1, ROOM + 1)]
        await asyncio.sleep(0.2)
        release.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(rush())
    refused = [r for r in results if isinstance(r, LoginRefused)]
    assert not refused, f"{len(refused)} of {ROOM} refused: {refused[0].status_code} {refused[0].message}"
    assert results == [f"attendee{i:03d}" for i in range(1, ROOM + 1)]
