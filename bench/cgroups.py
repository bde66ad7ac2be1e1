"""A Docker container's CPU and memory, read from the host's cgroup files (v1 or v2).

On this engine `docker stats` reports zeros (no systemd), and reading a file costs nothing next
to the API's 1 s stats stream. Both readers return None when the container has no cgroup here
(gone, or another layout).
"""
from __future__ import annotations

from pathlib import Path

V1 = Path("/sys/fs/cgroup")
V2 = Path("/sys/fs/cgroup/system.slice")


def cpu_seconds(container_id: str) -> float | None:
    """CPU time the container has used so far, in core-seconds."""
    v1 = V1 / "cpuacct" / "docker" / container_id / "cpuacct.usage"
    if v1.exists():
        return int(v1.read_text()) / 1e9
    v2 = V2 / f"docker-{container_id}.scope" / "cpu.stat"
    if v2.exists():
        for line in v2.read_text().splitlines():
            if line.startswith("usage_usec"):
                return int(line.split()[1]) / 1e6
    return None


def memory_bytes(container_id: str) -> int | None:
    """Memory the container uses now."""
    for path in (V1 / "memory" / "docker" / container_id / "memory.usage_in_bytes",
                 V2 / f"docker-{container_id}.scope" / "memory.current"):
        if path.exists():
            return int(path.read_text())
    return None


def _procs_file(container_id: str, sys_fs: Path) -> Path | None:
    for path in (sys_fs / "cgroup" / "cpuacct" / "docker" / container_id / "cgroup.procs",
                 sys_fs / "cgroup" / "system.slice" / f"docker-{container_id}.scope" / "cgroup.procs"):
        if path.exists():
            return path
    return None


def pids(container_id: str, sys_fs: Path = V1.parent) -> list[int]:
    """The container's processes (host PIDs) from its cgroup.procs; empty when it has none here.

    *sys_fs* is /sys/fs (a fake tree in tests)."""
    path = _procs_file(container_id, sys_fs)
    if path is None:
        return []
    try:
        return [int(line) for line in path.read_text().split()]
    except OSError:  # container gone while reading
        return []
