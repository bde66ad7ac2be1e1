"""scripts/setup-docker-host.sh runs as root and executes tools from GLUONLAB_WORK_DIR: a folder
someone else planted there (another user's, or a symlink) is refused before anything runs."""
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "scripts" / "setup-docker-host.sh"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the script runs as root only")


def setup_with_work_dir(work_dir):
    env = {**os.environ, "GLUONLAB_WORK_DIR": str(work_dir)}
    return subprocess.run(["bash", str(SETUP), "--tools-only"], env=env, capture_output=True, text=True, timeout=60)


def test_setup_refuses_a_work_folder_another_user_owns(tmp_path):
    planted = tmp_path / "gluonlab"
    planted.mkdir()
    os.chown(planted, 65534, 65534)
    result = setup_with_work_dir(planted)
    assert result.returncode == 2
    assert f"GLUONLAB_WORK_DIR={planted} is owned by" in result.stderr and "refusing to use it" in result.stderr
    assert list(planted.iterdir()) == []  # nothing was written there


def test_setup_refuses_a_work_folder_that_is_a_symlink(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "gluonlab"
    link.symlink_to(target)
    result = setup_with_work_dir(link)
    assert result.returncode == 2 and "is a symlink; refusing to use it" in result.stderr
    assert list(target.iterdir()) == []
