"""Runs in the hub container before JupyterHub: creates the hub database on first start and
the first admin's account (NativeAuthenticator has signup off, so someone must exist to log
in), then execs the command it was given (JupyterHub).

The first admin's password is GLUONLAB_ADMIN_PASSWORD when set, else generated; either way it
is stored in <state>/admin-password (mode 600) for the admin to read with
`docker compose exec hub cat /srv/jupyterhub/state/admin-password`. An existing account is
never changed, so restarts and a later GLUONLAB_ADMIN_PASSWORD do not reset a password.
GLUONLAB_ADMIN_PASSWORD_FILE (a file in the container, e.g. in the read-only certs folder) keeps
the password out of the container's configuration; it wins over GLUONLAB_ADMIN_PASSWORD.

A password the admin chose is checked first (at least 12 characters, at most 72 bytes, bcrypt's
limit, and not the username). A bad one, like any bad setting, stops the hub with exit status 2
and the reason on stderr, i.e. in `docker compose logs hub`; compose's restart policy then retries
with Docker's growing back-off (up to one start a minute) and `docker compose ps` shows
"Restarting (2)": the same message each time, never a silent loop.

Neither variable reaches JupyterHub: both are removed from the environment before the exec, so
the hub, its proxy and its services (and anything they start) do not inherit them.
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

#: Rules for a password the admin chooses (bcrypt reads at most 72 bytes).
MIN_ADMIN_PASSWORD_CHARS = 12
MAX_PASSWORD_BYTES = 72
#: Removed from the environment before JupyterHub starts.
SECRET_VARIABLES = ("GLUONLAB_ADMIN_PASSWORD", "GLUONLAB_ADMIN_PASSWORD_FILE")


def chosen_admin_password(settings: Settings) -> str | None:
    """The first admin's password the admin chose (file first, then variable), checked; None
    when neither is set (one is generated). Raises SettingsError naming the setting and the fix."""
    name, password = "GLUONLAB_ADMIN_PASSWORD", settings.admin_password.get_secret_value()
    if settings.admin_password_file:
        name = "GLUONLAB_ADMIN_PASSWORD_FILE"
        try:
            password = Path(settings.admin_password_file).read_text(encoding="utf-8").strip("\r\n")
        except (OSError, UnicodeDecodeError) as error:
            raise SettingsError(f"{name}={settings.admin_password_file!r} cannot be read ({error}): put the "
                                "password in that file (mounted into the hub container) or unset it") from None
    if not password:
        return None
    problem = ""
    if len(password) < MIN_ADMIN_PASSWORD_CHARS:
        problem = f"it has {len(password)} characters, at least {MIN_ADMIN_PASSWORD_CHARS} are needed"
    elif len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        problem = f"it is longer than {MAX_PASSWORD_BYTES} bytes (bcrypt ignores the rest)"
    elif password.casefold() == settings.admin_users[0].casefold():
        problem = "it is the admin's username"
    if problem:
        raise SettingsError(f"{name}=(hidden) is not valid: {problem}; choose another (12 to 72 bytes, not "
                            "the username) or leave it empty to have one generated")
    return password


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
        password = chosen_admin_password(settings)
    except SettingsError as error:
        print(f"gluonlab: configuration error: {error}", file=sys.stderr)
        return 2
    for warning in settings.warnings():
        log.warning(warning)
    state = settings.state_dir
    ensure_secret_file(f"{state}/jupyterhub_cookie_secret")
    ensure_secret_file(f"{state}/proxy_auth_token")
    ensure_first_admin(settings, password)
    for name in SECRET_VARIABLES:
        os.environ.pop(name, None)
    os.execvp(argv[0], argv)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
