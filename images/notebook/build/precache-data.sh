#!/usr/bin/env bash
# PRECACHE_DATA=1: download the tutorials' data sets into the image (datasets.py looks there
# after the course data and before the user's cache), for single-user images; a room shares
# one course-data volume instead (README "Course data"). Runs before the tutorials are copied:
# only datasets.py, next to this script, decides what is fetched and verifies every SHA-1.
set -euo pipefail

readonly DEFAULT_DEST=/opt/gluonlab/data

usage() {
  cat <<TXT
Usage: precache-data.sh [--dest DIR] [--help]

With PRECACHE_DATA=1, downloads every tutorial data set into DIR (default $DEFAULT_DEST):
from the MXNET_GLUON_REPO mirror for the sets it carries, else (or when it fails) from the
original sources. PRECACHE_DATA=0 (the default) does nothing.
TXT
}

main() {
  local dest="$DEFAULT_DEST"
  while (($#)); do
    case "$1" in
      --help|-h) usage; return 0 ;;
      --dest) dest="${2:?--dest needs a folder}"; shift 2 ;;
      *) echo "precache-data: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
  done
  case "${PRECACHE_DATA:-0}" in
    0) return 0 ;;
    1) ;;
    *) echo "precache-data: PRECACHE_DATA must be 0 or 1, got '${PRECACHE_DATA}'" >&2; exit 1 ;;
  esac
  # python3: the kernel's interpreter in every variant (ngc: NGC's own, where pooch is installed).
  MXNET_GLUON_REPO="${MXNET_GLUON_REPO:-}" python3 "$(dirname "${BASH_SOURCE[0]}")/datasets.py" --all --dest "$dest"
  # In the same layer as the download: a later chmod would copy every file into a new layer.
  chmod -R a+rX "$dest"
}

main "$@"
