#!/usr/bin/env python3
"""Workshop pre-start: start the attendees' servers before the workshop begins.

An admin runs this a few minutes before the start, so attendees land in a running JupyterLab
instead of all waiting on a cold spawn at once. Servers are started through the hub's REST API,
so the hub's own spawn path applies unchanged: GPU pinning (pre_spawn_hook), limits, labels.
A server counts as ready once its warm kernel is (a kernel with MXNet imported waiting for the
first notebook: GET /user/<name>/api/gluonlab/warm-kernel; README "Warm kernels"), so the
attendee's first cell does not wait on a kernel start either. At most --parallel spawns are in flight (default 4: a server start is CPU-bound, ~0.7-1.5
core-seconds; more in flight on 2 cores only makes each slower), and a 429 from the hub's
concurrent_spawn_limit is retried after the delay the hub asks for.

    python3 bench/prestart.py --url http://127.0.0.1:8000 --token-file admin.token --all
    python3 bench/prestart.py --url ... --token "$TOKEN" --users student01 student02
    python3 bench/prestart.py --url ... --token "$TOKEN" --prefix student

The token needs the admin scopes (admin:servers, list:users, access:servers); an admin creates one under
/hub/token. Standard library only, so it runs on any host with Python 3.9+ or in the hub
container. Exit 0: every server ready; 1: some failed (named on stderr); 2: bad usage.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path


class PrestartError(Exception):
    """A user's server could not be started; the message says why."""


class Hub:
    def __init__(self, url: str, token: str, timeout: float = 30):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, prefix: str = "/hub/api") -> tuple[int, dict, dict]:
        req = urllib.request.Request(f"{self.url}{prefix}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                body = response.read()
                return response.status, dict(response.headers), json.loads(body) if body else {}
        except urllib.error.HTTPError as error:
            body = error.read()
            try:
                data = json.loads(body) if body else {}
            except ValueError:
                data = {"message": body.decode(errors="replace")[:200]}
            return error.code, dict(error.headers), data

    def users(self) -> list[dict]:
        status, _, data = self.request("GET", "/users?limit=10000")
        if status != 200:
            raise PrestartError(f"listing users failed ({status}): {data.get('message', data)}; "
                                "the token needs the list:users scope (an admin's token has it)")
        return data if isinstance(data, list) else data.get("items", [])


def start_one(hub: Hub, username: str, timeout: float) -> float:
    """Start *username*'s default server and wait until ready; returns the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        status, headers, data = hub.request("POST", f"/users/{username}/server")
        message = str(data.get("message", ""))
        # 400 "already running" / "is pending spawn": someone (the attendee) got there first.
        if status in (201, 202) or (status == 400 and ("already running" in message or "pending" in message)):
            break
        if status == 429:
            # The hub's concurrent_spawn_limit: wait as asked, like a patient attendee.
            wait = float(headers.get("Retry-After", "5") or 5)
            if time.monotonic() + wait > deadline:
                raise PrestartError(f"{username}: the hub kept answering 'too many spawns' for {timeout:.0f} s")
            time.sleep(wait)
            continue
        if status == 404:
            raise PrestartError(f"{username}: no such user; create the account first (gluonlab-accounts create)")
        raise PrestartError(f"{username}: spawn request refused ({status}): {message or data}")
    while time.monotonic() < deadline:
        status, _, model = hub.request("GET", f"/users/{username}")
        server = (model.get("servers") or {}).get("") if status == 200 else None
        if server and server.get("ready"):
            wait_for_warm_kernel(hub, username, server.get("url") or f"/user/{username}/", deadline, timeout)
            return time.monotonic() - started
        if status == 200 and not server and not model.get("pending"):
            raise PrestartError(f"{username}: the server stopped while starting; see the hub log")
        time.sleep(0.5)
    raise PrestartError(f"{username}: not ready after {timeout:.0f} s; see the hub log")


def wait_for_warm_kernel(hub: Hub, username: str, server_url: str, deadline: float, timeout: float) -> None:
    """Wait until the server's warm kernel is ready (or the server has none: warm kernels off,
    GLUONLAB_WARM_KERNEL=0, or an image from before them)."""
    path = server_url.rstrip("/") + "/api/gluonlab/warm-kernel"
    while time.monotonic() < deadline:
        status, _, data = hub.request("GET", path, prefix="")
        if status == 404 or (status == 200 and (data.get("ready") or not data.get("enabled"))):
            return
        if status in (401, 403):
            raise PrestartError(f"{username}: the token may not reach users' servers ({status}); use an admin's "
                                "token (it has the access:servers scope)")
        time.sleep(1)
    raise PrestartError(f"{username}: the server is up but its warm kernel was not ready after {timeout:.0f} s; "
                        "see the server's log (docker logs)")


def prestart(hub: Hub, usernames: list[str], parallel: int, timeout: float, log=print) -> dict[str, float | str]:
    """Start every named server, at most *parallel* at a time. Returns {user: seconds or error}."""
    results: dict[str, float | str] = {}
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = {pool.submit(start_one, hub, name, timeout): name for name in usernames}
        for future in as_completed(futures):
            name = futures[future]
            try:
                results[name] = future.result()
                log(f"prestart: {name} ready in {results[name]:.1f} s")
            except (PrestartError, OSError) as error:
                results[name] = str(error)
                log(f"prestart: FAILED {error}")
    return results


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Start attendees' servers before a workshop (throttled).")
    p.add_argument("--url", required=True, help="the hub's URL, e.g. http://127.0.0.1:8000")
    token = p.add_mutually_exclusive_group(required=True)
    token.add_argument("--token", help="an admin API token")
    token.add_argument("--token-file", type=Path, help="file holding an admin API token")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--users", nargs="+", metavar="NAME", help="these users")
    who.add_argument("--prefix", help="every user whose name starts with PREFIX (e.g. student)")
    who.add_argument("--all", action="store_true", help="every user who is not an admin")
    p.add_argument("--parallel", type=int, default=4, help="spawns in flight at once (default 4)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per server, queueing included (default 600)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.parallel < 1:
        print("prestart: --parallel must be at least 1", file=sys.stderr)
        return 2
    try:
        token = args.token or args.token_file.read_text().strip()
    except OSError as error:
        print(f"prestart: cannot read --token-file: {error}", file=sys.stderr)
        return 2
    hub = Hub(args.url, token)
    try:
        if args.users:
            names = args.users
        else:
            users = hub.users()
            names = [u["name"] for u in users if not u.get("admin")
                     and (args.all or u["name"].startswith(args.prefix))]
    except (PrestartError, OSError) as error:
        print(f"prestart: {error}", file=sys.stderr)
        return 2
    if not names:
        print("prestart: no matching users; create them first (gluonlab-accounts create)", file=sys.stderr)
        return 2
    started = time.monotonic()
    results = prestart(hub, names, args.parallel, args.timeout)
    failed = {n: r for n, r in results.items() if isinstance(r, str)}
    print(f"prestart: {len(results) - len(failed)}/{len(results)} servers ready in "
          f"{time.monotonic() - started:.1f} s" + (f"; failed: {', '.join(sorted(failed))}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
