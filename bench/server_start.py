#!/usr/bin/env python3
"""What one attendee's server start costs: CPU (core-seconds) and wall time from `docker run`
of a notebook image until its Jupyter server answers /api/status, read from the container's
cgroup. Run on an idle host; the CPU figure is the load-independent one.

    bench/.venv/bin/python bench/server_start.py                         # gluonlab/notebook:cpu, 5 runs
    bench/.venv/bin/python bench/server_start.py --image gluonlab/notebook:cpu --runs 10 --json out.json

The container runs the image's own start script (tutorial seeding included) in standalone
`jupyter lab` mode: the same server and extensions as under the hub, without the hub and
without JupyterHub's singleuser layer (its imports: 0.32 core-s more, bench/README.md).
"""
from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import docker

import cgroups  # bench/, next to this script


def wait_ready(container, token: str, timeout: float) -> str:
    """Wait until the container's Jupyter server answers /api/status; returns its base URL."""
    began = time.monotonic()
    container.reload()
    base = f"http://{container.attrs['NetworkSettings']['IPAddress']}:8888"
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(f"{base}/api/status",
                                                               headers={"Authorization": f"token {token}"}),
                                        timeout=2):
                return base
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            container.reload()
            if container.status != "running":
                raise RuntimeError(f"server exited: {container.logs().decode()[-800:]}") from None
            if time.monotonic() - began > timeout:
                raise RuntimeError(f"server did not answer within {timeout} s") from None
            time.sleep(0.05)


def one_start(client: docker.DockerClient, image: str, timeout: float) -> dict:
    token = secrets.token_hex(16)
    began = time.monotonic()
    container = client.containers.run(image, detach=True, environment={"JUPYTER_TOKEN": token})
    try:
        wait_ready(container, token, timeout)
        wall, cpu = time.monotonic() - began, cgroups.cpu_seconds(container.id)
        if cpu is None:
            raise RuntimeError(f"no CPU accounting found for container {container.id}")
        return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}
    finally:
        container.remove(force=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="gluonlab/notebook:cpu")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--json", type=Path, help="also write the runs and medians here")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    client = docker.from_env()
    try:
        client.images.get(args.image)
    except docker.errors.ImageNotFound:
        print(f"server_start: image {args.image} not found; build it with scripts/build-images.sh", file=sys.stderr)
        return 2
    runs = []
    for i in range(args.runs):
        runs.append(one_start(client, args.image, args.timeout))
        print(f"run {i + 1}: ready in {runs[-1]['wall_s']} s, {runs[-1]['cpu_s']} core-s", flush=True)
    summary = {"image": args.image, "runs": runs,
               "median_wall_s": statistics.median(r["wall_s"] for r in runs),
               "median_cpu_s": statistics.median(r["cpu_s"] for r in runs)}
    print(f"{args.image}: median {summary['median_wall_s']} s wall, {summary['median_cpu_s']} core-s "
          f"to a server answering /api/status ({args.runs} runs)")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
