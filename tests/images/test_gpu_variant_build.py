"""CI has no GPU and no registry, yet the shared tail of images/notebook/Dockerfile must build
on a GPU variant's base too. Here: the `cu80` target, whose base is Debian (the local
gluonlab/debian-base:bookworm is a real bookworm) and whose CUDA 8 libraries come from
CUDA8_IMAGE, replaced by a STAND-IN: a Debian image with placeholder files at the paths the
real nvidia/cuda:8.0 image has. Everything but those libraries is what a GPU host builds
(mxnet-cu80's lock, the Jupyter side, the cu80 stage); MXNet itself is not imported, since
the placeholders are not CUDA."""
from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
BASE = os.environ.get("NOTEBOOK_BASE_IMAGE") or "gluonlab/debian-base:bookworm"
# The files the cu80 stage copies from nvidia/cuda:8.0-cudnn7-runtime-ubuntu16.04.
STAND_IN_FILES = ("/usr/local/cuda-8.0/lib64/libcudart.so.8.0.61", "/usr/lib/x86_64-linux-gnu/libcudnn.so.7.1.4")


def docker(*args: str, timeout: int = 60, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def cu80_image(docker_client):
    assert docker("image", "inspect", BASE).returncode == 0, (
        f"base image {BASE} not found: run scripts/setup-docker-host.sh (builds gluonlab/debian-base:bookworm) "
        "or set NOTEBOOK_BASE_IMAGE to a Debian bookworm image")
    tag = uuid.uuid4().hex[:10]
    cuda8, image = f"gluonlab-test/cuda8-stand-in:{tag}", f"gluonlab-test/notebook-cu80:{tag}"
    stand_in = (f"FROM {BASE}\n"
                f"RUN mkdir -p {' '.join(sorted({os.path.dirname(f) for f in STAND_IN_FILES}))} && "
                + " && ".join(f"echo 'stand-in, not CUDA' > {f}" for f in STAND_IN_FILES) + "\n")
    made = docker("build", "-q", "-t", cuda8, "-", input=stand_in, timeout=300)
    assert made.returncode == 0, made.stderr
    start = time.monotonic()
    built = docker("build", "-f", "images/notebook/Dockerfile", "--target", "cu80",
                   "--build-arg", "NOTEBOOK_VARIANT=cu80", "--build-arg", f"NOTEBOOK_BASE_IMAGE={BASE}",
                   "--build-arg", f"CUDA8_IMAGE={cuda8}", "-t", image, ".", cwd=REPO, timeout=1500)
    try:
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        print(f"cu80 on the stand-in: built in {time.monotonic() - start:.0f} s")
        yield docker_client.images.get(image)
    finally:
        docker("rmi", "-f", image, cuda8)


def run(image, command: str) -> str:
    result = docker("run", "--rm", "--entrypoint", "bash", image.id, "-c", command)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_cu80_stage_sits_on_the_shared_tail(cu80_image):
    config = cu80_image.attrs["Config"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["GLUONLAB_VARIANT"] == "cu80" and env["LD_LIBRARY_PATH"] == "/usr/local/cuda-8.0/lib64"
    assert config["Labels"]["org.gluonlab.variant"] == "cu80"
    # The tail's metadata reaches the variant stage unchanged.
    assert config["User"] == "1000" and config["Entrypoint"][0] == "tini"
    assert config["Healthcheck"]["Test"][-1] == "/usr/local/bin/healthcheck.py"
    out = run(cu80_image, "ls /usr/local/cuda-8.0/lib64")
    assert out.split() == ["libcudart.so.8.0.61", "libcudnn.so.7.1.4"]


def test_cu80_has_its_own_lock_and_the_shared_jupyter_side(cu80_image):
    out = run(cu80_image, "pip list --format=json 2>/dev/null")
    packages = {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(out)}
    assert packages["mxnet-cu80"] == "1.5.0" and "mxnet" not in packages
    assert packages["jupyterlab-nvdashboard"] == "0.15.0"
    assert packages["jupyterhub"].split(".")[0] == "5" and packages["jupyterlab"].split(".")[0] == "4"


def test_cu80_seeds_tutorials_and_ships_the_doctor(cu80_image):
    out = run(cu80_image,
              "export HOME=$(mktemp -d); timeout 60 start-notebook.sh --version >/dev/null 2>&1 || true; "
              "ls $HOME/tutorials; cat /opt/gluonlab/content/VERSION; "
              "/opt/gluonlab/build/content-version.sh /opt/gluonlab/content; ls /opt/gluonlab/scripts")
    lines = out.split()
    assert "utils.py" in lines and "datasets.py" in lines
    assert lines[-4] == lines[-3]  # VERSION is the hash of the shipped tree
    assert lines[-2:] == ["doctor.sh", "lib"]
