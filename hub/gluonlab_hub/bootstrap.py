"""Runs in the hub container before JupyterHub: creates the hub database on first start and
the first admin's account (NativeAuthenticator has signup off, so someone must exist to log
in), then execs the command it was given (JupyterHub).

The first admin's password is GLUONLAB_ADMIN_PASSWORD when set, else generated; either way it
is stored in <state>/admin-password (mode 600) for the admin to read with
`docker compose exec hub cat /srv/jupyterhub/state/admin-password`. An existing account is
never changed, so restarts and a later GLUONLAB_ADMIN_PASSWORD do not reset a password.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from .accounts import AccountRow, create_accounts, generate_password
from .secret_files import ensure_secret_file
from .settings import Settings, SettingsError

log = logging.getLogger("gluonlab.bootstrap")


def ensure_first_admin(settings: Settings, password: str | None = None) -> bool:
    """Create the first admin's account if it has none; returns True when one was created."""
    from jupyterhub import orm
    from nativeauthenticator.orm import UserInfo

    state = Path(settings.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o700)
    # Same call JupyterHub makes at start: creates and stamps a new database, checks an old one.
    db = orm.new_session_factory(settings.db_url)()
    try:
        admin = settings.admin_users[0]
        if UserInfo.find(db, admin) is not None:
            return False
        password_file = state / "admin-password"
        password = password or generate_password()
        # Write the file first: a crash after creating the account must not lose the password.
        password_file.unlink(missing_ok=True)
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        create_accounts(db, [AccountRow(line=0, username=admin, password=password)])
        log.info("created admin account %r; its password is in %s", admin, password_file)
        return True
    finally:
        db.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="[gluonlab-bootstrap] %(message)s")
    if not argv or argv[0] in ("-h", "--help"):
        print("Usage: gluonlab-bootstrap COMMAND [ARGS...]\n"
              "Creates the hub database and first admin account if missing, then execs COMMAND.")
        return 0 if argv else 2
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"gluonlab: configuration error: {error}", file=sys.stderr)
        return 2
    for warning in settings.warnings():
        log.warning(warning)
    state = settings.state_dir
    ensure_secret_file(f"{state}/jupyterhub_cookie_secret")
    ensure_secret_file(f"{state}/proxy_auth_token")
    ensure_first_admin(settings, settings.admin_password.get_secret_value() or None)
    os.execvp(argv[0], argv)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
