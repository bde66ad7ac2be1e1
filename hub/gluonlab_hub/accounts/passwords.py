"""Passwords: generation, the rules for admin-chosen ones, and bcrypt hashing at the right cost.

The hash is NativeAuthenticator's own (``bcrypt.hashpw(pw, gensalt(rounds))``), so the hub
checks it as it checks any other account.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

MIN_PASSWORD_LEN = 8
MAX_PASSWORD_BYTES = 72  # bcrypt hashes at most 72 bytes (bcrypt 5 refuses longer ones)
#: No 0/O, 1/l/I: the password is read off a paper card.
PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
#: bcrypt cost for passwords an admin chose (CSV): NativeAuthenticator's default, because a
#: human-chosen password needs the slow hash to resist guessing from a stolen database.
CHOSEN_PASSWORD_ROUNDS = 12
#: bcrypt cost for passwords generated here (~60 random bits): OWASP's minimum of 10. Stretching
#: adds nothing to a secret that cannot be guessed (JupyterHub hashes its own generated tokens
#: with one round for this reason), and every login checks the hash: a login at cost 10 costs a
#: quarter of one at cost 12 (figures in bench/README.md).
GENERATED_PASSWORD_ROUNDS = 10


def password_problem(username: str, password: str | None) -> str | None:
    """Why an admin-chosen ``password`` cannot be used, or None (None: one is generated)."""
    if password is None:
        return None
    if len(password) < MIN_PASSWORD_LEN:
        return (
            f"password for {username} is shorter than {MIN_PASSWORD_LEN} characters; "
            "leave it empty to have one generated"
        )
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        return f"password for {username} is longer than {MAX_PASSWORD_BYTES} bytes (bcrypt's limit)"
    return None


def generate_password(groups: int = 3, group_len: int = 4) -> str:
    """A readable random password such as ``k7pm-x3qa-9fht`` (about 60 bits from ``secrets``)."""
    return "-".join("".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(group_len)) for _ in range(groups))


def rounds_for(chosen: bool, override: int | None = None) -> int:
    """bcrypt cost for a new password: ``override`` if given, else by who chose the password."""
    if override:
        return override
    return CHOSEN_PASSWORD_ROUNDS if chosen else GENERATED_PASSWORD_ROUNDS


def hash_password(password: str, rounds: int = CHOSEN_PASSWORD_ROUNDS) -> bytes:
    """NativeAuthenticator's hashing: ``bcrypt.hashpw(pw, bcrypt.gensalt())`` (12 rounds by default)."""
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds))


def hash_passwords(passwords: Sequence[str], rounds: Sequence[int]) -> list[bytes]:
    """Hash on all cores: bcrypt releases the GIL, so threads run in parallel."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(hash_password, passwords, rounds))
