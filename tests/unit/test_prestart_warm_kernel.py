"""bench/prestart.py waits for each server's warm kernel (GET <server>/api/gluonlab/warm-kernel)."""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("prestart", Path(__file__).resolve().parents[2] / "bench" / "prestart.py")
prestart = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prestart)


class AnsweringServer:
    """Answers the warm-kernel endpoint with the given (status, body) in turn, the last one forever."""

    def __init__(self, *answers):
        self.answers, self.paths = list(answers), []

    def request(self, method, path, prefix="/hub/api"):
        self.paths.append(prefix + path)
        status, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return status, {}, body


def test_waits_until_the_warm_kernel_is_ready(monkeypatch):
    monkeypatch.setattr(prestart.time, "sleep", lambda s: None)
    hub = AnsweringServer((200, {"enabled": True, "ready": False}), (200, {"enabled": True, "ready": False}),
                          (200, {"enabled": True, "ready": True}))
    prestart.wait_for_warm_kernel(hub, "ann", "/user/ann/", time.monotonic() + 60, 60)
    assert hub.paths == ["/user/ann/api/gluonlab/warm-kernel"] * 3


@pytest.mark.parametrize("answer", [(200, {"enabled": False, "ready": False}), (404, {})])
def test_a_server_without_warm_kernel_is_ready_at_once(answer):
    hub = AnsweringServer(answer)
    prestart.wait_for_warm_kernel(hub, "ann", "/user/ann/", time.monotonic() + 60, 60)
    assert len(hub.paths) == 1


def test_a_token_that_cannot_reach_servers_says_so():
    with pytest.raises(prestart.PrestartError, match="access:servers"):
        prestart.wait_for_warm_kernel(AnsweringServer((403, {})), "ann", "/user/ann/", time.monotonic() + 60, 60)


def test_a_warm_kernel_that_never_comes_fails_after_the_timeout():
    with pytest.raises(prestart.PrestartError, match="warm kernel was not ready"):
        prestart.wait_for_warm_kernel(AnsweringServer((200, {"enabled": True, "ready": False})), "ann", "/user/ann/",
                                      time.monotonic() - 1, 5)
