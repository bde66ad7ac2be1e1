"""scripts/doctor.sh inside the built notebook image, as a user runs it in a JupyterLab terminal.

The working tree's scripts/ is mounted over /opt/gluonlab/scripts so the test checks this
checkout's doctor against the image's real Python, pip, numpy, MXNet and Jupyter. This
machine has no GPU, so the GPU check must say "no GPU" as a WARN and nothing may FAIL.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = "gluonlab/notebook:cpu"


def run_doctor(*args):
    name = "gluonlab-doctor-test-%d" % os.getpid()
    cmd = ["docker", "run", "--rm", "--name", name, "--network", "none",
           "-v", "%s:/opt/gluonlab/scripts:ro" % (REPO / "scripts"),
           IMAGE, "bash", "/opt/gluonlab/scripts/doctor.sh"] + list(args)
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


@pytest.mark.docker
def test_doctor_in_the_notebook_image_passes_except_gpu(notebook_image):
    proc = run_doctor("--json", "--lang", "en")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    status = {c["name"]: c["status"] for c in report["checks"]}
    assert status == {"python": "PASS", "pip": "PASS", "numpy": "PASS", "conda": "PASS", "mxnet": "PASS",
                      "mxnet-compute": "PASS", "gpu": "WARN", "jupyter": "PASS", "jupyter-md": "PASS"}, \
        json.dumps(report["checks"], indent=1, ensure_ascii=False)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["python"]["found"].startswith("Python 3.11.")
    assert checks["python"]["found"].endswith("(/opt/venv/bin/python3)")
    assert checks["mxnet"]["found"] == "mxnet 1.9.1, CPU (mxnet)"
    assert checks["numpy"]["found"] == "numpy 1.23.5 (< 1.24)"
    assert checks["conda"]["found"] == "not needed in the lab container: the Python environment is /opt/venv"
    assert checks["gpu"]["found"] == "no GPU: nvidia-smi not found, MXNet uses the CPU"
    assert "ask the admin for a GPU profile in the hub" in checks["gpu"]["remedy"][0]
    assert report["facts"]["where"] == "container"


@pytest.mark.docker
def test_doctor_in_the_notebook_image_speaks_chinese_by_default(notebook_image):
    proc = run_doctor()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARN  gpu           没有 GPU (no GPU)：找不到 nvidia-smi，MXNet 使用 CPU" in proc.stdout
    assert "处理 (remedy):" in proc.stdout
    assert "结果 (summary): 8 PASS, 1 WARN, 0 FAIL" in proc.stdout
