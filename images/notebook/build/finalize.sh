#!/usr/bin/env bash
# Last build step: the kernel named for what it is, the tutorials (just copied) as notebooks
# (one document per tutorial: the .md sources are not shipped), and their content version.
# Usage: finalize.sh
set -euo pipefail

main() {
  local content=/opt/gluonlab/content
  local kernel_json=/opt/venv/share/jupyter/kernels/python3/kernel.json
  # "MXNet 1.9.1 · CPU (Python 3.11)" in the launcher and the kernel picker.
  /opt/venv/bin/python /opt/gluonlab/build/name-kernel.py "$kernel_json" "${GLUONLAB_VARIANT:?set by the variant base stage}"
  # Each markdown tutorial becomes the notebook attendees open; its .md leaves the image's
  # content (the repository keeps it), so ~/tutorials lists every tutorial once.
  /opt/venv/bin/python /opt/gluonlab/build/convert-tutorials.py "$content" --kernel-json "$kernel_json" --drop-sources
  # The notebook behind the Lab's "求助 / Ask for help" menu entry (it runs gluonlab-help).
  install -m 0644 /opt/gluonlab/build/ask-for-help.ipynb "$content/ask-for-help.ipynb"
  local version
  version=$(/opt/gluonlab/build/content-version.sh "$content")
  printf '%s\n' "$version" > "$content/VERSION"
  echo "finalize: content version $version"
  # Readable by the lab user whatever the umask of the checkout was (the data pre-cache,
  # made readable when it was downloaded, is left alone: chmod would copy it into this layer).
  chmod -R a+rX "$content" /opt/gluonlab/bin /opt/gluonlab/scripts /opt/gluonlab/build
}

main "$@"
