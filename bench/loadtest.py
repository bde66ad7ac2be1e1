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
  kernel    open a tutorial as JupyterLab does (GET its contents, POST /api/sessions with its
            path, type notebook: the server starts a kernel in its folder or adopts a warm one),
            run a first cell over the kernel's websocket that imports mxnet and computes
            (--step train: a small Gluon training loop instead), check the printed answer;
            login -> first result is the attendee's real wait
  close     when every attendee has a result: DELETE the session (closes the notebook, shuts
            the kernel down)
  logout    GET /hub/logout

For every run the script brings up its own isolated compose project (tests/labclient.LabStack),
creates the attendee accounts with `gluonlab-accounts`, runs the rush, samples the hub
container's CPU and memory from its cgroup, counts proxy errors in the hub log, and removes
everything again. Runs: each --config (default = the repository's configuration; baseline =
DockerSpawner/JupyterHub defaults as the reference deployment uses them, bench/baseline/) in
each --mode (cold = nobody's server runs; prestart = an admin pre-started everyone with
bench/prestart.py first), side by side in one invocation so the ratio is measured on one machine.
Cold runs are compared with the CPU floor: one attendee's server and kernel start, measured
standalone first, plus the run's hub and engine share, times N, over the host's cores. Beside it,
the solo floor: what one attendee alone costs through the same stack's hub (login, spawn, Lab,
notebook, first result: hub, servers, kernels and engine), measured in that stack before its
rush, times N, over the cores; what the rush costs beyond it is what the attendees' starts cost
each other.

    bench/run.sh                          # N=20, default and baseline, cold and prestart
    bench/run.sh --users 50 --modes cold
    bench/run.sh --users 20 --arrival-rate 2 --step train --configs default

Prints a table per run and writes all numbers as JSON (--json, default bench/results/).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
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
import docker
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
    # The default with homes as plain volumes, no size limit: what sized homes cost a rush.
    "plain-homes": {"GLUONLAB_HOME_SIZE": "0"},
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
#: The notebook each attendee opens (relative to the server's root, the home): the first
#: tutorial that runs MXNet.
DEFAULT_NOTEBOOK = "tutorials/chapter02_crashcourse/ndarray.ipynb"
#: Seconds between the last logout and an idle measurement (kernels shut down, logs flushed).
IDLE_SETTLE_S = 10
#: Tornado's access log lines of 5xx answers, as the hub logs them ("... 503 GET /hub/... ").
HUB_5XX = re.compile(r"\b5\d\d (GET|POST|PUT|PATCH|DELETE|HEAD) /")
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
    http_5xx_seen: list[str] = field(default_factory=list)  # "what: HTTP status", to find the cause
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
        attendee.http_5xx_seen.append(f"{what}: HTTP {response.status}")
    if response.status not in ok:
        raise StepFailed(f"{what}: HTTP {response.status} {text[:160]!r}")
    return text


async def run_attendee(base: str, attendee: Attendee, code: str, expect: str, timeout: float,
                       on_lab=None, on_result=None, all_have_result: asyncio.Event | None = None,
                       notebook: str = DEFAULT_NOTEBOOK) -> None:
    if all_have_result is None:
        all_have_result = asyncio.Event()
        all_have_result.set()
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
                            attendee.rejection_message = queue_message(text)
                            await asyncio.sleep(float(r.headers.get("Retry-After", "10")))
                            continue
                        if r.status >= 500:
                            attendee.http_5xx += 1
                            attendee.http_5xx_seen.append(f"spawn: HTTP {r.status}")
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
                # What JupyterLab does when the attendee opens a tutorial and runs its first cell.
                # The user's server set its own _xsrf cookie with the Lab page; JupyterLab sends
                # it as X-XSRFToken, its OAuth cookie does the rest.
                return await open_notebook(http, f"{base}/user/{attendee.name}/api", auth_for(jar, base, attendee),
                                           notebook, code, expect, timeout, attendee)

            session_url = await _step(attendee, step, kernel())
            attendee.executing_at = time.monotonic()
            attendee.times["login_to_first_result"] = attendee.executing_at - attendee.started_at
            if on_result:
                await on_result(attendee)
            # The attendee keeps the notebook open while the others start (as in the room), then
            # closes it: DELETE of the session shuts its kernel down. (Kernels alive until the
            # last result also keep their CPU readable for the split, CpuSplit.)
            step = "close"
            await all_have_result.wait()
            async with http.delete(session_url, headers=auth_for(jar, base, attendee)) as r:
                await _check(r, attendee, (204,), "closing the notebook")

            step = "logout"

            async def logout():
                async with http.get(f"{base}/hub/logout") as r:
                    await _check(r, attendee, (200,), "logout")

            await _step(attendee, step, logout())
        except (TimeoutError, StepFailed) as error:
            attendee.failed_step = step
            attendee.error = str(error) or type(error).__name__
            if step in ("login", "spawn", "lab", "kernel") and on_result:
                await on_result(attendee)  # no result will come: the others need not wait for it


def queue_message(page: str) -> str:
    """What a throttled attendee reads on the hub's 429 page: our error template's bilingual
    line (id gluonlab-retry) where it is there, else JupyterHub's own message."""
    ours = re.search(r'id="gluonlab-retry"[^>]*>(.*?)</p>', page, re.DOTALL)
    if ours:
        return " ".join(ours.group(1).split())
    shown = re.search(r"Too many users[^<]*|Active user limit[^<]*", page)
    return " ".join(shown.group(0).split()) if shown else " ".join(page[:120].split())


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


def auth_for(jar: aiohttp.CookieJar, base: str, attendee: Attendee) -> dict:
    return {"X-XSRFToken": _cookie(jar, "_xsrf", f"{base}/user/{attendee.name}/")}


async def open_notebook(http: aiohttp.ClientSession, api: str, auth: dict, notebook: str, code: str,
                        expect: str, timeout: float, attendee: Attendee | None = None) -> str:
    """Open *notebook* as JupyterLab does and run *code* as its first cell; returns the
    session's URL (DELETE it to close the notebook and shut its kernel down).

    JupyterLab reads the notebook (GET /api/contents), creates a session for its path (POST
    /api/sessions, type notebook: the server starts the kernel in the notebook's folder, or
    adopts a warm one), then talks to the kernel over its websocket."""
    async with http.get(f"{api}/contents/{notebook}", params={"type": "notebook", "content": "1"},
                        headers=auth) as r:
        if r.status == 404:
            raise StepFailed(f"kernel: notebook {notebook!r} not found on the server (--notebook)")
        await _check(r, attendee or Attendee("", ""), (200,), "notebook contents")
    body = {"path": notebook, "name": notebook.rsplit("/", 1)[-1], "type": "notebook",
            "kernel": {"name": "python3"}}
    async with http.post(f"{api}/sessions", json=body, headers=auth) as r:
        await _check(r, attendee or Attendee("", ""), (201,), "session start")
        session = await r.json()
    session_url = f"{api}/sessions/{session['id']}"
    try:
        ws_url = f"{api}/kernels/{session['kernel']['id']}/channels".replace("http", "ws", 1)
        output = await _execute(http, ws_url, auth, code, timeout, session["id"])
        if expect not in output:
            raise StepFailed(f"kernel: expected {expect!r} in the output, got {output[:200]!r}")
    except BaseException:
        async with http.delete(session_url, headers=auth) as r:
            await r.read()
        raise
    return session_url


async def _execute(http: aiohttp.ClientSession, ws_url: str, auth: dict, code: str, timeout: float,
                   session_id: str = "") -> str:
    msg_id = uuid.uuid4().hex
    out: list[str] = []
    params = {"session_id": session_id} if session_id else None  # as JupyterLab connects
    async with http.ws_connect(ws_url, headers=auth, params=params, timeout=aiohttp.ClientWSTimeout(ws_close=10)) as ws:
        await ws.send_json({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "bench",
                       "session": session_id or uuid.uuid4().hex, "version": "5.3", "date": ""},
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
    for step in (*STEPS, "login_to_lab", "login_to_first_result"):
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
        "client_http_5xx_by_request": dict(collections.Counter(x for u in users for x in u.http_5xx_seen)),
    }


async def rush(base: str, users: list[Attendee], arrival_rate: float, code: str, expect: str, timeout: float,
               cpu_split: "CpuSplit | None" = None, notebook: str = DEFAULT_NOTEBOOK):
    labs_served = 0
    done: set[str] = set()  # attendees with a first result, or failed before one
    all_have_result = asyncio.Event()

    async def on_lab():
        nonlocal labs_served
        labs_served += 1
        if cpu_split and labs_served == len(users):  # the last attendee has JupyterLab
            await asyncio.to_thread(cpu_split.take, "all_in_lab")

    async def on_result(attendee: Attendee):
        done.add(attendee.name)
        if len(done) == len(users) and not all_have_result.is_set():
            if cpu_split:  # before any kernel shuts down: every kernel's CPU is still readable
                await asyncio.to_thread(cpu_split.take, "all_have_result")
            all_have_result.set()

    async def arrive(i: int, user: Attendee):
        if arrival_rate > 0:
            await asyncio.sleep(i / arrival_rate)
        await run_attendee(base, user, code, expect, timeout, on_lab, on_result, all_have_result, notebook)

    await asyncio.gather(*(arrive(i, u) for i, u in enumerate(users)))


class CpuSplit:
    """Where the host's CPU went from the rush's start until every attendee had JupyterLab
    (and until every attendee had a first result): the hub container (hub + proxy), the user
    containers split into kernels and servers, the Docker engine, this load generator (on a
    real workshop the browsers run on the attendees' laptops) and everything else.

    Kernels: the ipykernel processes found in the user containers' cgroup.procs at each mark,
    each read from /proc/<pid>/stat (utime + stime + reaped children; hostcpu.KernelCpu). The
    attendees keep their notebooks open until the last first result, so every kernel of the
    rush is alive at that mark (a kernel that exited earlier would count only up to the last
    mark it was seen at). Servers: the user containers' cgroup total minus the kernels, i.e.
    the Jupyter server and whatever else the container ran (tini, the start script, the
    tutorials' sync). Marks only, no polling: listing the containers is an engine call."""

    def __init__(self, lab: LabStack, hub_id: str):
        self.lab, self.hub_id = lab, hub_id
        self.marks: dict[str, dict[str, float]] = {}
        self.kernels = hostcpu.KernelCpu()

    def _counters(self) -> dict[str, float]:
        ids = user_container_ids(self.lab)
        self.kernels.poll([pid for i in ids for pid in cgroups.pids(i)])
        return {"host": hostcpu.host_busy_seconds(),
                "hub": cgroups.cpu_seconds(self.hub_id) or 0.0,
                # Containers that did not exist at the start count from zero: what they used is theirs.
                "user_containers": sum(cgroups.cpu_seconds(i) or 0.0 for i in ids),
                "engine": hostcpu.engine_processes(),
                "load_generator": hostcpu.own_seconds(),
                "kernels": self.kernels.seconds()}

    def take(self, mark: str) -> None:
        self.marks[mark] = {"t": time.monotonic(), **self._counters()}

    def report(self, start: str = "start", end: str = "all_in_lab") -> dict:
        first, last = self.marks.get(start), self.marks.get(end)
        if not (first and last):
            return {}
        used = {k: round(last[k] - first[k], 2) for k in last if k not in ("t", "kernels", "engine")}
        used["engine"] = round(hostcpu.engine_seconds_between(first["engine"], last["engine"]), 2)
        used["other"] = round(used["host"] - sum(v for k, v in used.items() if k != "host"), 2)
        kernels = round(last["kernels"] - first["kernels"], 2)
        used["servers"] = round(used["user_containers"] - kernels, 2)
        used["kernels"] = kernels
        return {"seconds": round(last["t"] - first["t"], 2), "core_seconds": used}


# --- the CPU floor ----------------------------------------------------------------------------


def cpu_floor_s(per_attendee_core_s: dict[str, float], users: int, cores: int) -> float:
    """The shortest time in which *cores* can do the CPU work of *users* attendees (each costing
    the sum of *per_attendee_core_s*), if they arrive at once: no run's last first result can
    come sooner, whatever the scheduling. p95 is compared with it (p95 < max, so a run can be
    below the floor only by the last few attendees' share)."""
    if users < 1 or cores < 1:
        raise ValueError(f"cpu_floor_s: users and cores must be >= 1, got {users}, {cores}")
    return sum(per_attendee_core_s.values()) * users / cores


def floor_for_run(record: dict, start_costs: dict | None, cores: int) -> dict | None:
    """The floor of one cold run: one server start + one kernel start (start_costs, measured
    standalone) + the run's own hub and engine core-s per attendee until all had a result."""
    split = record.get("cpu_until_all_have_result") or {}
    if record.get("mode") != "cold" or not start_costs or not split:
        return None
    c = split["core_seconds"]
    per = {"server_start": start_costs["server_core_s"], "kernel_start": start_costs["kernel_core_s"],
           "hub": round(c["hub"] / record["users"], 3), "engine": round(c["engine"] / record["users"], 3)}
    floor = cpu_floor_s(per, record["users"], cores)
    p95 = record["steps"]["login_to_first_result"]["p95"]
    result = {"per_attendee_core_s": per, "cores": cores, "floor_s": round(floor, 2),
              "floor_plus_20pct_s": round(floor * 1.2, 2), "p95_s": p95,
              "p95_over_floor": round(p95 / floor, 2) if p95 and floor else None,
              "within_floor_plus_20pct": bool(p95 is not None and p95 <= floor * 1.2)}
    if solo := record.get("solo"):
        solo_floor = cpu_floor_s(solo["medians"], record["users"], cores)
        result.update(solo_floor_s=round(solo_floor, 2),
                      p95_over_solo_floor=round(p95 / solo_floor, 2) if p95 and solo_floor else None)
    return result


#: What the solo floor counts of one attendee alone (CpuSplit's parts of the issue's floor).
SOLO_PARTS = ("hub", "servers", "kernels", "engine")


def measure_solo(lab: LabStack, hub_id: str, solos: list[Attendee], args: argparse.Namespace,
                 code: str, expect: str) -> dict:
    """One attendee alone through *lab*'s hub, once per account in *solos* (new accounts, so
    each start is a first login with a new home): core-s of SOLO_PARTS from their login until
    their first result, each server stopped again before the next. Medians over the runs."""
    admin = HubClient(lab.url)
    admin.login("admin", lab.admin_password)
    admin.create_token("admin", note="solo")
    samples = []
    for attendee in solos:
        split = CpuSplit(lab, hub_id)
        split.take("start")
        asyncio.run(rush(lab.url, [attendee], 0, code, expect, args.timeout, split, args.notebook))
        if attendee.error:
            raise RuntimeError(f"the solo attendee {attendee.name} failed at {attendee.failed_step}: {attendee.error}")
        used = split.report(end="all_have_result")["core_seconds"]
        samples.append({part: used[part] for part in SOLO_PARTS})
        admin.stop_server(attendee.name)
    medians = {part: round(statistics.median(s[part] for s in samples), 3) for part in SOLO_PARTS}
    return {"runs": samples, "medians": medians, "core_s": round(sum(medians.values()), 3)}


def measure_start_costs(image: str, runs: int, notebook: str, code: str, expect: str,
                        timeout: float = 120) -> dict:
    """Core-s of one attendee's container, standalone (no hub, nothing else running): server
    start until /api/status answers (as bench/server_start.py), then the settling after it
    (until the container's CPU stays below 2 % of a core for 1 s: the server's after-start work,
    and a warm kernel's start where the image has one), then opening *notebook* and running
    *code* as its first cell (the kernel start, import mxnet, the cell). Medians of *runs*."""
    import server_start

    client = docker.from_env()
    samples = []
    for _ in range(runs):
        token = uuid.uuid4().hex
        container = client.containers.run(image, detach=True, environment={"JUPYTER_TOKEN": token})
        try:
            base = server_start.wait_ready(container, token, timeout)
            cpu = lambda: cgroups.cpu_seconds(container.id) or 0.0  # noqa: E731
            ready = cpu()
            settled_at, last, quiet_since = time.monotonic(), ready, time.monotonic()
            while time.monotonic() - settled_at < 30 and time.monotonic() - quiet_since < 1.0:
                time.sleep(0.25)
                now = cpu()
                if now - last > 0.02 * 0.25:
                    quiet_since = time.monotonic()
                last = now
            settled = cpu()

            async def first_cell():
                headers = {"Authorization": f"token {token}"}
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
                    url = await open_notebook(http, f"{base}/api", headers, notebook, code, expect, timeout)
                    after = cpu()
                    async with http.delete(url, headers=headers) as r:
                        await r.read()
                    return after

            after = asyncio.run(first_cell())
            samples.append({"server_core_s": round(ready, 3), "settle_core_s": round(settled - ready, 3),
                            "kernel_core_s": round(after - settled, 3)})
        finally:
            container.remove(force=True)
    median = {k: round(statistics.median(s[k] for s in samples), 3) for k in samples[0]}
    # What the floor counts as the server's part: the start and its settling (see above).
    return {"image": image, "runs": samples, "medians": median, "kernel_core_s": median["kernel_core_s"],
            "server_core_s": round(median["server_core_s"] + median["settle_core_s"], 3)}


def run_one(config: str, mode: str, args: argparse.Namespace) -> dict:
    extra_env = dict(CONFIGS[config])
    extra_env.update(dict(kv.split("=", 1) for kv in args.env))
    lab = LabStack(instance=f"glbench-{config[:4]}-{mode[:4]}-{uuid.uuid4().hex[:4]}", extra_env=extra_env)
    users = [Attendee(f"{args.prefix}{i:03d}", "") for i in range(1, args.users + 1)]  # passwords: handout
    solos = [Attendee(f"{args.prefix}solo{i}", "") for i in range(1, args.floor_runs + 1)] if mode == "cold" else []
    code, expect = CODE[args.step]
    record: dict = {"config": config, "mode": mode, "users": args.users, "arrival_rate": args.arrival_rate,
                    "step": args.step, "notebook": args.notebook, "env": extra_env,
                    "load_avg_at_start": os.getloadavg()}
    print(f"\n== {config} / {mode}: {args.users} attendees (instance {lab.instance})", flush=True)
    try:
        lab.up()
        create_accounts(lab, users + solos)
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
        if solos:
            record["solo"] = measure_solo(lab, hub_id, solos, args, code, expect)
            solo = record["solo"]
            print(f"   one attendee alone through this hub (median of {len(solos)}): "
                  + " + ".join(f"{k} {v}" for k, v in solo["medians"].items()) + f" = {solo['core_s']} core-s",
                  flush=True)
            time.sleep(IDLE_SETTLE_S)  # the stopped servers' removal, before the rush
        log_lines_before = len(lab.logs().splitlines())
        sampler = CgroupSampler(hub_id)
        sampler.start()
        cpu_split = CpuSplit(lab, hub_id)
        cpu_split.take("start")
        began = time.monotonic()
        asyncio.run(rush(lab.url, users, args.arrival_rate, code, expect, args.timeout, cpu_split, args.notebook))
        record["wall_s"] = round(time.monotonic() - began, 2)
        record.update(sampler.stop())
        record.update(summarize(users))
        new_log = lab.logs().splitlines()[log_lines_before:]
        record["proxy_errors"] = sum(1 for line in new_log if PROXY_ERROR.search(line))
        # The lines themselves (and the hub's 5xx answers), to tell a proxy error from the hub's own.
        record["proxy_error_lines"] = [line[-300:] for line in new_log if PROXY_ERROR.search(line)][:20]
        record["hub_5xx_lines"] = [line[-300:] for line in new_log if HUB_5XX.search(line)][:20]
        # JupyterHub logs an uncaught exception's traceback just before the 500 it answers: keep it.
        record["hub_5xx_context"] = hub_5xx_context(new_log)
        record["hub_throttle_warnings"] = sum(1 for line in new_log if "pending spawns, throttling" in line)
        record["user_containers_cpu_s"] = round(_containers_cpu(lab), 1)
        record["cpu_until_all_in_lab"] = cpu_split.report()
        record["cpu_until_all_have_result"] = cpu_split.report(end="all_have_result")
        if args.idle_seconds > 0:
            # Everyone logged out, servers still up: what running servers cost while nobody
            # types (the hub's polls, Docker's upkeep, the servers' own timers).
            time.sleep(IDLE_SETTLE_S)
            cpu_split.take("idle_start")
            time.sleep(args.idle_seconds)
            cpu_split.take("idle_end")
            idle = cpu_split.report("idle_start", "idle_end")
            idle["servers"] = len(user_container_ids(lab))
            record["cpu_idle"] = idle
    except Exception as error:  # noqa: BLE001  (one broken run is recorded; the others still run)
        record["error"] = f"{type(error).__name__}: {error}"
        print(f"   run failed: {record['error']}", flush=True)
        record["hub_log_tail"] = lab.logs().splitlines()[-40:]
    finally:
        if not args.keep:
            lab.down()
    return record


def hub_5xx_context(lines: list[str], before: int = 25, most: int = 5) -> list[list[str]]:
    """For each of the first *most* hub 5xx answers in *lines*, the *before* lines up to it (the
    traceback JupyterHub logs first), so a run's unexplained 500 can be read afterwards."""
    found = [i for i, line in enumerate(lines) if HUB_5XX.search(line)][:most]
    return [[line[-300:] for line in lines[max(0, i - before):i + 1]] for i in found]


def user_container_ids(lab: LabStack) -> list[str]:
    """The stack's user servers: LabDockerSpawner labels them (gluonlab.user), the baseline's
    plain DockerSpawner does not; both name them <instance>-<user> and run the notebook image
    (compose's own services, such as the image-building one, are not servers)."""
    containers = docker.from_env().containers.list(filters={"name": f"{lab.instance}-"})
    return [c.id for c in containers if c.name.startswith(f"{lab.instance}-")
            and "com.docker.compose.service" not in c.labels and ("gluonlab.user" in c.labels or c.attrs["Config"]["Image"].startswith("gluonlab/notebook"))]


def _containers_cpu(lab: LabStack) -> float:
    return sum(cgroups.cpu_seconds(i) or 0.0 for i in user_container_ids(lab))


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
        parts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in split["core_seconds"].items()
                          if k not in ("host", "servers", "kernels"))
        print(f"   CPU until all {record['users']} in JupyterLab ({split['seconds']} s): "
              f"{split['core_seconds']['host']} core-s on the host = {parts}")
    if split := record.get("cpu_until_all_have_result"):
        c = split["core_seconds"]
        print(f"   CPU until all {record['users']} have a first result ({split['seconds']} s): {c['host']} core-s "
              f"= hub {c['hub']} + servers {c['servers']} + kernels {c['kernels']} + engine {c['engine']} "
              f"+ load generator {c['load_generator']} + other {c['other']}")
    if floor := record.get("floor"):
        per = " + ".join(f"{k.replace('_', ' ')} {v}" for k, v in floor["per_attendee_core_s"].items())
        print(f"   CPU floor: ({per}) core-s x {record['users']} / {floor['cores']} cores = {floor['floor_s']} s; "
              f"login -> first result p95 {floor['p95_s']} s = {floor['p95_over_floor']} x floor "
              f"({'within' if floor['within_floor_plus_20pct'] else 'over'} floor + 20 % = {floor['floor_plus_20pct_s']} s)")
        if "solo_floor_s" in floor:
            print(f"   solo floor: {record['solo']['core_s']} core-s x {record['users']} / {floor['cores']} cores = "
                  f"{floor['solo_floor_s']} s; p95 = {floor['p95_over_solo_floor']} x solo floor")
    if idle := record.get("cpu_idle"):
        c, n = idle["core_seconds"], max(idle["servers"], 1)
        print(f"   idle: {idle['servers']} servers running, nobody working, {idle['seconds']} s: host "
              f"{100 * c['host'] / idle['seconds']:.1f}% of a core ({100 * c['host'] / idle['seconds'] / n:.2f}% per server); "
              f"engine {100 * c['engine'] / idle['seconds']:.1f}%, hub {100 * c['hub'] / idle['seconds']:.1f}%, "
              f"user containers {100 * c['user_containers'] / idle['seconds']:.1f}%")
    for message in record["spawn_limit_messages"]:
        print(f"   queued attendees saw: {message!r}")
    for what, count in record.get("client_http_5xx_by_request", {}).items():
        print(f"   5xx: {count} x {what}")
    for line in (record.get("proxy_error_lines") or [])[:5] + (record.get("hub_5xx_lines") or [])[:5]:
        print(f"   hub log: {line}")
    for error in record["errors"]:
        print(f"   ! {error}")


def print_comparison(records: list[dict]) -> None:
    by = {(r["config"], r["mode"]): r for r in records if "steps" in r}
    print("\n== side by side (login -> JupyterLab ready; login -> first MXNet result)")
    for (config, mode), r in sorted(by.items()):
        lab, first = r["steps"]["login_to_lab"], r["steps"]["login_to_first_result"]
        floor = f", floor {r['floor']['floor_s']} s (+20 %: {r['floor']['floor_plus_20pct_s']})" if r.get("floor") else ""
        print(f"   {config:<9}{mode:<9} lab p50/p95 {lab['p50']}/{lab['p95']} s; first result p50/p95/max "
              f"{first['p50']}/{first['p95']}/{first['max']} s; failures {r['failures']}, "
              f"spawn-limit rejections {r['spawn_limit_rejections']}{floor}")
    for mode in ("cold", "prestart"):
        b, d = by.get(("baseline", mode)), by.get(("default", mode))
        if not (d and b):
            continue
        if d["failures"] or b["failures"]:
            print(f"   {mode}: baseline/default: no ratio, failures {b['failures']} vs {d['failures']}")
            continue
        for step in ("login_to_lab", "login_to_first_result"):
            if d["steps"][step]["p95"] and b["steps"][step]["p95"]:
                print(f"   {mode}: baseline/default p95 ratio, {step.replace('_', ' ')} = "
                      f"{b['steps'][step]['p95'] / d['steps'][step]['p95']:.2f}")


def _commit() -> str:
    result = subprocess.run(["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", "-n", type=int, default=20, help="simulated attendees (default 20)")
    p.add_argument("--arrival-rate", type=float, default=0,
                   help="attendees arriving per second (default 0: all at once, the worst case)")
    p.add_argument("--step", choices=sorted(CODE), default="import",
                   help="what each attendee runs: import (import mxnet, compute) or train (a Gluon training loop)")
    p.add_argument("--notebook", default=DEFAULT_NOTEBOOK,
                   help=f"notebook each attendee opens, relative to the home (default {DEFAULT_NOTEBOOK})")
    p.add_argument("--floor-runs", type=int, default=3,
                   help="standalone server+kernel starts measured for the CPU floor of cold runs, and solo "
                        "attendees through each cold run's hub for its solo floor (default 3; 0: no floor)")
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
    if bad or args.users < 1 or args.floor_runs < 0 or any("=" not in kv for kv in args.env):
        print(f"loadtest: bad option value(s): {bad or args.env or (args.users, args.floor_runs)}; see --help",
              file=sys.stderr)
        return 2
    code, expect = CODE[args.step]
    start_costs = None
    if "cold" in modes and args.floor_runs > 0:
        # First, on the idle machine: what one attendee's server and kernel cost on their own.
        start_costs = measure_start_costs("gluonlab/notebook:cpu", args.floor_runs, args.notebook, code, expect)
        print(f"one attendee, standalone (median of {args.floor_runs}): server start "
              f"{start_costs['server_core_s']} core-s (to /api/status {start_costs['medians']['server_core_s']}, "
              f"settling {start_costs['medians']['settle_core_s']}), notebook + first cell "
              f"{start_costs['kernel_core_s']} core-s", flush=True)
    records = []
    for mode in modes:
        for config in configs:
            record = run_one(config, mode, args)
            if floor := floor_for_run(record, start_costs, os.cpu_count() or 1):
                record["floor"] = floor
            print_table(record)
            records.append(record)
    print_comparison(records)
    return write_results(args.json, f"n{args.users}", records, start_costs=start_costs)


def write_results(path: Path | None, name: str, records: list[dict], **meta: object) -> int:
    """The runs as JSON at *path* (default results/<time>-<name>.json) with the machine's meta;
    the exit status: 1 if any run failed or had failures."""
    out = path or BENCH_DIR / "results" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"cpus": os.cpu_count(), "load_avg_at_end": os.getloadavg(), "argv": sys.argv[1:],
            "commit": _commit(), **meta, "finished": datetime.now(UTC).isoformat()}
    out.write_text(json.dumps({"meta": meta, "runs": records}, indent=2))
    print(f"\nresults: {out}")
    return 1 if any(r.get("error") or r.get("failures") for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
