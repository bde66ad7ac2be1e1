"""Unit tests of scripts/lib/gluonlab_doctor/parse.py (and system.jupyter_python) on the real H100 outputs (tests/fixtures/gpu-host-h100)."""
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
from gluonlab_doctor import parse as P  # noqa: E402
from gluonlab_doctor import system  # noqa: E402

FIX = REPO / "tests" / "fixtures" / "gpu-host-h100"


def body(name):
    """A capture without its '$ command' header and '[exit N]' trailer."""
    lines = (FIX / name).read_text().splitlines()
    assert lines[0].startswith("$ nvidia-smi") and lines[-1] == "[exit 0]"
    return "\n".join(lines[1:-1]) + "\n"


def test_query_gpu_noheader_nounits():
    rows = P.parse_query_gpu(body("query-gpu-noheader.txt"))
    assert rows == [{"index": "0", "uuid": "GPU-2b18b8c7-7792-5f89-e0b9-8e2040f7172d",
                     "name": "NVIDIA H100 80GB HBM3", "memory.total": "81559", "memory.used": "0",
                     "utilization.gpu": "0", "driver_version": "580.159.04"}]


def test_query_gpu_with_header_and_units():
    rows = P.parse_query_gpu(body("query-gpu.txt"))
    assert rows[0]["memory.total"] == "81559"  # "81559 MiB" without the unit
    assert rows[0]["utilization.gpu"] == "0"
    assert rows[0]["pci.bus_id"] == "00000000:00:06.0"
    assert rows[0]["name"] == "NVIDIA H100 80GB HBM3"


def test_query_gpu_rejects_misaligned_rows():
    with pytest.raises(ValueError, match="has 2 fields, expected 7"):
        P.parse_query_gpu("0, NVIDIA H100\n")
    assert P.parse_query_gpu("") == []


def test_banner_list_and_xml():
    assert P.parse_smi_banner(body("nvidia-smi.txt")) == {"driver_version": "580.159.04", "cuda_version": "13.0"}
    assert P.parse_smi_banner("NVIDIA-SMI has failed") is None
    assert P.parse_smi_list(body("nvidia-smi-L.txt")) == [
        {"index": "0", "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-2b18b8c7-7792-5f89-e0b9-8e2040f7172d"}]
    xml = (FIX / "nvidia-smi-q.xml").read_text()
    info = P.parse_smi_xml(xml)
    assert info["driver_version"] == "580.159.04" and info["cuda_version"] == "13.0"
    assert info["gpus"] == [{"index": "0", "name": "NVIDIA H100 80GB HBM3", "architecture": "Hopper",
                             "uuid": "GPU-2b18b8c7-7792-5f89-e0b9-8e2040f7172d", "memory.total": "81559",
                             "pci.bus_id": "00000000:00:06.0"}]


@pytest.mark.parametrize("text, want", [
    ("1.9.1", (1, 9, 1)), ("1.23.5", (1, 23, 5)), ("2.0.0rc1", (2, 0, 0)), ("580.159.04", (580, 159, 4)),
    ("v1.5", (1, 5)), ("garbage", None), (None, None),
])
def test_parse_version(text, want):
    assert P.parse_version(text) == want


def test_version_compare_and_driver_format():
    assert P.version_lt((1, 5, 0), (1, 9, 1))
    assert not P.version_lt((1, 9), (1, 9, 0))
    assert P.version_lt((1, 23, 5), (1, 24))
    assert P.driver_str((515, 43, 4)) == "515.43.04" and P.driver_str((570, 26)) == "570.26"


@pytest.mark.parametrize("ver, want", [((3, 7, 9), "too-old"), ((3, 8, 0), "ok"), ((3, 11, 7), "ok"),
                                       ((3, 12, 1), "too-new"), ((2, 7, 18), "too-old")])
def test_python_supported(ver, want):
    assert P.python_supported(ver) == want


def test_pip_and_conda_versions():
    assert P.parse_pip_version("pip 22.0.2 from /usr/lib/python3/dist-packages/pip (python 3.10)\n") == {
        "version": "22.0.2", "location": "/usr/lib/python3/dist-packages/pip", "python": "3.10"}
    assert P.parse_pip_version("pip: command not found") is None
    assert P.parse_conda_version("conda 24.11.3\n") == "24.11.3"
    assert P.parse_env_file_name("# lab\nname: gluon  # env\nchannels: []\n") == "gluon"
    assert P.parse_env_file_name("dependencies: []\n") is None


@pytest.mark.parametrize("dist, want", [("mxnet-cu117", (11, 7)), ("mxnet-cu112", (11, 2)), ("mxnet-cu80", (8, 0)),
                                        ("mxnet-cu102", (10, 2)), ("mxnet-cu92mkl", (9, 2)), ("mxnet", None),
                                        ("mxnet-mkl", None)])
def test_wheel_cuda(dist, want):
    assert P.wheel_cuda(dist) == want


@pytest.mark.parametrize("cuda, driver, want", [
    ((11, 7), (580, 159, 4), "ok"),            # the H100 host
    ((11, 7), (515, 43, 4), "ok"),             # exactly the toolkit's driver
    ((11, 7), (470, 256, 2), "minor-compat"),  # CUDA 11 minor version compatibility (>= 450.80.02)
    ((11, 7), (450, 80, 2), "minor-compat"),
    ((11, 7), (450, 36, 6), "too-old"),
    ((11, 7), (440, 118, 2), "too-old"),
    ((12, 4), (525, 60, 13), "minor-compat"),
    ((12, 4), (520, 61, 5), "too-old"),
    ((10, 2), (440, 33, 1), "ok"),
    ((10, 2), (418, 39), "too-old"),           # no minor version compatibility before CUDA 11
    ((12, 7), (565, 57, 1), "ok"),             # unlisted minor: uses 12.6's driver
])
def test_driver_supports(cuda, driver, want):
    assert P.driver_supports(cuda, driver)[0] == want


def test_driver_max_cuda():
    assert P.driver_max_cuda((580, 159, 4)) == (13, 0)
    assert P.driver_max_cuda((440, 118, 2)) == (10, 2)
    assert P.driver_max_cuda((470, 42, 1)) == (11, 4)


@pytest.mark.parametrize("name, cc", [("NVIDIA H100 80GB HBM3", 90), ("NVIDIA A100-SXM4-40GB", 80),
                                      ("Tesla V100-SXM2-16GB", 70), ("Tesla T4", 75), ("NVIDIA L4", 89),
                                      ("NVIDIA GeForce RTX 3090", 86), ("NVIDIA A10G", 86), ("Tesla K80", 37),
                                      ("NVIDIA GeForce RTX 4090", 89), ("Tesla P100-PCIE-16GB", 60),
                                      ("Mystery GPU", None)])
def test_compute_capability_from_name(name, cc):
    assert P.compute_capability_from_name(name) == cc


def test_arch_supported_uses_cubin_compatibility():
    cu117 = P.WHEEL_ARCHS[(11, 7)]
    assert P.arch_supported(90, cu117) == "no"       # Hopper: no sm_9x SASS, no PTX
    assert P.arch_supported(89, cu117) == "yes"      # Ada runs sm_86 SASS (same major, higher minor)
    assert P.arch_supported(75, cu117) == "yes"      # Turing runs sm_70 SASS
    assert P.arch_supported(37, cu117) == "no"       # Kepler: dropped
    assert P.arch_supported(75, P.WHEEL_ARCHS[(11, 0)]) == "yes"
    assert P.arch_supported(None, cu117) == "unknown"
    cu80 = P.WHEEL_ARCHS[(8, 0)]
    assert P.arch_supported(37, cu80) == "yes"             # K80 runs sm_35 SASS
    assert P.arch_supported(70, cu80, P.WHEEL_PTX[(8, 0)]) == "ptx"  # V100: JIT from compute_61
    assert P.arch_supported(90, cu117, P.WHEEL_PTX.get((11, 7))) == "no"
    assert P.parse_compute_cap("9.0\n") == 90 and P.parse_compute_cap("") is None
    assert P.arch_name(90) == "Hopper" and P.arch_name(89) == "Ada" and P.arch_name(75) == "Turing"


@pytest.mark.parametrize("text, rc, want", [
    ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", 9, "no-driver"),
    ("Failed to initialize NVML: Driver/library version mismatch", 18, "version-mismatch"),
    ("No devices were found", 6, "no-devices"),
    ("something else", 1, "other"),
])
def test_classify_smi_failure(text, rc, want):
    assert P.classify_smi_failure(text, rc) == want


@pytest.mark.parametrize("text, want", [
    ("ModuleNotFoundError: No module named 'mxnet'", "missing"),
    ("OSError: libcuda.so.1: cannot open shared object file: No such file or directory", "no-cuda-driver"),
    ("OSError: libgomp.so.1: cannot open shared object file", "system-libs"),
    ("AttributeError: module 'numpy' has no attribute 'bool'.\n`np.bool` was a deprecated alias", "numpy-too-new"),
    ("OSError: libcudart.so.11.0: cannot open shared object file", "cuda-libs"),
    ("ValueError: weird", "other"),
])
def test_classify_import_error(text, want):
    assert P.classify_import_error(text) == want


@pytest.mark.parametrize("text, want", [
    ("permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock", "permission"),
    ("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", "daemon-down"),
    ('docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].', "no-toolkit"),
    ("Unable to find image 'x:y' locally", "no-image"),
])
def test_classify_docker_error(text, want):
    assert P.classify_docker_error(text) == want


def test_jupyter_python_reads_the_launchers_shebang(tmp_path, monkeypatch):
    interp = tmp_path / "server-venv" / "bin" / "python3"
    interp.parent.mkdir(parents=True)
    interp.write_text("")
    interp.chmod(0o755)
    launcher = tmp_path / "bin" / "jupyter-lab"
    launcher.parent.mkdir()
    launcher.write_text("#!%s\nimport sys\n" % interp)
    launcher.chmod(0o755)
    monkeypatch.setenv("PATH", str(launcher.parent))
    assert system.jupyter_python() == str(interp)
    launcher.write_text("#!/usr/bin/env python3\n")  # cannot tell: fall back to python3
    assert system.jupyter_python() is None
    monkeypatch.setenv("PATH", str(tmp_path))
    assert system.jupyter_python() is None
