"""Shared pytest setup: make tests/ importable (labclient), give docker tests their images, and
define the test tiers.

Tiers are directories. The fast lane (`pytest --fast`, which `scripts/test.sh --fast` runs)
needs no Docker engine: tests/unit, tests/lint and tests/scripts. tests/scripts is the one mixed
folder (the doctor's in-image tests sit beside its host-side scenarios): there the fast lane
leaves out the tests marked `docker`. Everything else (images, integration, content, workshop,
ansible) is a Docker tier and runs in the full suite only.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

NOTEBOOK_IMAGE = "gluonlab/notebook:cpu"
HUB_IMAGE = "gluonlab/hub:latest"

FAST_LANE = ("unit", "lint", "scripts")
# In these fast-lane folders, tests marked docker are left out of the fast lane (not failed).
FAST_LANE_MIXED = ("scripts",)
DOCKER_FIXTURES = ("docker_client",)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fast", action="store_true", default=False,
                     help="the no-Docker lane: tests/%s (tests/scripts without its docker-marked tests)"
                          % ", tests/".join(FAST_LANE))


def _tier(path: Path) -> str | None:
    """The tests/ subfolder a path lies in (None for tests/ itself or outside it)."""
    try:
        parts = path.resolve().relative_to(TESTS_DIR).parts
    except ValueError:
        return None
    return parts[0] if parts else None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # By directory: Docker tiers are not even imported in the fast lane.
    if config.getoption("fast"):
        tier = _tier(collection_path)
        if tier is not None and tier not in FAST_LANE and collection_path.is_dir():
            return True
    return None


def _uses_docker(item: pytest.Item) -> bool:
    return item.get_closest_marker("docker") is not None


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A test that takes the engine through a fixture is a docker test whether or not its
    # module says so: the marker follows the fixture, so `-m "not docker"` cannot miss it.
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in DOCKER_FIXTURES) and not _uses_docker(item):
            item.add_marker(pytest.mark.docker)
    if not config.getoption("fast"):
        return
    keep, drop = [], []
    for item in items:
        tier = _tier(Path(str(item.path)))
        if tier not in FAST_LANE:
            drop.append(item)  # a file named outside the lane's folders
        elif tier in FAST_LANE_MIXED and _uses_docker(item):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_runtest_setup(item: pytest.Item) -> None:
    # tests/unit/conftest.py tells its tests to move; this covers the rest of the fast lane.
    if item.config.getoption("fast") and _uses_docker(item) and _tier(Path(str(item.path))) != "unit":
        pytest.fail(f"{item.nodeid} needs Docker but runs in the fast lane (tests/{_tier(Path(str(item.path)))} "
                    "must work without an engine): move it to a Docker tier (tests/integration, tests/images)",
                    pytrace=False)


@pytest.fixture(scope="session")
def docker_client(request):
    if request.config.getoption("fast"):
        pytest.fail("the fast lane has no Docker engine: a test that needs docker_client belongs in a "
                    "Docker tier (tests/integration, tests/images) or, in tests/scripts, is marked docker",
                    pytrace=False)
    docker = pytest.importorskip("docker")
    client = docker.from_env()
    client.ping()  # fails loudly when the engine is down: scripts/test.sh checks it first
    return client


@pytest.fixture(scope="session")
def notebook_image(docker_client):
    """The built CPU notebook image (scripts/test.sh builds it before pytest runs)."""
    return docker_client.images.get(NOTEBOOK_IMAGE)


@pytest.fixture(scope="session")
def hub_image(docker_client):
    return docker_client.images.get(HUB_IMAGE)
