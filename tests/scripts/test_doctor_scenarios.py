"""The real scripts/doctor.sh in controlled environments (see conftest.py for what is real).

Real: doctor.sh and its Python code, the venv interpreter and its pip, the nvidia-smi
outputs (replayed from the H100 capture, or variants that only edit version/model fields),
Docker and HTTP servers in the host test. Test doubles: numpy/mxnet packages that report a
version/build, conda and a foreign pip printing their real output formats.
"""
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

DOCTOR = Path(__file__).resolve().parents[2] / "scripts" / "doctor.sh"
LAB_ENV_FILE = Path(__file__).resolve().parents[2] / "content" / "environment.yml"

CUDA_FEATURES = ("CUDA", "CUDNN", "NCCL", "CPU_SSE", "OPENMP")
KERNEL_ERR = ("[10:00:00] ../src/operator/tensor/./elemwise_binary_scalar_op.h:264: Check failed: "
              "err == cudaSuccess (209 vs. 0) : Name: mxnet_generic_kernel ErrStr:no kernel image is "
              "available for execution on the device")
DRIVER_ERR = ("[10:00:00] ../src/storage/./pooled_storage_manager.h:113: cudaMalloc retry failed: "
              "CUDA: CUDA driver version is insufficient for CUDA runtime version")


def test_healthy_gpu_host(scenario):
    """H100 host with an MXNet built for CUDA 12 (like the ngc image: CUDA_VERSION set)."""
    s = scenario
    s.nvidia_smi("h100")
    # conda with the lab's environment (content/environment.yml, found next to the scripts) active
    name = re.search(r"^name:\s*(\S+)", LAB_ENV_FILE.read_text(), re.M).group(1)
    env = s.home / "miniconda3" / "envs" / name
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").write_text("")
    s.conda(envs=[s.home / "miniconda3", env])
    s.extra_env["CONDA_DEFAULT_ENV"] = name
    s.numpy()
    s.mxnet(features=CUDA_FEATURES, num_gpus=1)
    s.extra_env["CUDA_VERSION"] = "12.4.1"
    r = s.run("--skip", "jupyter")
    assert r.rc == 0, r
    py = s.python
    assert r.lines == {
        "python": ("PASS", "Python %s (%s)" % (s.python_version, py)),
        "pip": ("PASS", r.found("pip")),
        "numpy": ("PASS", "numpy 1.23.5 (< 1.24)"),
        "conda": ("PASS", "conda 24.11.3 (%s/conda)" % s.bin),
        "conda-env": ("PASS", "environment %s is active (%s)" % (name, env)),
        "mxnet": ("PASS", "mxnet 1.9.1, CUDA 12.4 + cuDNN (mxnet)"),
        "mxnet-compute": ("PASS", "mx.nd.ones((2,3))*2 sums to 12 (CPU)"),
        "gpu": ("PASS", "1 GPU(s): 0 NVIDIA H100 80GB HBM3, 81559 MiB, sm_90; driver 580.159.04, CUDA 13.0"),
        "gpu-driver": ("PASS", "driver 580.159.04; mxnet needs CUDA 12.4 (driver >= 550.54.14)"),
        "gpu-mxnet": ("PASS", "mx.nd.zeros((2,2), ctx=mx.gpu(0)) works; num_gpus=1"),
    }, r
    assert r.found("pip").startswith("pip ") and r.found("pip").endswith("same interpreter as %s" % py)
    assert r.out.rstrip().endswith("summary: 10 PASS, 0 WARN, 0 FAIL")

    j = s.run("--skip", "jupyter", "--json")
    assert j.rc == 0
    report = json.loads(j.out)
    assert report["summary"] == {"pass": 10, "warn": 0, "fail": 0}
    assert report["exit_code"] == 0
    assert report["facts"]["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3"
    assert report["facts"]["gpus"][0]["compute_capability"] == 90
    assert [c["name"] for c in report["checks"]] == list(r.lines)
    skipped = {x["name"]: x["why"] for x in report["skipped"]}
    assert skipped["jupyter"] == skipped["jupyter-md"] == "--skip jupyter"
    assert skipped["gpu-arch"] == "needs a working GPU and a CUDA pip wheel of mxnet (mxnet-cuXXX)"
    assert skipped["docker"] == "host checks are off here (where=laptop; use --host)"
    assert skipped["hub"] == "no --hub-url given"


def test_no_gpu_laptop_is_a_warning_not_a_failure(scenario):
    s = scenario
    s.numpy()
    s.mxnet()
    r = s.run()
    assert r.rc == 0, r
    assert r.lines["mxnet"] == ("PASS", "mxnet 1.9.1, CPU (mxnet)")
    assert r.lines["gpu"] == ("WARN", "no GPU: nvidia-smi not found, MXNet uses the CPU")
    assert "CPU tutorials work as they are (mx.cpu())" in r.block("gpu")
    assert "gpu-driver" not in r.lines and "gpu-mxnet" not in r.lines
    # No Jupyter in this venv: a WARN with the install command, outside a lab container.
    assert r.lines["jupyter"] == ("WARN", "missing jupyterlab, jupytext, notedown")
    assert "%s -m pip install jupyterlab jupytext notedown" % s.python in r.block("jupyter")


def test_gpu_wheel_without_gpu_fails(scenario):
    s = scenario
    s.numpy()
    s.mxnet(dist="mxnet-cu117", features=CUDA_FEATURES, gpu_error="no CUDA-capable device is detected")
    r = s.run("--skip", "jupyter")
    assert r.rc == 1, r
    assert r.lines["gpu"] == ("FAIL", "no GPU (nvidia-smi not found), but the GPU build mxnet-cu117 is installed")
    assert "%s -m pip uninstall -y mxnet-cu117 && %s -m pip install mxnet==1.9.1" % (s.python, s.python) in r.block("gpu")


def test_driver_too_old_for_the_wheels_cuda(scenario):
    s = scenario
    s.nvidia_smi("v100-driver-440")
    s.numpy()
    s.mxnet(dist="mxnet-cu117", features=CUDA_FEATURES, num_gpus=1, gpu_error=DRIVER_ERR)
    r = s.run("--skip", "jupyter")
    assert r.rc == 1, r
    assert r.lines["gpu"] == ("PASS", "1 GPU(s): 0 Tesla V100-SXM2-16GB, 16160 MiB, sm_70; driver 440.118.02, CUDA 10.2")
    assert r.lines["gpu-driver"] == ("FAIL", "driver 440.118.02; mxnet-cu117 needs CUDA 11.7 (driver >= 515.43.04)")
    block = r.block("gpu-driver")
    assert "diagnosis: driver 440.118.02 supports CUDA up to 10.2, older than the wheel's CUDA 11.7" in block
    assert "upgrade the driver to >= 515.43.04" in block
    assert "or use the CPU build meanwhile: %s -m pip uninstall -y mxnet-cu117" % s.python in block
    assert r.lines["gpu-arch"][0] == "PASS"  # V100 (sm_70) is in the wheel
    assert r.lines["gpu-mxnet"][0] == "FAIL"
    assert "the driver is older than the wheel's CUDA" in r.block("gpu-mxnet")


def test_hopper_with_cu117_points_at_ngc_variant(scenario):
    s = scenario
    s.nvidia_smi("h100")
    s.numpy()
    # What mxnet-cu117 reports on sm_90: kernels for sm_50..sm_86 only, so the first op fails.
    s.mxnet(dist="mxnet-cu117", features=CUDA_FEATURES, num_gpus=1, gpu_error=KERNEL_ERR)
    r = s.run("--skip", "jupyter")
    assert r.rc == 1, r
    assert r.lines["gpu-driver"] == ("PASS", "driver 580.159.04; mxnet-cu117 needs CUDA 11.7 (driver >= 515.43.04)")
    assert r.lines["gpu-arch"] == ("WARN", "NVIDIA H100 80GB HBM3 (Hopper, sm_90): mxnet-cu117 has only "
                                           "sm_50,sm_60,sm_70,sm_80,sm_86")
    block = r.block("gpu-arch")
    assert "no kernel image is available for execution on the device" in block
    assert "use the `ngc` image variant: NOTEBOOK_VARIANT=ngc docker compose build (gluonlab/notebook:ngc)" in block
    assert r.lines["gpu-mxnet"][0] == "FAIL"
    # Chinese (the default) says the same, with the English terms kept.
    zh = s.run("--skip", "jupyter", lang="zh")
    assert "改用 `ngc` 镜像变体 (image variant)：NOTEBOOK_VARIANT=ngc docker compose build" in zh.block("gpu-arch")
    assert zh.lines["gpu-arch"][0] == "WARN"


def test_cpu_build_on_a_gpu_host_warns(scenario):
    s = scenario
    s.nvidia_smi("h100")
    s.numpy()
    s.mxnet()
    r = s.run("--skip", "jupyter")
    assert r.rc == 0, r
    assert r.lines["gpu-mxnet"] == ("WARN", "a GPU is present, but mxnet is the CPU build")
    assert "ngc" in r.block("gpu-mxnet")  # Hopper: cu117 would not help


def test_pip_bound_to_another_python(scenario):
    s = scenario
    s.foreign_pip()
    s.numpy()
    s.mxnet()
    r = s.run("--skip", "jupyter,gpu")
    assert r.rc == 1, r
    assert r.lines["pip"] == ("FAIL", "`pip` (%s/pip) belongs to Python 3.10 (/usr/lib/python3/dist-packages/pip), "
                                      "not to %s" % (s.bin, s.python))
    block = r.block("pip")
    assert "symptom: `pip install mxnet` succeeds, yet `import mxnet` says ModuleNotFoundError" in block
    assert "always install with: %s -m pip install mxnet==1.9.1" % s.python in block
    assert 'export PATH="%s:$PATH" && hash -r' % (s.venv / "bin") in block


def test_mxnet_missing(scenario):
    s = scenario
    s.numpy()
    r = s.run("--skip", "jupyter")
    assert r.rc == 1, r
    assert r.lines["mxnet"] == ("FAIL", "import mxnet: ModuleNotFoundError: No module named 'mxnet'")
    block = r.block("mxnet")
    assert "%s -m pip install mxnet==1.9.1" % s.python in block
    assert "No matching distribution found for mxnet==1.9.1" in block  # the platform-tag diagnosis
    assert "mxnet-compute" not in r.lines


@pytest.mark.parametrize("dist, extra", [
    ("mxnet", "--upgrade mxnet==1.9.1"),
    ("mxnet-cu92", "the mxnet-cu92 family stops at 1.7.0"),
])
def test_mxnet_too_old(scenario, dist, extra):
    s = scenario
    s.numpy()
    s.mxnet(version="1.5.0", dist=dist)
    r = s.run("--skip", "jupyter,gpu")
    assert r.rc == 1, r
    assert r.lines["mxnet"] == ("FAIL", "mxnet 1.5.0, CPU (%s)" % dist)
    assert "the Gluon Lab tutorials need mxnet >= 1.9.1" in r.block("mxnet")
    assert extra in r.block("mxnet")
    # --min-mxnet lowers the bar
    assert s.run("--skip", "jupyter,gpu", "--min-mxnet", "1.5").lines["mxnet"][0] == "PASS"


def test_legacy_cu80_on_a_volta_host(scenario):
    """The lab's cu80 variant: mxnet-cu80 1.5.0 (its last release) is a WARN, not a FAIL; on a
    V100 (sm_70) it runs through the wheel's PTX (compute_61), which the driver JIT-compiles."""
    s = scenario
    s.nvidia_smi("v100-driver-440")
    s.numpy()
    s.mxnet(version="1.5.0", dist="mxnet-cu80", features=CUDA_FEATURES, num_gpus=1)
    r = s.run("--skip", "jupyter")
    assert r.rc == 0, r
    assert r.lines["mxnet"] == ("WARN", "mxnet 1.5.0, CUDA 8.0 + cuDNN (mxnet-cu80)")
    assert "mxnet-cu80 1.5.0 is the last release of its family" in r.block("mxnet")
    assert r.lines["mxnet-compute"][0] == "PASS"
    assert r.lines["gpu-driver"] == ("PASS", "driver 440.118.02; mxnet-cu80 needs CUDA 8.0 (driver >= 375.26)")
    assert r.lines["gpu-arch"] == ("WARN", "Tesla V100-SXM2-16GB (Volta/Turing, sm_70): mxnet-cu80 has only "
                                           "sm_30,sm_35,sm_50,sm_52,sm_60,sm_61 + PTX compute_61")
    assert "PTX JIT compilation" in r.block("gpu-arch")
    assert r.lines["gpu-mxnet"][0] == "PASS"


def test_numpy_too_new(scenario):
    s = scenario
    s.numpy("1.26.4")
    s.mxnet()
    r = s.run("--skip", "jupyter,gpu")
    assert r.rc == 1, r
    assert r.lines["numpy"] == ("FAIL", "numpy 1.26.4")
    block = r.block("numpy")
    assert "module 'numpy' has no attribute 'bool'" in block
    assert '%s -m pip install "numpy==1.23.5"' % s.python in block


def test_conda_missing(scenario):
    s = scenario
    s.numpy()
    s.mxnet()
    r = s.run("--skip", "jupyter,gpu")
    assert r.rc == 0, r
    # The lab's content/environment.yml exists, but without a local one this user may use pip.
    assert r.lines["conda"] == ("WARN", "conda not found (fine if you use pip only)")
    assert "symptom: `conda: command not found`" in r.block("conda")


def test_conda_missing_with_a_local_environment_file(scenario):
    s = scenario
    (s.root / "environment.yml").write_text("name: gluon\n")
    r = s.run("--skip", "jupyter,gpu,mxnet")
    assert r.rc == 1, r
    assert r.lines["conda"] == ("FAIL", "conda not found, but there is an environment file environment.yml")
    assert "https://mirrors.tuna.tsinghua.edu.cn/anaconda/miniconda/" in s.run("--skip", "jupyter,gpu,mxnet", lang="zh").block("conda")


def test_conda_installed_but_not_on_path(scenario):
    s = scenario
    s.numpy()
    s.mxnet()
    s.conda(where=s.home / "miniconda3" / "bin" / "conda")
    r = s.run("--skip", "jupyter,gpu")
    assert r.rc == 1, r
    assert r.lines["conda"] == ("FAIL", "conda is installed in %s/miniconda3 but not on PATH" % s.home)
    assert "%s/miniconda3/bin/conda init bash" % s.home in r.block("conda")


def test_conda_env_missing_half_created_inactive_active(scenario):
    s = scenario
    s.numpy()
    s.mxnet()
    (s.root / "environment.yml").write_text("name: gluon\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n")
    base = s.home / "miniconda3"
    s.conda(envs=[base])
    r = s.run("--skip", "jupyter,gpu")
    assert r.lines["conda-env"] == ("FAIL", "environment gluon (from environment.yml) does not exist")
    block = r.block("conda-env")
    assert "conda env create -f environment.yml" in block
    assert "https://mirrors.tuna.tsinghua.edu.cn/anaconda/pkgs/main" in block
    assert r.rc == 1

    env = base / "envs" / "gluon"
    env.mkdir(parents=True)
    (s.bin / "conda").unlink()
    s.conda(envs=[base, env])
    r = s.run("--skip", "jupyter,gpu")
    assert r.lines["conda-env"] == ("FAIL", "environment gluon is half-created: no python in %s" % env)
    assert "conda env remove -n gluon" in r.block("conda-env")

    (env / "bin").mkdir()
    (env / "bin" / "python").write_text("")
    r = s.run("--skip", "jupyter,gpu")
    assert r.lines["conda-env"] == ("WARN", "environment gluon exists, but the active one is none")
    assert "conda activate gluon" in r.block("conda-env")
    assert r.rc == 0

    s.extra_env["CONDA_DEFAULT_ENV"] = "gluon"
    r = s.run("--skip", "jupyter,gpu")
    assert r.lines["conda-env"] == ("PASS", "environment gluon is active (%s)" % env)


def test_nvidia_driver_not_loaded(scenario):
    s = scenario
    s.nvidia_smi_failing("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
                         "Make sure that the latest NVIDIA driver is installed and running.", 9)
    s.numpy()
    s.mxnet()
    r = s.run("--skip", "jupyter")
    assert r.rc == 1, r
    # The found text is the first line of nvidia-smi's message, then its exit status.
    assert r.lines["gpu"] == ("FAIL", "nvidia-smi: NVIDIA-SMI has failed because it couldn't communicate with "
                                      "the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and "
                                      "running. [exit 9]")
    assert "sudo modprobe nvidia" in r.block("gpu")


def test_doctor_usage_errors_exit_2(scenario):
    r = scenario.run("--lang", "fr")
    assert r.rc == 2
    assert "invalid choice: 'fr'" in r.err
    r = scenario.run("--env-file", "missing.yml")
    assert r.rc == 2
    assert "--env-file missing.yml does not exist" in r.err
    r = scenario.run("--hub-url", "lab.example.org")
    assert r.rc == 2 and "--hub-url must start with http:// or https://" in r.err


def test_help_documents_options_checks_and_exit_codes():
    out = subprocess.run(["bash", str(DOCTOR), "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for word in ("--lang zh|en", "--json", "--hub-url", "--python", "--env-file", "--min-mxnet",
                 "gpu-arch", "docker-gpus", "Exit status: 0 no FAIL", "1 at least one FAIL", "2 the doctor could not run"):
        assert word in out.stdout, word


class _HubHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        if self.path == "/hub/api/":
            body = b'{"version": "5.5.4"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        else:
            body = b"not here"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def hub_server():
    srv = http.server.HTTPServer(("127.0.0.1", 0), _HubHandler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


@pytest.mark.docker
def test_host_checks_with_the_real_docker_engine(scenario, hub_server):
    """Real dockerd. Its nvidia hook here is the setup script's stub: `--gpus all` is accepted
    but nothing is injected, so docker-gpus must WARN (this proves the request path only)."""
    s = scenario
    s.nvidia_smi("h100")
    s.numpy()
    s.mxnet()
    s.extra_path.append(str(Path(shutil.which("docker")).parent))
    r = s.run("--host", "--skip", "jupyter,mxnet", "--gpu-image", "gluonlab/debian-base:bookworm",
              "--min-free-gb", "1", "--hub-url", hub_server)
    assert r.lines["docker"][0] == "PASS", r
    assert r.lines["docker"][1].startswith("Docker engine 20.10")
    assert r.lines["docker-gpus"] == ("WARN", "`--gpus all` is accepted, but no NVIDIA tools/libraries appear "
                                              "in the container (image gluonlab/debian-base:bookworm)"), r
    assert "sudo nvidia-ctk runtime configure --runtime=docker" in r.block("docker-gpus")
    assert r.lines["disk"][0] == "PASS" and r.lines["disk"][1].endswith("(need 1 GiB)")
    assert r.lines["hub"] == ("PASS", "JupyterHub 5.5.4 answers at %s" % hub_server)

    r = s.run("--host", "--skip", "jupyter,mxnet,gpu", "--min-free-gb", "100000", "--gpu-image",
              "gluonlab/doctor-test-no-such-image:none")
    assert r.lines["disk"][0] == "FAIL" and "docker image prune" in r.block("disk")
    assert r.lines["docker-gpus"][0] == "WARN"
    assert "cannot test --gpus: image gluonlab/doctor-test-no-such-image:none is not on this host" in r.found("docker-gpus")
    assert r.rc == 1


def test_hub_unreachable(scenario):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = scenario
    r = s.run("--no-host", "--skip", "python,conda,mxnet,gpu,jupyter", "--hub-url", "http://127.0.0.1:%d" % port)
    assert r.rc == 1, r
    assert r.lines["hub"][0] == "FAIL"
    assert r.found("hub").startswith("http://127.0.0.1:%d/hub/api/: [Errno 111] Connection refused" % port)
    assert "docker compose logs --tail 50 hub" in r.block("hub")


@pytest.mark.docker
def test_host_check_names_missing_netguard_rules_and_passes_once_the_guard_wrote_them(scenario):
    """Real dockerd, real host firewall: a lab network without its guard's rules is a FAIL with
    the fix; after one round of the real guard (`netguard --once`, as the compose service runs
    it) the same check passes; no lab network of that name is not applicable."""
    import docker

    s = scenario
    s.extra_path.append(str(Path(shutil.which("docker")).parent))
    instance = "gltest-doctor-%d" % os.getpid()
    s.extra_env["GLUONLAB_INSTANCE"] = instance
    guard = ["docker", "run", "--rm", "--network", "host", "--cap-drop", "ALL", "--cap-add", "NET_ADMIN",
             "--cap-add", "NET_RAW", "-v", "/var/run/docker.sock:/var/run/docker.sock", "-e",
             "GLUONLAB_INSTANCE=" + instance, "gluonlab/hub:latest", "python3", "-m", "gluonlab_hub.netguard"]
    only = ("--host", "--skip", "python,conda,mxnet,gpu,jupyter", "--json")
    report = json.loads(s.run(*only).out)
    assert "netguard" in {k["name"] for k in report["skipped"]}, report
    network = docker.from_env().networks.create(instance, driver="bridge",
                                                options={"com.docker.network.bridge.enable_icc": "false"})
    try:
        r = s.run("--host", "--skip", "python,conda,mxnet,gpu,jupyter")
        assert r.lines["netguard"] == ("FAIL", "lab network %s (br-%s) has no isolation rules (netguard)"
                                       % (instance, network.id[:12])), r
        assert "docker compose up -d netguard" in r.block("netguard")
        subprocess.run(guard + ["--once"], check=True, capture_output=True, timeout=120)
        r = s.run("--host", "--skip", "python,conda,mxnet,gpu,jupyter")
        assert r.lines["netguard"] == ("PASS", "isolation rules (netguard) of lab network %s (br-%s) are in place"
                                       % (instance, network.id[:12])), r
    finally:
        subprocess.run(guard + ["--remove"], capture_output=True, timeout=120)
        network.remove()
