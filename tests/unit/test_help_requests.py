"""Help requests without a hub (hub/gluonlab_hub/help_requests.py): storing, the doctor's FAILs,
the per-user limit, marking done, and the roles that confine posting to the user's own name.
The round trip through a Lab and the hub's scope checks: tests/integration/test_workshop_day.py."""
from __future__ import annotations

from pathlib import Path

import pytest
from hubdb import make_hub_db
from jupyterhub import scopes

from gluonlab_hub import help_requests as hr
from gluonlab_hub.accounts import store

DOCTOR = {"tool": "gluonlab-doctor", "checks": [
    {"name": "python", "status": "PASS", "found": "3.11"},
    {"name": "gpu", "status": "FAIL", "found": "nvidia-smi: not found", "diagnosis": "no GPU in this container"},
    {"name": "mxnet", "status": "WARN", "found": "cpu build"},
]}


@pytest.fixture
def db(tmp_path: Path):
    session = store.open_hub_db(make_hub_db(tmp_path / "jupyterhub.sqlite"))
    yield session
    session.close()


def test_a_request_is_listed_with_the_doctors_fails_until_done(db):
    assert hr.open_requests(db) == []
    first = hr.add_request(db, "ana", "  我的 GPU 看不到 ", DOCTOR, now=1000.0)
    second = hr.add_request(db, "ben", "kernel died", None, now=1001.0)
    listed = hr.open_requests(db)
    assert [(r["id"], r["user"], r["message"]) for r in listed] == [(first, "ana", "我的 GPU 看不到"), (second, "ben", "kernel died")]
    assert listed[0]["fails"] == [{"name": "gpu", "found": "nvidia-smi: not found", "diagnosis": "no GPU in this container"}]
    assert listed[1]["fails"] == []
    assert hr.mark_done(db, first, "admin") and not hr.mark_done(db, first, "admin")
    assert [r["id"] for r in hr.open_requests(db)] == [second]


@pytest.mark.parametrize("message, doctor, status, fragment", [
    ("", None, 400, "message is empty"),
    (None, None, 400, "message is empty"),
    ("x" * (hr.MAX_MESSAGE_CHARS + 1), None, 400, "longer than"),
    ("big", {"blob": "y" * hr.MAX_DOCTOR_BYTES}, 400, "larger than"),
])
def test_bad_requests_are_refused_with_a_reason(db, message, doctor, status, fragment):
    with pytest.raises(hr.HelpRefused, match=fragment) as info:
        hr.add_request(db, "ana", message, doctor)
    assert info.value.status == status and hr.open_requests(db) == []


def test_a_user_has_a_bounded_number_of_open_requests(db):
    for n in range(hr.MAX_OPEN_PER_USER):
        hr.add_request(db, "ana", f"help {n}", None)
    with pytest.raises(hr.HelpRefused) as info:
        hr.add_request(db, "ana", "once more", None)
    assert info.value.status == 429
    hr.add_request(db, "ben", "others still can", None)


def test_a_malformed_doctor_report_has_no_fails():
    assert hr.doctor_fails({"checks": "nope"}) == [] and hr.doctor_fails("text") == []
    assert hr.doctor_fails({"checks": [{"status": "FAIL"}, 3]}) == [{"name": "?", "found": "", "diagnosis": ""}]


def test_users_and_their_servers_may_post_only_for_themselves_and_admins_read():
    roles = {r["name"]: r for r in hr.roles(["admin"])}
    own = f"{hr.POST_SCOPE}!user"
    assert own in roles["user"]["scopes"] and "self" in roles["user"]["scopes"]
    assert own in roles["server"]["scopes"] and "access:servers!server" in roles["server"]["scopes"]
    assert roles["gluonlab-help-admin"] == {**roles["gluonlab-help-admin"], "scopes": [hr.ADMIN_SCOPE], "users": ["admin"]}
    # As the hub resolves !user for ana's token: her name only.
    parsed = scopes.parse_scopes([f"{hr.POST_SCOPE}!user=ana"])
    assert parsed == {hr.POST_SCOPE: {"user": {"ana"}}}
