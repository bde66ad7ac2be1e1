"""doctor.sh's MIG report (scripts/lib/gluonlab_doctor/checks/gpu.py) with the hand-made MIG
`nvidia-smi -L` of tests/fixtures/gpu-host-mig (see its README) replayed by the stub nvidia-smi
in place of the H100 capture's, in a lab server that the hub gave a MIG slice."""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
from gluonlab_doctor.checks import gpu as G  # noqa: E402

MIG_LIST = REPO / "tests" / "fixtures" / "gpu-host-mig" / "nvidia-smi-L.txt"
CUDA_FEATURES = ("CUDA", "CUDNN", "NCCL", "CPU_SSE", "OPENMP")
SLICE = "MIG 1g.10gb slice 1 of GPU 0 (NVIDIA H100 80GB HBM3)"


def body(path):
    return "\n".join(ln for ln in path.read_text().splitlines() if not ln.startswith(("$ ", "[exit ")))


def test_the_list_parser_groups_devices_under_their_gpu():
    found = G.parse_mig_list(body(MIG_LIST))
    assert sorted(found) == [0] and [p for p, _ in found[0]] == ["3g.40gb"] + ["1g.10gb"] * 4
    assert G.parse_mig_list("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-2b18b8c7-7792-5f89-e0b9-8e2040f7172d)") == {}
    assert G.parse_mig_list("GPU 0: X (UUID: GPU-aa)\nsomething else") is None


def test_a_lab_server_on_a_mig_slice_is_told_which_slice(scenario):
    s = scenario
    s.nvidia_smi("h100")
    (s.bin / "smi-replay" / "nvidia-smi-L.txt").write_text(MIG_LIST.read_text())
    s.numpy()
    s.mxnet(features=CUDA_FEATURES, num_gpus=1)
    s.extra_env["GLUONLAB_GPU_DESCRIPTION"] = SLICE
    r = s.run("--skip", "jupyter", "--where", "container")
    status, found = r.lines["gpu"]
    assert status == "PASS"
    assert found.endswith("; GPU 0 is in MIG mode with 5 MIG device(s) (1g.10gb x4, 3g.40gb x1); "
                          "this server got " + SLICE), found
    zh = s.run("--skip", "jupyter", "--where", "container", lang="zh")
    assert "GPU 0 处于 MIG 模式，5 个 MIG 设备" in zh.lines["gpu"][1]


def test_without_mig_the_line_is_unchanged(scenario):
    s = scenario
    s.nvidia_smi("h100")
    s.numpy()
    s.mxnet(features=CUDA_FEATURES, num_gpus=1)
    r = s.run("--skip", "jupyter")
    assert r.lines["gpu"] == ("PASS", "1 GPU(s): 0 NVIDIA H100 80GB HBM3, 81559 MiB, sm_90; driver 580.159.04, CUDA 13.0")
