"""scripts/build-images.sh's errors that need the engine to find (its other errors are checked
before it asks the engine: tests/lint)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.docker


def test_missing_base_image_is_named_by_the_build_script():
    env = {"NOTEBOOK_BASE_IMAGE": "gluonlab/no-such-base:1", "PATH": "/usr/bin:/bin:/usr/local/bin"}
    result = subprocess.run(["scripts/build-images.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert "NOTEBOOK_BASE_IMAGE='gluonlab/no-such-base:1' is neither a local image nor pullable" in result.stderr
