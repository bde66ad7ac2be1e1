"""Shared pytest setup: make tests/ importable (labclient) and give docker tests their images."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

NOTEBOOK_IMAGE = "gluonlab/notebook:cpu"
HUB_IMAGE = "gluonlab/hub:latest"


@pytest.fixture(scope="session")
def docker_client():
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
