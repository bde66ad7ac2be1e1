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


def engine_processes(proc: Path = Path("/proc")) -> dict[tuple[int, int], float]:
    """CPU time of each of the Docker engine's live processes, reaped children included, keyed
    by (pid, start time) so that a reused pid is another process."""
    found = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() not in ENGINE_COMMANDS:
                continue
        except OSError:  # exited while reading
            continue
        if seen := process_cpu(int(entry.name), proc):
            found[(int(entry.name), seen[0])] = seen[2]
    return found


def engine_seconds_between(first: dict[tuple[int, int], float], last: dict[tuple[int, int], float]) -> float:
    """What the engine's processes used from *first* to *last* (engine_processes at each): each
    process alive at *last* from its value at *first*, or from zero if it started since. One that
    exited in between (a stopped container's shim) is left out, instead of taking its whole past
    away from the sum."""
    return sum(seconds - first.get(key, 0.0) for key, seconds in last.items())


def own_seconds() -> float:
    """CPU time of this process (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def is_kernel(cmdline: list[str]) -> bool:
    """A Jupyter kernel process: ipykernel's launcher, as a kernel spec runs it
    (`python -m ipykernel_launcher -f ...`, or the launcher's path)."""
    return any(Path(arg).name in ("ipykernel_launcher", "ipykernel_launcher.py") for arg in cmdline) or any(
        a == "-m" and b in ("ipykernel", "ipykernel_launcher") for a, b in zip(cmdline, cmdline[1:]))


def process_cpu(pid: int, proc: Path = Path("/proc")) -> tuple[int, bool, float] | None:
    """(start time in ticks, is it a kernel, CPU seconds incl. reaped children) of one process,
    None when it is gone. The start time tells a reused PID from the process seen before."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
        cmdline = (proc / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": field 3 (state) is fields[0]
    return int(fields[19]), is_kernel([a for a in cmdline if a]), sum(int(v) for v in fields[11:15]) / _TICK


class KernelCpu:
    """CPU of the kernel processes in some containers, from /proc/<pid>/stat.

    poll() remembers the last reading of every kernel process it has seen, so a kernel that
    exits between polls keeps what it used up to the last poll; seconds() is the sum of those.
    The difference of two seconds() readings is what kernels used in between (kernels already
    running at the first reading count from their reading then)."""

    def __init__(self, proc: Path = Path("/proc")):
        self.proc = proc
        self.last: dict[tuple[int, int], float] = {}

    def poll(self, pids: list[int]) -> None:
        for pid in pids:
            seen = process_cpu(pid, self.proc)
            if seen and seen[1]:
                self.last[(pid, seen[0])] = seen[2]

    def seconds(self) -> float:
        return sum(self.last.values())
