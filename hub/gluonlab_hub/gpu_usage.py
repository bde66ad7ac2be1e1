"""Per-user GPU usage, and idle GPUs given back to the pool.

Which user's processes use which GPU: ``nvidia-smi --query-compute-apps`` lists the PIDs on
each GPU, and ``/proc/<pid>/cgroup`` names the container each PID runs in (its 64-hex id in the
cgroup path, with the systemd or the cgroupfs driver, cgroup v1 or v2). Neither is visible from
the hub container (its own PID namespace), so a short-lived helper container does the reading:
the users' image, all GPUs with the ``utility`` capability (the toolkit mounts nvidia-smi), the
host's PID namespace, no network, no capabilities. It prints sections that
:func:`parse_helper_output` reads; everything else here is plain parsing and bookkeeping, tested
with the real H100 captures and fake process tables (tests/unit/test_gpu_usage.py).

The hub service ``gpu-usage`` (this module's ``main``, started by the hub like the idle culler)
runs the helper every GLUONLAB_GPU_IDLE_CHECK seconds and

* writes the usage to ``<state>/gpu-usage.json``, which the hub reads for the admin GPU page and
  the Prometheus metrics (:class:`UsageCollector`: ``gluonlab_gpu_memory_used_mib``,
  ``gluonlab_gpu_utilization_percent``, ``gluonlab_gpu_idle_seconds``, labels ``user``, ``gpu``);
* stops servers whose GPU sat idle for their profile's ``idle_gpu_minutes``; first it sends a
  notice: a JupyterLab pop-up through the jupyterlab-notifications-extension REST API of the
  user's server (:func:`notify_lab`, the service's token with ``access:servers``), and a file in
  the user's home as well (:func:`notify`: seen even where the pop-up is not, e.g. no Lab tab is
  open or the image lacks the extension). Files are kept, the GPU returns to the pool through
  the spawner's stop.

Idle means: no compute process of the user on their GPU, or GPU utilisation 0 % where nvidia-smi
reports it (whole GPUs; a GPU in MIG mode reports no utilisation, so a slice is idle when no
process of the user runs on it).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .gpus import LABEL_GPUS, LABEL_INSTANCE, LABEL_PROFILE, LABEL_USER, GpuSpecError

log = logging.getLogger("gluonlab.gpu_usage")

#: What the helper container runs: one nvidia-smi call for the processes, one for the GPUs, then
#: each listed PID's cgroup file. Sections start with "### "; a PID gone by then prints nothing.
HELPER_SCRIPT = r"""set -eu
apps=$(nvidia-smi --query-compute-apps=pid,gpu_uuid,used_memory --format=csv)
echo '### apps'
printf '%s\n' "$apps"
echo '### gpus'
nvidia-smi --query-gpu=index,uuid,utilization.gpu,memory.used --format=csv
for pid in $(printf '%s\n' "$apps" | sed 1d | cut -d, -f1); do
  echo "### cgroup $pid"
  cat "/proc/$pid/cgroup" 2>/dev/null || true
done
"""
#: The notice put in the user's home before an idle server is stopped (a file Lab shows).
NOTICE_FILE = "GPU-idle-notice.txt"
#: jupyterlab-notifications-extension's endpoint under a server's base URL (its published API):
#: POST queues a notification that Lab shows, GET hands the queued ones to the polling Lab tab.
LAB_NOTICE_API = "jupyterlab-notifications-extension/ingest"
USAGE_FILE = "gpu-usage.json"
_CONTAINER_ID = re.compile(r"(?:docker[-/]|/)([0-9a-f]{64})(?:\.scope)?\s*$")
_NUMBER = re.compile(r"^\d+(\.\d+)?$")


class UsageError(GpuSpecError):
    """The helper's output could not be read; the message names the section and line."""


@dataclass(frozen=True)
class ComputeApp:
    pid: int
    gpu_uuid: str
    used_mib: int | None


@dataclass(frozen=True)
class GpuReading:
    index: int
    uuid: str
    utilization_pct: float | None  # None: not reported ("[N/A]", e.g. in MIG mode)
    memory_used_mib: int | None


@dataclass
class HelperReport:
    apps: list[ComputeApp] = field(default_factory=list)
    gpus: list[GpuReading] = field(default_factory=list)
    #: PID -> the container id its cgroup names (None: not in a container, e.g. a host process)
    containers: dict[int, str | None] = field(default_factory=dict)


@dataclass
class UserUsage:
    user: str
    devices: list[str]
    profile: str = ""
    processes: int = 0
    memory_used_mib: int = 0
    utilization_pct: float | None = None
    idle_s: float = 0.0

    @property
    def idle(self) -> bool:
        return self.processes == 0 or self.utilization_pct == 0


# ---------------------------------------------------------------------------- parsing


def _csv_rows(text: str, what: str) -> list[dict[str, str]]:
    """``--format=csv`` output (header with units) as rows keyed by the bare field name."""
    rows = [r for r in csv.reader(io.StringIO(text), skipinitialspace=True) if any(c.strip() for c in r)]
    if not rows:
        raise UsageError(f"{what}: no header line (was it run with --format=csv?)")
    header = [h.strip().split(" [", 1)[0] for h in rows[0]]
    out = []
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UsageError(f"{what} line {lineno}: {len(row)} columns, the header has {len(header)}: {row!r}")
        out.append({h: c.strip() for h, c in zip(header, row, strict=True)})
    return out


def _number(value: str, what: str, unit: str) -> float | None:
    value = value.removesuffix(unit).strip()
    if value.startswith("[") or value in ("N/A", ""):  # [N/A], [Not Supported], [Insufficient Permissions]
        return None
    if not _NUMBER.match(value):
        raise UsageError(f"{what}: {value!r} is not a number")
    return float(value)


def parse_compute_apps(text: str) -> list[ComputeApp]:
    """``nvidia-smi --query-compute-apps=pid,gpu_uuid,used_memory --format=csv``."""
    apps = []
    for row in _csv_rows(text, "compute apps"):
        try:
            pid_s, uuid, memory = row["pid"], row["gpu_uuid"], row.get("used_gpu_memory", row.get("used_memory", ""))
        except KeyError as missing:
            raise UsageError(f"compute apps: no {missing} column (query pid,gpu_uuid,used_memory)") from None
        if not pid_s.isdigit() or not uuid.startswith(("GPU-", "MIG-")):
            raise UsageError(f"compute apps: {pid_s!r} is not a PID or {uuid!r} not a GPU UUID")
        used = _number(memory, "compute apps used memory", "MiB")
        apps.append(ComputeApp(int(pid_s), uuid, None if used is None else int(used)))
    return apps


def parse_gpu_readings(text: str) -> list[GpuReading]:
    """``nvidia-smi --query-gpu=index,uuid,utilization.gpu,memory.used --format=csv`` (more
    columns, as in the real H100 capture, are ignored)."""
    out = []
    for row in _csv_rows(text, "GPU readings"):
        if not row.get("index", "").isdigit() or "uuid" not in row:
            raise UsageError(f"GPU readings: {row!r} has no GPU index and uuid")
        util = _number(row.get("utilization.gpu", "[N/A]"), "utilization.gpu", "%")
        memory = _number(row.get("memory.used", "[N/A]"), "memory.used", "MiB")
        out.append(GpuReading(int(row["index"]), row["uuid"], util, None if memory is None else int(memory)))
    return out


def container_id_from_cgroup(text: str) -> str | None:
    """The Docker container id in a ``/proc/<pid>/cgroup`` file, or None (not a container's).

    cgroup v2 has one line ``0::/system.slice/docker-<id>.scope`` (systemd driver) or
    ``0::/docker/<id>`` (cgroupfs); v1 has one line per controller, all naming the same id."""
    for line in text.splitlines():
        path = line.split(":", 2)[-1].strip()
        found = _CONTAINER_ID.search(path)
        if found:
            return found.group(1)
    return None


def parse_helper_output(text: str) -> HelperReport:
    """The helper container's output (:data:`HELPER_SCRIPT`) as a :class:`HelperReport`."""
    sections: dict[str, list[str]] = {}
    current = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.startswith("### "):
            current = line[4:].strip()
            sections[current] = []
        elif current is None:
            if line.strip():
                raise UsageError(f"helper output line {lineno}: text before the first section: {line!r}")
        else:
            sections[current].append(line)
    for needed in ("apps", "gpus"):
        if needed not in sections:
            raise UsageError(f"helper output has no '### {needed}' section (nvidia-smi failed?)")
    report = HelperReport(parse_compute_apps("\n".join(sections["apps"])),
                          parse_gpu_readings("\n".join(sections["gpus"])))
    for name, lines in sections.items():
        if name.startswith("cgroup "):
            pid = name.removeprefix("cgroup ").strip()
            if not pid.isdigit():
                raise UsageError(f"helper output: section {name!r} does not name a PID")
            report.containers[int(pid)] = container_id_from_cgroup("\n".join(lines))
    return report


# ---------------------------------------------------------------------------- mapping


@dataclass(frozen=True)
class Server:
    """A running user container: its id, user, devices (device ids as labelled) and profile."""

    container_id: str
    user: str
    devices: tuple[str, ...]
    profile: str = ""
    #: Where the hub's proxy reaches the user's server (``http://<ip on network>:<port>/user/<name>/``),
    #: "" when the container does not say (then no Lab notice, only the file).
    url: str = ""

    @classmethod
    def from_container(cls, container: Any, network: str = "") -> "Server":
        labels = container.labels or {}
        devices = tuple(i for i in labels.get(LABEL_GPUS, "").split(",") if i)
        attrs = getattr(container, "attrs", None) or {}
        networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
        address = (networks.get(network) or {}).get("IPAddress", "") if network else ""
        # The spawner gives each server its bind URL (port and base path) in JUPYTERHUB_SERVICE_URL.
        env = dict(e.split("=", 1) for e in (attrs.get("Config") or {}).get("Env") or [] if "=" in e)
        bind = urlsplit(env.get("JUPYTERHUB_SERVICE_URL", ""))
        url = f"http://{address}:{bind.port}{bind.path}" if address and bind.port and bind.path else ""
        return cls(container.id, labels[LABEL_USER], devices, labels.get(LABEL_PROFILE, ""), url)


def usage_by_user(report: HelperReport, servers: Iterable[Server]) -> dict[str, UserUsage]:
    """Each GPU server's usage: its processes (PIDs whose cgroup is its container), their GPU
    memory, and its GPUs' utilisation (the highest of its whole GPUs; None for MIG slices, which
    nvidia-smi does not report per slice). Servers without GPUs are left out."""
    by_index = {str(r.index): r for r in report.gpus}
    by_uuid = {r.uuid: r for r in report.gpus}
    out: dict[str, UserUsage] = {}
    for server in servers:
        if not server.devices:
            continue
        usage = UserUsage(server.user, list(server.devices), server.profile)
        for app in report.apps:
            if report.containers.get(app.pid) == server.container_id:
                usage.processes += 1
                usage.memory_used_mib += app.used_mib or 0
        readings = [by_index.get(d) or by_uuid.get(d) for d in server.devices if not d.startswith("MIG-")]
        utils = [r.utilization_pct for r in readings if r is not None and r.utilization_pct is not None]
        usage.utilization_pct = max(utils) if utils else None
        out[server.user] = usage
    return out


# ------------------------------------------------------------------------ idle reclaim


@dataclass
class IdleTracker:
    """How long each user's GPU has been idle, and whom to warn or stop.

    ``limits`` maps a user to their reclaim time in minutes (0 or absent: never). The notice
    goes out ``notice_s`` before the stop (at most half the limit)."""

    notice_s: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _idle_since: dict[str, float] = field(default_factory=dict)
    _noticed: set[str] = field(default_factory=set)

    def observe(self, usage: Mapping[str, UserUsage], limits: Mapping[str, int]) -> tuple[list[str], list[str]]:
        """Record one reading; returns (users to warn now, users to stop now)."""
        now = self.clock()
        notify, stop = [], []
        for user in list(self._idle_since):
            if user not in usage:  # server gone: forget
                self._idle_since.pop(user)
                self._noticed.discard(user)
        for user, u in sorted(usage.items()):
            if not u.idle:
                self._idle_since.pop(user, None)
                self._noticed.discard(user)
                u.idle_s = 0.0
                continue
            since = self._idle_since.setdefault(user, now)
            u.idle_s = now - since
            limit_s = 60.0 * limits.get(user, 0)
            if not limit_s:
                continue
            if u.idle_s >= limit_s:
                stop.append(user)
            elif u.idle_s >= limit_s - min(self.notice_s, limit_s / 2) and user not in self._noticed:
                self._noticed.add(user)
                notify.append(user)
        return notify, stop


def notice_text(minutes_left: float, limit_min: int) -> str:
    return (f"你的 GPU 已空闲 {limit_min - minutes_left:.0f} 分钟。如果接下来 {minutes_left:.0f} 分钟内仍未使用，"
            "服务器将被停止（文件会保留），GPU 将交给其他学员。重新启动服务器即可继续。\n"
            f"Your GPU has been idle for {limit_min - minutes_left:.0f} minutes. If it stays unused for "
            f"{minutes_left:.0f} more minutes your server will be stopped (your files are kept) and the GPU "
            "given to another attendee. Start your server again to continue.\n")


# ------------------------------------------------------------------ the shared usage file


def write_usage(path: Path, usage: Mapping[str, UserUsage], now: float | None = None) -> None:
    """Atomically replace the usage file the hub reads (admin page, metrics)."""
    data = {"time": time.time() if now is None else now,
            "users": {u: {**asdict(v), "idle": v.idle} for u, v in sorted(usage.items())}}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".gpu-usage-", delete=False) as tmp:
        json.dump(data, tmp)
    os.replace(tmp.name, path)


def read_usage(path: Path, max_age_s: float, now: float | None = None) -> dict[str, dict]:
    """The users' usage from the file, or {} if it is missing, unreadable or older than max_age_s
    (the service stopped: stale numbers would mislead)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or (time.time() if now is None else now) - float(data.get("time", 0)) > max_age_s:
        return {}
    users = data.get("users")
    return users if isinstance(users, dict) else {}


class UsageCollector(Collector):
    """Per-user GPU metrics from the usage file, read at each scrape."""

    def __init__(self, path: Path, max_age_s: float) -> None:
        self.path, self.max_age_s = Path(path), max_age_s

    def collect(self):
        memory = GaugeMetricFamily("gluonlab_gpu_memory_used_mib", "GPU memory used by the user's processes (MiB)",
                                   labels=["user", "gpu"])
        util = GaugeMetricFamily("gluonlab_gpu_utilization_percent", "Utilisation of the user's GPU (whole GPUs; "
                                 "not reported for MIG slices)", labels=["user", "gpu"])
        idle = GaugeMetricFamily("gluonlab_gpu_idle_seconds", "How long the user's GPU has been idle",
                                 labels=["user", "gpu"])
        for user, u in sorted(read_usage(self.path, self.max_age_s).items()):
            gpu = ",".join(u.get("devices", []))
            memory.add_metric([user, gpu], u.get("memory_used_mib", 0))
            if u.get("utilization_pct") is not None:
                util.add_metric([user, gpu], u["utilization_pct"])
            idle.add_metric([user, gpu], u.get("idle_s", 0))
        yield memory
        yield util
        yield idle


# -------------------------------------------------------------------------- the service


def run_helper(client: Any, image: str, timeout_s: float = 60.0) -> str:
    """Run :data:`HELPER_SCRIPT` in a throwaway container (see module doc); its output."""
    from docker.types import DeviceRequest

    container = client.containers.create(
        image, entrypoint=["sh", "-c"], command=[HELPER_SCRIPT], pid_mode="host", network_disabled=True,
        cap_drop=["ALL"], security_opt=["no-new-privileges:true"], read_only=True,
        device_requests=[DeviceRequest(count=-1, capabilities=[["gpu"]])],
        environment={"NVIDIA_DRIVER_CAPABILITIES": "utility"}, labels={"gluonlab.role": "gpu-usage"})
    try:
        container.start()
        status = int(container.wait(timeout=timeout_s).get("StatusCode", -1))
        out = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        if status != 0:
            err = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
            raise UsageError(f"the GPU usage helper exited {status}: {err.strip()[:300]}")
        return out
    finally:
        container.remove(force=True)


def running_servers(client: Any, instance: str, network: str = "") -> list[Server]:
    containers = client.containers.list(filters={"label": [LABEL_USER, f"{LABEL_INSTANCE}={instance}"]})
    return [Server.from_container(c, network) for c in containers]


def lab_notice(text: str) -> dict[str, Any]:
    """The notification the user's Lab shows: a warning that stays until dismissed (autoClose
    false), pushed at once to open Lab tabs (immediate) and queued for the next one to poll."""
    return {"message": text.strip(), "type": "warning", "autoClose": False, "immediate": True,
            "data": {"source": "gluonlab-gpu-usage"}}


def notify_lab(post: Callable[..., Any], server_url: str, token: str, text: str) -> bool:
    """Send the notice to the Lab at ``server_url`` (:attr:`Server.url`) through jupyterlab-notifications-extension; ``post`` is ``requests.post``. Returns whether the
    server took it: False (logged) when it could not be reached or has no such extension, and the
    caller's file notice still goes out."""
    try:
        response = post(f"{server_url.rstrip('/')}/{LAB_NOTICE_API}", json=lab_notice(text),
                        headers={"Authorization": f"token {token}"}, timeout=10)
    except Exception as error:  # noqa: BLE001  (any transport error: the file notice remains)
        log.warning("idle notice to %s's Lab failed: %s", server_url, error)
        return False
    if response.status_code != 200:
        log.warning("idle notice to %s's Lab refused: HTTP %s %s", server_url, response.status_code,
                    response.text[:200])
        return False
    return True


def notify(client: Any, container_id: str, text: str) -> None:
    """Put the notice in the user's home (as the user, uid 1000), where Lab's file browser shows it."""
    command = ["sh", "-c", f'printf "%s" "$1" > /home/jovyan/{NOTICE_FILE}', "notice", text]
    result = client.containers.get(container_id).exec_run(command, user="1000")
    if result.exit_code != 0:
        log.warning("could not write the idle notice in %s: %s", container_id[:12], result.output[:200])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Gluon Lab per-user GPU usage and idle GPU reclaim (hub service).")
    parser.add_argument("--instance", required=True)
    parser.add_argument("--image", required=True, help="image the helper container runs (the users' image)")
    parser.add_argument("--interval", type=float, required=True)
    parser.add_argument("--usage-file", type=Path, required=True)
    parser.add_argument("--idle-minutes", default="", help="profile=minutes,... (0 = never)")
    parser.add_argument("--exempt-groups", default="", help="groups whose servers are never reclaimed")
    parser.add_argument("--network", default="", help="the users' Docker network (where their servers listen)")
    parser.add_argument("--once", action="store_true", help="one reading, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[gpu-usage %(asctime)s] %(message)s")

    import docker
    import requests

    client = docker.from_env()
    api = os.environ.get("JUPYTERHUB_API_URL", "")
    headers = {"Authorization": f"token {os.environ.get('JUPYTERHUB_API_TOKEN', '')}"}
    per_profile = {k: int(v) for k, v in (x.split("=", 1) for x in args.idle_minutes.split(",") if x)}
    exempt = {g for g in args.exempt_groups.split(",") if g}
    tracker = IdleTracker()
    while True:
        try:
            servers = running_servers(client, args.instance, args.network)
            gpu_servers = [s for s in servers if s.devices]
            report = parse_helper_output(run_helper(client, args.image)) if gpu_servers else HelperReport()
            usage = usage_by_user(report, gpu_servers)
            limits = {}
            for s in gpu_servers:
                minutes = per_profile.get(s.profile, 0)
                if minutes and api:
                    groups = requests.get(f"{api}/users/{s.user}", headers=headers, timeout=10).json().get("groups", [])
                    minutes = 0 if exempt & set(groups) else minutes
                limits[s.user] = minutes
            to_warn, to_stop = tracker.observe(usage, limits)
            write_usage(args.usage_file, usage)
            by_user = {s.user: s for s in gpu_servers}
            for user in to_warn:
                left = limits[user] - usage[user].idle_s / 60
                text = notice_text(left, limits[user])
                server = by_user[user]
                in_lab = bool(server.url) and notify_lab(requests.post, server.url,
                                                         os.environ.get("JUPYTERHUB_API_TOKEN", ""), text)
                notify(client, server.container_id, text)
                log.info("%s: GPU idle %.0f s, notice written%s", user, usage[user].idle_s,
                         " and sent to the Lab" if in_lab else "")
            for user in to_stop:
                log.info("%s: GPU idle %.0f s, stopping the server (files kept)", user, usage[user].idle_s)
                if api:
                    requests.delete(f"{api}/users/{user}/server", headers=headers, timeout=30)
        except Exception as error:  # noqa: BLE001  (one failed reading must not end the service)
            log.warning("GPU usage reading failed: %s", error)
        if args.once:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
