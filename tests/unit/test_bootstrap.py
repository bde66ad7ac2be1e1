"""First start of the hub: database and first admin account, never changed afterwards."""
from __future__ import annotations

import os
import stat

import bcrypt
import pytest

from gluonlab_hub import bootstrap
from gluonlab_hub.settings import Settings


@pytest.fixture
def settings(tmp_path):
    return Settings.from_env({"GLUONLAB_STATE_DIR": str(tmp_path / "state"), "GLUONLAB_ADMIN_USERS": "teacher,ta"})


def stored_hash(state_dir, username):
    from jupyterhub import orm
    from nativeauthenticator.orm import UserInfo

    db = orm.new_session_factory(f"sqlite:///{state_dir}/jupyterhub.sqlite")()
    try:
        info = UserInfo.find(db, username)
        return info and (info.password, info.is_authorized)
    finally:
        db.close()


def test_first_admin_gets_a_generated_password_stored_privately(settings):
    assert bootstrap.ensure_first_admin(settings) is True
    password_file = os.path.join(settings.state_dir, "admin-password")
    password = open(password_file).read().strip()
    assert stat.S_IMODE(os.stat(password_file).st_mode) == 0o600
    hashed, authorized = stored_hash(settings.state_dir, "teacher")
    assert authorized and bcrypt.checkpw(password.encode(), hashed)


def test_existing_admin_is_never_changed(settings):
    bootstrap.ensure_first_admin(settings, "first-password")
    before = stored_hash(settings.state_dir, "teacher")
    assert bootstrap.ensure_first_admin(settings, "another-password") is False
    assert stored_hash(settings.state_dir, "teacher") == before
    assert open(os.path.join(settings.state_dir, "admin-password")).read().strip() == "first-password"


def test_bad_setting_exits_2_with_the_fix(monkeypatch, capsys):
    monkeypatch.setenv("NOTEBOOK_VARIANT", "tpu")
    assert bootstrap.main(["true"]) == 2
    assert "NOTEBOOK_VARIANT='tpu' is not valid" in capsys.readouterr().err
