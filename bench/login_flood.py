#!/usr/bin/env python3
"""A wrong-password flood against the hub, stock NativeAuthenticator and Gluon Lab's side by side.

Runs inside the hub image (its JupyterHub, proxy, NativeAuthenticator and bcrypt), with this
checkout's hub/ package first on the path:

    bench/login_flood.py                       # 20 wrong passwords/s for 30 s, both authenticators
    bench/login_flood.py --rate 3 --seconds 20 --variants stock
    bench/login_flood.py --help

For each variant a hub (the real JupyterHub + configurable-http-proxy, a fresh SQLite database
with two accounts at bcrypt cost 12) starts in one container, then for --seconds:
- the flood POSTs a wrong password for an existing account, --rate per second, open loop (a
  request does not wait for the previous one), each with a made-up X-Forwarded-For, from the
  container's own address (the proxy sees that address);
- /hub/health is probed every 100 ms through the proxy from loopback (another client);
- a correct login (GET the form, POST it) runs every 5 s from loopback.
Printed: health p50/p95/max, correct-login max, and what the flood got back (status counts).
Timeouts (10 s) count as 10 s. The load generator shares the container's CPU with the hub;
the core-seconds spent by the hub + proxy, the load generator and the whole machine (other
containers included) during the flood are printed too.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGE = "gluonlab/hub:latest"
TIMEOUT = 10.0
FLOOD_USER, FLOOD_PASSWORD = "student01", "student-password-01"
USER, PASSWORD = "teacher", "teacher-password-1"

CONFIG = """
c.JupyterHub.bind_url = "http://:{port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.JupyterHub.db_url = "sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{state}/cookie_secret"
c.JupyterHub.pid_file = "{state}/jupyterhub.pid"
c.JupyterHub.log_level = "WARN"
c.Authenticator.allow_all = True
c.NativeAuthenticator.enable_signup = False
c.NativeAuthenticator.allowed_failed_logins = 5
c.NativeAuthenticator.seconds_before_next_try = 60
c.JupyterHub.tornado_settings = {{"cookie_options": {{"samesite": "Lax"}}}}  # as gluonlab_hub/hub_config.py
"""
AUTHENTICATORS = {
    "stock": "nativeauthenticator.NativeAuthenticator",
    "gluonlab": "gluonlab_hub.auth.ThreadedNativeAuthenticator",
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (the hub starts the proxy)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for child in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError, ValueError):
            pass
    return total


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return found


def busy_seconds() -> float:
    """Whole-machine busy CPU (from /proc/stat, so other containers count too)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_state(state: Path) -> None:
    from jupyterhub import orm
    from nativeauthenticator import orm as _native_orm  # noqa: F401  (users_info joins the schema)

    from gluonlab_hub import accounts as acc

    session = orm.new_session_factory(f"sqlite:///{state}/jupyterhub.sqlite")()
    rows = [acc.AccountRow(1, USER, PASSWORD), acc.AccountRow(2, FLOOD_USER, FLOOD_PASSWORD)]
    acc.create_accounts(session, rows, bcrypt_rounds=12)
    session.close()


def login(base: str, username: str, password: str, headers: dict | None = None) -> tuple[int, float]:
    import requests

    session = requests.Session()
    started = time.monotonic()
    try:
        session.get(f"{base}/hub/login", timeout=TIMEOUT)
        response = session.post(f"{base}/hub/login?next=", timeout=TIMEOUT, allow_redirects=False, headers=headers,
                                data={"username": username, "password": password,
                                      "_xsrf": session.cookies.get("_xsrf", "")})
        return response.status_code, time.monotonic() - started
    except requests.RequestException:
        return 0, TIMEOUT


def run_variant(name: str, rate: float, seconds: float) -> dict:
    import requests

    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        port, hub_port, api_port = free_port(), free_port(), free_port()
        prepare_state(state)
        config = state / "jupyterhub_config.py"
        config.write_text(CONFIG.format(port=port, hub_port=hub_port, api_port=api_port, state=state)
                          + f"c.JupyterHub.authenticator_class = {AUTHENTICATORS[name]!r}\n")
        hub = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config)], cwd=tmp,
                               stdout=subprocess.DEVNULL, stderr=open(state / "hub.log", "w"))
        try:
            local = f"http://127.0.0.1:{port}"
            flood_base = f"http://{socket.gethostbyname(socket.gethostname())}:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(f"{local}/hub/health", timeout=2).ok:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline or hub.poll() is not None:
                    raise RuntimeError(f"{name} hub did not start:\n{(state / 'hub.log').read_text()[-3000:]}")
                time.sleep(0.3)
            # One form for the whole flood (a script reuses its cookie and token).
            form = requests.Session()
            form.get(f"{flood_base}/hub/login", timeout=TIMEOUT)
            xsrf = form.cookies.get("_xsrf", "")
            cookies = form.cookies.get_dict()

            statuses: dict[str, int] = {}
            lock = threading.Lock()

            def flood_one(i: int) -> None:
                spoof = f"10.{random.randrange(256)}.{random.randrange(256)}.{i % 250 + 1}"
                try:
                    response = requests.post(f"{flood_base}/hub/login?next=", cookies=cookies, timeout=TIMEOUT,
                                             allow_redirects=False, headers={"X-Forwarded-For": spoof},
                                             data={"username": FLOOD_USER, "password": f"wrong-{i}", "_xsrf": xsrf})
                    key = str(response.status_code)
                except requests.RequestException:
                    key = "timeout"
                with lock:
                    statuses[key] = statuses.get(key, 0) + 1

            health: list[float] = []
            logins: list[tuple[int, float]] = []
            stop = time.monotonic() + seconds

            def probe_health() -> None:
                while time.monotonic() < stop:
                    started = time.monotonic()
                    try:
                        ok = requests.get(f"{local}/hub/health", timeout=TIMEOUT).ok
                        health.append(time.monotonic() - started if ok else TIMEOUT)
                    except requests.RequestException:
                        health.append(TIMEOUT)
                    time.sleep(max(0.0, 0.1 - (time.monotonic() - started)))

            def correct_logins() -> None:
                while time.monotonic() + 2 < stop:
                    time.sleep(5)
                    logins.append(login(local, USER, PASSWORD))

            hub_cpu, own_cpu, machine_cpu = cpu_seconds(hub.pid), sum(os.times()[:2]), busy_seconds()
            prober = threading.Thread(target=probe_health)
            loginer = threading.Thread(target=correct_logins)
            prober.start()
            loginer.start()
            with ThreadPoolExecutor(max_workers=int(rate * TIMEOUT) + 8) as pool:
                start, i = time.monotonic(), 0
                while time.monotonic() < stop:
                    pool.submit(flood_one, i)
                    i += 1
                    time.sleep(max(0.0, start + i / rate - time.monotonic()))
                prober.join()
                loginer.join()
            hub_cpu = cpu_seconds(hub.pid) - hub_cpu
            own_cpu = sum(os.times()[:2]) - own_cpu
            machine_cpu = busy_seconds() - machine_cpu
            return {
                "cpu_core_s": {"hub_and_proxy": round(hub_cpu, 1), "load_generator": round(own_cpu, 1),
                               "whole_machine": round(machine_cpu, 1)},
                "variant": name, "rate": rate, "seconds": seconds, "flood_sent": i,
                "flood_statuses": dict(sorted(statuses.items())),
                "health_n": len(health), "health_p50_ms": round(percentile(health, 0.5) * 1000),
                "health_p95_ms": round(percentile(health, 0.95) * 1000),
                "health_max_ms": round(max(health) * 1000) if health else None,
                "correct_logins": [{"status": s, "seconds": round(t, 2)} for s, t in logins],
                "correct_login_max_s": round(max((t for _, t in logins), default=float("nan")), 2),
            }
        finally:
            hub.terminate()
            try:
                hub.wait(20)
            except subprocess.TimeoutExpired:
                hub.kill()


def inner(args: argparse.Namespace) -> None:
    results = [run_variant(name, args.rate, args.seconds) for name in args.variants]
    print(json.dumps({"cores": len(os.sched_getaffinity(0)), "results": results}))


def outer(args: argparse.Namespace) -> None:
    command = ["docker", "run", "--rm", "-v", f"{REPO}/hub:/bench-src/hub:ro", "-v", f"{REPO}/bench:/bench-src/bench:ro",
               "-e", "PYTHONPATH=/bench-src/hub", "--entrypoint", "/opt/venv/bin/python", args.image,
               "/bench-src/bench/login_flood.py", "--inner", "--rate", str(args.rate), "--seconds", str(args.seconds),
               "--variants", *args.variants]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"login_flood: the run in {args.image} failed:\n{result.stderr[-4000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    header = f"{'variant':<10} {'health p50':>10} {'health p95':>10} {'health max':>10} {'login max':>9}  flood responses"
    print(f"{args.rate:g} wrong passwords/s for {args.seconds:g} s, {report['cores']} cores (shared with the load generator)")
    print(header)
    for r in report["results"]:
        print(f"{r['variant']:<10} {r['health_p50_ms']:>8} ms {r['health_p95_ms']:>8} ms {r['health_max_ms']:>8} ms "
              f"{r['correct_login_max_s']:>7} s  {r['flood_statuses']} of {r['flood_sent']}")
        print(f"{'':<10} correct logins: {r['correct_logins']}")
        print(f"{'':<10} core-seconds during the flood: {r['cpu_core_s']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--rate", type=float, default=20.0, help="wrong-password logins per second (default 20)")
    parser.add_argument("--seconds", type=float, default=30.0, help="flood duration (default 30)")
    parser.add_argument("--variants", nargs="+", choices=sorted(AUTHENTICATORS), default=["stock", "gluonlab"])
    parser.add_argument("--image", default=IMAGE, help=f"hub image to run in (default {IMAGE})")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds <= 0:
        parser.error("--rate and --seconds must be positive")
    (inner if args.inner else outer)(args)


if __name__ == "__main__":
    main()
