"""Login for workshops: NativeAuthenticator with the bcrypt check off the hub's event loop.

NativeAuthenticator 1.3.0 checks the bcrypt hash (cost 12, about 0.25 core-seconds) inside the
hub's event loop, so during a login rush every login blocks every other request (spawn
progress, proxy routes, API) for its whole check. bcrypt releases the GIL: running the check in
a worker thread lets the loop go on and uses a second core. Measured on 2 cores with 20
simultaneous logins: login p95 fell from 18-32 s to 12 s (bench/README.md).
"""
from __future__ import annotations

import asyncio

import bcrypt
from nativeauthenticator import NativeAuthenticator


class ThreadedNativeAuthenticator(NativeAuthenticator):
    """NativeAuthenticator.authenticate (1.3.0) with the same rules; only the hash check moves
    to a thread. Database access stays on the event loop's thread."""

    async def authenticate(self, handler, data):
        username = self.normalize_username(data["username"])
        user = self.get_user(username)
        if not user:
            return None
        if self.allowed_failed_logins and self.is_blocked(username):
            return None
        valid = await asyncio.to_thread(bcrypt.checkpw, data["password"].encode(), user.password)
        validations = [user.is_authorized, valid]
        if user.has_2fa:
            validations.append(user.is_valid_token(data.get("2fa")))
        if all(validations):
            self.successful_login(username)
            return username
        self.add_login_attempt(username)
        return None
