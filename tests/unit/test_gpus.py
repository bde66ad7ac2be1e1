"""GPU discovery parsing, the per-user allocator and its metric (hub/gluonlab_hub/gpus.py).

No Docker engine here: docker-py is used only for its types. Discovery and GPU requests on the
real engine are in tests/integration/test_gpu_requests.py.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import docker
import pytest
from gluonlab_hub import gpus as g
from prometheus_client import CollectorRegistry, generate_latest

H100_UUID = "GPU-2b18b8c7-7792-5f89-e0b9-8e2040f7172d"


def fixture_output(path: Path) -> str:
    """The captured command output, without the '$ command' and '[exit N]' lines around it."""
    lines = path.read_text().splitlines()
    return "\n".join(ln for ln in lines if not ln.startswith("$ ") and not ln.startswith("[exit "))


def synthetic_gpus(n: int) -> list[g.Gpu]:
    return [g.Gpu(device_id=str(i), index=i, uuid=f"GPU-{i:08d}-0000-0000-0000-000000000000") for i in range(n)]


def container(user: str, ids: str, status: str = "running") -> SimpleNamespace:
    """Stand-in for a docker SDK Container: rebuild() only reads .labels and .status."""
    return SimpleNamespace(labels={g.LABEL_USER: user, g.LABEL_GPUS: ids}, status=status)


# ------------------------------------------------------------------------- parsing


def test_parse_real_h100_query_output(fixtures_dir: Path) -> None:
    text = fixture_output(fixtures_dir / "gpu-host-h100" / "query-gpu-noheader.txt")
    [gpu] = g.parse_nvidia_smi_csv(text)
    assert gpu == g.Gpu(device_id="0", index=0, uuid=H100_UUID, name="NVIDIA H100 80GB HBM3", memory_mib=81559)
    assert gpu.describe() == "GPU 0 (NVIDIA H100 80GB HBM3, 79.6 GiB)"


def test_parse_real_output_with_header_and_units(fixtures_dir: Path) -> None:
    text = fixture_output(fixtures_dir / "gpu-host-h100" / "query-gpu.txt")
    [gpu] = g.parse_nvidia_smi_csv(text, use_uuid=True)
    assert (gpu.device_id, gpu.index, gpu.memory_mib) == (H100_UUID, 0, 81559)


def test_parse_synthetic_multi_gpu_sorted_by_index() -> None:
    text = (
        "2, GPU-cccccccc-0000-0000-0000-000000000002, NVIDIA A100-SXM4-40GB, 40960\n"
        "\n"
        "0, GPU-aaaaaaaa-0000-0000-0000-000000000000, NVIDIA A100-SXM4-40GB, 40960\n"
        "1, GPU-bbbbbbbb-0000-0000-0000-000000000001, NVIDIA A100-SXM4-40GB, [N/A]\n"
    )
    parsed = g.parse_nvidia_smi_csv(text)
    assert [x.device_id for x in parsed] == ["0", "1", "2"]
    assert parsed[1].memory_mib is None
    assert g.parse_nvidia_smi_csv(text, use_uuid=True)[0].device_id.startswith("GPU-aaaaaaaa")


@pytest.mark.parametrize(
    "text, needle",
    [
        ("0, GPU-aaa, only three\n", "line 1"),
        ("zero, GPU-aaaa, NVIDIA X, 100\n", "'zero'"),
        ("0, not-a-uuid, NVIDIA X, 100\n", "'not-a-uuid'"),
        ("0, GPU-a, X, 1\n0, GPU-b, X, 1\n", "twice"),
    ],
)
def test_parse_rejects_malformed_output(text: str, needle: str) -> None:
    with pytest.raises(g.GpuSpecError, match=needle):
        g.parse_nvidia_smi_csv(text)


def test_spec_forms() -> None:
    assert g.parse_gpu_spec("auto") == "auto"
    assert g.parse_gpu_spec(" AUTO ") == "auto"
    assert g.parse_gpu_spec("") == []
    assert g.parse_gpu_spec("none") == []
    assert [x.device_id for x in g.parse_gpu_spec("0, 1,03")] == ["0", "1", "3"]
    by_uuid = g.parse_gpu_spec(f"{H100_UUID},MIG-1234-abcd")
    assert [x.device_id for x in by_uuid] == [H100_UUID, "MIG-1234-abcd"]
    assert by_uuid[0].uuid == H100_UUID and by_uuid[0].index is None


@pytest.mark.parametrize("spec, needle", [("0,,1", "empty entry"), ("gpu0", "'gpu0'"), ("1,01", "twice")])
def test_spec_errors_say_what_to_fix(spec: str, needle: str) -> None:
    with pytest.raises(g.GpuSpecError, match=needle):
        g.parse_gpu_spec(spec)


def test_discover_explicit_list_needs_no_docker() -> None:
    assert [x.device_id for x in g.discover_gpus("0,1", docker_client=None)] == ["0", "1"]
    with pytest.raises(g.GpuDiscoveryError, match="needs a Docker client"):
        g.discover_gpus("auto", docker_client=None)


def test_device_requests_name_devices_never_count() -> None:
    [request] = g.device_requests(["1", H100_UUID])
    req = docker.types.DeviceRequest(**request)  # what docker-py's HostConfig makes of it
    assert req["Driver"] == "nvidia"
    assert req["DeviceIDs"] == ["1", H100_UUID]
    assert req["Capabilities"] == [["gpu"]]
    assert not req.get("Count")  # count=1 would give every user GPU 0
    assert g.device_requests([]) == []


def test_labels_and_environment() -> None:
    gpus = synthetic_gpus(2)
    assert g.container_labels("ana", ["1"]) == {"gluonlab.user": "ana", "gluonlab.gpus": "1"}
    assert g.container_labels("ana", [], "lab2")["gluonlab.instance"] == "lab2"
    env = g.container_environment(["1"], gpus)
    assert env["GLUONLAB_GPUS"] == "1" and env["GLUONLAB_GPU_DESCRIPTION"] == "GPU 1"
    assert g.container_environment([], gpus) == {"GLUONLAB_GPUS": "", "GLUONLAB_GPU_DESCRIPTION": "CPU only"}


# ----------------------------------------------------------------------- allocator


def test_exclusive_one_user_per_gpu_then_refuse() -> None:
    alloc = g.GpuAllocator(synthetic_gpus(2), policy="exclusive")
    assert alloc.allocate("ana") == ["0"]
    assert alloc.allocate("bo") == ["1"]
    with pytest.raises(g.GpusExhausted) as exc:
        alloc.allocate("cy")
    assert "所有 GPU 都已分配" in str(exc.value) and "ask the instructor" in str(exc.value)
    assert alloc.assignments() == {"ana": ["0"], "bo": ["1"]}


def test_exclusive_cpu_fallback_records_nothing() -> None:
    alloc = g.GpuAllocator(synthetic_gpus(2), policy="exclusive", when_exhausted="cpu")
    alloc.allocate("ana")
    alloc.allocate("bo")
    assert alloc.allocate("cy") == []
    assert "cy" not in alloc.assignments()
    alloc.release("ana")
    assert alloc.allocate("cy") == ["0"]  # the freed GPU goes to the next spawn


def test_allocate_is_idempotent_per_user() -> None:
    alloc = g.GpuAllocator(synthetic_gpus(2), policy="shared", users_per_gpu=3)
    first = alloc.allocate("ana")
    assert alloc.allocate("ana") == first
    assert alloc.holders() == {"0": ["ana"], "1": []}


def test_shared_least_loaded_first_ties_by_order() -> None:
    alloc = g.GpuAllocator(synthetic_gpus(2), policy="shared", users_per_gpu=2)
    got = [alloc.allocate(u)[0] for u in ("a", "b", "c", "d")]
    assert got == ["0", "1", "0", "1"]
    with pytest.raises(g.GpusExhausted, match="2 user"):
        alloc.allocate("e")
    alloc.release("b")  # GPU 1 now has one user, GPU 0 two
    assert alloc.allocate("e") == ["1"]


def test_policy_none_is_cpu_only() -> None:
    alloc = g.GpuAllocator(synthetic_gpus(2), policy="none")
    assert [alloc.allocate(u) for u in ("a", "b", "c")] == [[], [], []]
    assert alloc.assignments() == {}


def test_no_gpus_means_cpu() -> None:
    assert g.GpuAllocator([], policy="exclusive").allocate("a") == []


def test_release_returns_and_frees() -> None:
    alloc = g.GpuAllocator(synthetic_gpus(1))
    alloc.allocate("ana")
    assert alloc.release("ana") == ["0"]
    assert alloc.release("ana") == []  # stopping twice is harmless
    assert alloc.allocate("bo") == ["0"]


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"policy": "greedy"}, "greedy"),
        ({"when_exhausted": "wait"}, "wait"),
        ({"policy": "shared", "users_per_gpu": 0}, ">= 1"),
    ],
)
def test_bad_settings_are_named(kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        g.GpuAllocator(synthetic_gpus(1), **kwargs)


def test_rebuild_after_restart_from_container_labels() -> None:
    gpus = synthetic_gpus(2)
    before = g.GpuAllocator(gpus, policy="shared", users_per_gpu=2)
    for u in ("a", "b", "c"):
        before.allocate(u)
    containers = [container(u, ",".join(ids)) for u, ids in before.assignments().items()]
    containers += [
        container("stopped", "1", status="exited"),  # a stopped server holds nothing
        SimpleNamespace(labels={"other": "x"}, status="running"),  # not ours
        container("cpuonly", ""),
    ]
    after = g.GpuAllocator(gpus, policy="shared", users_per_gpu=2)  # a fresh hub process
    assert after.rebuild(containers) == {"a": ["0"], "b": ["1"], "c": ["0"]}
    assert after.allocate("d") == ["1"]
    with pytest.raises(g.GpusExhausted):
        after.allocate("e")


def test_rebuild_keeps_pending_spawns_and_drops_stale_ones() -> None:
    now = [1000.0]
    alloc = g.GpuAllocator(synthetic_gpus(2), pending_grace_s=60, clock=lambda: now[0])
    alloc.allocate("spawning")  # GPU 0, container not created yet
    alloc.allocate("gone")  # GPU 1
    alloc.rebuild([container("gone", "1")])
    assert alloc.assignments() == {"gone": ["1"], "spawning": ["0"]}
    now[0] += 61  # the spawn never produced a container; "gone"'s container was removed
    assert alloc.rebuild([]) == {}
    assert alloc.allocate("x") == ["0"]


def test_concurrent_exclusive_spawns_never_double_assign() -> None:
    def slow_clock() -> float:
        # allocate() reads the clock between picking a GPU and recording it: sleeping here
        # widens that window, so a missing lock would show up as double assignments
        time.sleep(0.002)
        return time.monotonic()

    alloc = g.GpuAllocator(synthetic_gpus(8), policy="exclusive", clock=slow_clock)
    results: dict[str, list[str] | str] = {}
    start = threading.Barrier(64)

    def spawn(user: str) -> None:
        start.wait()
        try:
            results[user] = alloc.allocate(user)
        except g.GpusExhausted:
            results[user] = "refused"

    threads = [threading.Thread(target=spawn, args=(f"u{i:02d}",)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    granted = [r[0] for r in results.values() if r != "refused"]
    assert sorted(granted) == [str(i) for i in range(8)]  # each GPU exactly once
    assert sum(r == "refused" for r in results.values()) == 56


def test_a_deep_copy_is_the_same_pool() -> None:
    # traitlets deep-copies config values into each spawner: all must share one allocator.
    alloc = g.GpuAllocator(synthetic_gpus(1))
    copied = copy.deepcopy({"gpu_allocator": alloc})
    assert copied["gpu_allocator"] is alloc
    alloc.allocate("ana")
    with pytest.raises(g.GpusExhausted):
        copied["gpu_allocator"].allocate("bo")


# -------------------------------------------------------------------------- metric


def test_metric_is_read_from_the_allocator_at_scrape_time() -> None:
    alloc = g.GpuAllocator(synthetic_gpus(2), policy="exclusive")
    registry = CollectorRegistry()
    registry.register(g.AssignmentCollector(alloc))
    assert "gluonlab_gpu_assigned{" not in generate_latest(registry).decode()
    alloc.allocate("ana")
    alloc.allocate("bo")
    scraped = generate_latest(registry).decode()
    assert "# TYPE gluonlab_gpu_assigned gauge" in scraped
    assert 'gluonlab_gpu_assigned{gpu="0",user="ana"} 1.0' in scraped
    assert 'gluonlab_gpu_assigned{gpu="1",user="bo"} 1.0' in scraped
    alloc.release("ana")
    alloc.rebuild([container("cy", "0"), container("bo", "1")])  # e.g. after a hub restart
    scraped = generate_latest(registry).decode()
    assert 'user="ana"' not in scraped
    assert 'gluonlab_gpu_assigned{gpu="0",user="cy"} 1.0' in scraped


# ------------------------------------------------------------------------------- MIG
# Hand-made from NVIDIA's documented formats (tests/fixtures/gpu-host-mig/README.md).

MIG_SLICE = "MIG-1e2d3c4b-5a69-5788-96a5-b4c3d2e1f00{}"
SMALL, BIG = g.GpuRequest("mig", 1, "1g.10gb"), g.GpuRequest("mig", 1, "3g.40gb")


def mig_host(fixtures_dir: Path) -> list[g.Gpu]:
    """What discovery returns on the MIG fixture host: both GPUs, then GPU 0's slices."""
    found = g.parse_nvidia_smi_csv(fixture_output(fixtures_dir / "gpu-host-mig" / "query-gpu-noheader.txt"))
    return found + g.with_mig_slices(found, fixture_output(fixtures_dir / "gpu-host-mig" / "nvidia-smi-L.txt"))


def test_mig_mode_and_slices_are_read_under_their_parent(fixtures_dir: Path) -> None:
    gpus = mig_host(fixtures_dir)
    assert [(x.device_id, x.mig_mode) for x in gpus[:2]] == [("0", True), ("1", False)]
    slices = gpus[2:]
    assert [(s.device_id, s.mig_profile, s.index, s.parent_index) for s in slices] == [
        (MIG_SLICE.format(1), "3g.40gb", 0, 0)] + [(MIG_SLICE.format(n), "1g.10gb", n - 1, 0) for n in range(2, 6)]
    assert slices[1].describe() == "MIG 1g.10gb slice 1 of GPU 0 (NVIDIA H100 80GB HBM3)"
    assert gpus[0].describe() == "GPU 0 (NVIDIA H100 80GB HBM3, 79.6 GiB, MIG mode)"


def test_the_real_h100_list_has_no_slices_and_old_queries_mean_no_mig(fixtures_dir: Path) -> None:
    real = fixture_output(fixtures_dir / "gpu-host-h100" / "nvidia-smi-L.txt")
    assert g.parse_nvidia_smi_list(real) == []
    [gpu] = g.parse_nvidia_smi_csv(fixture_output(fixtures_dir / "gpu-host-h100" / "query-gpu-noheader.txt"))
    assert not gpu.mig_mode


@pytest.mark.parametrize("text, needle", [
    ("  MIG 1g.10gb     Device  0: (UUID: MIG-aa)", "line 1: MIG device listed before any GPU"),
    ("GPU 0: NVIDIA H100 (UUID: GPU-aa)\n  MIG 1g.10gb Device 0 (UUID: MIG-bb)", "line 2: not a GPU or MIG device line"),
    ("GPU 0: NVIDIA H100 (UUID: GPU-aa)\n  MIG big     Device  0: (UUID: MIG-bb)", "line 2: not a GPU or MIG"),
    ("GPU 0: NVIDIA H100 (UUID: GPU-aa)\n  MIG 1g.10gb     Device  0: (UUID: GPU-bb)", "line 2: not a GPU or MIG"),
    ("GPU zero: NVIDIA H100 (UUID: GPU-aa)", "line 1: not a GPU or MIG device line"),
    ("GPU 0: X (UUID: GPU-aa)\n  MIG 1g.10gb     Device  0: (UUID: MIG-bb)\n  MIG 1g.10gb     Device  1: (UUID: MIG-bb)",
     "lists a MIG device UUID twice"),
])
def test_the_list_parser_rejects_malformed_lines(text: str, needle: str) -> None:
    with pytest.raises(g.GpuSpecError, match=needle):
        g.parse_nvidia_smi_list(text)


def test_slices_by_profile_exclusive_and_never_the_mig_gpu_whole(fixtures_dir: Path) -> None:
    alloc = g.GpuAllocator(mig_host(fixtures_dir), policy="shared", users_per_gpu=2)
    assert [x.device_id for x in alloc.mig_parents] == ["0"]
    assert alloc.mig_profiles() == ["3g.40gb", "1g.10gb"]
    assert (alloc.seats(SMALL), alloc.seats(BIG), alloc.seats(g.ONE_GPU)) == (4, 1, 2)
    assert [alloc.allocate(f"s{n}", SMALL) for n in range(4)] == [[MIG_SLICE.format(n)] for n in range(2, 6)]
    with pytest.raises(g.GpusExhausted, match=r"Every MIG 1g.10gb slice is in use \(4 slice\(s\)\)"):
        alloc.allocate("s4", SMALL)
    assert alloc.allocate("big", BIG) == [MIG_SLICE.format(1)]
    # Whole GPUs come only from GPU 1 (GPU 0 is in MIG mode), shared by two users.
    assert alloc.allocate("w1") == ["1"] and alloc.allocate("w2") == ["1"]
    with pytest.raises(g.GpusExhausted, match="All GPUs are in use"):
        alloc.allocate("w3")
    assert alloc.free_seats(SMALL) == 0 and alloc.free_seats(g.GpuRequest()) is None
    alloc.release("s1")
    assert alloc.free_seats(SMALL) == 1 and alloc.allocate("s4", SMALL) == [MIG_SLICE.format(3)]


def test_mixed_requests_survive_a_restart_from_labels(fixtures_dir: Path) -> None:
    gpus = mig_host(fixtures_dir) + [g.Gpu("2", 2), g.Gpu("3", 3)]
    before = g.GpuAllocator(gpus, policy="exclusive")
    before.allocate("ana", SMALL)
    before.allocate("bo", g.GpuRequest("whole", 2))
    before.allocate("cy", BIG)
    before.allocate("cpu-only", g.GpuRequest())
    assert before.assignments() == {"ana": [MIG_SLICE.format(2)], "bo": ["1", "2"], "cy": [MIG_SLICE.format(1)]}
    labels = [container(u, ",".join(ids)) for u, ids in before.assignments().items()]
    after = g.GpuAllocator(gpus, policy="exclusive")
    assert after.rebuild(labels) == before.assignments()
    assert after.allocate("dee", SMALL) == [MIG_SLICE.format(3)]  # ana's slice is not handed out again
    assert after.allocate("eve") == ["3"]
    with pytest.raises(g.GpusExhausted, match="2 GPUs asked"):
        after.allocate("fay", g.GpuRequest("whole", 2))
    with pytest.raises(g.GpusExhausted):
        after.allocate("fay", BIG)


def test_concurrent_slice_spawns_never_double_assign(fixtures_dir: Path) -> None:
    alloc = g.GpuAllocator(mig_host(fixtures_dir), policy="exclusive", when_exhausted="cpu")
    got: dict[str, list[str]] = {}
    barrier = threading.Barrier(12)

    def spawn(user: str) -> None:
        barrier.wait()
        got[user] = alloc.allocate(user, SMALL)

    threads = [threading.Thread(target=spawn, args=(f"u{n}",)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    given = [ids[0] for ids in got.values() if ids]
    assert sorted(given) == [MIG_SLICE.format(n) for n in range(2, 6)]  # four slices, each once
    assert sum(1 for ids in got.values() if not ids) == 8  # the rest fell back to CPU


def test_a_gpu_listed_whole_and_as_slices_is_refused() -> None:
    slice0 = g.Gpu(MIG_SLICE.format(1), 0, mig_profile="1g.10gb", parent_index=0)
    with pytest.raises(ValueError, match=r"GPU\(s\) \[0\] are listed whole and as MIG slices"):
        g.GpuAllocator([g.Gpu("0", 0), slice0])


# ------------------------------------------------------- MIG slices in an explicit GPU list

HOST_GPU0 = "GPU-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"  # the MIG fixture host's GPU 0 (in MIG mode)
HOST_GPU1 = "GPU-5d4c3b2a-1f0e-9d8c-7b6a-5f4e3d2c1b0a"


def test_an_explicit_list_takes_mig_entries_bare_or_with_their_profile() -> None:
    bare, declared, whole = g.parse_gpu_spec(f"{MIG_SLICE.format(2)}, {MIG_SLICE.format(1)}=3g.40gb, 1")
    assert (bare.device_id, bare.is_mig_entry, bare.is_slice) == (MIG_SLICE.format(2), True, False)
    assert (declared.device_id, declared.mig_profile, declared.is_slice) == (MIG_SLICE.format(1), "3g.40gb", True)
    assert declared.describe() == f"MIG 3g.40gb slice {MIG_SLICE.format(1)}"
    assert (whole.device_id, whole.is_mig_entry) == ("1", False)


@pytest.mark.parametrize("spec, needle", [
    ("MIG-aa=big", "entry 'MIG-aa=big': 'big' is not a MIG profile"),
    ("MIG-aa=", "entry 'MIG-aa=': '' is not a MIG profile"),
    ("MIG-aa=1g.10gb=x", "'1g.10gb=x' is not a MIG profile"),
    ("GPU-aa=1g.10gb", "entry 'GPU-aa=1g.10gb' is neither a GPU index"),
    ("0=1g.10gb", "entry '0=1g.10gb' is neither"),
    ("MIG-GPU-aa/1/0", "entry 'MIG-GPU-aa/1/0' is neither"),  # the pre-R470 MIG name: not a UUID Docker takes
    ("MIG-aa,MIG-aa=1g.10gb", "lists GPU MIG-aa twice"),
])
def test_malformed_mig_entries_are_refused_naming_them(spec: str, needle: str) -> None:
    with pytest.raises(g.GpuSpecError, match=re.escape(needle)):
        g.parse_gpu_spec(spec)


def test_listed_slices_take_profile_and_parent_from_discovery(fixtures_dir: Path) -> None:
    listed = g.parse_gpu_spec(f"{MIG_SLICE.format(3)},{MIG_SLICE.format(1)}=3g.40gb,{HOST_GPU1}")
    gpus = g.resolve_gpu_list(listed, mig_host(fixtures_dir))
    assert [(x.device_id, x.mig_profile, x.parent_index) for x in gpus] == [
        (MIG_SLICE.format(3), "1g.10gb", 0), (MIG_SLICE.format(1), "3g.40gb", 0), (HOST_GPU1, "", None)]
    assert gpus[2].index == 1 and gpus[2].name == "NVIDIA H100 80GB HBM3"
    alloc = g.GpuAllocator(gpus, policy="exclusive")
    # Only the listed slice of each profile is handed out, never another of the host's.
    assert alloc.allocate("ana", SMALL) == [MIG_SLICE.format(3)] and alloc.free_seats(SMALL) == 0
    assert alloc.allocate("bo", BIG) == [MIG_SLICE.format(1)]
    assert alloc.allocate("cy") == [HOST_GPU1]
    with pytest.raises(g.GpusExhausted, match="Every MIG 1g.10gb slice is in use"):
        alloc.allocate("dee", SMALL)


@pytest.mark.parametrize("spec, needle", [
    (f"0,{MIG_SLICE.format(2)}", f"GPU 0 is in MIG mode, so it is only handed out as slices: list its MIG devices "
                                 f"instead ({MIG_SLICE.format(1)}, {MIG_SLICE.format(2)}"),
    (f"{HOST_GPU0},{MIG_SLICE.format(2)}", f"GPU {HOST_GPU0} is in MIG mode"),
    (f"{MIG_SLICE.format(2)}=3g.40gb", f"entry {MIG_SLICE.format(2)}=3g.40gb: nvidia-smi -L says that slice is 1g.10gb"),
    ("MIG-00000000-0000-0000-0000-000000000009", "'MIG-00000000-0000-0000-0000-000000000009' is not a MIG device of "
                                                 f"this host; its MIG devices (nvidia-smi -L) are: {MIG_SLICE.format(1)}=3g.40gb"),
    (f"{MIG_SLICE.format(2)},7", "entry '7' is not a GPU of this host; nvidia-smi lists: 0 (GPU-0a1b"),
])
def test_a_listed_device_discovery_contradicts_is_refused(fixtures_dir: Path, spec: str, needle: str) -> None:
    with pytest.raises(g.GpuSpecError, match=re.escape(needle)):
        g.resolve_gpu_list(g.parse_gpu_spec(spec), mig_host(fixtures_dir))


def test_without_discovery_only_declared_slices_alone_are_accepted() -> None:
    declared = g.parse_gpu_spec(f"{MIG_SLICE.format(2)}=1g.10gb,{MIG_SLICE.format(3)}=1g.10gb")
    assert g.resolve_gpu_list(declared, None, discovery_error="no engine") == declared
    with pytest.raises(g.GpuSpecError, match=re.escape(
            f"MIG entry {MIG_SLICE.format(3)} needs a MIG profile, which comes from GPU discovery, and discovery "
            f"failed (no engine). Make discovery work")) as bare:
        g.resolve_gpu_list(g.parse_gpu_spec(f"{MIG_SLICE.format(2)}=1g.10gb,{MIG_SLICE.format(3)}"), None,
                           discovery_error="no engine")
    assert str(bare.value).endswith(f"e.g. {MIG_SLICE.format(3)}=1g.10gb")
    with pytest.raises(g.GpuSpecError, match=re.escape("names MIG slices and whole GPUs (1), and without GPU discovery")):
        g.resolve_gpu_list(g.parse_gpu_spec(f"{MIG_SLICE.format(2)}=1g.10gb,1"), None, discovery_error="x")
    with pytest.raises(ValueError, match="have no MIG profile"):  # an unresolved entry never reaches the pool
        g.GpuAllocator(g.parse_gpu_spec(MIG_SLICE.format(2)))


def replay_nvidia_smi(fixtures_dir: Path, calls: list):
    """Stand-in for run_nvidia_smi on the MIG fixture host: the fixture output of each query."""
    def run(docker_client, image, *, args=g.NVIDIA_SMI_QUERY, timeout_s=60.0):
        calls.append(list(args))
        name = "nvidia-smi-L.txt" if list(args) == g.NVIDIA_SMI_LIST else "query-gpu-noheader.txt"
        return fixture_output(fixtures_dir / "gpu-host-mig" / name)
    return run


def test_discovery_runs_for_mig_entries_only_and_the_pool_survives_a_restart(fixtures_dir: Path, monkeypatch) -> None:
    calls: list = []
    monkeypatch.setattr(g, "run_nvidia_smi", replay_nvidia_smi(fixtures_dir, calls))
    assert [x.device_id for x in g.discover_gpus("1,0", object(), "img")] == ["1", "0"] and calls == []
    spec = f"1,{MIG_SLICE.format(4)},{MIG_SLICE.format(5)}"
    gpus = g.discover_gpus(spec, object(), "img")
    assert calls == [g.NVIDIA_SMI_QUERY, g.NVIDIA_SMI_LIST]
    before = g.GpuAllocator(gpus, policy="exclusive")
    assert before.allocate("ana", SMALL) == [MIG_SLICE.format(4)] and before.allocate("bo") == ["1"]
    after = g.GpuAllocator(g.discover_gpus(spec, object(), "img"), policy="exclusive")
    after.rebuild([container("ana", MIG_SLICE.format(4)), container("bo", "1")])
    assert after.assignments() == before.assignments()
    assert after.allocate("cy", SMALL) == [MIG_SLICE.format(5)]
    with pytest.raises(g.GpusExhausted):
        after.allocate("dee")  # GPU 1 is bo's, GPU 0 is never whole


def test_a_hub_whose_discovery_fails_names_the_setting_and_the_entry(monkeypatch) -> None:
    from gluonlab_hub.settings import Settings
    from gluonlab_hub.spawner import hub_gpu_allocator

    def no_gpus(docker_client, image, *, args=g.NVIDIA_SMI_QUERY, timeout_s=60.0):
        raise g.GpuDiscoveryError("Docker could not start a container with GPUs (no nvidia runtime)")
    monkeypatch.setattr(g, "run_nvidia_smi", no_gpus)
    spec = f"{MIG_SLICE.format(2)}"
    with pytest.raises(g.GpuSetupError) as error:
        hub_gpu_allocator(Settings.from_env({"GLUONLAB_GPU_POLICY": "exclusive", "GLUONLAB_GPUS": spec}),
                          SimpleNamespace(containers=SimpleNamespace(list=lambda filters=None: [])))
    assert str(error.value).startswith(
        f"GLUONLAB_GPUS='{spec}' (GLUONLAB_GPU_POLICY=exclusive) is not valid: MIG entry {spec} needs a MIG profile")
    declared = f"{spec}=1g.10gb"
    pool = hub_gpu_allocator(Settings.from_env({"GLUONLAB_GPU_POLICY": "exclusive", "GLUONLAB_GPUS": declared}),
                             SimpleNamespace(containers=SimpleNamespace(list=lambda filters=None: [])))
    assert pool.mig_profiles() == ["1g.10gb"] and pool.allocate("ana", SMALL) == [spec]
