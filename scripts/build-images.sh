#!/usr/bin/env bash
# Build the Gluon Lab images (notebook variant + hub) with docker compose, so the build is the
# same one `docker compose up -d` does.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT
readonly VARIANTS="cpu cu117 ngc cu80"

usage() {
  cat <<'TXT'
Usage: scripts/build-images.sh [--host-ca] [--help]

Builds gluonlab/notebook:$NOTEBOOK_VARIANT (default cpu) and gluonlab/hub:latest.

  --host-ca   trust this host's CA bundle (/etc/ssl/certs/ca-certificates.crt) inside the
              builds, for networks that intercept TLS (pip/npm fail certificate checks otherwise);
              GLUONLAB_HOST_CA=1 does the same

Environment (all optional): NOTEBOOK_VARIANT (cpu|cu117|ngc|cu80), NOTEBOOK_BASE_IMAGE,
HUB_BASE_IMAGE (default: the public images named in the Dockerfiles), APT_MIRROR,
PIP_INDEX_URL, NPM_REGISTRY, PRECACHE_DATA=1, MXNET_GLUON_REPO.
TXT
}

die() { printf 'build-images: %s\n' "$*" >&2; exit 1; }

check_settings() {
  local variant="${NOTEBOOK_VARIANT:-cpu}"
  case " $VARIANTS " in
    *" $variant "*) ;;
    *) die "NOTEBOOK_VARIANT='$variant' is not a variant; choose one of: $VARIANTS" ;;
  esac
  local name
  for name in APT_MIRROR PIP_INDEX_URL NPM_REGISTRY MXNET_GLUON_REPO; do
    local value="${!name:-}"
    if [[ -n "$value" && ! "$value" =~ ^https?://[^[:space:]]+$ ]]; then
      die "$name='$value' is not a URL; use e.g. https://mirrors.example.org/..., or unset it"
    fi
  done
  docker info >/dev/null 2>&1 || die "the Docker engine is not reachable: start it (or run scripts/setup-docker-host.sh as root)"
  for name in NOTEBOOK_BASE_IMAGE HUB_BASE_IMAGE; do
    local image="${!name:-}"
    if [[ -n "$image" ]] && ! docker image inspect "$image" >/dev/null 2>&1 && ! docker pull -q "$image" >/dev/null 2>&1; then
      die "$name='$image' is neither a local image nor pullable; build it (scripts/setup-docker-host.sh makes gluonlab/debian-base:bookworm) or unset $name"
    fi
  done
}

copy_host_ca() {
  local bundle=/etc/ssl/certs/ca-certificates.crt
  [[ -f "$bundle" ]] || die "--host-ca: $bundle not found"
  local dir
  for dir in "$REPO_ROOT/images/notebook/certs" "$REPO_ROOT/images/hub/certs"; do
    cp "$bundle" "$dir/host-ca.crt"
  done
}

main() {
  local host_ca="${GLUONLAB_HOST_CA:-0}"
  while (($#)); do
    case "$1" in
      --help|-h) usage; exit 0 ;;
      --host-ca) host_ca=1 ;;
      *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
  done
  check_settings
  if [[ "$host_ca" == 1 ]]; then copy_host_ca; fi
  cd "$REPO_ROOT"
  local start=$SECONDS
  docker compose build notebook-image hub
  printf 'build-images: built in %d s: %s\n' "$((SECONDS - start))" \
    "$(docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^gluonlab/(notebook|hub):' | tr '\n' ' ')"
}

main "$@"
