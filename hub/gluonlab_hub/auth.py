"""Login for a hostile room: NativeAuthenticator's accounts, hardened against login abuse.

NativeAuthenticator 1.3.0 runs bcrypt (cost 10-12, 0.06-0.25 core-seconds) on the hub's event
loop: in ``authenticate``, again in its login handler after every failure (to tell "not
authorized" apart), and in the change-password handlers. Three wrong passwords a second made
/hub/health take 2 s. Here:

- every bcrypt call runs in a worker pool, never on the event loop (``check_password``,
  ``hash_new_password``); its threads run at a lower priority (nice BCRYPT_NICE), so the event
  loop and the proxy in the hub's container always come first; a full queue refuses new checks
  at once instead of growing;
- failures are throttled per client address and per username; a throttled attempt, an unknown
  or unauthorized account and bad input (over-long, not UTF-8, missing field) are refused
  without any bcrypt work;
- the client address is the proxy's X-Forwarded-For entry only when the request comes from the
  proxy (a connection from this host); from anywhere else it is the TCP peer (``client_address``);
- only the login and change-password handlers are served: NativeAuthenticator's signup,
  authorize, discard and confirm pages (GETs that change state) are not routed, because
  accounts come from the admin tools (gluonlab-accounts) or the join page (``join``: walk-ins
  with the admin's join code, its wrong codes throttled per address here too).
"""
from __future__ import annotations

import asyncio
import ipaddress
import os
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor

import bcrypt
from nativeauthenticator import NativeAuthenticator
from nativeauthenticator import handlers as native
from tornado import web
from traitlets import Integer, default

from gluonlab_hub import join
from gluonlab_hub.accounts.passwords import hash_password, password_problem

#: bcrypt reads at most 72 bytes, and bcrypt 5 raises on longer ones: no stored password is
#: longer (accounts.passwords refuses them), so a longer one is simply wrong.
MAX_PASSWORD_BYTES = 72
#: users_info.username is String(128); JupyterHub names are shorter still.
MAX_USERNAME_CHARS = 128

INVALID = "用户名或密码错误 / Invalid username or password."
THROTTLED = "登录失败次数过多，请一分钟后再试 / Too many failed logins: wait a minute, then try again."


def throttled_message(seconds: float | None) -> str:
    """The throttle's refusal with the wait it has left (THROTTLED when unknown)."""
    if seconds is None:
        return THROTTLED
    n = max(1, int(seconds + 0.999))
    return f"尝试次数过多，请 {n} 秒后再试 / Too many failed attempts: try again in {n} seconds."
BUSY = "登录繁忙，请几秒后再试 / The hub is busy checking logins: try again in a few seconds."
ADDRESS_BUSY = ("你所在的网络同时登录的人太多，请几秒后再试 / Too many logins from your network at this moment: "
                "try again in a few seconds.")


class LoginRefused(web.HTTPError):
    """A login refused before any password check; the login form shows ``message``."""

    def __init__(self, status_code: int, message: str):
        super().__init__(status_code, reason="Login refused")
        self.message = message


class FailureLog:
    """Failed logins per key (a client address or a username) in a sliding window.

    In memory and on the event loop's thread only (no locks): the hub is one process, and a
    restart forgetting the counts is harmless. At most ``max_keys`` keys are kept, oldest
    dropped first, so rotating addresses or names cannot grow it without bound."""

    def __init__(self, limit: int, window: float, max_keys: int = 50_000):
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        while times and times[0] <= now - self.window:
            times.popleft()
        if times is not None and not times:
            del self._failures[key]
            return None
        return times

    def blocked(self, key: str, now: float | None = None) -> bool:
        if self.limit <= 0:
            return False
        times = self._recent(key, time.monotonic() if now is None else now)
        return times is not None and len(times) >= self.limit

    def retry_in(self, key: str, now: float | None = None) -> float | None:
        """Seconds until ``key`` is no longer blocked (None: not blocked)."""
        now = time.monotonic() if now is None else now
        if not self.blocked(key, now):
            return None
        return self._failures[key][-self.limit] + self.window - now

    def record(self, key: str, now: float | None = None) -> float | None:
        """Count one failure (or one attempt in progress); returns its stamp for ``forget``."""
        if self.limit <= 0:
            return None
        now = time.monotonic() if now is None else now
        times = self._recent(key, now)
        if times is None:
            times = self._failures[key] = deque(maxlen=self.limit)
        times.append(now)
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)
        return now

    def forget(self, key: str, stamp: float | None) -> None:
        """Take back one counted attempt (it succeeded)."""
        times = self._failures.get(key)
        if times is not None and stamp in times:
            times.remove(stamp)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


def _ip(text: str | None):
    """The address in ``text`` (IPv4-mapped IPv6 unwrapped), or None."""
    try:
        address = ipaddress.ip_address((text or "").strip().strip("[]"))
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _address_key(text: str) -> str | None:
    """A throttling key for an address: IPv4 as is, IPv6 by its /64, since one host commonly
    holds a whole /64. None if ``text`` is not an address."""
    address = _ip(text)
    if address is None:
        return None
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _from_this_host(peer: str, local: str | None) -> bool:
    """The proxy (configurable-http-proxy) runs in the hub's container and reaches the hub on
    loopback or on the container's own address; a connection from this host shows the same
    address on both ends. Users' containers and other hosts have addresses of their own."""
    address = _ip(peer)
    if address is None:
        return False
    return address.is_loopback or (local is not None and address == _ip(local))


def client_address(request) -> str:
    """Who is logging in, as a throttling key.

    JupyterHub's server (tornado, xheaders=True) takes X-Forwarded-For and X-Real-Ip from any
    peer, so ``request.remote_ip`` is whatever a client claims: not used here. The proxy
    *appends* the address it received the connection from to X-Forwarded-For (after anything
    the client sent), so from the proxy the last entry is the client's address; the entries
    before it are the client's own claims and are ignored. A request that reaches the hub's
    port directly (a user's container on the lab network) is keyed by its TCP peer, whatever
    headers it sends."""
    peer, local = request.remote_ip, None
    connection = getattr(request, "connection", None)
    stream = getattr(connection, "stream", None)
    sock = getattr(stream, "socket", None)
    context = getattr(connection, "context", None)
    if sock is not None:
        try:
            peer, local = sock.getpeername()[0], sock.getsockname()[0]
        except OSError:
            sock = None
    if sock is None and context is not None and isinstance(getattr(context, "address", None), tuple):
        peer = context.address[0]
    if _from_this_host(peer, local):
        forwarded = ",".join(request.headers.get_list("X-Forwarded-For"))
        entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
        if entries:
            return _address_key(entries[-1]) or f"invalid:{entries[-1][:64]}"
    return _address_key(peer) or f"peer:{peer}"


#: Niceness of the bcrypt threads (Linux sets it per thread). The hub's other threads stay at 0,
#: so a check never delays a request or the proxy: the scheduler gives a nice-10 thread about a
#: tenth of a core that a nice-0 thread wants.
BCRYPT_NICE = 10


def _lower_this_threads_priority() -> None:
    """ThreadPoolExecutor initializer: this worker thread (not the process) at BCRYPT_NICE."""
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), BCRYPT_NICE))
    except (AttributeError, OSError):  # not Linux: every thread keeps the process's priority
        pass


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class ThreadedNativeAuthenticator(NativeAuthenticator):
    """NativeAuthenticator with bcrypt off the event loop, throttling per address and per
    username (``allowed_failed_logins`` per ``seconds_before_next_try``), bad input refused as
    a normal failure, and only the login and change-password pages."""

    failed_logins_per_address = Integer(
        30,
        config=True,
        help="Failed logins one client address may make per seconds_before_next_try before its "
        "attempts are refused without a password check. A room behind one NAT shares an "
        "address: raise it there. 0: no limit per address.",
    )
    checks_per_address = Integer(
        60,
        config=True,
        help="Password checks one client address may have queued or running at once; more are "
        "refused at once (HTTP 429, 'try again in a few seconds'). A room behind one NAT logs in "
        "from one address at the same moment, so this is not counted as failures: a whole room "
        "gets in, and a burst from one address still costs at most this many checks before its "
        "failures (failed_logins_per_address) block it. 0: no limit.",
    )
    bcrypt_workers = Integer(
        config=True,
        help="Threads that check passwords (bcrypt releases the GIL). Default: one per usable core. "
        "They run at nice BCRYPT_NICE, so the event loop and the proxy always come first; a room's "
        "logins at a workshop's start are checked on every core (with all cores but one, a 2-core "
        "hub checked them one at a time).",
    )
    max_pending_checks = Integer(
        200,
        config=True,
        help="Password checks queued at most; more are refused at once (HTTP 503, 'try again') "
        "instead of waiting, so a flood from many addresses cannot build an endless queue. It must "
        "hold a whole room logging in at the same moment: 16 refused 4 of 20 attendees at a "
        "workshop's start. 200 checks at cost 10 (0.06 core-s) on one worker are a 12 s wait; "
        "the queue never slows the event loop (the pool has bcrypt_workers threads).",
    )

    failed_join_codes_per_address = Integer(
        20,
        config=True,
        help="Wrong join codes one client address may send per join_code_window seconds before "
        "/hub/join refuses it ('try again in N seconds'). 0: no limit.",
    )
    join_code_window = Integer(300, config=True, help="Window of failed_join_codes_per_address, in seconds.")

    @default("bcrypt_workers")
    def _default_bcrypt_workers(self):
        return _usable_cores()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pool = ThreadPoolExecutor(max_workers=self.bcrypt_workers, thread_name_prefix="gluonlab-bcrypt",
                                        initializer=_lower_this_threads_priority)
        self._pending = 0
        self._address_checks: dict[str, int] = {}  # checks queued or running, per client address
        # NativeAuthenticator's help says 600 s by default, but its trait defaults to 0.
        window = self.seconds_before_next_try if self.seconds_before_next_try > 0 else 600
        self.address_failures = FailureLog(self.failed_logins_per_address, window)
        self.username_failures = FailureLog(self.allowed_failed_logins, window)
        self.join_failures = FailureLog(self.failed_join_codes_per_address, self.join_code_window)

    # --- bcrypt, always in the pool ---------------------------------------------------------
    async def _in_pool(self, func, *args):
        if self._pending >= self.max_pending_checks:
            raise LoginRefused(503, BUSY)
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)
        finally:
            self._pending -= 1

    async def check_password(self, password: str, hashed: bytes) -> bool:
        """bcrypt check in the pool; a password bcrypt cannot take (over 72 bytes, not
        encodable) is wrong without a check."""
        try:
            encoded = password.encode("utf-8")
        except UnicodeEncodeError:
            return False
        if not encoded or len(encoded) > MAX_PASSWORD_BYTES or b"\0" in encoded:
            return False
        try:
            return await self._in_pool(bcrypt.checkpw, encoded, hashed)
        except ValueError:  # a malformed stored hash: no login, not a 500
            self.log.error("users_info holds a malformed password hash")
            return False

    async def hash_new_password(self, password: str) -> bytes:
        return await self._in_pool(hash_password, password)  # the accounts tool's hash, cost 12

    def change_password(self, username, new_password):
        # NativeAuthenticator's version hashes on the calling (event loop) thread.
        raise RuntimeError("use await change_password_async(): bcrypt must not run on the event loop")

    async def change_password_async(self, username: str, new_password: str) -> str | None:
        """Set a new password; returns what is wrong with it, or None when it was changed."""
        problem = password_problem(username, new_password)
        if problem is None and not self.is_password_strong(new_password):
            problem = "password is too weak"
        user = self.get_user(username)
        if user is None:
            return f"no account {username}"
        if problem:
            return problem
        hashed = await self.hash_new_password(new_password)
        user = self.get_user(username)  # the row again: the await let other requests run
        if user is None:
            return f"no account {username}"
        user.password = hashed
        self.db.commit()
        return None

    # --- login ------------------------------------------------------------------------------
    async def authenticate(self, handler, data):
        address = client_address(handler.request) if handler is not None else "local"
        raw_name, password = data.get("username"), data.get("password")
        if self.address_failures.blocked(address):
            self.log.warning("Login refused for %s: too many failures from this address", address)
            raise LoginRefused(429, throttled_message(self.address_failures.retry_in(address)))
        name_key = None
        if isinstance(raw_name, str) and 0 < len(raw_name) <= MAX_USERNAME_CHARS:
            try:
                raw_name.encode("utf-8")
                name_key = self.normalize_username(raw_name)
            except UnicodeEncodeError:
                name_key = None
        if name_key is not None and self.username_failures.blocked(name_key):
            self.log.warning("Login refused for %r: too many failures for this name", name_key)
            raise LoginRefused(429, throttled_message(self.username_failures.retry_in(name_key)))

        # Per name, counted before the check and taken back on success: one person logs in once
        # at a time, so attempts still being checked count, and a burst on one name cannot fill
        # the check queue before its first failures are known. Per address, only failures count
        # (a room behind one NAT succeeds from one address at once); a burst from one address is
        # held to checks_per_address in flight instead.
        if 0 < self.checks_per_address <= self._address_checks.get(address, 0):
            self.log.warning("Login refused for %s: %d checks from this address in flight", address,
                             self.checks_per_address)
            raise LoginRefused(429, ADDRESS_BUSY)
        name_stamp = self.username_failures.record(name_key) if name_key is not None else None
        ok = False
        self._address_checks[address] = self._address_checks.get(address, 0) + 1
        try:
            if name_key is not None and isinstance(password, str):
                user = self.get_user(name_key)
                # Unknown and unauthorized accounts fail without a bcrypt check (no 2FA here,
                # but keep NativeAuthenticator's rule if an account has it).
                if user is not None and user.is_authorized:
                    try:
                        ok = await self.check_password(password, user.password)
                    except LoginRefused:  # busy: not this client's failure
                        self.username_failures.forget(name_key, name_stamp)
                        raise
                    if ok and user.has_2fa:
                        ok = bool(user.is_valid_token(data.get("2fa")))
        finally:
            left = self._address_checks.pop(address) - 1
            if left:
                self._address_checks[address] = left
        if ok:
            self.username_failures.clear(name_key)
            return name_key
        self.address_failures.record(address)
        return None

    def get_handlers(self, app):
        return [
            (r"/login", LoginHandler),
            (r"/change-password", ChangePasswordHandler),
            (r"/change-password/([^/]+)", ChangePasswordAdminHandler),
            *join.handlers(),
        ]


def _printable(text: str | None, limit: int = 32) -> str:
    """User input safe to put back in the page (UTF-8 encodable, short)."""
    text = (text or "").encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + "…"


class _TolerantArguments:
    """Login fields that are not UTF-8 decode to a string that cannot match any password
    (lone surrogates) instead of tornado's HTTP 400, so they count as a failure."""

    LENIENT = ("username", "password", "old_password", "new_password", "new_password_confirmation")

    def decode_argument(self, value, name=None):
        if name in self.LENIENT and isinstance(value, bytes):
            return value.decode("utf-8", "surrogateescape")
        return super().decode_argument(value, name=name)


class LoginHandler(_TolerantArguments, native.LoginHandler):
    """NativeAuthenticator's login page; on failure the one generic message, with no second
    password check (NativeAuthenticator re-ran bcrypt on the event loop to say 'not authorized')."""

    async def post(self):
        data = {}
        for arg in self.request.body_arguments:
            if arg != "_xsrf":
                data[arg] = self.get_argument(arg, strip=False)
        try:
            user = await self.login_user(data)
        except LoginRefused as refused:
            self.set_status(refused.status_code)
            self.finish(await self._render(login_error=refused.message, username=_printable(data.get("username"))))
            return
        if user:
            self._jupyterhub_user = user
            self.redirect(self.get_next_url(user))
            return
        self.set_status(403)
        self.finish(await self._render(login_error=INVALID, username=_printable(data.get("username"))))


class ChangePasswordHandler(_TolerantArguments, native.ChangePasswordHandler):
    """A user changes their own password (kept: attendees may replace the handout's one).
    GET only renders; the POST carries the XSRF token. Both hashes run in the pool, and a
    wrong current password counts as a failed login."""

    @web.authenticated
    async def post(self):
        user = self.current_user
        auth = self.authenticator
        old = self.get_body_argument("old_password", "", strip=False)
        new = self.get_body_argument("new_password", "", strip=False)
        confirmation = self.get_body_argument("new_password_confirmation", "", strip=False)
        info = auth.get_user(user.name)
        address = client_address(self.request)
        alert, message = "alert-danger", None
        if auth.address_failures.blocked(address) or auth.username_failures.blocked(user.name):
            message = THROTTLED
        elif info is None or not await auth.check_password(old, info.password):
            auth.address_failures.record(address)
            auth.username_failures.record(user.name)
            message = "当前密码错误 / Your current password is wrong."
        elif new != confirmation:
            message = "两次输入的新密码不一致 / The new password and its confirmation differ."
        else:
            problem = await auth.change_password_async(user.name, new)
            if problem:
                message = f"新密码不可用 / The new password cannot be used: {_printable(problem, 200)}"
            else:
                alert, message = "alert-success", "密码已更改 / Your password has been changed."
        html = await self.render_template("change-password.html", user_name=user.name,
                                          result_message=message, alert=alert)
        self.finish(html)


class ChangePasswordAdminHandler(_TolerantArguments, native.ChangePasswordAdminHandler):
    """An admin resets an attendee's forgotten password (kept: gluonlab-accounts creates
    accounts but has no reset). Needs admin:users; GET only renders; POST carries XSRF."""

    @native.admin_users_scope
    async def post(self, user_name):
        new = self.get_body_argument("new_password", "", strip=False)
        confirmation = self.get_body_argument("new_password_confirmation", "", strip=False)
        alert = "alert-danger"
        if new != confirmation:
            message = "The new password and its confirmation differ."
        else:
            problem = await self.authenticator.change_password_async(user_name, new)
            if problem:
                message = f"The new password cannot be used: {_printable(problem, 200)}"
            else:
                alert, message = "alert-success", f"The password for {user_name} has been changed."
        html = await self.render_template("change-password-admin.html", user_name=user_name,
                                          result_message=message, alert=alert)
        self.finish(html)
