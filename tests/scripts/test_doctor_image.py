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


@pytest.fixture(scope="module")
def image_runs(notebook_image):
    """One container runs the doctor twice: --json in English, then the default text (zh)."""
    name = "gluonlab-doctor-test-%d" % os.getpid()
    script = ("bash /opt/gluonlab/scripts/doctor.sh --json --lang en; echo \"@@rc=$?\"; "
              "bash /opt/gluonlab/scripts/doctor.sh; echo \"@@rc=$?\"")
    cmd = ["docker", "run", "--rm", "--name", name, "--network", "none",
           "-v", "%s:/opt/gluonlab/scripts:ro" % (REPO / "scripts"),
           IMAGE, "bash", "-c", script]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    parts = proc.stdout.split("@@rc=")
    assert len(parts) == 3, proc.stdout + proc.stderr
    json_out, rc_json = parts[0], int(parts[1].split("\n", 1)[0])
    text_out, rc_text = parts[1].split("\n", 1)[1], int(parts[2].strip())
    return {"json": (rc_json, json_out), "text": (rc_text, text_out), "stderr": proc.stderr}


@pytest.mark.docker
def test_doctor_in_the_notebook_image_passes_except_gpu(image_runs):
    rc, out = image_runs["json"]
    assert rc == 0, out + image_runs["stderr"]
    report = json.loads(out)
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
    assert {s["name"] for s in report["skipped"]} >= {"docker", "gpu-driver", "gpu-mxnet"}


@pytest.mark.docker
def test_doctor_in_the_notebook_image_speaks_chinese_by_default(image_runs):
    rc, out = image_runs["text"]
    assert rc == 0, out
    assert "WARN  gpu           没有 GPU (no GPU)：找不到 nvidia-smi，MXNet 使用 CPU" in out
    assert "处理 (remedy):" in out
    assert out.rstrip().endswith("结果 (summary): 8 PASS, 1 WARN, 0 FAIL")


@pytest.mark.docker
def test_doctor_names_an_almost_full_and_a_full_home(notebook_image):
    """The home as under the hub: its own file system (here a 400 MiB tmpfs, the same statvfs as
    the ext4 home of gluonlab_hub/homes.py); filled to 92 % it is a WARN, to the brim a FAIL."""
    script = ("fallocate -l 370m ~/data; bash /opt/gluonlab/scripts/doctor.sh --json --lang en --skip mxnet,gpu,conda; "
              "echo @@; fallocate -l 29m ~/more; bash /opt/gluonlab/scripts/doctor.sh --lang en --skip mxnet,gpu,conda; "
              "echo \"@@rc=$?\"")
    proc = subprocess.run(["docker", "run", "--rm", "--network", "none", "--tmpfs",
                           "/home/jovyan:size=400m,uid=1000,gid=1000", "-v", "%s:/opt/gluonlab/scripts:ro" % (REPO / "scripts"),
                           IMAGE, "bash", "-c", script], capture_output=True, text=True, timeout=300)
    almost, full = proc.stdout.split("@@\n")
    check = {c["name"]: c for c in json.loads(almost)["checks"]}["home-space"]
    assert check["status"] == "WARN" and check["found"].startswith("home /home/jovyan: 370 MiB of 400 MiB used (92%)"), check
    assert "du -sh ~/*" in check["remedy"][0]
    assert "FAIL  home-space    home /home/jovyan: 399 MiB of 400 MiB used (100%), 1 MiB free" in full, full
    assert "(No space left on device)" in full and full.rstrip().endswith("@@rc=1")
