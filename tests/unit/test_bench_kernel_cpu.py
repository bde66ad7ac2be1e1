"""bench/hostcpu.py and bench/cgroups.py: which processes of a user container are kernels, and
what they used, read from a fake /proc and /sys/fs tree."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import cgroups  # noqa: E402
import hostcpu  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def _process(proc: Path, pid: int, cmdline: list[str], utime: int, stime: int = 0, cutime: int = 0,
             starttime: int = 1000, comm: str = "python3") -> None:
    d = proc / str(pid)
    d.mkdir(parents=True, exist_ok=True)
    d.joinpath("cmdline").write_bytes(b"\0".join(a.encode() for a in cmdline) + b"\0")
    # /proc/<pid>/stat: pid (comm) state ppid ... utime(14) stime(15) cutime(16) cstime(17) ... starttime(22)
    rest = ["S", "1"] + ["0"] * 9 + [str(utime), str(stime), str(cutime), "0"] + ["0"] * 4 + [str(starttime)]
    d.joinpath("stat").write_text(f"{pid} ({comm}) {' '.join(rest)} 0 0\n")


SERVER = ["/opt/venv/bin/python3", "/usr/local/bin/start-jupyter-server.py", "singleuser"]
KERNEL = ["/opt/venv/bin/python3", "-m", "ipykernel_launcher", "-f", "/tmp/kernel-1.json"]


@pytest.mark.parametrize(("cmdline", "expected"), [
    (KERNEL, True),
    (["python", "/opt/venv/lib/python3.11/site-packages/ipykernel_launcher.py", "-f", "k.json"], True),
    (["python3", "-m", "ipykernel", "-f", "k.json"], True),
    (SERVER, False),
    (["tini", "-g", "--", "start-notebook.sh"], False),
    (["python3", "-c", "print('ipykernel_launcher is only a word here')"], False),
])
def test_kernel_processes_are_told_from_servers(cmdline, expected):
    assert hostcpu.is_kernel(cmdline) is expected


def test_process_cpu_reads_utime_stime_and_reaped_children(tmp_path):
    _process(tmp_path, 42, KERNEL, utime=3 * TICK, stime=TICK, cutime=TICK, starttime=777, comm="py (odd) name")
    assert hostcpu.process_cpu(42, tmp_path) == (777, True, pytest.approx(5.0))
    assert hostcpu.process_cpu(43, tmp_path) is None  # gone


def test_container_pids_come_from_its_cgroup_procs(tmp_path):
    procs = tmp_path / "cgroup" / "cpuacct" / "docker" / "abc123" / "cgroup.procs"
    procs.parent.mkdir(parents=True)
    procs.write_text("10\n11\n12\n")
    assert cgroups.pids("abc123", tmp_path) == [10, 11, 12]
    v2 = tmp_path / "cgroup" / "system.slice" / "docker-def456.scope" / "cgroup.procs"
    v2.parent.mkdir(parents=True)
    v2.write_text("20\n")
    assert cgroups.pids("def456", tmp_path) == [20]
    assert cgroups.pids("gone", tmp_path) == []


def test_kernel_cpu_counts_kernels_only_and_keeps_exited_ones(tmp_path):
    proc = tmp_path / "proc"
    _process(proc, 1, ["tini", "-g", "--"], utime=TICK)
    _process(proc, 7, SERVER, utime=50 * TICK)
    _process(proc, 9, KERNEL, utime=2 * TICK, starttime=500)
    tracker = hostcpu.KernelCpu(proc)
    tracker.poll([1, 7, 9])
    start = tracker.seconds()
    assert start == pytest.approx(2.0)  # the server's 50 s are not a kernel's
    _process(proc, 9, KERNEL, utime=6 * TICK, starttime=500)  # the running kernel used 4 s more
    _process(proc, 10, KERNEL, utime=3 * TICK, starttime=600)  # a new kernel
    tracker.poll([1, 7, 9, 10])
    assert tracker.seconds() - start == pytest.approx(7.0)
    # Kernel 10 exits; its PID is reused by another kernel: both are counted, neither twice.
    _process(proc, 10, KERNEL, utime=TICK, starttime=900)
    tracker.poll([1, 7, 9, 10])
    assert tracker.seconds() - start == pytest.approx(8.0)
    # A kernel gone between polls keeps what it used up to the last poll.
    (proc / "9" / "stat").unlink()
    tracker.poll([1, 7, 9, 10])
    assert tracker.seconds() - start == pytest.approx(8.0)


def test_engine_cpu_between_marks_leaves_out_a_process_that_exited_instead_of_going_negative(tmp_path):
    first_proc, last_proc = tmp_path / "first", tmp_path / "last"
    for proc, shim_alive in ((first_proc, True), (last_proc, False)):
        _process(proc, 10, ["dockerd"], utime=(5 if proc is first_proc else 7) * TICK, comm="dockerd")
        if shim_alive:  # a stopped server's shim, 40 core-s of past, gone by the second mark
            _process(proc, 20, ["containerd-shim"], utime=40 * TICK, comm="containerd-shim-runc-v2")
        _process(proc, 30, ["python3"], utime=99 * TICK, comm="python3")  # not the engine
    _process(last_proc, 21, ["containerd-shim"], utime=TICK, comm="containerd-shim-runc-v2")  # a new one
    for proc in (first_proc, last_proc):
        for entry in proc.iterdir():
            entry.joinpath("comm").write_text(entry.joinpath("stat").read_text().split("(")[1].split(")")[0] + "\n")
    first, last = hostcpu.engine_processes(first_proc), hostcpu.engine_processes(last_proc)
    assert set(first) == {(10, 1000), (20, 1000)} and set(last) == {(10, 1000), (21, 1000)}
    assert hostcpu.engine_seconds_between(first, last) == pytest.approx(2.0 + 1.0)
    # A reused pid is another process: counted from zero.
    _process(last_proc, 10, ["dockerd"], utime=3 * TICK, starttime=5000, comm="dockerd")
    assert hostcpu.engine_seconds_between(first, hostcpu.engine_processes(last_proc)) == pytest.approx(3.0 + 1.0)
