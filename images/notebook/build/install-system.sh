#!/bin/sh
# System packages of every notebook image (Debian bookworm or Ubuntu CUDA bases):
#  python3/venv    - the interpreter for Jupyter (and MXNet, except in the ngc variant)
#  libgomp1, libquadmath0 - runtime libraries libmxnet.so links against (import fails without them)
#  tini            - PID 1 that reaps zombies and forwards signals to the Jupyter server
#  git, less, procps, nano - what a terminal user expects in a teaching lab
#  (no locales package: C.UTF-8 handles Chinese file names and output; locales-all is 229 MB)
# Usage: install-system.sh [EXTRA_PACKAGE...]
set -eu
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  python3 python3-venv libgomp1 libquadmath0 tini git less procps nano "$@" >/dev/null
rm -rf /var/lib/apt/lists/*
