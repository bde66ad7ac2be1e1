#!/usr/bin/env bash
# Prints the content version of a tutorials tree: 12 hex digits of a SHA-256 over every file's
# path and hash (VERSION itself left out). Any change is a new version, so content_sync updates
# homes without anyone bumping a number. pipefail: a failed step fails the build instead of
# hashing empty input into the same VERSION every time (homes would silently stop updating).
# Runs at image build (finalize.sh) and on a host (tests/unit/test_content_version.py).
# Usage: content-version.sh DIR
set -euo pipefail

main() {
  local dir="${1:?usage: content-version.sh DIR}"
  [[ -d "$dir" ]] || { echo "content-version: '$dir' is not a folder" >&2; exit 1; }
  cd "$dir"
  local listing
  listing=$(find . -type f ! -name VERSION -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
  [[ -n "$listing" ]] || { echo "content-version: no files under '$dir'" >&2; exit 1; }
  printf '%s\n' "$listing" | sha256sum | cut -c1-12
}

main "$@"
