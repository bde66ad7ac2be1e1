#!/bin/sh
# ngc variant only: adds the deadsnakes PPA, the maintained source of newer Pythons for Ubuntu,
# so the Jupyter server can run on Python 3.11 next to NGC's Python 3.8.
set -eu
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends software-properties-common gpg-agent >/dev/null
add-apt-repository -y ppa:deadsnakes/ppa >/dev/null
rm -rf /var/lib/apt/lists/*
