#!/usr/bin/env python3
"""Login-rush benchmark for Gluon Lab (hubtraf's approach, on aiohttp).

Each simulated attendee does what a browser does at a workshop's start:

  login     GET /hub/login (the _xsrf cookie), POST the login form; from here on the attendee is
            its cookies, as in a browser: hub API calls carry the hub's _xsrf token, calls to
            the user's server that server's own (no API tokens)
  spawn     GET /hub/spawn/<user> (a 429 "Too many users ... Try again in N seconds" from the
            hub's concurrent_spawn_limit is honoured: the attendee waits Retry-After and retries,
            counted as a spawn-limit rejection, not a failure), then follow the spawn's progress
            event stream until ready
  lab       GET /user/<user>/lab through the proxy, OAuth redirects included, until JupyterLab's
            page arrives (login -> lab is the "login to a ready JupyterLab" figure)
  kernel    start a kernel through the proxy, open its websocket, run a cell that imports mxnet
            and computes (--step train: a small Gluon training loop instead), check the answer
  logout    GET /hub/logout

For every run the script brings up its own isolated compose project (tests/labclient.LabStack),
creates the attendee accounts with `gluonlab-accounts`, runs the rush, samples the hub
container's CPU and memory from its cgroup, counts proxy errors in the hub log, and removes
everything again. Runs: each --config (default = the repository's configuration; baseline =
DockerSpawner/JupyterHub defaults as the reference deployment uses them, bench/baseline/) in
each --mode (cold = nobody's server runs; prestart = an admin pre-started everyone with
bench/prestart.py first), side by side in one invocation so the ratio is measured on one machine.

    bench/run.sh                          # N=20, default and baseline, cold and prestart
    bench/run.sh --users 50 --modes cold
    bench/run.sh --users 20 --arrival-rate 2 --step train --configs default

Prints a table per run and writes all numbers as JSON (--json, default bench/results/).
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import yarl

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT / "tests"))
sys.path.insert(0, str(BENCH_DIR))

import cgroups
import hostcpu
from labclient import HubClient, LabStack
from prestart import Hub, prestart

STEPS = ("login", "spawn", "lab", "kernel", "logout")
CONFIGS = {
    # The repository's compose file and hub config, as `docker compose up -d` runs them.
    "default": {},
    # JupyterHub/DockerSpawner defaults for everything a workshop start depends on.
    "baseline": {"COMPOSE_FILE": "docker-compose.yml:bench/baseline/compose.override.yml"},
}
CODE = {
    "import": (("import mxnet as mx\n"
                "a = mx.nd.ones((64, 64))\n"
                "print(float(mx.nd.dot(a, a).sum().asscalar()))\n"), "262144.0"),
    "train": (("import mxnet as mx\nfrom mxnet import autograd, gluon, nd\nmx.random.seed(0)\n"
              "X = nd.random.normal(shape=(256, 2)); y = X[:, 0] * 2 - X[:, 1] * 3.4 + 4.2\n"
              "net = gluon.nn.Dense(1); net.initialize(mx.init.Normal(0.01))\n"
              "tr = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.3}); L = gluon.loss.L2Loss()\n"
              "for _ in range(100):\n    with autograd.record():\n        l = L(net(X), y)\n"
              "    l.backward(); tr.step(256)\n"
              "print(round(float(net.bias.data().asscalar()), 1))\n"), "4.2"),
}
#: Seconds between the last logout and an idle measurement (kernels shut down, logs flushed).
IDLE_SETTLE_S = 10
PROXY_ERROR = re.compile(r"\[ConfigProxy\].*(error|503|502)|Proxy error|Failed to add route", re.IGNORECASE)


# --- one attendee ------------------------------------------------------------------------


@dataclass
class Attendee:
    name: str
    password: str
    times: dict[str, float] = field(default_factory=dict)
    started_at: float = 0.0
    executing_at: float = 0.0
    rejections: int = 0
    rejection_message: str = ""
    http_5xx: int = 0
    error: str = ""
    failed_step: str = ""


class StepFailed(Exception):
    pass


async def _step(attendee: Attendee, step: str, coro):
    began = time.monotonic()
    try:
        result = await coro
    except StepFailed:
        raise
    except Exception as error:  # a network or protocol error is this step's failure
        raise StepFailed(f"{type(error).__name__}: {error}") from error
    attendee.times[step] = time.monotonic() - began
    return result


async def _check(response: aiohttp.ClientResponse, attendee: Attendee, ok: tuple[int, ...], what: str) -> str:
    text = await response.text()
    if response.status >= 500:
        attendee.http_5xx += 1
    if response.status not in ok:
        raise StepFailed(f"{what}: HTTP {response.status} {text[:160]!r}")
    return text


async def run_attendee(base: str, attendee: Attendee, code: str, expect: str, timeout: float,
                       on_lab=None) -> None:
    jar = aiohttp.CookieJar(unsafe=True)  # unsafe: cookies for an IP address (127.0.0.1)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=timeout)) as http:
        attendee.started_at = time.monotonic()
        step = "login"
        try:
            async def login():
                async with http.get(f"{base}/hub/login") as r:
                    await _check(r, attendee, (200,), "login page")
                xsrf = _cookie(jar, "_xsrf")
                async with http.post(f"{base}/hub/login?next=", allow_redirects=False,
                                     data={"username": attendee.name, "password": attendee.password,
                                           "_xsrf": xsrf}) as r:
                    await _check(r, attendee, (302,), "login")

            await _step(attendee, step, login())
            # The hub's XSRF token, which its pages put into their API calls (the spawn page's
            # progress stream passes it as ?_xsrf=, an EventSource cannot set headers).
            hub_xsrf = {"_xsrf": _cookie(jar, "_xsrf", f"{base}/hub/")}

            step = "spawn"

            async def spawn():
                while True:
                    async with http.get(f"{base}/hub/spawn/{attendee.name}", allow_redirects=False) as r:
                        text = await r.text()
                        if r.status == 429:
                            # The hub's "Too many users trying to log in right now. Try again
                            # in N seconds": a patient attendee waits and reloads.
                            attendee.rejections += 1
                            shown = re.search(r"Too many users[^<]*|Active user limit[^<]*", text)
                            attendee.rejection_message = shown.group(0).strip() if shown else text[:120]
                            await asyncio.sleep(float(r.headers.get("Retry-After", "10")))
                            continue
                        if r.status >= 500:
                            attendee.http_5xx += 1
                        if r.status not in (200, 302):
                            raise StepFailed(f"spawn: HTTP {r.status} {text[:160]!r}")
                        break
                # Follow the progress stream the spawn-pending page listens to.
                async with http.get(f"{base}/hub/api/users/{attendee.name}/server/progress",
                                    params=hub_xsrf) as r:
                    if r.status != 200:
                        await _check(r, attendee, (200,), "progress")
                    async for raw in r.content:
                        line = raw.decode().strip()
                        if not line.startswith("data:"):
                            continue
                        event = json.loads(line[5:])
                        if event.get("failed"):
                            raise StepFailed(f"spawn failed: {event.get('message')}")
                        if event.get("ready"):
                            return
                # The stream ends at once when the server is already up (pre-started).
                async with http.get(f"{base}/hub/api/users/{attendee.name}", params=hub_xsrf) as r:
                    model = await r.json()
                if not (model.get("servers") or {}).get("", {}).get("ready"):
                    raise StepFailed("spawn: progress stream ended but the server is not ready")

            await _step(attendee, step, spawn())

            step = "lab"

            async def lab():
                async with http.get(f"{base}/user/{attendee.name}/lab") as r:
                    text = await _check(r, attendee, (200,), "JupyterLab page")
                if "jupyter-config-data" not in text:
                    raise StepFailed(f"lab: not a JupyterLab page: {text[:160]!r}")

            await _step(attendee, step, lab())
            attendee.times["login_to_lab"] = time.monotonic() - attendee.started_at
            if on_lab:
                await on_lab()

            step = "kernel"

            async def kernel():
                api = f"{base}/user/{attendee.name}/api"
                # The user's server set its own _xsrf cookie with the Lab page; JupyterLab sends
                # it as X-XSRFToken, its OAuth cookie does the rest.
                auth = {"X-XSRFToken": _cookie(jar, "_xsrf", f"{base}/user/{attendee.name}/")}
                async with http.post(f"{api}/kernels", json={"name": "python3"}, headers=auth) as r:
                    await _check(r, attendee, (201,), "kernel start")
                    kernel_id = (await r.json())["id"]
                try:
                    output = await _execute(http, f"{api}/kernels/{kernel_id}/channels".replace("http", "ws", 1),
                                            auth, code, timeout)
                finally:
                    async with http.delete(f"{api}/kernels/{kernel_id}", headers=auth) as r:
                        await r.read()
                if expect not in output:
                    raise StepFailed(f"kernel: expected {expect!r} in the output, got {output[:200]!r}")

            await _step(attendee, step, kernel())
            attendee.executing_at = time.monotonic()

            step = "logout"

            async def logout():
                async with http.get(f"{base}/hub/logout") as r:
                    await _check(r, attendee, (200,), "logout")

            await _step(attendee, step, logout())
        except (TimeoutError, StepFailed) as error:
            attendee.failed_step = step
            attendee.error = str(error) or type(error).__name__


def _cookie(jar: aiohttp.CookieJar, name: str, url: str | None = None) -> str:
    """The cookie *name* a browser would send to *url* (any path when url is None): the hub and
    each user's server set their own _xsrf, for their own paths."""
    if url is not None:
        morsel = jar.filter_cookies(yarl.URL(url)).get(name)
        return morsel.value if morsel else ""
    for cookie in jar:
        if cookie.key == name:
            return cookie.value
    return ""


async def _execute(http: aiohttp.ClientSession, ws_url: str, auth: dict, code: str, timeout: float) -> str:
    msg_id = uuid.uuid4().hex
    out: list[str] = []
    async with http.ws_connect(ws_url, headers=auth, timeout=aiohttp.ClientWSTimeout(ws_close=10)) as ws:
        await ws.send_json({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "bench",
                       "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        })
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = await ws.receive_json(timeout=timeout)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                raise StepFailed(f"kernel: {content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out)
    raise StepFailed(f"kernel: no result within {timeout:.0f} s")


# --- hub resource sampling ----------------------------------------------------------------------


class CgroupSampler(threading.Thread):
    """Samples a container's CPU and memory from its cgroup every *interval* s.

    Read from the host's cgroup files (bench/cgroups.py).
    """

    def __init__(self, container_id: str, interval: float = 0.5):
        super().__init__(daemon=True)
        self.interval = interval
        self.stop_event = threading.Event()
        if cgroups.cpu_seconds(container_id) is not None:
            self.cpu = lambda: cgroups.cpu_seconds(container_id)
            self.mem = lambda: cgroups.memory_bytes(container_id)
        else:
            self.cpu = self.mem = None
        self.cpu_start = self.cpu() if self.cpu else 0.0
        self.cpu_total = 0.0
        self.cpu_peak_percent = 0.0
        self.mem_peak = 0

    def run(self) -> None:
        if not self.cpu:
            return
        last_t, last_cpu = time.monotonic(), self.cpu()
        while not self.stop_event.wait(self.interval):
            try:
                now, cpu, mem = time.monotonic(), self.cpu(), self.mem()
            except OSError:  # container gone while reading
                return
            if cpu is None or mem is None:  # container gone
                return
            self.cpu_peak_percent = max(self.cpu_peak_percent, 100 * (cpu - last_cpu) / (now - last_t))
            self.mem_peak = max(self.mem_peak, mem)
            self.cpu_total = cpu - self.cpu_start
            last_t, last_cpu = now, cpu

    def stop(self) -> dict:
        self.stop_event.set()
        self.join(timeout=5)
        return {"hub_cpu_peak_percent": round(self.cpu_peak_percent, 1),
                "hub_cpu_seconds": round(self.cpu_total, 2),
                "hub_mem_peak_mib": round(self.mem_peak / 2**20, 1),
                "sampled": self.cpu is not None}


# --- one run: a fresh stack, accounts, optional prestart, the rush ------------------------------


def create_accounts(lab: LabStack, users: list[Attendee]) -> None:
    """As an admin prepares a workshop: usernames only, passwords generated by gluonlab-accounts
    (so hashed as generated passwords are), read back from the handout CSV."""
    names = "".join(f"{user.name}\n" for user in users)
    hub = f"{lab.instance}-hub-1"
    subprocess.run(["docker", "exec", "-i", hub, "sh", "-c", "cat > /tmp/bench-accounts.csv"],
                   input=names, text=True, check=True)
    result = lab.compose("exec", "-T", "hub", "gluonlab-accounts", "create", "--csv", "/tmp/bench-accounts.csv",
                         "--hub-url", lab.url, "--out", "/tmp/bench-handout", check=False)
    if result.returncode != 0:
        raise RuntimeError(f"gluonlab-accounts failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    handout = subprocess.run(["docker", "exec", hub, "sh", "-c", "cat /tmp/bench-handout/*.csv"],
                             capture_output=True, text=True, check=True).stdout
    passwords = {row["username"]: row["password"] for row in csv.DictReader(io.StringIO(handout))}
    for user in users:
        user.password = passwords[user.name]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    # nearest-rank: p95 of 20 values is the 19th, never an interpolation below a real sample
    return ordered[max(0, min(len(ordered) - 1, -(-len(ordered) * q // 100) - 1))]


def summarize(users: list[Attendee]) -> dict:
    steps = {}
    for step in (*STEPS, "login_to_lab"):
        values = [u.times[step] for u in users if step in u.times]
        steps[step] = {
            "n": len(values),
            "p50": round(statistics.median(values), 2) if values else None,
            "p95": round(percentile(values, 95), 2) if values else None,
            "max": round(max(values), 2) if values else None,
            "failures": sum(1 for u in users if u.failed_step == step),
        }
    executing = [u.executing_at for u in users if u.executing_at]
    first = min(u.started_at for u in users)
    return {
        "steps": steps,
        "failures": sum(1 for u in users if u.error),
        "errors": sorted({f"{u.failed_step}: {u.error}"[:240] for u in users if u.error})[:10],
        "first_login_to_all_executing_s": round(max(executing) - first, 2) if len(executing) == len(users) else None,
        "spawn_limit_rejections": sum(u.rejections for u in users),
        "spawn_limit_messages": sorted({u.rejection_message for u in users if u.rejection_message}),
        "client_http_5xx": sum(u.http_5xx for u in users),
    }


async def rush(base: str, users: list[Attendee], arrival_rate: float, code: str, expect: str, timeout: float,
               cpu_split: "CpuSplit | None" = None):
    labs_served = 0

    async def on_lab():
        nonlocal labs_served
        labs_served += 1
        if cpu_split and labs_served == len(users):  # the last attendee has JupyterLab
            await asyncio.to_thread(cpu_split.take, "all_in_lab")

    async def arrive(i: int, user: Attendee):
        if arrival_rate > 0:
            await asyncio.sleep(i / arrival_rate)
        await run_attendee(base, user, code, expect, timeout, on_lab)

    await asyncio.gather(*(arrive(i, u) for i, u in enumerate(users)))


class CpuSplit:
    """Where the host's CPU went from the rush's start until every attendee had JupyterLab:
    the hub container (hub + proxy), the user containers, the Docker engine, this load generator
    (on a real workshop the browsers run on the attendees' laptops) and everything else."""

    def __init__(self, lab: LabStack, hub_id: str):
        self.lab, self.hub_id = lab, hub_id
        self.marks: dict[str, dict[str, float]] = {}

    def _counters(self) -> dict[str, float]:
        return {"host": hostcpu.host_busy_seconds(),
                "hub": cgroups.cpu_seconds(self.hub_id) or 0.0,
                # Containers that did not exist at the start count from zero: what they used is theirs.
                "user_containers": _containers_cpu(self.lab),
                "engine": hostcpu.engine_seconds(),
                "load_generator": hostcpu.own_seconds()}

    def take(self, mark: str) -> None:
        self.marks[mark] = {"t": time.monotonic(), **self._counters()}

    def report(self, start: str = "start", end: str = "all_in_lab") -> dict:
        first, last = self.marks.get(start), self.marks.get(end)
        if not (first and last):
            return {}
        used = {k: round(last[k] - first[k], 2) for k in last if k != "t"}
        used["other"] = round(used["host"] - sum(v for k, v in used.items() if k != "host"), 2)
        return {"seconds": round(last["t"] - first["t"], 2), "core_seconds": used}


def run_one(config: str, mode: str, args: argparse.Namespace) -> dict:
    extra_env = dict(CONFIGS[config])
    extra_env.update(dict(kv.split("=", 1) for kv in args.env))
    lab = LabStack(instance=f"glbench-{config[:4]}-{mode[:4]}-{uuid.uuid4().hex[:4]}", extra_env=extra_env)
    users = [Attendee(f"{args.prefix}{i:03d}", "") for i in range(1, args.users + 1)]  # passwords: handout
    code, expect = CODE[args.step]
    record: dict = {"config": config, "mode": mode, "users": args.users, "arrival_rate": args.arrival_rate,
                    "step": args.step, "env": extra_env, "load_avg_at_start": os.getloadavg()}
    print(f"\n== {config} / {mode}: {args.users} attendees (instance {lab.instance})", flush=True)
    try:
        lab.up()
        create_accounts(lab, users)
        if mode == "prestart":
            admin = HubClient(lab.url)
            admin.login("admin", lab.admin_password)
            token = admin.create_token("admin", note="prestart")
            began = time.monotonic()
            results = prestart(Hub(lab.url, token), [u.name for u in users], args.prestart_parallel,
                               args.timeout, log=lambda _msg: None)
            failed = [n for n, r in results.items() if isinstance(r, str)]
            record["prestart"] = {"seconds": round(time.monotonic() - began, 1), "failed": failed,
                                  "parallel": args.prestart_parallel}
            print(f"   prestart: {len(users) - len(failed)}/{len(users)} ready in {record['prestart']['seconds']} s",
                  flush=True)
        hub_id = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", f"{lab.instance}-hub-1"],
                                capture_output=True, text=True, check=True).stdout.strip()
        log_lines_before = len(lab.logs().splitlines())
        sampler = CgroupSampler(hub_id)
        sampler.start()
        cpu_split = CpuSplit(lab, hub_id)
        cpu_split.take("start")
        began = time.monotonic()
        asyncio.run(rush(lab.url, users, args.arrival_rate, code, expect, args.timeout, cpu_split))
        record["wall_s"] = round(time.monotonic() - began, 2)
        record.update(sampler.stop())
        record.update(summarize(users))
        new_log = lab.logs().splitlines()[log_lines_before:]
        record["proxy_errors"] = sum(1 for line in new_log if PROXY_ERROR.search(line))
        record["hub_throttle_warnings"] = sum(1 for line in new_log if "pending spawns, throttling" in line)
        record["user_containers_cpu_s"] = round(_containers_cpu(lab), 1)
        record["cpu_until_all_in_lab"] = cpu_split.report()
        if args.idle_seconds > 0:
            # Everyone logged out, servers still up: what running servers cost while nobody
            # types (the hub's polls, Docker's upkeep, the servers' own timers).
            time.sleep(IDLE_SETTLE_S)
            cpu_split.take("idle_start")
            time.sleep(args.idle_seconds)
            cpu_split.take("idle_end")
            idle = cpu_split.report("idle_start", "idle_end")
            idle["servers"] = len(lab.user_containers())
            record["cpu_idle"] = idle
    except Exception as error:  # noqa: BLE001  (one broken run is recorded; the others still run)
        record["error"] = f"{type(error).__name__}: {error}"
        print(f"   run failed: {record['error']}", flush=True)
        record["hub_log_tail"] = lab.logs().splitlines()[-40:]
    finally:
        if not args.keep:
            lab.down()
    return record


def _containers_cpu(lab: LabStack) -> float:
    return sum(cgroups.cpu_seconds(c.id) or 0.0 for c in lab.user_containers())


# --- output --------------------------------------------------------------------------------------


def print_table(record: dict) -> None:
    if "steps" not in record:
        return
    print(f"   {'step':<13}{'n':>4}{'p50 s':>9}{'p95 s':>9}{'max s':>9}{'failed':>8}")
    for step, s in record["steps"].items():
        fmt = lambda v: f"{v:>9.2f}" if v is not None else f"{'-':>9}"
        print(f"   {step:<13}{s['n']:>4}{fmt(s['p50'])}{fmt(s['p95'])}{fmt(s['max'])}{s['failures']:>8}")
    print(f"   first login -> all executing: {record['first_login_to_all_executing_s']} s; "
          f"failures {record['failures']}; spawn-limit rejections {record['spawn_limit_rejections']}; "
          f"proxy errors {record['proxy_errors']}; client 5xx {record['client_http_5xx']}")
    print(f"   hub: CPU peak {record['hub_cpu_peak_percent']}% ({record['hub_cpu_seconds']} core-s), "
          f"memory peak {record['hub_mem_peak_mib']} MiB; user containers {record['user_containers_cpu_s']} core-s")
    if split := record.get("cpu_until_all_in_lab"):
        parts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in split["core_seconds"].items() if k != "host")
        print(f"   CPU until all {record['users']} in JupyterLab ({split['seconds']} s): "
              f"{split['core_seconds']['host']} core-s on the host = {parts}")
    if idle := record.get("cpu_idle"):
        c, n = idle["core_seconds"], max(idle["servers"], 1)
        print(f"   idle: {idle['servers']} servers running, nobody working, {idle['seconds']} s: host "
              f"{100 * c['host'] / idle['seconds']:.1f}% of a core ({100 * c['host'] / idle['seconds'] / n:.2f}% per server); "
              f"engine {100 * c['engine'] / idle['seconds']:.1f}%, hub {100 * c['hub'] / idle['seconds']:.1f}%, "
              f"user containers {100 * c['user_containers'] / idle['seconds']:.1f}%")
    for message in record["spawn_limit_messages"]:
        print(f"   queued attendees saw: {message!r}")
    for error in record["errors"]:
        print(f"   ! {error}")


def print_comparison(records: list[dict]) -> None:
    by = {(r["config"], r["mode"]): r for r in records if "steps" in r}
    print("\n== side by side (p95 login -> JupyterLab ready; all executing)")
    for (config, mode), r in sorted(by.items()):
        print(f"   {config:<9}{mode:<9} p95 {r['steps']['login_to_lab']['p95']} s, max {r['steps']['login_to_lab']['max']} s, "
              f"all executing {r['first_login_to_all_executing_s']} s, failures {r['failures']}")
    for mode in ("cold", "prestart"):
        b, d = by.get(("baseline", mode)), by.get(("default", mode))
        if d and b and (d["failures"] or b["failures"]):
            print(f"   {mode}: baseline/default: no ratio, failures {b['failures']} vs {d['failures']}")
        elif d and b and d["steps"]["login_to_lab"]["p95"] and b["steps"]["login_to_lab"]["p95"]:
            print(f"   {mode}: baseline/default p95 ratio = "
                  f"{b['steps']['login_to_lab']['p95'] / d['steps']['login_to_lab']['p95']:.2f}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", "-n", type=int, default=20, help="simulated attendees (default 20)")
    p.add_argument("--arrival-rate", type=float, default=0,
                   help="attendees arriving per second (default 0: all at once, the worst case)")
    p.add_argument("--step", choices=sorted(CODE), default="import",
                   help="what each attendee runs: import (import mxnet, compute) or train (a Gluon training loop)")
    p.add_argument("--configs", default="default,baseline", help="comma list of: " + ", ".join(CONFIGS))
    p.add_argument("--modes", default="cold,prestart", help="comma list of: cold, prestart")
    p.add_argument("--prestart-parallel", type=int, default=4, help="spawns in flight during prestart (default 4)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per attendee before it counts as failed")
    p.add_argument("--prefix", default="attendee", help="username prefix (default attendee)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra hub setting for every run, e.g. GLUONLAB_CONCURRENT_SPAWN_LIMIT=4")
    p.add_argument("--idle-seconds", type=float, default=0,
                   help="after the rush, measure the CPU of the idle running servers for this long (default 0: skip)")
    p.add_argument("--json", type=Path, help="write results here (default bench/results/<time>-n<N>.json)")
    p.add_argument("--keep", action="store_true", help="leave the stacks running (debugging)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configs = [c for c in args.configs.split(",") if c]
    modes = [m for m in args.modes.split(",") if m]
    bad = [c for c in configs if c not in CONFIGS] + [m for m in modes if m not in ("cold", "prestart")]
    if bad or args.users < 1 or any("=" not in kv for kv in args.env):
        print(f"loadtest: bad option value(s): {bad or args.env or args.users}; see --help", file=sys.stderr)
        return 2
    records = []
    for mode in modes:
        for config in configs:
            record = run_one(config, mode, args)
            print_table(record)
            records.append(record)
    print_comparison(records)
    out = args.json or BENCH_DIR / "results" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-n{args.users}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"cpus": os.cpu_count(), "load_avg_at_end": os.getloadavg(), "argv": sys.argv[1:],
            "finished": datetime.now(UTC).isoformat()}
    out.write_text(json.dumps({"meta": meta, "runs": records}, indent=2))
    print(f"\nresults: {out}")
    return 1 if any(r.get("error") or r.get("failures") for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
