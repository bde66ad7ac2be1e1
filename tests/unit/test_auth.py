"""The threaded login check keeps NativeAuthenticator's rules (right/wrong password,
unauthorized accounts, throttling) against a real hub database."""
from __future__ import annotations

import asyncio

import pytest
from jupyterhub import orm
from nativeauthenticator.orm import UserInfo

from gluonlab_hub import accounts as acc
from gluonlab_hub.auth import ThreadedNativeAuthenticator


@pytest.fixture
def db(tmp_path):
    session = orm.new_session_factory(f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}")()
    acc.create_accounts(session, [acc.AccountRow(1, "ana", "right-password-1")], bcrypt_rounds=4)
    yield session
    session.close()


def login(auth, username, password):
    return asyncio.run(auth.authenticate(None, {"username": username, "password": password}))


def test_right_password_logs_in_wrong_does_not(db):
    auth = ThreadedNativeAuthenticator(db=db)
    assert login(auth, "ana", "right-password-1") == "ana"
    assert login(auth, "Ana", "right-password-1") == "ana"
    assert login(auth, "ana", "wrong-password") is None
    assert login(auth, "nobody", "right-password-1") is None


def test_unauthorized_account_cannot_log_in(db):
    UserInfo.find(db, "ana").is_authorized = False
    db.commit()
    assert login(ThreadedNativeAuthenticator(db=db), "ana", "right-password-1") is None


def test_repeated_failures_are_throttled(db):
    auth = ThreadedNativeAuthenticator(db=db, allowed_failed_logins=3, seconds_before_next_try=600)
    for _ in range(3):
        assert login(auth, "ana", "guess") is None
    assert login(auth, "ana", "right-password-1") is None
