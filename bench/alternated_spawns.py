"""Spawn timings of two (or more) lab configurations side by side, for bench/netguard_spawn.py
and bench/home_spawn.py: every stack up on this engine at once, then per run one new user in
each stack in turn, one server at a time, so that whatever else loads the machine weighs on
every configuration alike. Seconds from the hub API's spawn request until the hub reports the
server ready (HubClient.start_server polls every 0.25 s)."""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from labclient import HubClient, LabStack  # noqa: E402  (the tests' stack helpers)


def parse_args(description: str, runs_help: str, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=5, help=f"{runs_help} (default 5)")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    return parser.parse_args(argv)


def time_spawns(stacks: dict[str, LabStack], runs: int, spawns: tuple[str, ...] = ("",)) -> dict[str, list[float]]:
    """Seconds per spawn, keyed "<stack name>" (one spawn a user) or "<stack name>, <spawn>"
    (each user spawned once per name in *spawns*, stopped in between). One warm-up user per
    stack first (image in the page cache), not counted. Every stack is taken down at the end
    (down() also removes the netguard's host rules)."""
    times = {(f"{name}, {spawn}" if spawn else name): [] for name in stacks for spawn in spawns}
    with contextlib.ExitStack() as running:
        hubs = {}
        for name, stack in stacks.items():
            running.enter_context(stack.running())
            hub = HubClient(stack.url)
            assert hub.login("admin", stack.admin_password).status_code == 302, f"{name}: admin login failed"
            hub.create_token("admin")
            hubs[name] = hub
        for run in range(runs + 1):
            for name, hub in hubs.items():
                user = f"bench{run}"
                hub.api("POST", f"/users/{user}")
                for spawn in spawns:
                    seconds = hub.start_server(user)
                    hub.stop_server(user)
                    if run:
                        times[f"{name}, {spawn}" if spawn else name].append(round(seconds, 3))
    return times


def report(times: dict[str, list[float]], heading: str, json_path: Path | None) -> None:
    """A table, one column per configuration and a row per run, then the medians."""
    runs = len(next(iter(times.values())))
    width = max(len(name) for name in times)
    print(heading)
    print(f"{'run':>4}  " + "  ".join(f"{name:>{width}}" for name in times))
    for run in range(runs):
        print(f"{run + 1:>4}  " + "  ".join(f"{times[name][run]:>{width}.2f}" for name in times))
    print(f"{'med':>4}  " + "  ".join(f"{statistics.median(times[name]):>{width}.2f}" for name in times))
    if json_path:
        json_path.write_text(json.dumps(times, indent=2) + "\n")
