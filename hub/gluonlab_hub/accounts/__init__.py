"""Workshop attendee accounts: bulk creation from a CSV or a count, with a printable handout.

Modules: ``rows`` (CSV parsing, username rules, ``--count`` rows), ``passwords`` (generation,
bcrypt cost), ``store`` (the hub database, atomically), ``handout`` (HTML from a Jinja2
template, and a spreadsheet-safe CSV), ``cli`` (``gluonlab-accounts``). The names below are
the package's API; other code imports them from ``gluonlab_hub.accounts``.

CLI (run inside the hub container, where the hub database is)::

    gluonlab-accounts create --csv attendees.csv --hub-url https://lab.example.org --out /srv/handouts
    gluonlab-accounts create --count 30 --prefix student --hub-url ... --out ...

(``python -m gluonlab_hub.accounts`` is the same command.) CSV: columns
``username[,password][,name]``; an optional header row (first cell ``username``) may name the
columns in any order. Empty passwords are generated. Exit codes: 0 all created; 1 some rows
invalid or skipped, existing accounts included (the valid ones are created); 2 nothing done
(bad usage, unreadable file, bad settings, database error).

The hub must let these users in: NativeAuthenticator only authenticates authorized rows,
so ``c.Authenticator.allow_all = True`` with ``c.NativeAuthenticator.enable_signup = False``
keeps the hub closed to everyone else.
"""

from .cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, build_parser, default_db_url, main, run_create
from .handout import render_handout_html, spreadsheet_safe, write_handout
from .passwords import (
    CHOSEN_PASSWORD_ROUNDS,
    GENERATED_PASSWORD_ROUNDS,
    MAX_PASSWORD_BYTES,
    MIN_PASSWORD_LEN,
    PASSWORD_ALPHABET,
    generate_password,
    hash_password,
)
from .rows import (
    COLUMNS,
    MAX_COUNT,
    MAX_USERNAME_LEN,
    USERNAME_RE,
    AccountRow,
    AccountsError,
    ParsedRows,
    Problem,
    normalize_username,
    parse_csv,
    rows_from_count,
    username_problem,
)
from .store import Account, CreateResult, create_accounts, open_hub_db

__all__ = [
    "CHOSEN_PASSWORD_ROUNDS",
    "COLUMNS",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "GENERATED_PASSWORD_ROUNDS",
    "MAX_COUNT",
    "MAX_PASSWORD_BYTES",
    "MAX_USERNAME_LEN",
    "MIN_PASSWORD_LEN",
    "PASSWORD_ALPHABET",
    "USERNAME_RE",
    "Account",
    "AccountRow",
    "AccountsError",
    "CreateResult",
    "ParsedRows",
    "Problem",
    "build_parser",
    "create_accounts",
    "default_db_url",
    "generate_password",
    "hash_password",
    "main",
    "normalize_username",
    "open_hub_db",
    "parse_csv",
    "render_handout_html",
    "rows_from_count",
    "run_create",
    "spreadsheet_safe",
    "username_problem",
    "write_handout",
]
