#!/usr/bin/env bash
# Creates the Jupyter environment /opt/venv from the variant's lock file and, where the variant
# base names a separate kernel Python (ngc), installs the kernel side into that Python.
#   LOCK_DIR/requirements-<variant>-server.txt, else requirements-<variant>.txt -> /opt/venv
#   LOCK_DIR/requirements-<variant>-kernel.txt -> $GLUONLAB_KERNEL_PYTHON (when set)
# PIP_INDEX_URL (a mirror) is used only when set: an empty value would break pip.
# Usage: install-jupyter.sh LOCK_DIR   (reads GLUONLAB_VARIANT, GLUONLAB_SERVER_PYTHON,
#        GLUONLAB_KERNEL_PYTHON from the base stage)
set -euo pipefail

die() { printf 'install-jupyter: %s\n' "$*" >&2; exit 1; }

server_lock() {
  local dir="$1" variant="$2" lock
  for lock in "$dir/requirements-$variant-server.txt" "$dir/requirements-$variant.txt"; do
    if [[ -f "$lock" ]]; then printf '%s\n' "$lock"; return 0; fi
  done
  die "no lock file for variant '$variant' (images/notebook/requirements-$variant.txt): run scripts/lock-requirements.sh"
}

# The kernel: ipykernel + plotting into the base's own Python, holding its numpy and MXNet
# exactly as the base built them, registered as the default "python3" kernel of /opt/venv.
install_kernel() {
  local python="$1" lock="$2"
  [[ -f "$lock" ]] || die "GLUONLAB_KERNEL_PYTHON is set but $(basename "$lock") is missing"
  "$python" -m pip freeze | grep -iE '^(numpy|mxnet)==' > /tmp/kernel-constraints.txt
  "$python" -m pip install -q -c /tmp/kernel-constraints.txt -r "$lock"
  "$python" -m ipykernel install --prefix /opt/venv --name python3 --display-name "Python 3 (MXNet, ${GLUONLAB_VARIANT^^})"
  "$python" -c "import mxnet; print('kernel MXNet', mxnet.__version__)"
  rm -f /tmp/kernel-constraints.txt
}

main() {
  local dir="${1:?usage: install-jupyter.sh LOCK_DIR}"
  local variant="${GLUONLAB_VARIANT:?GLUONLAB_VARIANT is set by the variant base stage}"
  if [[ -z "${PIP_INDEX_URL:-}" ]]; then unset PIP_INDEX_URL; fi
  local lock
  lock=$(server_lock "$dir" "$variant")
  "${GLUONLAB_SERVER_PYTHON:-python3}" -m venv /opt/venv
  /opt/venv/bin/pip install -q -r "$lock"
  if [[ -n "${GLUONLAB_KERNEL_PYTHON:-}" ]]; then
    install_kernel "$GLUONLAB_KERNEL_PYTHON" "$dir/requirements-$variant-kernel.txt"
  fi
  rm -rf "$dir"
}

main "$@"
