#!/usr/bin/env python3
"""What network isolation costs a spawn: two compose stacks side by side on this engine, one
with the netguard's isolation (the default) and one with GLUONLAB_NETWORK_ISOLATION=0 (plain
Docker networking), spawns alternated between them, seconds from the hub API's spawn request
until the hub reports the server ready (the hub reaching the server through the guard).

    .venv/bin/python bench/netguard_spawn.py                 # 5 spawns each
    .venv/bin/python bench/netguard_spawn.py --runs 10 --json bench/results/netguard.json

Needs the built images (scripts/build-images.sh); each stack is removed at the end, with the
guard's host rules.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from labclient import HubClient, LabStack  # noqa: E402  (the tests' stack helpers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="spawns per configuration (default 5)")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args(argv)
    stacks = {"isolated": LabStack(extra_env={"GLUONLAB_NETWORK_ISOLATION": "1"}),
              "plain Docker": LabStack(extra_env={"GLUONLAB_NETWORK_ISOLATION": "0"})}
    times: dict[str, list[float]] = {name: [] for name in stacks}
    try:
        hubs = {}
        for name, stack in stacks.items():
            stack.up()
            hub = HubClient(stack.url)
            assert hub.login("admin", stack.admin_password).status_code == 302, f"{name}: admin login failed"
            hub.create_token("admin")
            hubs[name] = hub
        # One warm-up spawn each (image in the page cache), then alternate, one server at a time.
        for run in range(args.runs + 1):
            for name, hub in hubs.items():
                user = f"bench{run}"
                hub.api("POST", f"/users/{user}")
                seconds = hub.start_server(user)
                hub.stop_server(user)
                if run:
                    times[name].append(round(seconds, 3))
    finally:
        for stack in stacks.values():
            stack.down()  # with the guard's host rules
    print(f"spawn request -> server ready, seconds ({args.runs} spawns each, alternated)")
    print(f"{'run':>4}  " + "  ".join(f"{name:>12}" for name in times))
    for run in range(args.runs):
        print(f"{run + 1:>4}  " + "  ".join(f"{times[name][run]:>12.2f}" for name in times))
    print(f"{'med':>4}  " + "  ".join(f"{statistics.median(times[name]):>12.2f}" for name in times))
    if args.json:
        args.json.write_text(json.dumps(times, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
