"""Secrets are created once, mode 600, and reused."""
from __future__ import annotations

import os
import stat

import pytest

from gluonlab_hub.secret_files import ensure_secret_file


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_created_once_private_and_reused(tmp_path):
    path = tmp_path / "state" / "token"
    first = ensure_secret_file(path)
    assert len(first) == 64 and int(first, 16) >= 0
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert ensure_secret_file(path) == first


def test_loosened_mode_is_tightened(tmp_path):
    path = tmp_path / "token"
    value = ensure_secret_file(path)
    os.chmod(path, 0o644)
    assert ensure_secret_file(path) == value
    assert mode(path) == 0o600


def test_empty_file_is_an_error_not_a_silent_new_secret(tmp_path):
    path = tmp_path / "token"
    path.write_text("")
    with pytest.raises(ValueError, match="delete it and restart"):
        ensure_secret_file(path)
