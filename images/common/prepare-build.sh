#!/usr/bin/env bash
# Shared first build step of every Gluon Lab image (every base image has bash).
# 1. Points apt at a mirror when APT_MIRROR is set (one setting for users on slow links).
# 2. Trusts extra CA certificates dropped into the image's certs/ folder, for builds behind a
#    TLS-intercepting proxy; pip and npm then use the system bundle.
# Usage: prepare-build.sh <certs-dir>
set -euo pipefail

certs_dir="${1:?usage: prepare-build.sh <certs-dir>}"

if [ -n "${APT_MIRROR:-}" ]; then
  case "$APT_MIRROR" in
    http://*|https://*) ;;
    *) echo "APT_MIRROR must be a URL like http://mirrors.tuna.tsinghua.edu.cn/debian, got '$APT_MIRROR'" >&2; exit 1 ;;
  esac
  # Debian images use either the deb822 file (slim images) or the classic list (debootstrap).
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/debian.sources; do
    [ -f "$f" ] && sed -i -E "s#https?://deb\.debian\.org/debian/?#${APT_MIRROR%/}#g" "$f"
  done
fi

if [ -n "${PIP_INDEX_URL:-}" ]; then
  case "$PIP_INDEX_URL" in
    http://*|https://*) ;;
    *) echo "PIP_INDEX_URL must be a URL like https://pypi.tuna.tsinghua.edu.cn/simple, got '$PIP_INDEX_URL'" >&2; exit 1 ;;
  esac
fi

apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ca-certificates >/dev/null
# Package lists are fetched again by the next step; keeping them here would add ~170 MB.
rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb

found=0
for crt in "$certs_dir"/*.crt; do
  [ -f "$crt" ] || continue
  cp "$crt" /usr/local/share/ca-certificates/
  found=$((found + 1))
done
if [ "$found" -gt 0 ]; then
  update-ca-certificates >/dev/null
  echo "prepare-build: trusting $found extra CA certificate file(s)"
fi
