"""Shared setup for the hub-side unit tests: import ``gluonlab_hub`` from the repo's ``hub/``,
and keep tests/unit free of Docker.

tests/unit runs on a machine without an engine (`scripts/test.sh --fast`). A test here that
uses Docker (marked docker, the docker_client fixture, or the docker SDK reaching for an
engine) fails with a message saying where it belongs. Building docker SDK objects that talk to
no engine (``docker.types.HostConfig``) is fine, and so is a client aimed at a socket that does
not exist: that is how tests check what the hub does when no engine answers.
"""

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HUB = REPO / "hub"
if str(HUB) not in sys.path:
    sys.path.insert(0, str(HUB))

MOVE_IT = ("{nodeid} {how}, but tests/unit runs without Docker: move it to tests/integration "
           "(marked docker; the docker_client fixture gives it the engine)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker") is not None:
        how = ("uses the docker_client fixture" if "docker_client" in getattr(item, "fixturenames", ())
               else "is marked docker")
        pytest.fail(MOVE_IT.format(nodeid=item.nodeid, how=how), pytrace=False)


@pytest.fixture(scope="session")
def docker_client():
    pytest.fail(MOVE_IT.format(nodeid="a test", how="uses the docker_client fixture"), pytrace=False)


@pytest.fixture(autouse=True)
def no_docker_engine(request, monkeypatch):
    """Every request the docker SDK would send to an engine fails the test instead."""
    try:
        from docker.api.client import APIClient
    except ImportError:  # no SDK, no engine access
        return

    send = APIClient.send

    def refuse(self, request_, *args, **kwargs):
        socket_path = getattr(getattr(self, "_custom_adapter", None), "socket_path", None)
        if socket_path and not os.path.exists(socket_path):
            return send(self, request_, *args, **kwargs)  # no engine there: the SDK's own error
        # pytest.fail raises a BaseException: the SDK's `except Exception` cannot swallow it.
        pytest.fail(MOVE_IT.format(nodeid=request.node.nodeid,
                                   how=f"asks the Docker engine for {request_.method} {request_.path_url}"),
                    pytrace=False)

    monkeypatch.setattr(APIClient, "send", refuse)


@pytest.fixture
def fixtures_dir() -> Path:
    return REPO / "tests" / "fixtures"
