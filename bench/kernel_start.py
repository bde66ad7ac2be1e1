#!/usr/bin/env python3
"""What one kernel start costs in the notebook image (core-seconds, read from the container's
cgroup), and what an idle server holds in memory with and without its warm kernel.

    bench/.venv/bin/python bench/kernel_start.py                  # gluonlab/notebook:cpu, 5 rounds
    bench/.venv/bin/python bench/kernel_start.py --runs 10 --json out.json

Kernel start = POST /api/kernels, then a first cell `import mxnet, numpy, matplotlib.pyplot`
over the kernel websocket, then the kernel's shutdown: core-s from cpu.stat usage_usec before and
after (the server's share included, as an attendee's container pays it). Three ways, interleaved
so load drifts hit all alike:
- "new home": no Matplotlib font list in the home's cache (every attendee's first kernel before
  the image shipped one: Matplotlib scans every font);
- "seeded": the font list the image builds, as start-notebook.sh copies it into a new home;
- "seeded, no op cache": the same with GLUONLAB_MXNET_OP_CACHE=off, so every operator function
  is compiled in the kernel as before the image cached them (images/notebook/rootfs/mxnet_op_cache.py).
Threads (OMP_NUM_THREADS, MXNET_CPU_WORKER_NTHREADS) follow the container's CPU limit in both;
on a host with more cores than the limit, --threads N sets them by hand for a "before" figure.

Memory (memory.current, or v1's usage_in_bytes) of an idle server (no notebook open) with its warm kernel (after it is
ready) and with GLUONLAB_WARM_KERNEL=0, each after a settle time.
"""
from __future__ import annotations

import argparse
import json
import secrets
import socket
import statistics
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import docker
import websocket

import cgroups  # bench/, next to this script

IMPORT_CELL = "import mxnet, numpy, matplotlib.pyplot"
NICE = True  # ulimit nice=20 as the hub gives it; main() turns it off where the engine refuses it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, client, image: str, env: dict[str, str], cpus: float):
        self.token, self.port = secrets.token_hex(16), free_port()
        self.container = client.containers.run(
            image, ["start-notebook.sh", f"--IdentityProvider.token={self.token}"], detach=True,
            ports={"8888/tcp": ("127.0.0.1", self.port)}, read_only=True, nano_cpus=int(cpus * 1e9),
            tmpfs={"/tmp": "size=512m,mode=1777", "/home/jovyan": "size=512m,uid=1000,mode=0755"},
            ulimits=[docker.types.Ulimit(name="nice", soft=20, hard=20)] if NICE else None, environment=env)
        self.wait(lambda: self.api("GET", "/api/status") is not None, 180, "the server")

    def api(self, method: str, path: str):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"},
                                         data=b"{}" if method == "POST" else None)
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                body = response.read()
                return json.loads(body) if body else {}
        except OSError:
            return None

    @staticmethod
    def wait(predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.5)
        raise TimeoutError(f"{what} not ready after {timeout:.0f} s")

    def shell(self, command: str) -> str:
        return self.container.exec_run(["bash", "-c", command]).output.decode()

    def cgroup(self, name: str) -> str:
        return self.shell(f"cat /sys/fs/cgroup/{name}")

    def usage_s(self) -> float:
        return cgroups.cpu_seconds(self.container.id)  # from the host: v1 or v2

    def first_cell(self) -> float:
        """Start a kernel, run IMPORT_CELL, shut it down; wall seconds."""
        started = time.monotonic()
        kernel = self.api("POST", "/api/kernels")
        conn = websocket.create_connection(f"ws://127.0.0.1:{self.port}/api/kernels/{kernel['id']}/channels",
                                           header=[f"Authorization: token {self.token}"], timeout=300)
        msg_id = uuid.uuid4().hex
        conn.send(json.dumps({"header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "bench",
                                         "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
                              "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                              "content": {"code": IMPORT_CELL, "silent": False, "store_history": True,
                                          "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        while True:
            message = json.loads(conn.recv())
            if (message.get("parent_header", {}).get("msg_id") == msg_id and message["msg_type"] == "status"
                    and message["content"]["execution_state"] == "idle"):
                break
        wall = time.monotonic() - started
        conn.close()
        self.api("DELETE", f"/api/kernels/{kernel['id']}")
        time.sleep(1)  # the kernel's exit is part of its cost
        return wall

    def remove(self):
        self.container.remove(force=True)


def measure_starts(client, args) -> dict:
    env = {"GLUONLAB_WARM_KERNEL": "0"}
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), MXNET_CPU_WORKER_NTHREADS=str(args.threads))
    # The op cache is switched per interpreter (its .pth reads the variable at start), so its "off"
    # mode has a server of its own, idle while the other measures.
    servers = {"cache": Server(client, args.image, env, args.cpus)}
    servers["no cache"] = Server(client, args.image, {**env, "GLUONLAB_MXNET_OP_CACHE": "off"}, args.cpus)
    seed = "rm -rf ~/.cache/matplotlib && mkdir -p ~/.cache/matplotlib && cp /opt/gluonlab/matplotlib/fontlist-*.json ~/.cache/matplotlib/"
    modes = {
        "new home": (servers["cache"], "rm -rf ~/.cache/matplotlib"),
        "seeded": (servers["cache"], seed),
        "seeded, no op cache": (servers["no cache"], seed),
    }
    results: dict[str, dict[str, list[float]]] = {mode: {"core_s": [], "wall_s": []} for mode in modes}
    try:
        for server in servers.values():
            server.first_cell()  # page cache warm for every mode
        for _ in range(args.runs):
            for mode, (server, prepare) in modes.items():
                server.shell(prepare)
                before = server.usage_s()
                wall = server.first_cell()
                results[mode]["core_s"].append(server.usage_s() - before)
                results[mode]["wall_s"].append(wall)
    finally:
        for server in servers.values():
            server.remove()
    return results


def measure_memory(client, args) -> dict:
    memory = {}
    for label, env in (("with warm kernel", {"GLUONLAB_WARM_KERNEL": "1"}), ("no warm kernel", {"GLUONLAB_WARM_KERNEL": "0"})):
        server = Server(client, args.image, env, args.cpus)
        try:
            if env["GLUONLAB_WARM_KERNEL"] == "1":
                server.wait(lambda: (server.api("GET", "/api/gluonlab/warm-kernel") or {}).get("ready"), 400, "warm kernel")
            time.sleep(args.settle)
            memory[label] = {"current_mib": cgroups.memory_bytes(server.container.id) / 2**20}
        finally:
            server.remove()
    return memory


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Core-seconds per kernel start, memory per idle server.")
    p.add_argument("--image", default="gluonlab/notebook:cpu")
    p.add_argument("--runs", type=int, default=5, help="rounds (each: one start per mode)")
    p.add_argument("--cpus", type=float, default=2.0, help="the container's CPU limit (GLUONLAB_CPU_LIMIT's default)")
    p.add_argument("--threads", type=int, default=0, help="set the thread variables by hand (0: from the limit)")
    p.add_argument("--settle", type=float, default=20, help="seconds idle before reading memory")
    p.add_argument("--json", help="write the results here too")
    args = p.parse_args(argv)
    client = docker.from_env()
    global NICE
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))
    from gluonlab_hub.spawner import engine_sets_nice_ulimit

    NICE = engine_sets_nice_ulimit(client.api, args.image)
    with open("/proc/loadavg") as file:
        load_before = file.read().split()[:3]
    report = {"image": args.image, "cpus": args.cpus, "load_before": load_before,
              "starts": measure_starts(client, args), "memory": measure_memory(client, args)}
    with open("/proc/loadavg") as file:
        report["load_after"] = file.read().split()[:3]
    for mode, values in report["starts"].items():
        print(f"{mode:20s} core-s per kernel start: median {statistics.median(values['core_s']):.2f} "
              f"(min {min(values['core_s']):.2f}, max {max(values['core_s']):.2f}); "
              f"wall median {statistics.median(values['wall_s']):.2f} s")
    for label, values in report["memory"].items():
        print(f"idle server, {label}: memory {values['current_mib']:.0f} MiB")
    print(f"load average before {' '.join(load_before)}, after {' '.join(report['load_after'])}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(report, file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
