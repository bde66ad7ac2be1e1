#!/usr/bin/env bash
# Can this kernel carry Docker's encrypted overlay? Docker programs IPsec ESP states with the
# rfc4106(gcm(aes)) AEAD; a kernel without it lets `docker network create --opt encrypted`
# succeed and then drops every packet between nodes, so servers never reach the hub. The probe
# adds one such state in a throwaway network namespace (the host's own states are not touched)
# and removes the namespace again. Exit 0: it can; 1: it cannot (the message says what to do).
set -euo pipefail

readonly NETNS="gluonlab-esp-probe-$$"

usage() {
  cat <<'TXT'
Usage: gluonlab-esp-probe.sh [--help]
Checks that the kernel can add an IPsec ESP state with AES-GCM (what Docker's encrypted overlay
needs), in a throwaway network namespace. Needs root and iproute2.
Exit status: 0 it can, 1 it cannot, 2 the probe itself could not run.
TXT
}

cleanup() {
  ip netns delete "$NETNS" 2>/dev/null || true
}

main() {
  if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
    usage
    return 0
  fi
  command -v ip >/dev/null || { echo "the probe needs iproute2 (ip)" >&2; return 2; }
  ip netns add "$NETNS" || { echo "cannot create a network namespace (root needed)" >&2; return 2; }
  trap cleanup EXIT
  local key=0x0102030405060708090a0b0c0d0e0f1011121314 error
  if error=$(ip netns exec "$NETNS" ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x100 \
      mode transport aead 'rfc4106(gcm(aes))' "$key" 128 2>&1); then
    echo "IPsec ESP with AES-GCM: available"
    return 0
  fi
  echo "this kernel cannot add an IPsec ESP state with rfc4106(gcm(aes)) (${error}):" \
    "an encrypted overlay would drop all traffic between nodes. Load the kernel's IPsec" \
    "modules (modprobe esp4), or set docker_swarm_lab_network_encrypted: false for a network" \
    "you trust."
  return 1
}

main "$@"
