# Benchmark candidate "tuned": Gluon Lab's hub config plus a login path that does not stall the
# hub. NativeAuthenticator checks the bcrypt hash (cost 12, ~0.25 core-s) inside the hub's event
# loop, so during a login rush every login blocks every other request (spawn progress, proxy
# routes, API) for its whole check: 20 logins queue for 5 s or more. bcrypt releases the GIL,
# so running the check in a thread lets the event loop go on and uses a second core.
import asyncio

import bcrypt
from nativeauthenticator import NativeAuthenticator

c = get_config()  # noqa: F821  (injected by JupyterHub)
load_subconfig("/opt/gluonlab/hub/jupyterhub_config.py")  # noqa: F821


class ThreadedNativeAuthenticator(NativeAuthenticator):
    """NativeAuthenticator.authenticate (1.3.0) with the bcrypt check in a worker thread."""

    async def authenticate(self, handler, data):
        username = self.normalize_username(data["username"])
        user = self.get_user(username)  # database access stays on the event loop's thread
        if not user:
            return None
        if self.allowed_failed_logins and self.is_blocked(username):
            return None
        hashed = user.password
        valid = await asyncio.to_thread(bcrypt.checkpw, data["password"].encode(), hashed)
        validations = [user.is_authorized, valid]
        if user.has_2fa:
            validations.append(user.is_valid_token(data.get("2fa")))
        if all(validations):
            self.successful_login(username)
            return username
        self.add_login_attempt(username)
        return None


c.JupyterHub.authenticator_class = ThreadedNativeAuthenticator

# Late attendees: JupyterHub's default (30, 60) s retry suggestion for a throttled spawn leaves
# the hub idle while a slot frees up every few seconds (a start costs ~0.7-1.5 core-s); at N=20
# it made the 10 queued attendees' spawn p95 100 s (bench/README.md). The message stays
# "Too many users trying to log in right now. Try again in 10 seconds."
c.JupyterHub.spawn_throttle_retry_range = (5, 10)
