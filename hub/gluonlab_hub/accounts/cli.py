"""``gluonlab-accounts``: the admin's command: ``create`` (see the package doc for usage and exit
codes), ``enrol open|close|status|joined`` (walk-in join codes, ``enrolment``) and ``remove``
(the clean end, ``removal``)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from ..netguard import HUB_API_PORT
from .handout import write_handout
from .rows import AccountsError, ParsedRows, parse_csv, rows_from_count
from .store import CreateResult, create_accounts, open_hub_db

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


def _read_csv_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets often add a BOM
    except FileNotFoundError:
        raise AccountsError(f"CSV file {path} not found") from None
    except UnicodeDecodeError as exc:
        raise AccountsError(f"CSV file {path} is not UTF-8 (byte {exc.start}); save it as UTF-8 CSV") from None
    except OSError as exc:
        raise AccountsError(f"cannot read {path}: {exc.strerror}") from None


def default_db_url() -> str:
    """The hub's database as the hub itself finds it (Settings.db_url: ``$GLUONLAB_HUB_DB_URL``,
    else SQLite in ``$GLUONLAB_STATE_DIR``)."""
    from ..settings import Settings

    return Settings.from_env().db_url


def _resolve_db_url(given: str | None) -> str:
    if given:
        return given
    try:
        return default_db_url()
    except ValueError as exc:  # SettingsError (and a schema library's validation error) are ValueErrors
        raise AccountsError(f"cannot find the hub database: configuration error: {exc} (or pass --db-url)") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gluonlab-accounts", description="Create workshop accounts and a printable handout."
    )
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create", help="create accounts from a CSV or a count")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--csv", type=Path, help="CSV with username[,password][,name]; header optional")
    src.add_argument("--count", type=int, help="create PREFIX01..PREFIXnn")
    c.add_argument("--prefix", default="student", help="username prefix for --count (default: student)")
    c.add_argument("--start", type=int, default=1, help="first number for --count (default: 1)")
    c.add_argument("--hub-url", required=True, help="the URL attendees open, printed on each card")
    c.add_argument("--out", required=True, type=Path, help="folder for the handout (HTML and CSV, mode 600)")
    # Resolved after parsing: a bad unrelated setting must not break --help or an explicit --db-url.
    c.add_argument(
        "--db-url",
        help="hub database URL (default: the hub's own: $GLUONLAB_HUB_DB_URL, else "
        "jupyterhub.sqlite in $GLUONLAB_STATE_DIR)",
    )

    e = sub.add_parser("enrol", help="walk-in enrolment: a join code for /hub/join")
    esub = e.add_subparsers(dest="enrol_command", required=True)
    eo = esub.add_parser("open", help="open enrolment (closes any earlier code)")
    eo.add_argument("--seats", type=int, required=True, help="how many accounts may join with this code")
    eo.add_argument("--minutes", type=float, default=120, help="the code expires after this (default: 120)")
    eo.add_argument("--code", help="the join code (4-32 of a-z 0-9 -); default: a random 6-character one")
    esub.add_parser("close", help="close enrolment now")
    esub.add_parser("status", help="the current code, its seats and expiry")
    ej = esub.add_parser("joined", help="accounts that joined (CSV: username,joined_at_utc)")
    ej.add_argument("--since-hours", type=float, help="only those that joined in the last N hours")
    for parser in esub.choices.values():
        parser.add_argument("--db-url", help="hub database URL (default: the hub's own)")

    r = sub.add_parser("remove", help="after the workshop: stop servers, export homes, delete accounts and volumes")
    which = r.add_mutually_exclusive_group(required=True)
    which.add_argument("--csv", type=Path, help="the usernames in the CSV's first column (create's CSV works)")
    which.add_argument("--prefix", help="every account whose name starts with PREFIX")
    which.add_argument("--joined-today", action="store_true", help="every account that joined since 00:00 UTC")
    r.add_argument("--dry-run", action="store_true", help="print what would be removed; change nothing")
    r.add_argument("--no-export", action="store_true", help="do not export homes first (their files are lost)")
    r.add_argument("--out", type=Path, help="folder for <user>.tar.gz (default: exports/<time> in the hub's "
                   "state folder; copy it out with docker compose cp)")
    r.add_argument("--db-url", help="hub database URL (default: the hub's own)")
    r.add_argument("--hub-api", default=f"http://127.0.0.1:{HUB_API_PORT}/hub/api",
                   help="the hub's REST API (default: %(default)s, from inside the hub container)")
    return p


def run_remove(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from ..settings import Settings
    from . import removal

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise AccountsError(f"configuration error: {exc}") from None
    names = removal.usernames_from_csv(_read_csv_file(args.csv)) if args.csv is not None else None
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    db = open_hub_db(_resolve_db_url(args.db_url))
    try:
        todo = removal.plan(db, admins=set(settings.admin_users), names=names, prefix=args.prefix,
                            joined_since=midnight if args.joined_today else None)
        for name in todo.refused:
            print(f"gluonlab-accounts: {name} is an admin: not removed", file=sys.stderr)
        for name in todo.unknown:
            print(f"gluonlab-accounts: {name}: no such account", file=sys.stderr)
        if not todo.remove:
            print("gluonlab-accounts: no account to remove")
            return EXIT_PARTIAL if todo.refused or todo.unknown else EXIT_OK
        if args.out and settings.spawner_backend == "swarm":
            raise AccountsError("--out names a folder in the hub container, but on Swarm homes are exported on "
                                "each worker, into its <instance>-exports volume: leave --out out")
        out = None if args.no_export else (args.out or removal.default_out(settings.state_dir))
        if args.dry_run:
            print(f"gluonlab-accounts: dry run: would remove {len(todo.remove)} account(s): {', '.join(todo.remove)}")
            where = (f"on each worker into {settings.instance}-exports/{out.name}" if settings.spawner_backend == "swarm"
                     else f"to {out}") if out else ""
            print("gluonlab-accounts: dry run: homes would be " + (f"exported {where}" if out else "deleted unexported"))
            return EXIT_PARTIAL if todo.refused or todo.unknown else EXIT_OK
        import docker

        token_file = Path(settings.state_dir) / removal.API_TOKEN_FILE
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            raise AccountsError(f"cannot read the hub token {token_file} ({exc.strerror}): run this in the hub "
                                "container (docker compose exec hub gluonlab-accounts remove ...)") from None
        from ..homes import HomeStore, parse_size

        client = docker.from_env()
        if settings.spawner_backend == "swarm":
            # Homes are on the workers: exported and removed there (accounts/swarm_homes.py).
            from . import swarm_homes

            failed = swarm_homes.remove(todo.remove, api=removal.HubAPI(args.hub_api, token), db=db, client=client,
                                        settings=settings, stamp=out.name if out else None,
                                        log=lambda line: print(f"gluonlab-accounts: {line}"))
            return _removed(todo, failed)
        homes = HomeStore(settings.instance, settings.home_size, client=client) if parse_size(settings.home_size) else None
        failed = removal.remove(todo.remove, api=removal.HubAPI(args.hub_api, token), docker_client=client,
                                db=db, volume_template=settings.home_volume_template, image=settings.notebook_image,
                                out=out, log=lambda line: print(f"gluonlab-accounts: {line}"), home_store=homes)
    finally:
        db.close()
    return _removed(todo, failed)


def _removed(todo: Any, failed: list[str]) -> int:
    print(f"gluonlab-accounts: removed {len(todo.remove) - len(failed)} account(s)" +
          (f"; {len(failed)} failed: {', '.join(failed)}" if failed else ""))
    return EXIT_PARTIAL if failed or todo.refused or todo.unknown else EXIT_OK


def _utc(seconds: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def run_enrol(args: argparse.Namespace) -> int:
    import csv
    import time

    from . import enrolment

    db = open_hub_db(_resolve_db_url(args.db_url))
    try:
        if args.enrol_command == "open":
            opened = enrolment.open_enrolment(db, seats=args.seats, minutes=args.minutes, code=args.code,
                                              by="gluonlab-accounts")
            print(f"gluonlab-accounts: enrolment open: code {opened.code}, {opened.seats} seats, "
                  f"expires {_utc(opened.expires_at)}; attendees use /hub/join")
        elif args.enrol_command == "close":
            closed = enrolment.close_enrolment(db)
            print("gluonlab-accounts: enrolment closed" if closed else "gluonlab-accounts: enrolment was not open")
        elif args.enrol_command == "status":
            now = enrolment.current(db)
            if now is None:
                print("gluonlab-accounts: enrolment never opened")
            else:
                print(f"state: {now.state()}\ncode: {now.code}\nseats: {now.seats_used}/{now.seats}\n"
                      f"opened: {_utc(now.opened_at)}\nexpires: {_utc(now.expires_at)}")
        else:
            since = time.time() - args.since_hours * 3600 if args.since_hours else None
            writer = csv.writer(sys.stdout)
            writer.writerow(("username", "joined_at_utc"))
            writer.writerows((j.username, _utc(j.joined_at)) for j in enrolment.joined_accounts(db, since))
    finally:
        db.close()
    return EXIT_OK


def _duplicates_warning(duplicates: dict[str, list[int]]) -> str:
    users = ", ".join(f"{name} (ids {', '.join(map(str, ids))})" for name, ids in duplicates.items())
    return (
        f"warning: the hub database holds more than one account row for {users}, as overlapping runs "
        "of an older gluonlab-accounts left them. NativeAuthenticator checks only the oldest "
        "row (lowest id), so only the handout that created it has a working password. Nothing was "
        "changed; once the newer rows are deleted from users_info, the next run adds a unique index "
        "on users_info.username."
    )


def _report(result: CreateResult, parsed: ParsedRows, args: argparse.Namespace) -> int:
    if result.duplicates:
        print(f"gluonlab-accounts: {_duplicates_warning(result.duplicates)}", file=sys.stderr)
    problems = sorted(parsed.problems + result.skipped, key=lambda p: p.line)
    for problem in problems:
        print(f"gluonlab-accounts: {problem}", file=sys.stderr)
    if result.created:
        try:
            html_path, csv_path = write_handout(args.out, args.hub_url, result.created)
        except Exception as exc:  # OSError, or a template problem: the passwords must not be lost
            print(f"gluonlab-accounts: could not write the handout ({exc}); the new accounts are:", file=sys.stderr)
            for a in result.created:
                print(f"{a.username},{a.password}", file=sys.stderr)
            return EXIT_PARTIAL
        print(f"gluonlab-accounts: created {len(result.created)} account(s); handout: {html_path} and {csv_path}")
    else:
        print("gluonlab-accounts: no account created")
    if problems:
        print(f"gluonlab-accounts: {len(problems)} row(s) not created (see above)")
        return EXIT_PARTIAL
    return EXIT_OK


def run_create(args: argparse.Namespace, *, bcrypt_rounds: int | None = None) -> int:
    if not re.match(r"https?://[^\s/]+", args.hub_url):
        raise AccountsError(f"--hub-url {args.hub_url!r} must start with http:// or https:// and name a host")
    if args.csv is not None:
        parsed = parse_csv(_read_csv_file(args.csv))
    else:
        parsed = ParsedRows(rows=rows_from_count(args.count, args.prefix, args.start))
    if args.out.exists() and not args.out.is_dir():
        raise AccountsError(f"--out {args.out} is not a folder")

    db = open_hub_db(_resolve_db_url(args.db_url))
    try:
        try:
            result = create_accounts(db, parsed.rows, bcrypt_rounds=bcrypt_rounds)
        except AccountsError:
            raise
        except Exception as exc:
            raise AccountsError(f"database error, nothing was created: {exc}") from exc
    finally:
        db.close()
    return _report(result, parsed, args)


def main(argv: list[str] | None = None, *, bcrypt_rounds: int | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "enrol":
            return run_enrol(args)
        if args.command == "remove":
            return run_remove(args)
        return run_create(args, bcrypt_rounds=bcrypt_rounds)
    except AccountsError as exc:
        print(f"gluonlab-accounts: {exc}", file=sys.stderr)
        return EXIT_USAGE
