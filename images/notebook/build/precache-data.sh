#!/usr/bin/env bash
# PRECACHE_DATA=1: download the tutorials' data sets into /opt/gluonlab/data (datasets.py
# looks there first), so a room of attendees does not fetch at once. Runs before the
# tutorials are copied: only datasets.py decides what is fetched.
# Usage: precache-data.sh   (reads PRECACHE_DATA, MXNET_GLUON_REPO)
set -euo pipefail

main() {
  case "${PRECACHE_DATA:-0}" in
    0) return 0 ;;
    1) ;;
    *) echo "precache-data: PRECACHE_DATA must be 0 or 1, got '${PRECACHE_DATA}'" >&2; exit 1 ;;
  esac
  MXNET_GLUON_REPO="${MXNET_GLUON_REPO:-}" /opt/venv/bin/python /opt/gluonlab/build/datasets.py --all --dest /opt/gluonlab/data
  # In the same layer as the download: a later chmod would copy every file into a new layer.
  chmod -R a+rX /opt/gluonlab/data
}

main "$@"
