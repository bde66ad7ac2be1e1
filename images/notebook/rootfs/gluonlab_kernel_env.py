"""Pure helpers of the Jupyter server's kernel set-up (no Jupyter imports: unit-tested on the host).

- Threads per kernel from the container's CPU limit (cgroup v2 ``cpu.max``), so twenty kernels on
  a two-core limit do not each start an OpenMP/MXNet worker pool sized for every host core.
- The warm kernel's settings, read from the environment the hub's spawner passes.
- CPU pressure (``cpu.pressure``) parsing, for refilling the warm kernel when the CPU is quiet.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping

CPU_MAX = "/sys/fs/cgroup/cpu.max"
CPU_PRESSURE = "/sys/fs/cgroup/cpu.pressure"
#: Thread variables set for kernels (and terminals) when not set already.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS")

# The hub's settings GLUONLAB_WARM_KERNEL and GLUONLAB_WARM_KERNEL_REFILL_DELAY (gluonlab_hub/
# settings.py holds their defaults; the spawner always passes both). The values below apply to a
# container started without the hub (docker run, compose's standalone lab); a unit test keeps
# them equal to the settings' defaults.
WARM_KERNEL_ENV = "GLUONLAB_WARM_KERNEL"
REFILL_DELAY_ENV = "GLUONLAB_WARM_KERNEL_REFILL_DELAY"
STANDALONE_WARM_KERNEL = "1"
STANDALONE_REFILL_DELAY_S = 30


def threads_for_cpu_max(cpu_max: str | None, host_cpus: int) -> int:
    """Threads worth running for a cgroup v2 ``cpu.max`` text ("QUOTA PERIOD" or "max PERIOD"):
    the quota in whole cores, rounded up, never more than the host has and at least 1.
    No file (cgroup v1, no limit) or "max": the host's CPUs."""
    host_cpus = max(1, host_cpus)
    if not cpu_max or not cpu_max.split():
        return host_cpus
    fields = cpu_max.split()
    if fields[0] == "max":
        return host_cpus
    try:
        quota = int(fields[0])
        period = int(fields[1]) if len(fields) > 1 else 100_000
    except ValueError:
        return host_cpus  # unreadable: behave as before (no bound)
    if quota <= 0 or period <= 0:
        return host_cpus
    return max(1, min(host_cpus, math.ceil(quota / period)))


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as file:
            return file.read()
    except OSError:
        return None


CFS_QUOTA = "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"  # cgroup v1
CFS_PERIOD = "/sys/fs/cgroup/cpu/cpu.cfs_period_us"


def cpu_max_from_v1(quota: str | None, period: str | None) -> str | None:
    """cgroup v1's CFS quota and period as cgroup v2's cpu.max text (quota -1: "max")."""
    if not quota or not period:
        return None
    quota, period = quota.strip(), period.strip()
    return f"{'max' if quota == '-1' else quota} {period}"


def read_cpu_limit() -> str | None:
    """The container's CPU limit as cpu.max text, from cgroup v2 or else v1."""
    return read_text(CPU_MAX) or cpu_max_from_v1(read_text(CFS_QUOTA), read_text(CFS_PERIOD))


def thread_environment(environ: Mapping[str, str], cpu_max: str | None, host_cpus: int) -> dict[str, str]:
    """The thread variables to add to *environ*: each one not already set, as the CPU limit says
    (an admin's or attendee's own value wins)."""
    threads = str(threads_for_cpu_max(cpu_max, host_cpus))
    return {name: threads for name in THREAD_VARIABLES if not environ.get(name)}


def cpu_pressure_avg10(text: str | None) -> float | None:
    """The ``some avg10`` of a PSI file (percent of the last 10 s some task waited for CPU);
    None when absent (kernel without PSI)."""
    for line in (text or "").splitlines():
        fields = line.split()
        if fields and fields[0] == "some":
            for field in fields[1:]:
                key, _, value = field.partition("=")
                if key == "avg10":
                    try:
                        return float(value)
                    except ValueError:
                        return None
    return None


class WarmKernelSettingError(ValueError):
    """A warm-kernel variable has a value the server cannot use; the message says what to fix."""


def warm_kernel_settings(environ: Mapping[str, str] = os.environ) -> tuple[bool, float]:
    """(enabled, refill delay in seconds) from the environment; bad values raise with the fix."""
    enabled = environ.get(WARM_KERNEL_ENV, STANDALONE_WARM_KERNEL).strip()
    if enabled not in ("0", "1"):
        raise WarmKernelSettingError(f"{WARM_KERNEL_ENV}={enabled!r} is not valid: use 1 (a warm kernel "
                                     "waits for the first notebook) or 0 (plain kernels)")
    raw_delay = environ.get(REFILL_DELAY_ENV, str(STANDALONE_REFILL_DELAY_S)).strip()
    try:
        delay = float(raw_delay)
    except ValueError:
        delay = -1.0
    if delay < 0:
        raise WarmKernelSettingError(f"{REFILL_DELAY_ENV}={raw_delay!r} is not valid: use seconds >= 0 "
                                     f"(default {STANDALONE_REFILL_DELAY_S})")
    return enabled == "1", delay


def environment_delta(old: Mapping[str, str], new: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """What turns environment *old* into *new*: (variables to set, variables to remove)."""
    changed = {name: value for name, value in new.items() if old.get(name) != value}
    removed = sorted(name for name in old if name not in new)
    return changed, removed
