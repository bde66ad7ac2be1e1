#!/usr/bin/env python3
"""Does a room's kernels importing MXNet at the same moment cost more CPU than one at a time?

    bench/.venv/bin/python bench/import_concurrency.py                 # 20 imports, widths 20, 2, 1
    bench/.venv/bin/python bench/import_concurrency.py --cpus 2 --rounds 3 --json out.json

In one notebook-image container with a CPU limit (the 2-core machine's whole CPU by default),
N processes run the warm kernel's imports (`import numpy, mxnet, matplotlib, matplotlib.pyplot`,
with OMP_NUM_THREADS and MXNET_CPU_WORKER_NTHREADS at the limit, as the image sets them), W at
a time, for each width W; widths are interleaved over rounds so the machine's drift hits all
alike. Prints wall time and core-s per import (user + system of the finished children). If
the widest batch cost much more per import than the narrow ones, holding warm-ups back to a few
at a time (a queue in the spawner) would give the room its first results sooner; if not, the
CPU they need is the floor and a queue would only reorder it.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys

import docker

MEASURE = r"""
import json, resource, subprocess, sys, time
CMD = [sys.executable, "-c", "import numpy, mxnet, matplotlib, matplotlib.pyplot"]
n, widths, rounds = json.loads(sys.argv[1])

def batch(width):
    start, before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    left = n
    while left:
        procs = [subprocess.Popen(CMD) for _ in range(min(width, left))]
        for proc in procs:
            if proc.wait() != 0:
                sys.exit(f"an import failed (exit {proc.returncode})")
        left -= len(procs)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"width": width, "wall_s": time.monotonic() - start, "core_s_per_import": cpu / n}

batch(2)  # the page cache and the bytecode, as on a host that has run the image before
for _ in range(rounds):
    for width in widths:
        print(json.dumps(batch(width)), flush=True)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="gluonlab/notebook:cpu")
    parser.add_argument("--cpus", type=float, default=2.0, help="the container's CPU limit (default 2)")
    parser.add_argument("--imports", type=int, default=20, help="processes per batch (default 20, a room)")
    parser.add_argument("--widths", default="20,2,1", help="how many at a time, comma-separated (default 20,2,1)")
    parser.add_argument("--rounds", type=int, default=2, help="times each width runs (default 2)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    try:
        widths = [int(w) for w in args.widths.split(",")]
    except ValueError:
        parser.error(f"--widths must be whole numbers separated by commas, not {args.widths!r}")
    if args.imports < 1 or args.rounds < 1 or not widths or min(widths) < 1:
        parser.error("--imports, --rounds and every width must be at least 1")
    threads = str(max(1, int(args.cpus)))
    client = docker.from_env()
    output = client.containers.run(
        args.image, ["/opt/venv/bin/python", "-c", MEASURE, json.dumps([args.imports, widths, args.rounds])],
        entrypoint=[], remove=True, nano_cpus=int(args.cpus * 1e9), stderr=True,
        environment={"OMP_NUM_THREADS": threads, "MXNET_CPU_WORKER_NTHREADS": threads})
    rows = [json.loads(line) for line in output.decode().splitlines() if line.startswith("{")]
    if not rows:
        print(f"import_concurrency: no measurement came back:\n{output.decode()}", file=sys.stderr)
        return 1
    print(f"{args.imports} imports of numpy, mxnet, matplotlib.pyplot in {args.image}, --cpus {args.cpus}")
    print("width  runs  wall s (median)  core-s per import (median, min-max)")
    summary = {}
    for width in widths:
        mine = [r for r in rows if r["width"] == width]
        cost = [r["core_s_per_import"] for r in mine]
        summary[width] = {"wall_s": statistics.median(r["wall_s"] for r in mine), "core_s_per_import": statistics.median(cost),
                          "core_s_min": min(cost), "core_s_max": max(cost)}
        print(f"{width:5d}  {len(mine):4d}  {summary[width]['wall_s']:15.1f}  "
              f"{summary[width]['core_s_per_import']:.2f} ({min(cost):.2f}-{max(cost):.2f})")
    widest, narrowest = max(widths), min(widths)
    if widest != narrowest:
        ratio = summary[widest]["core_s_per_import"] / summary[narrowest]["core_s_per_import"]
        print(f"{widest} at a time cost {ratio:.2f} x per import what {narrowest} at a time cost")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"image": args.image, "cpus": args.cpus, "imports": args.imports, "runs": rows,
                       "summary": summary}, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
