"""Where the host's CPU went: the whole host, the Docker engine's processes, this process.

Read from /proc (Linux). Together with bench/cgroups.py (the containers) this splits a rush's
CPU into hub, user containers, engine, load generator and the rest, so a result can say what
limits it.
"""
from __future__ import annotations

import os
import resource
from pathlib import Path

# The engine's own processes: the daemon, containerd, one shim per container (runc runs as the
# shim's child and is counted in the shim's reaped-children time), and the userland port proxy
# that carries connections to a published port from the host itself.
ENGINE_COMMANDS = {"dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "runc", "docker-proxy"}
_TICK = os.sysconf("SC_CLK_TCK")


def host_busy_seconds() -> float:
    """CPU time all cores have spent not idle since boot, in core-seconds."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICK


def engine_seconds() -> float:
    """CPU time of the Docker engine's live processes, reaped children included."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() not in ENGINE_COMMANDS:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited while reading
            continue
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / _TICK


def own_seconds() -> float:
    """CPU time of this process (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
