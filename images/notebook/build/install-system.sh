#!/usr/bin/env bash
# System packages of every notebook image (Debian bookworm or Ubuntu bases):
#  python3/venv    - the interpreter for Jupyter (and MXNet, except in the ngc variant)
#  $GLUONLAB_SERVER_PYTHON (+ -venv) - the Jupyter server's interpreter where the variant base
#                    names another one (ngc: python3.11, from the PPA in $GLUONLAB_SERVER_PPA)
#  libgomp1, libquadmath0 - runtime libraries libmxnet.so links against (import fails without them)
#  tini            - PID 1 that reaps zombies and forwards signals to the Jupyter server
#  git, less, procps, nano - what a terminal user expects in a teaching lab
#  (no locales package: C.UTF-8 handles Chinese file names and output; locales-all is 229 MB)
# Usage: install-system.sh   (reads GLUONLAB_SERVER_PYTHON, GLUONLAB_SERVER_PPA from the base stage)
set -euo pipefail

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

main() {
  local python="${GLUONLAB_SERVER_PYTHON:-python3}"
  local packages=(python3 python3-venv libgomp1 libquadmath0 tini git less procps nano)
  if [[ "$python" != python3 ]]; then packages+=("$python" "$python-venv"); fi
  apt-get update -qq
  if [[ -n "${GLUONLAB_SERVER_PPA:-}" ]]; then
    # The maintained source of newer Pythons for Ubuntu (the deadsnakes PPA for ngc).
    apt_install software-properties-common gpg-agent
    add-apt-repository -y "ppa:${GLUONLAB_SERVER_PPA}" >/dev/null
    apt-get update -qq
  fi
  apt_install "${packages[@]}"
  rm -rf /var/lib/apt/lists/*
}

main "$@"
