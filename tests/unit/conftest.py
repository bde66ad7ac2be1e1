"""Shared setup for the hub-side unit tests: import ``gluonlab_hub`` from the repo's ``hub/``."""

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HUB = REPO / "hub"
if str(HUB) not in sys.path:
    sys.path.insert(0, str(HUB))


def pytest_configure(config: pytest.Config) -> None:
    # pytest.ini (the lead's) registers this too; repeating it keeps `pytest tests/unit` quiet alone.
    config.addinivalue_line("markers", "docker: needs the real Docker engine")


@pytest.fixture
def fixtures_dir() -> Path:
    return REPO / "tests" / "fixtures"
