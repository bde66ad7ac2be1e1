#!/usr/bin/env bash
# Last build step: the tutorials (just copied) as notebooks, and their content version.
# Usage: finalize.sh
set -euo pipefail

main() {
  local content=/opt/gluonlab/content
  # A notebook (.ipynb) next to each markdown tutorial, so a double-click opens a notebook.
  /opt/venv/bin/python /opt/gluonlab/build/convert-tutorials.py "$content"
  local version
  version=$(/opt/gluonlab/build/content-version.sh "$content")
  printf '%s\n' "$version" > "$content/VERSION"
  echo "finalize: content version $version"
  # Readable by the lab user whatever the umask of the checkout was (the data pre-cache,
  # made readable when it was downloaded, is left alone: chmod would copy it into this layer).
  chmod -R a+rX "$content" /opt/gluonlab/bin /opt/gluonlab/scripts /opt/gluonlab/build
}

main "$@"
