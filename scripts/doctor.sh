#!/usr/bin/env bash
# Gluon Lab doctor: diagnoses a laptop, a GPU host or a lab container and says how to fix it.
# This wrapper finds a Python to run the doctor with and hands over to scripts/lib/doctor.py,
# the entry of the scripts/lib/gluonlab_doctor package: the checks, their --help and messages.
# The checked Python runs only gluonlab_doctor/probe.py, in child processes, so a crashing
# `import mxnet` is reported instead of killing the doctor.
set -euo pipefail

LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib"
readonly LIB_DIR

usage_without_python() {
  # The full --help lists the registered checks, so it needs the Python that runs them.
  cat <<'TXT'
Usage: scripts/doctor.sh [options]
       (in a lab container: bash /opt/gluonlab/scripts/doctor.sh)

Self-check for Gluon Lab installs. No Python >= 3.6 was found on PATH, which the doctor
needs to run (and to list its checks and options here). Install one, then run
scripts/doctor.sh --help again:
  conda create -n gluon python=3.11   or   sudo apt-get install python3

Exit status: 0 no FAIL (WARNs allowed), 1 at least one FAIL, 2 the doctor could not run
(bad option, no Python >= 3.6 to run it, internal error).
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

wants_help() {
  local arg
  for arg in "$@"; do
    case "$arg" in
      -h | --help) return 0 ;;
    esac
  done
  return 1
}

main() {
  local runner
  if ! runner="$(find_runner)"; then
    if wants_help "$@"; then
      usage_without_python
      return 0
    fi
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
