#!/usr/bin/env python3
"""What sized homes cost a spawn (gluonlab_hub/homes.py): two compose stacks side by side on this
engine, one with GLUONLAB_HOME_SIZE=2g (each home its own ext4 file system on a loop device,
attached by a helper container per start and released by another while the server starts) and
one with plain Docker volumes (GLUONLAB_HOME_SIZE=0); both with the read-only root. Per run a
new user spawns twice, alternating between the stacks: the first spawn creates the home (for a
sized home: fallocate + mkfs.ext4), the second finds it. Seconds from the hub API's spawn request
until the hub reports the server ready.

    .venv/bin/python bench/home_spawn.py                 # 5 runs
    .venv/bin/python bench/home_spawn.py --runs 3 --json bench/results/home-spawn.json

Needs the built images (scripts/build-images.sh); each stack is removed at the end.
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
    parser.add_argument("--runs", type=int, default=5, help="new users per configuration (default 5)")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args(argv)
    stacks = {"sized 2g": LabStack(extra_env={"GLUONLAB_HOME_SIZE": "2g"}),
              "plain": LabStack(extra_env={"GLUONLAB_HOME_SIZE": "0"})}
    times = {f"{name}, {spawn}": [] for name in stacks for spawn in ("first", "again")}
    try:
        hubs = {}
        for name, stack in stacks.items():
            stack.up()
            hub = HubClient(stack.url)
            assert hub.login("admin", stack.admin_password).status_code == 302, f"{name}: admin login failed"
            hub.create_token("admin")
            hubs[name] = hub
        # One warm-up user each (image in the page cache), then alternate, one server at a time.
        for run in range(args.runs + 1):
            for name, hub in hubs.items():
                user = f"bench{run}"
                hub.api("POST", f"/users/{user}")
                for spawn in ("first", "again"):
                    seconds = hub.start_server(user)
                    hub.stop_server(user)
                    if run:
                        times[f"{name}, {spawn}"].append(round(seconds, 3))
    finally:
        for stack in stacks.values():
            stack.down()
    print(f"spawn request -> server ready, seconds ({args.runs} users each, alternated)")
    print(f"{'run':>4}  " + "  ".join(f"{name:>15}" for name in times))
    for run in range(args.runs):
        print(f"{run + 1:>4}  " + "  ".join(f"{times[name][run]:>15.2f}" for name in times))
    print(f"{'med':>4}  " + "  ".join(f"{statistics.median(times[name]):>15.2f}" for name in times))
    if args.json:
        args.json.write_text(json.dumps(times, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
