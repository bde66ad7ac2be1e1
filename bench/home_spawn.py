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

import sys

from alternated_spawns import LabStack, parse_args, report, time_spawns


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.split("\n\n")[0], "new users per configuration", argv)
    stacks = {"sized 2g": LabStack(extra_env={"GLUONLAB_HOME_SIZE": "2g"}),
              "plain": LabStack(extra_env={"GLUONLAB_HOME_SIZE": "0"})}
    times = time_spawns(stacks, args.runs, spawns=("first", "again"))
    report(times, f"spawn request -> server ready, seconds ({args.runs} users each, alternated)", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
