"""A hub database for the accounts tests, as a first hub start leaves it, and a real login."""

from __future__ import annotations

import asyncio
from pathlib import Path

from jupyterhub import orm, roles
from nativeauthenticator import NativeAuthenticator

FAST = 4  # bcrypt rounds for tests; the CLI's costs (12 chosen, 10 generated) are tested apart


def make_hub_db(path: Path) -> str:
    """Schema plus the default roles at ``path``; returns its URL."""
    url = f"sqlite:///{path}"
    db = orm.new_session_factory(url)()
    for role in roles.get_default_roles():
        roles.create_role(db, role)
    db.commit()
    db.close()
    return url


def login(db, username: str, password: str, **config) -> str | None:
    """NativeAuthenticator's own check, reading ``db``."""
    auth = NativeAuthenticator(db=db, **config)
    return asyncio.run(auth.authenticate(None, {"username": username, "password": password}))
