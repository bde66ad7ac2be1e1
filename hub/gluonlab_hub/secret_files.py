"""Hub secrets that must survive restarts: created once, mode 600, never printed."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def ensure_secret_file(path: str | os.PathLike, nbytes: int = 32) -> str:
    """Return the hex secret stored at *path*, creating it (mode 600) if it does not exist.

    The file is created with O_EXCL so two processes starting at once cannot both write it,
    and its mode is tightened if an admin loosened it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        value = path.read_text().strip()
        if not value:
            raise ValueError(f"{path} is empty: delete it and restart the hub to generate a new secret")
        return value
    value = secrets.token_hex(nbytes)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value
