#!/usr/bin/env bash
# Re-lock the images' requirements: each *.in becomes a fully pinned *.txt, resolved for the
# Python and platform that image really runs (so GPU variants lock correctly on any host).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT
readonly UV_VERSION="0.9.30"

usage() {
  cat <<'TXT'
Usage: scripts/lock-requirements.sh [--check] [--help]

Regenerates images/*/requirements*.txt from the matching .in files with uv (pip-compile
compatible). --check only verifies that every lock file still satisfies its .in file (exit 1
if not): it resolves with the existing lock as uv's preference, so a release upstream made
today changes nothing, while an edit to an .in file that the pins no longer satisfy does.

Environment: GLUONLAB_WORK_DIR  host scratch folder for uv's venv (default /var/tmp/gluonlab)
TXT
}

# <in file> <python version of the image that installs it> [packages left out of the lock]
readonly LOCKS=(
  "images/hub/requirements.in 3.11"
  "images/notebook/requirements-cpu.in 3.11"
  "images/notebook/requirements-cu117.in 3.10"
  "images/notebook/requirements-cu80.in 3.11"
  "images/notebook/requirements-ngc-server.in 3.11"
  # NGC ships numpy built together with its MXNet: never replace it.
  "images/notebook/requirements-ngc-kernel.in 3.8 numpy"
)

ensure_uv() {
  local venv="${GLUONLAB_WORK_DIR:-/var/tmp/gluonlab}/uv-venv"
  if [[ ! -x "$venv/bin/uv" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "uv==$UV_VERSION"
  fi
  UV="$venv/bin/uv"
}

main() {
  local check=0
  case "${1:-}" in
    --help|-h) usage; exit 0 ;;
    --check) check=1 ;;
    "") ;;
    *) echo "unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  ensure_uv
  cd "$REPO_ROOT"
  local entry in_file python keep_out out stale=0
  for entry in "${LOCKS[@]}"; do
    read -r in_file python keep_out <<<"$entry"
    local extra=()
    if [[ -n "$keep_out" ]]; then extra=(--no-emit-package "$keep_out"); fi
    out="${in_file%.in}.txt"
    local target="$out"
    if ((check)); then
      # uv prefers the versions already in its output file: start from the lock itself, so
      # only a requirement the pins do not satisfy changes a line.
      target=$(mktemp)
      cp "$out" "$target"
    fi
    UV_PYTHON_DOWNLOADS=never SSL_CERT_FILE="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" "$UV" pip compile --native-tls -q \
      --python-version "$python" --python-platform x86_64-manylinux_2_28 --no-header \
      "${extra[@]}" "$in_file" -o "$target"
    if ((check)); then
      if ! diff -q "$out" "$target" >/dev/null; then
        echo "stale lock: $out no longer satisfies $in_file (run scripts/lock-requirements.sh):" >&2
        diff "$out" "$target" >&2 || true
        stale=1
      fi
      rm -f "$target"
    fi
  done
  exit "$stale"
}

main "$@"
