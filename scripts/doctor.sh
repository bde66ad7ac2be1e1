#!/usr/bin/env bash
# Gluon Lab doctor: diagnoses a laptop, a GPU host or a lab container and says how to fix it.
# This wrapper documents the options, finds a Python to run the checks with, and hands over
# to scripts/lib/doctor.py (the checks) and scripts/lib/doctor_probe.py (runs in the Python
# being checked, so a crashing `import mxnet` is reported instead of killing the doctor).
set -euo pipefail

LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib"
readonly LIB_DIR

usage() {
  cat <<'TXT'
Usage: scripts/doctor.sh [options]
       (in a lab container: bash /opt/gluonlab/scripts/doctor.sh)

Self-check for Gluon Lab installs. Each check prints one line:
  PASS|WARN|FAIL  <check>  <what was found>
and, for WARN/FAIL, the symptom, the diagnosis and the remedy (commands to run).
Messages are in Chinese with the English terms kept; --lang en gives English.

Checks (those that do not apply are left out, and listed under "skipped" in --json):
  python       Python 3.8-3.11 (MXNet 1.9.1 needs numpy < 1.24, which has no wheel for 3.12+)
  pip          pip found, >= 19.3, and `pip`/`pip3` on PATH install into the same Python
  numpy        installed and < 1.24
  conda        conda on PATH and its version; not needed (PASS) inside a lab container;
               WARN when absent elsewhere (pip works without it); FAIL when it is installed
               but not on PATH, or when ./environment.yml or --env-file asks for it
  conda-env    (with conda) the environment of --env-file, ./environment.yml or else the lab's
               content/environment.yml exists, is complete (has python) and is active
  mxnet        importable, version >= --min-mxnet, which build (CPU / CUDA n.m)
  mxnet-compute  a tiny NDArray computation on the CPU
  gpu          nvidia-smi works; GPUs (index, name, memory, architecture), driver, CUDA.
               No GPU is a WARN ("no GPU"), not a FAIL, unless a GPU build of mxnet is installed
  gpu-driver   the driver supports the CUDA version of the installed mxnet-cuXXX wheel
  gpu-arch     the GPU architecture is compiled into that wheel (Hopper + cu117 -> WARN: ngc variant)
  gpu-mxnet    mx.nd.zeros(ctx=mx.gpu(0)) works (or: a GPU is idle because mxnet is the CPU build)
  jupyter      jupyterlab, jupytext, notedown installed
  jupyter-md   a markdown (.md) notebook opens with jupytext
  docker       (hosts) the Docker engine answers
  docker-gpus  (hosts with GPUs, or --gpu-image) `docker run --gpus all` gives the container GPUs
  disk         (hosts) free space where Docker keeps images
  hub          (with --hub-url) JupyterHub answers at <url>/hub/api/

Options:
  --lang zh|en        report language (default zh, or $GLUONLAB_DOCTOR_LANG)
  --json              print a JSON report instead of text (same exit codes)
  --python PATH       the Python to check (default: python3 on PATH, else python)
  --env-file FILE     conda environment file (default: ./environment.yml if present)
  --min-mxnet VER     lowest acceptable MXNet version (default 1.9.1)
  --host | --no-host  force the host checks on/off (default: on where docker is on PATH,
                      off inside a lab container)
  --hub-url URL       also check that JupyterHub answers at URL (http:// or https://)
  --gpu-image IMAGE   local image for the `docker run --gpus all` test
                      (default gluonlab/notebook:cpu; naming one also runs the test without GPUs)
  --min-free-gb N     free disk needed for the images (default 30)
  --timeout SEC       time limit per external command (default 60)
  --where auto|laptop|host|container   override where the doctor thinks it runs
  --skip GROUPS       comma list of groups to leave out: python (pip, numpy), conda, mxnet,
                      gpu, jupyter, host (the python check itself always runs)
  -h, --help          this help

Exit status: 0 no FAIL (WARNs allowed), 1 at least one FAIL, 2 the doctor could not run
(bad option, no Python >= 3.6 to run it, internal error).
Needs a Python >= 3.6 on PATH to run; the Python it checks may be older or broken.
TXT
}

find_runner() {
  # The doctor's own code needs Python >= 3.6; prefer the user's python3 so that what we
  # check and what we run with agree, and fall back to any other interpreter we can find.
  local cand
  for cand in "${GLUONLAB_DOCTOR_RUNNER:-}" python3 python /usr/bin/python3 /usr/local/bin/python3; do
    [[ -n "$cand" ]] || continue
    command -v "$cand" >/dev/null 2>&1 || continue
    if "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 6) else 1)' >/dev/null 2>&1; then
      printf '%s\n' "$cand"
      return 0
    fi
  done
  return 1
}

main() {
  local arg
  for arg in "$@"; do
    case "$arg" in
      -h | --help)
        usage
        return 0
        ;;
    esac
  done
  local runner
  if ! runner="$(find_runner)"; then
    echo "doctor: 找不到 Python >= 3.6 来运行自检 (no Python >= 3.6 found to run the doctor)." >&2
    echo "        安装 Python 3.11 (install Python 3.11): conda create -n gluon python=3.11  或/or  sudo apt-get install python3" >&2
    return 2
  fi
  local rc=0
  # -B: no __pycache__ in a read-only image mount or a user's checkout.
  "$runner" -B "$LIB_DIR/doctor.py" "$@" || rc=$?
  return "$rc"
}

main "$@"
