"""Walk-in join page (/hub/join) and the admins' enrolment page (/hub/gluonlab/enrolment).

Routed by the authenticator (``ThreadedNativeAuthenticator.get_handlers``): the join page uses
its bcrypt pool and its per-address throttling. The rules and the atomic join are in
``accounts.enrolment``; this module is the web side. Every refusal is a bilingual message on
the same page with the attendee's username kept, never a 500.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

from jupyterhub.handlers import BaseHandler
from jupyterhub.scopes import needs_scope
from jupyterhub.utils import url_path_join
from sqlalchemy.orm import Session
from tornado import web

from .accounts import enrolment
from .accounts.passwords import password_problem
from .accounts.rows import AccountsError, normalize_username, username_problem

BAD_USERNAME = ("用户名只能使用小写字母、数字、“-”“_”“.”，以字母或数字开头，最多 32 个字符 / "
                "Usernames use lowercase letters, digits, '-', '_' and '.', start with a letter or digit, "
                "and have at most 32 characters.")
BAD_PASSWORD = "密码至少 8 个字符，最多 72 字节，且不能与用户名相同 / " \
               "The password needs at least 8 characters, at most 72 bytes, and must differ from the username."
WEAK_PASSWORD = "密码太弱，请换一个 / This password is too weak: choose another."
MISMATCH = "两次输入的密码不一致 / The password and its confirmation differ."
MISSING = "请填写所有字段 / Fill in every field."
MAX_FIELD_CHARS = 128


def _stamp(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


class _EnrolmentBase(BaseHandler):
    def enrolment_db(self) -> Session:
        """A session of our own on the hub's database (engine): the enrolment's write lock and
        rollbacks never touch the hub's own session."""
        return Session(bind=self.db.get_bind())


class JoinHandler(_EnrolmentBase):
    """GET: the form. POST: code, username, password (twice) -> account, login, spawn."""

    async def _page(self, status: int = 200, error: str | None = None, username: str = "") -> None:
        self.set_status(status)
        self.finish(await self.render_template("join.html", join_error=error, username=username,
                                               xsrf=self.xsrf_token.decode("ascii")))

    async def get(self) -> None:
        if self.current_user:
            self.redirect(self.get_next_url(self.current_user))
            return
        await self._page()

    def _field(self, name: str) -> str:
        value = self.get_body_argument(name, "", strip=False)
        return value if len(value) <= MAX_FIELD_CHARS else ""

    async def post(self) -> None:
        from .auth import LoginRefused, _printable, client_address, throttled_message

        auth = self.authenticator
        address = client_address(self.request)
        code, raw_name = self._field("code"), self._field("username")
        password, confirmation = self._field("password"), self._field("password_confirmation")
        username = normalize_username(raw_name)
        shown = _printable(username)
        if auth.join_failures.blocked(address):
            await self._page(429, throttled_message(auth.join_failures.retry_in(address)), shown)
            return
        if not (code and username and password):
            await self._page(400, MISSING, shown)
            return
        db = self.enrolment_db()
        try:
            try:
                enrolment.check_code(enrolment.current(db), code)
            except enrolment.JoinRefused as refused:
                if str(refused) == enrolment.WRONG_CODE:
                    auth.join_failures.record(address)
                await self._page(403, str(refused), shown)
                return
            if username_problem(username):
                await self._page(400, BAD_USERNAME, "")
                return
            reserved = set(auth.admin_users)
            if enrolment.name_taken(db, username, reserved):
                await self._page(409, enrolment.TAKEN, shown)
                return
            if password != confirmation:
                await self._page(400, MISMATCH, shown)
                return
            if password_problem(username, password) or password == username:
                await self._page(400, BAD_PASSWORD, shown)
                return
            if not auth.is_password_strong(password):
                await self._page(400, WEAK_PASSWORD, shown)
                return
            try:
                hashed = await auth.hash_new_password(password)
            except LoginRefused as busy:
                await self._page(busy.status_code, busy.message, shown)
                return
            try:
                enrolment.join(db, code=code, username=username, hashed=hashed, reserved=reserved)
            except enrolment.JoinRefused as refused:
                await self._page(409 if str(refused) == enrolment.TAKEN else 403, str(refused), shown)
                return
        finally:
            db.close()
        self.log.info("Joined through enrolment: %s from %s", username, address)
        user = self.user_from_username(username)
        self.set_login_cookie(user)
        self._jupyterhub_user = user
        # Straight to their server: /hub/spawn starts it and forwards to the Lab when it is up.
        self.redirect(url_path_join(self.hub.base_url, "spawn"))


class EnrolmentAdminHandler(_EnrolmentBase):
    """The admins' page: open (code, seats, minutes), close, see who joined."""

    async def _page(self, status: int = 200, message: str | None = None, alert: str = "alert-danger") -> None:
        db = self.enrolment_db()
        try:
            current = enrolment.current(db)
            joined = enrolment.joined_accounts(db)
        finally:
            db.close()
        self.set_status(status)
        self.finish(await self.render_template(
            "enrolment.html", current=current, state=current.state() if current else "never",
            joined=[(j.username, _stamp(j.joined_at)) for j in joined], stamp=_stamp,
            join_url=url_path_join(self.hub.base_url, "join"), message=message, alert=alert))

    @web.authenticated
    @needs_scope("admin:users")
    async def get(self) -> None:
        if self.get_argument("format", "") == "csv":
            db = self.enrolment_db()
            try:
                joined = enrolment.joined_accounts(db)
            finally:
                db.close()
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(("username", "joined_at_utc"))
            writer.writerows((j.username, _stamp(j.joined_at)) for j in joined)
            self.set_header("Content-Type", "text/csv; charset=utf-8")
            self.set_header("Content-Disposition", 'attachment; filename="joined.csv"')
            self.finish(out.getvalue())
            return
        await self._page()

    @web.authenticated
    @needs_scope("admin:users")
    async def post(self) -> None:
        action = self.get_body_argument("action", "")
        db = self.enrolment_db()
        try:
            if action == "close":
                closed = enrolment.close_enrolment(db)
                message = "报名已关闭 / Enrolment closed." if closed else "报名本来就没有开放 / Enrolment was not open."
            elif action == "open":
                try:
                    seats = int(self.get_body_argument("seats", ""))
                    minutes = float(self.get_body_argument("minutes", ""))
                except ValueError:
                    raise AccountsError("seats and minutes must be numbers") from None
                opened = enrolment.open_enrolment(db, seats=seats, minutes=minutes,
                                                  code=self.get_body_argument("code", "").strip() or None,
                                                  by=self.current_user.name)
                message = f"报名已开放 / Enrolment open: code {opened.code}, {opened.seats} seats."
            else:
                raise AccountsError(f"unknown action {action!r}")
        except AccountsError as error:
            message, problem = "", f"无法执行 / Not done: {error}"
        else:
            problem = None
        finally:
            db.close()
        if problem:
            await self._page(400, problem)
            return
        self.log.info("Enrolment %s by %s", action, self.current_user.name)
        await self._page(200, message, "alert-success")


def handlers() -> list[tuple[str, type]]:
    """For ThreadedNativeAuthenticator.get_handlers (paths under /hub/)."""
    return [(r"/join", JoinHandler), (r"/gluonlab/enrolment", EnrolmentAdminHandler)]
