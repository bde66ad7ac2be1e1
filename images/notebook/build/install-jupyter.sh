#!/bin/sh
# Creates the Jupyter environment /opt/venv with PYTHON and installs a lock file into it.
# PIP_INDEX_URL (a mirror) is used only when set: an empty value would break pip.
# Usage: install-jupyter.sh PYTHON REQUIREMENTS_LOCK
set -eu
python="$1"
lock="$2"
if [ -z "${PIP_INDEX_URL:-}" ]; then unset PIP_INDEX_URL; fi
"$python" -m venv /opt/venv
/opt/venv/bin/pip install -q -r "$lock"
rm -f "$lock"
