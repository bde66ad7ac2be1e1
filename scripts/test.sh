#!/usr/bin/env bash
# The one test command. --fast: the lint and unit lane, no Docker at all (what a contributor
# runs in a minute, and what CI runs before any image build). Without it: builds the images
# (as `docker compose up` would), then runs the whole pytest suite (unit, lint, scripts,
# images, integration, content, workshop, ansible) from a pinned venv.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT
readonly VENV="$REPO_ROOT/.venv"
# Host tools the fast lane's tests call (scripts/setup-docker-host.sh --tools-only installs them).
readonly FAST_TOOLS=(python3 git shellcheck hadolint yamllint sshd ssh)

usage() {
  cat <<'TXT'
Usage: scripts/test.sh [--fast] [--no-build] [--host-ca] [PYTEST_ARGS...]

Runs the Gluon Lab test suite from a pinned venv (.venv, made on first use; needs python3 >= 3.9).

  --fast       the no-Docker lane: tests/unit, tests/lint and tests/scripts' host-side tests
               (pytest --fast). No engine check, no image build. Needs shellcheck, hadolint,
               yamllint, compose, git and OpenSSH: `sudo scripts/setup-docker-host.sh --tools-only`
  (default)    the whole suite. Needs a running Docker engine (`sudo scripts/setup-docker-host.sh`
               installs and starts one on Debian) and builds the images first:
  --no-build   use the images already built (default: build them, cached layers reused)
  --host-ca    pass this host's CA bundle into image builds (TLS-intercepting networks, CI;
               GLUONLAB_HOST_CA=1 does the same)
  PYTEST_ARGS  handed to pytest, e.g. tests/unit or -m "not content" or -k gpu

Environment: NOTEBOOK_BASE_IMAGE / HUB_BASE_IMAGE (a local base image when no registry is
reachable), plus everything scripts/build-images.sh --help lists.
Test artifacts (logs, screenshots) go to test-artifacts/.
Exit status: pytest's; 5 (no tests collected) is reported, never taken for a pass; 2 bad usage
or a missing prerequisite.
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

check_fast_tools() {
  local missing=() tool
  for tool in "${FAST_TOOLS[@]}"; do
    # sshd lives in sbin, which a non-root PATH may leave out.
    command -v "$tool" >/dev/null 2>&1 || [[ -x "/usr/sbin/$tool" ]] || missing+=("$tool")
  done
  if ! command -v docker-compose >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then
    missing+=(docker-compose)
  fi
  if ((${#missing[@]})); then
    log "the fast lane needs ${missing[*]}: run 'sudo scripts/setup-docker-host.sh --tools-only' (Debian) or install them"
    exit 2
  fi
}

check_engine() {
  if ! docker info >/dev/null 2>&1; then
    log "the Docker engine is not reachable: start it, or run 'sudo scripts/setup-docker-host.sh' (or run 'scripts/test.sh --fast', which needs no Docker)"
    exit 2
  fi
}

run_pytest() {
  mkdir -p test-artifacts
  local rc=0
  "$VENV/bin/python" -m pytest "$@" || rc=$?
  if ((rc == 5)); then
    log "pytest collected no tests (exit 5) for: ${*:-the whole suite}; check the paths and -k/-m filters${fast_hint:-}"
  fi
  return "$rc"
}

main() {
  local fast=0 build=1 build_args=() fast_hint=""
  local pytest_args=()
  while (($#)); do
    case "$1" in
      --help|-h) usage; exit 0 ;;
      --fast) fast=1 ;;
      --no-build) build=0 ;;
      --host-ca) build_args+=(--host-ca) ;;
      *) pytest_args+=("$1") ;;
    esac
    shift
  done
  cd "$REPO_ROOT"
  if ((fast)); then
    if ((!build)) || ((${#build_args[@]})); then
      log "--fast builds no images: drop --no-build/--host-ca"
      exit 2
    fi
    check_fast_tools
    ensure_venv
    fast_hint=" (--fast runs tests/unit, tests/lint and tests/scripts only)"
    run_pytest --fast "${pytest_args[@]}"
    return
  fi
  check_engine
  ensure_venv
  if ((build)); then
    scripts/build-images.sh "${build_args[@]}"
  fi
  run_pytest "${pytest_args[@]}"
}

main "$@"
