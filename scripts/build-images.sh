#!/usr/bin/env bash
# Build the Gluon Lab images (notebook variant + hub) with docker compose, so the build is the
# same one `docker compose up -d` does.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT
# The notebook variants are the final stages of the notebook Dockerfile (`FROM tail AS <name>`),
# read from it so the build side names them in one place; each has a `<name>-base` stage whose
# base image is the build arg <NAME>_BASE_IMAGE.
VARIANTS=$(sed -n 's/^FROM tail AS \([a-z0-9]*\)$/\1/p' "$REPO_ROOT/images/notebook/Dockerfile" | tr '\n' ' ')
VARIANTS="${VARIANTS% }"
readonly VARIANTS

usage() {
  cat <<TXT
Usage: scripts/build-images.sh [--host-ca] [--help]

Builds gluonlab/notebook:\$NOTEBOOK_VARIANT (default cpu) and gluonlab/hub:latest.

  --host-ca   trust this host's CA bundle (/etc/ssl/certs/ca-certificates.crt) inside the
              builds, for networks that intercept TLS (pip/npm fail certificate checks otherwise);
              GLUONLAB_HOST_CA=1 does the same

Environment (all optional): NOTEBOOK_VARIANT (${VARIANTS// /|}), APT_MIRROR,
PIP_INDEX_URL, NPM_REGISTRY, PRECACHE_DATA=1, MXNET_GLUON_REPO, and base images (default:
the public images named in the Dockerfiles): NOTEBOOK_BASE_IMAGE (the notebook variant's
base, e.g. a local Debian or a registry mirror), CUDA8_IMAGE (cu80's CUDA 8 libraries),
HUB_BASE_IMAGE.

Without buildx, compose uses Docker's classic builder, which builds every stage of the
notebook Dockerfile before the target; this script then points the GPU bases it does not
build at the cpu base, so they are not pulled.
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
  for name in NOTEBOOK_BASE_IMAGE CUDA8_IMAGE HUB_BASE_IMAGE; do
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

# Build args for the notebook image. The classic builder builds (and pulls the base of) every
# stage before the target, BuildKit only what the target needs; under the classic builder the
# GPU base stages not being built become aliases of `cpu-base` (a stage of the same file).
# NOTEBOOK_BASE_IMAGE already puts every base stage on one image.
notebook_build_args() {
  local variant="$1"
  if docker buildx version >/dev/null 2>&1 && [[ "${DOCKER_BUILDKIT:-1}" != 0 ]]; then return 0; fi
  if [[ -n "${NOTEBOOK_BASE_IMAGE:-}" ]]; then return 0; fi
  local other
  for other in $VARIANTS; do
    [[ "$other" == cpu || "$other" == "$variant" ]] && continue
    printf -- '--build-arg\n%s_BASE_IMAGE=cpu-base\n' "${other^^}"
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
  local start=$SECONDS args
  mapfile -t args < <(notebook_build_args "${NOTEBOOK_VARIANT:-cpu}")
  docker compose build "${args[@]}" notebook-image
  docker compose build hub
  printf 'build-images: built in %d s: %s\n' "$((SECONDS - start))" \
    "$(docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^gluonlab/(notebook|hub):' | tr '\n' ' ')"
}

main "$@"
