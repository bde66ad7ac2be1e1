#!/usr/bin/env bash
# The one test command: builds the images (as `docker compose up` would), then runs the whole
# pytest suite (unit, images, integration, content, scripts, ansible) from a pinned venv.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT
readonly VENV="$REPO_ROOT/.venv"

usage() {
  cat <<'TXT'
Usage: scripts/test.sh [--no-build] [--host-ca] [PYTEST_ARGS...]

Runs the Gluon Lab test suite. Needs a running Docker engine (scripts/setup-docker-host.sh
installs and starts one on Debian) and python3 >= 3.9.

  --no-build   use the images already built (default: build them first, cached layers reused)
  --host-ca    pass this host's CA bundle into image builds (TLS-intercepting networks, CI;
               GLUONLAB_HOST_CA=1 does the same)
  PYTEST_ARGS  handed to pytest, e.g. tests/unit or -m "not content" or -k gpu

Environment: NOTEBOOK_BASE_IMAGE / HUB_BASE_IMAGE (a local base image when no registry is
reachable), plus everything scripts/build-images.sh --help lists.
Test artifacts (logs, screenshots) go to test-artifacts/.
TXT
}

log() { printf '[test] %s\n' "$*" >&2; }

ensure_venv() {
  local stamp="$VENV/.requirements.sha256"
  local want
  want=$(sha256sum <"$REPO_ROOT/tests/requirements.txt" | cut -d" " -f1)
  if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
  fi
  if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    log "installing test requirements into .venv"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REPO_ROOT/tests/requirements.txt"
    echo "$want" >"$stamp"
  fi
}

main() {
  local build=1 build_args=()
  local pytest_args=()
  while (($#)); do
    case "$1" in
      --help|-h) usage; exit 0 ;;
      --no-build) build=0 ;;
      --host-ca) build_args+=(--host-ca) ;;
      *) pytest_args+=("$1") ;;
    esac
    shift
  done
  cd "$REPO_ROOT"
  if ! docker info >/dev/null 2>&1; then
    log "the Docker engine is not reachable: start it, or run 'sudo scripts/setup-docker-host.sh'"
    exit 2
  fi
  ensure_venv
  if ((build)); then
    scripts/build-images.sh "${build_args[@]}"
  fi
  mkdir -p test-artifacts
  "$VENV/bin/python" -m pytest "${pytest_args[@]}"
}

main "$@"
