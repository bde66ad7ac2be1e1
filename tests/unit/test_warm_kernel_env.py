"""Pure logic of the notebook image's kernel set-up (images/notebook/rootfs/gluonlab_kernel_env.py)
and how the hub hands the warm-kernel settings and the nice ulimit to users' containers."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from traitlets.config import Config

from gluonlab_hub.hub_config import configure
from gluonlab_hub.settings import Settings
from gluonlab_hub.spawner import hardened_host_config

ROOTFS = Path(__file__).resolve().parents[2] / "images" / "notebook" / "rootfs"
_spec = importlib.util.spec_from_file_location("gluonlab_kernel_env", ROOTFS / "gluonlab_kernel_env.py")
kenv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kenv)


@pytest.mark.parametrize(("cpu_max", "host", "threads"), [
    ("200000 100000\n", 16, 2),       # 2 cores of 16
    ("150000 100000", 16, 2),         # 1.5 cores: round up
    ("50000 100000", 16, 1),          # half a core: still one thread
    ("max 100000\n", 16, 16),         # no limit
    ("800000 100000", 4, 4),          # never more than the host has
    (None, 8, 8),                     # no cgroup v2 file
    ("", 8, 8),
    ("garbage here", 8, 8),           # unreadable: no bound, as before
    ("100000", 8, 1),                 # period missing: the kernel's default 100000
    ("0 100000", 3, 3),
])
def test_threads_follow_the_cpu_limit(cpu_max, host, threads):
    assert kenv.threads_for_cpu_max(cpu_max, host) == threads


def test_cgroup_v1_quota_reads_as_cpu_max():
    assert kenv.cpu_max_from_v1("150000\n", "100000\n") == "150000 100000"
    assert kenv.threads_for_cpu_max(kenv.cpu_max_from_v1("-1", "100000"), 8) == 8
    assert kenv.cpu_max_from_v1(None, "100000") is None


def test_thread_variables_keep_values_already_set():
    env = kenv.thread_environment({"OMP_NUM_THREADS": "6"}, "200000 100000", 16)
    assert env == {"MXNET_CPU_WORKER_NTHREADS": "2"}
    assert kenv.thread_environment({}, "max 100000", 4) == {"OMP_NUM_THREADS": "4", "MXNET_CPU_WORKER_NTHREADS": "4"}


def test_cpu_pressure_reads_some_avg10():
    text = "some avg10=12.50 avg60=3.00 avg300=1.00 total=123\nfull avg10=1.00 avg60=0.00 avg300=0.00 total=9\n"
    assert kenv.cpu_pressure_avg10(text) == 12.5
    assert kenv.cpu_pressure_avg10(None) is None
    assert kenv.cpu_pressure_avg10("full avg10=1.00\n") is None


def test_warm_kernel_settings_and_their_errors():
    assert kenv.warm_kernel_settings({}) == (True, 30.0)
    assert kenv.warm_kernel_settings({"GLUONLAB_WARM_KERNEL": "0", "GLUONLAB_WARM_KERNEL_REFILL_DELAY": "5"}) == (False, 5.0)
    with pytest.raises(kenv.WarmKernelSettingError, match="GLUONLAB_WARM_KERNEL='yes' is not valid: use 1"):
        kenv.warm_kernel_settings({"GLUONLAB_WARM_KERNEL": "yes"})
    with pytest.raises(kenv.WarmKernelSettingError, match="seconds >= 0"):
        kenv.warm_kernel_settings({"GLUONLAB_WARM_KERNEL_REFILL_DELAY": "-1"})


def test_standalone_defaults_are_the_settings_defaults():
    # One default per setting: the image's values for a container without the hub must match.
    fields = Settings.model_fields
    assert fields["warm_kernel"].default == kenv.STANDALONE_WARM_KERNEL
    assert fields["warm_kernel_refill_delay"].default == kenv.STANDALONE_REFILL_DELAY_S


def test_environment_delta():
    assert kenv.environment_delta({"A": "1", "B": "2"}, {"A": "1", "B": "3", "C": "4"}) == ({"B": "3", "C": "4"}, [])
    assert kenv.environment_delta({"A": "1", "Z": "9"}, {"A": "1"}) == ({}, ["Z"])


def test_the_hub_passes_the_settings_and_the_nice_ulimit(tmp_path):
    c = Config()
    configure(c, Settings.from_env({"GLUONLAB_STATE_DIR": str(tmp_path), "GLUONLAB_WARM_KERNEL": "0",
                                    "GLUONLAB_WARM_KERNEL_REFILL_DELAY": "7"}), registry=CollectorRegistry())
    assert c.Spawner.environment == {"GLUONLAB_WARM_KERNEL": "0", "GLUONLAB_WARM_KERNEL_REFILL_DELAY": "7"}
    assert hardened_host_config(1024, "1g", [], nice_ulimit=True)["Ulimits"] == [{"Name": "nice", "Soft": 20, "Hard": 20}]
    assert "Ulimits" not in hardened_host_config(1024, "1g", [])  # an engine that cannot set it
