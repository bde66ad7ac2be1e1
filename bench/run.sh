#!/usr/bin/env bash
# The one benchmark command: a pinned venv in bench/.venv, then bench/loadtest.py.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly BENCH_DIR
readonly VENV="$BENCH_DIR/.venv"

usage() {
  cat <<'TXT'
Usage: bench/run.sh [LOADTEST_OPTIONS...]

Simulates a workshop's login rush against fresh, isolated Gluon Lab stacks on this Docker
engine (the images must be built: scripts/build-images.sh) and prints p50/p95/max per step.
Default: 20 attendees, the repository's configuration and the baseline, cold and pre-started.

  bench/run.sh                               # N=20, all four runs
  bench/run.sh --users 50 --modes cold       # N=50 cold burst only
  bench/run.sh --help                        # every loadtest option

Results also go to bench/results/<time>-n<N>.json. See bench/README.md.
TXT
}

ensure_venv() {
  local stamp="$VENV/.requirements.sha256" want
  want=$(cat "$BENCH_DIR/requirements.txt" "$BENCH_DIR/../tests/requirements.txt" | sha256sum | cut -d" " -f1)
  [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
  if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$BENCH_DIR/requirements.txt"
    echo "$want" >"$stamp"
  fi
}

main() {
  if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
    usage
    echo
    ensure_venv
    exec "$VENV/bin/python" "$BENCH_DIR/loadtest.py" --help
  fi
  docker info >/dev/null 2>&1 || { echo "bench: the Docker engine is not reachable" >&2; exit 2; }
  for image in gluonlab/notebook:cpu gluonlab/hub:latest; do
    docker image inspect "$image" >/dev/null 2>&1 \
      || { echo "bench: image $image is missing; build it with scripts/build-images.sh" >&2; exit 2; }
  done
  ensure_venv
  exec "$VENV/bin/python" "$BENCH_DIR/loadtest.py" "$@"
}

main "$@"
