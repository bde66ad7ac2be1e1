#!/usr/bin/env python3
"""Login rush on a 3-node Docker Swarm beside the single-host stack, in one run.

The Swarm is the one tests/swarm builds (tests/swarm/cluster.py: a manager and two workers as
Docker-in-Docker nodes on this machine, fake GPUs as generic resources, the hub on the manager
with GLUONLAB_SPAWNER_BACKEND=swarm). The attendees are bench/loadtest.py's (login, spawn, lab,
kernel, logout, as a browser does them); the single-host run is loadtest's own run of the
repository's configuration, so both lines of the comparison come from one machine and one run.

For the Swarm run it reports p50/p95 of every step and of login -> Lab, where the servers
landed, and the CPU each node used until every attendee had JupyterLab (the node's own engine
plus the containers it ran, read from the host's cgroups; the hub's container separately).
All nodes share this machine's cores: the numbers show what the Swarm path adds on top of the
same work, not how fast separate GPU servers would be.

    bench/run.sh is for loadtest.py; this one runs from the bench venv the same way:
    bench/.venv/bin/python bench/swarm_rush.py --users 10
    bench/.venv/bin/python bench/swarm_rush.py --users 20 --skip-single-host
    bench/.venv/bin/python bench/swarm_rush.py --users 20 --policies exclusive,shared --skip-single-host
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import io
import math
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path[:0] = [str(BENCH_DIR), str(REPO_ROOT / "tests"), str(REPO_ROOT / "tests" / "swarm")]

import docker  # noqa: E402  (after the path set-up, like loadtest's imports)

import cgroups  # noqa: E402
import hostcpu  # noqa: E402
import loadtest  # noqa: E402
from cluster import SEATS_PER_GPU, SwarmCluster, start_lab  # noqa: E402

HUB_IMAGE = "gluonlab/hub:latest"
NOTEBOOK_IMAGE = f"gluonlab/notebook:{os.environ.get('NOTEBOOK_VARIANT', 'cpu')}"


def create_accounts(lab, users: list[loadtest.Attendee]) -> None:
    """As on one host (loadtest.create_accounts): gluonlab-accounts in the hub's container makes
    the accounts and their generated passwords; here through the manager's engine."""
    names = "\n".join(user.name for user in users)
    wrote = lab.hub.exec_run(["sh", "-c", 'printf "%s\\n" "$1" > /tmp/bench-accounts.csv', "_", names])
    if wrote.exit_code != 0:
        raise RuntimeError(f"writing the account list failed: {wrote.output.decode()}")
    made = lab.hub.exec_run(["gluonlab-accounts", "create", "--csv", "/tmp/bench-accounts.csv",
                             "--hub-url", "http://127.0.0.1:8000", "--out", "/tmp/bench-handout"])
    if made.exit_code != 0:
        raise RuntimeError(f"gluonlab-accounts failed ({made.exit_code}):\n{made.output.decode()}")
    handout = lab.hub.exec_run(["sh", "-c", "cat /tmp/bench-handout/*.csv"]).output.decode()
    passwords = {row["username"]: row["password"] for row in csv.DictReader(io.StringIO(handout))}
    for user in users:
        user.password = passwords[user.name]


class NodeCpu:
    """Core-seconds per node: the node's container (its dockerd and containerd) plus every
    container its engine runs (their cgroups sit beside the node's: the nodes share the host's
    cgroup namespace). A container that appeared after the first mark counts from zero."""

    def __init__(self, cluster: SwarmCluster, hub_id: str):
        self.cluster, self.hub_id = cluster, hub_id
        self.marks: dict[str, dict[str, float]] = {}

    def _counters(self) -> dict[str, float]:
        counters = {"host": hostcpu.host_busy_seconds(), "hub": cgroups.cpu_seconds(self.hub_id) or 0.0}
        for key, node in self.cluster.nodes.items():
            inner = sum(cgroups.cpu_seconds(c.id) or 0.0 for c in node.engine.containers.list()
                        if c.id != self.hub_id)
            counters[key] = (cgroups.cpu_seconds(node.container.id) or 0.0) + inner
        return counters

    def take(self, mark: str) -> None:
        self.marks[mark] = {"t": time.monotonic(), **self._counters()}

    def report(self, start: str = "start", end: str = "all_in_lab") -> dict:
        first, last = self.marks.get(start), self.marks.get(end)
        if not (first and last):
            return {}
        return {"seconds": round(last["t"] - first["t"], 2),
                "core_seconds": {k: round(last[k] - first[k], 2) for k in last if k != "t"}}


#: What the hub logs when a shared start chooses a seat kind (swarm_spawner._choose_seat), and
#: when Swarm found that seat taken and the start chose again.
SEAT_CHOSEN = re.compile(r"reserves a (\S+) seat")
SEAT_CHOSEN_AGAIN = re.compile(r"No \S+ seat free for")


def run_swarm(args: argparse.Namespace, policy: str = "exclusive") -> dict:
    host = docker.from_env(timeout=300)
    # Enough fake GPUs on each worker for half the attendees, as on a real room: one each
    # (exclusive), or one seat each with cluster.SEATS_PER_GPU attendees per GPU (shared).
    per_gpu = SEATS_PER_GPU if policy == "shared" else 1
    cluster = SwarmCluster(host, gpus_per_worker=math.ceil(args.users / 2 / per_gpu))
    env = {"GLUONLAB_GPU_POLICY": policy, "GLUONLAB_GPU_EXHAUSTED": "refuse",
           "GLUONLAB_USERS_PER_GPU": str(SEATS_PER_GPU), "GLUONLAB_SPAWN_TIMEOUT": str(int(args.timeout)),
           **dict(kv.split("=", 1) for kv in args.env)}
    users = [loadtest.Attendee(f"{args.prefix}{i:03d}", "") for i in range(1, args.users + 1)]
    code, expect = loadtest.CODE[args.step]
    record: dict = {"config": f"swarm-{policy}" if policy != "exclusive" else "swarm", "mode": "cold",
                    "users": args.users, "arrival_rate": args.arrival_rate, "step": args.step, "env": env,
                    "gpus_per_worker": cluster.gpus_per_worker, "load_avg_at_start": os.getloadavg()}
    print(f"\n== swarm / cold / {policy}: {args.users} attendees over 2 workers, {cluster.gpus_per_worker} GPU(s) "
          f"each (cluster {cluster.prefix})", flush=True)
    lab = None
    try:
        began = time.monotonic()
        lab = start_lab(cluster, HUB_IMAGE, NOTEBOOK_IMAGE, env)
        record["cluster_setup_s"] = round(time.monotonic() - began, 1)
        create_accounts(lab, users)
        cpu = NodeCpu(cluster, lab.hub.id)
        sampler = loadtest.CgroupSampler(lab.hub.id)
        sampler.start()
        log_lines_before = len(lab.logs().splitlines())
        cpu.take("start")
        served = 0

        async def rush() -> None:
            async def on_lab():
                nonlocal served
                served += 1
                if served == len(users):
                    await asyncio.to_thread(cpu.take, "all_in_lab")

            async def arrive(i: int, user: loadtest.Attendee):
                if args.arrival_rate > 0:
                    await asyncio.sleep(i / args.arrival_rate)
                await loadtest.run_attendee(lab.url, user, code, expect, args.timeout, on_lab)

            await asyncio.gather(*(arrive(i, u) for i, u in enumerate(users)))

        began = time.monotonic()
        asyncio.run(rush())
        record["wall_s"] = round(time.monotonic() - began, 2)
        record["load_avg_at_end"] = os.getloadavg()
        record.update(sampler.stop())
        record.update(loadtest.summarize(users))
        new_log = lab.logs().splitlines()[log_lines_before:]
        record["proxy_errors"] = sum(1 for line in new_log if loadtest.PROXY_ERROR.search(line))
        if policy == "shared":
            record["seats_chosen"] = dict(Counter(m.group(1) for line in new_log if (m := SEAT_CHOSEN.search(line))))
            record["seats_chosen_again"] = sum(1 for line in new_log if SEAT_CHOSEN_AGAIN.search(line))
        record["cpu_until_all_in_lab"] = cpu.report()
        record["user_containers_cpu_s"] = sum(
            v for k, v in record["cpu_until_all_in_lab"].get("core_seconds", {}).items() if k.startswith("worker"))
        placed = Counter()
        for user in users:
            try:
                placed[cluster.node_of_task(lab.service_name(user.name))] += 1
            except (IndexError, docker.errors.APIError):
                placed["none"] += 1
        record["servers_per_node"] = dict(placed)
    except Exception as error:  # noqa: BLE001  (recorded; the single-host run still runs)
        record["error"] = f"{type(error).__name__}: {error}"
        print(f"   run failed: {record['error']}", flush=True)
        if lab:
            record["hub_log_tail"] = lab.logs().splitlines()[-40:]
    finally:
        cluster.down()
    return record


def print_policy_ratio(records: list[dict]) -> None:
    """shared / exclusive p95 of login -> Lab: what choosing a seat adds to a start."""
    by = {r["config"]: r for r in records if "steps" in r}
    exclusive, shared = by.get("swarm"), by.get("swarm-shared")
    if not (exclusive and shared) or exclusive["failures"] or shared["failures"]:
        return
    for step in ("login_to_lab", "login_to_first_result"):
        if exclusive["steps"][step]["p95"] and shared["steps"][step]["p95"]:
            print(f"   shared/exclusive p95 ratio, {step.replace('_', ' ')} = "
                  f"{shared['steps'][step]['p95'] / exclusive['steps'][step]['p95']:.2f}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", "-n", type=int, default=20, help="simulated attendees (default 20)")
    p.add_argument("--arrival-rate", type=float, default=0, help="attendees per second (default 0: all at once)")
    p.add_argument("--step", choices=sorted(loadtest.CODE), default="import", help="what each attendee runs")
    p.add_argument("--timeout", type=float, default=600, help="seconds per attendee before it counts as failed")
    p.add_argument("--prefix", default="attendee", help="username prefix (default attendee)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra hub setting for both runs")
    p.add_argument("--policies", default="exclusive",
                   help="GPU policies, one Swarm run each, comma-separated: exclusive (one GPU per attendee), "
                        "shared (half as many GPUs, two seats each); default exclusive")
    p.add_argument("--skip-single-host", action="store_true", help="only the Swarm run(s)")
    p.add_argument("--json", type=Path, help="write results here (default bench/results/<time>-swarm-n<N>.json)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    if args.users < 1 or any("=" not in kv for kv in args.env) or not policies \
            or set(policies) - {"exclusive", "shared"}:
        print(f"swarm_rush: --users must be 1 or more, --env NAME=VALUE and --policies exclusive and/or shared; "
              f"got {args.users} {args.env} {args.policies!r}", file=sys.stderr)
        return 2
    records = []
    for policy in policies:
        record = run_swarm(args, policy)
        records.append(record)
        loadtest.print_table(record)
        if split := record.get("cpu_until_all_in_lab"):
            print(f"   per node until all in JupyterLab ({split['seconds']} s): {split['core_seconds']} core-s; "
                  f"servers per node {record.get('servers_per_node')}")
        if "seats_chosen" in record:
            print(f"   seats chosen {record['seats_chosen']}; chosen again after Swarm found one taken: "
                  f"{record['seats_chosen_again']}")
    if len(records) > 1:
        loadtest.print_comparison(records)
        print_policy_ratio(records)
    if not args.skip_single_host:
        single = loadtest.build_parser().parse_args(
            ["--users", str(args.users), "--arrival-rate", str(args.arrival_rate), "--step", args.step,
             "--timeout", str(args.timeout), "--prefix", args.prefix, "--configs", "default", "--modes", "cold",
             *[f"--env={kv}" for kv in args.env]])
        records.append(loadtest.run_one("default", "cold", single))
        loadtest.print_table(records[-1])
        loadtest.print_comparison(records)
    return loadtest.write_results(args.json, f"swarm-n{args.users}", records)


if __name__ == "__main__":
    sys.exit(main())
