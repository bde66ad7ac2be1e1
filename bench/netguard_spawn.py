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

import sys

from alternated_spawns import LabStack, parse_args, report, time_spawns


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.split("\n\n")[0], "spawns per configuration", argv)
    stacks = {"isolated": LabStack(extra_env={"GLUONLAB_NETWORK_ISOLATION": "1"}),
              "plain Docker": LabStack(extra_env={"GLUONLAB_NETWORK_ISOLATION": "0"})}
    times = time_spawns(stacks, args.runs)
    report(times, f"spawn request -> server ready, seconds ({args.runs} spawns each, alternated)", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
