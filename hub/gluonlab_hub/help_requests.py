"""Help requests: ``gluonlab-help "..."`` in a Lab sends a message and the doctor's report to the
hub; the instructor sees the open ones and marks them done.

- POST /hub/api/gluonlab/help/<user>: JSON ``{"message": ..., "doctor": <doctor.sh --json>}``;
  needs ``custom:gluonlab:help:post`` for that user. Users hold it filtered to themselves
  (``!user``, in the ``user`` role), and so does their server's token (``server`` role), so the
  Lab's JUPYTERHUB_API_TOKEN can post its own user's requests and no one else's.
- /hub/gluonlab/help (page; POST ``id`` marks one done) and GET /hub/api/gluonlab/help (JSON):
  need ``custom:gluonlab:help:admin``, granted to the admins (:func:`roles`).

Requests are rows of ``gluonlab_help`` in the hub database (our own table), so they survive a
hub restart. A user may have at most MAX_OPEN_PER_USER open requests.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any, Iterable

from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.handlers import BaseHandler
from jupyterhub.scopes import define_custom_scopes, needs_scope
from sqlalchemy import text
from sqlalchemy.orm import Session
from tornado import web

from .accounts.store import begin_write

POST_SCOPE = "custom:gluonlab:help:post"
ADMIN_SCOPE = "custom:gluonlab:help:admin"
CUSTOM_SCOPES = {
    POST_SCOPE: {"description": "Send a help request (message and self-check report) to the instructors."},
    ADMIN_SCOPE: {"description": "See open help requests and mark them done."},
}
MAX_MESSAGE_CHARS = 2000
MAX_DOCTOR_BYTES = 256 * 1024
MAX_OPEN_PER_USER = 5

# As in admin_view: needs_scope checks that a scope is known when it decorates.
define_custom_scopes(CUSTOM_SCOPES)

_SCHEMA = ("CREATE TABLE IF NOT EXISTS gluonlab_help ("
           " id INTEGER PRIMARY KEY, username TEXT NOT NULL, created_at REAL NOT NULL, message TEXT NOT NULL,"
           " doctor TEXT, fails TEXT NOT NULL DEFAULT '[]', done_at REAL, done_by TEXT)")


class HelpRefused(ValueError):
    """A request the API answers with 400/429; the message says what to fix."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def doctor_fails(doctor: Any) -> list[dict[str, str]]:
    """The FAIL checks of a ``doctor.sh --json`` report (name, what was found, the diagnosis)."""
    if not isinstance(doctor, dict) or not isinstance(doctor.get("checks"), list):
        return []
    return [{"name": str(c.get("name", "?")), "found": str(c.get("found") or ""),
             "diagnosis": str(c.get("diagnosis") or "")}
            for c in doctor["checks"] if isinstance(c, dict) and c.get("status") == "FAIL"]


def add_request(db: Any, username: str, message: Any, doctor: Any, now: float | None = None) -> int:
    """Store one request and commit; returns its id. Raises :class:`HelpRefused`."""
    if not isinstance(message, str) or not message.strip():
        raise HelpRefused(400, "message is empty: gluonlab-help \"what went wrong\"")
    if len(message) > MAX_MESSAGE_CHARS:
        raise HelpRefused(400, f"message is longer than {MAX_MESSAGE_CHARS} characters")
    doctor_text = None if doctor is None else json.dumps(doctor, ensure_ascii=False)
    if doctor_text is not None and len(doctor_text.encode()) > MAX_DOCTOR_BYTES:
        raise HelpRefused(400, f"the doctor report is larger than {MAX_DOCTOR_BYTES} bytes")
    try:
        begin_write(db)
        db.execute(text(_SCHEMA))
        (open_count,) = db.execute(text("SELECT count(*) FROM gluonlab_help WHERE username = :u AND done_at IS NULL"),
                                   {"u": username}).one()
        if open_count >= MAX_OPEN_PER_USER:
            raise HelpRefused(429, f"{username} has {open_count} open requests: wait for the instructor")
        inserted = db.execute(text("INSERT INTO gluonlab_help (username, created_at, message, doctor, fails) "
                                   "VALUES (:u, :t, :m, :d, :f)"),
                              {"u": username, "t": time.time() if now is None else now, "m": message.strip(),
                               "d": doctor_text, "f": json.dumps(doctor_fails(doctor), ensure_ascii=False)})
        db.commit()
    except Exception:
        db.rollback()
        raise
    return inserted.lastrowid


def open_requests(db: Any) -> list[dict[str, Any]]:
    """Open requests, oldest first (the doctor's full report left out: ``fails`` is its summary)."""
    from sqlalchemy import inspect

    if not inspect(db.connection()).has_table("gluonlab_help"):
        db.rollback()
        return []
    rows = db.execute(text("SELECT id, username, created_at, message, fails FROM gluonlab_help "
                           "WHERE done_at IS NULL ORDER BY created_at, id")).all()
    db.rollback()
    return [{"id": r[0], "user": r[1], "created_at": r[2],
             "created": datetime.fromtimestamp(r[2], timezone.utc).strftime("%H:%M:%S UTC"),
             "message": r[3], "fails": json.loads(r[4])} for r in rows]


def mark_done(db: Any, request_id: int, by: str) -> bool:
    from sqlalchemy import inspect

    if not inspect(db.connection()).has_table("gluonlab_help"):
        db.rollback()
        return False
    done = db.execute(text("UPDATE gluonlab_help SET done_at = :t, done_by = :b WHERE id = :i AND done_at IS NULL"),
                      {"t": time.time(), "b": by, "i": request_id}).rowcount
    db.commit()
    return bool(done)


class _HelpBase:
    def help_db(self) -> Session:
        # Our own session on the hub's engine: the write lock never touches the hub's session.
        return Session(bind=self.db.get_bind())


class HelpPostHandler(_HelpBase, APIHandler):
    @needs_scope(POST_SCOPE)
    async def post(self, user_name: str) -> None:
        if self.find_user(user_name) is None:
            raise web.HTTPError(404, f"no user {user_name}")
        body = self.get_json_body() or {}
        if not isinstance(body, dict):
            raise web.HTTPError(400, "send a JSON object: {\"message\": ..., \"doctor\": ...}")
        db = self.help_db()
        try:
            request_id = add_request(db, user_name, body.get("message"), body.get("doctor"))
        except HelpRefused as refused:
            raise web.HTTPError(refused.status, str(refused)) from None
        finally:
            db.close()
        self.log.info("Help request %s from %s", request_id, user_name)
        self.set_status(201)
        self.finish(json.dumps({"id": request_id}))


class HelpListAPIHandler(_HelpBase, APIHandler):
    @needs_scope(ADMIN_SCOPE)
    def get(self) -> None:
        db = self.help_db()
        try:
            self.finish(json.dumps({"open": open_requests(db)}, ensure_ascii=False))
        finally:
            db.close()


class HelpPageHandler(_HelpBase, BaseHandler):
    async def _page(self, message: str | None = None) -> None:
        db = self.help_db()
        try:
            requests = open_requests(db)
        finally:
            db.close()
        self.finish(await self.render_template("help.html", requests=requests, message=message))

    @web.authenticated
    @needs_scope(ADMIN_SCOPE)
    async def get(self) -> None:
        await self._page()

    @web.authenticated
    @needs_scope(ADMIN_SCOPE)
    async def post(self) -> None:
        try:
            request_id = int(self.get_body_argument("id", ""))
        except ValueError:
            raise web.HTTPError(400, "id must be a number") from None
        db = self.help_db()
        try:
            done = mark_done(db, request_id, self.current_user.name)
        finally:
            db.close()
        await self._page(f"#{request_id} 已处理 / done" if done else f"#{request_id} 不是未处理的求助 / is not open")


def handlers() -> list[tuple[str, type]]:
    """For c.JupyterHub.extra_handlers (paths under /hub/)."""
    return [(r"/api/gluonlab/help/([^/]+)", HelpPostHandler),
            (r"/api/gluonlab/help", HelpListAPIHandler),
            (r"/gluonlab/help", HelpPageHandler)]


def roles(admin_users: Iterable[str]) -> list[dict]:
    """Roles for c.JupyterHub.load_roles: users (and their servers' tokens) may post their own
    requests; admins see and close them. ``user`` and ``server`` keep JupyterHub's defaults."""
    own = f"{POST_SCOPE}!user"
    return [
        {"name": "user", "scopes": ["self", own]},
        {"name": "server", "scopes": ["users:activity!user", "access:servers!server", own]},
        {"name": "gluonlab-help-admin", "description": "Sees and closes help requests",
         "scopes": [ADMIN_SCOPE], "users": sorted(admin_users)},
    ]
