#!/usr/bin/env bash
# Entry point of the Gluon Lab notebook image (run by tini as PID 1's child).
# 1. Seeds/updates the tutorials in the user's home (never overwriting the user's edits).
# 2. Starts the Jupyter server: jupyterhub-singleuser under the hub, plain JupyterLab alone
#    (both through start-jupyter-server.py).
set -euo pipefail

sync_tutorials() {
  local dest="${GLUONLAB_TUTORIALS_DIR:-$HOME/tutorials}"
  # A failed sync must not keep the user out of their server: report and go on.
  if ! /opt/venv/bin/python3 /opt/gluonlab/bin/content_sync.py --source "${GLUONLAB_CONTENT_DIR:-/opt/gluonlab/content}" --dest "$dest"; then
    echo "start-notebook: tutorial sync failed; your files are untouched (see message above)" >&2
  fi
}

show_gpus() {
  # The hub passes the GPUs it pinned for this user; print them for the terminal/banner.
  if [[ -n "${GLUONLAB_GPUS:-}" ]]; then
    echo "start-notebook: GPU(s) assigned to ${JUPYTERHUB_USER:-you}: ${GLUONLAB_GPUS} (inside: mx.gpu(0)...)"
  else
    echo "start-notebook: no GPU assigned; MXNet runs on the CPU (mx.cpu())"
  fi
}

# First screen (README "First screen"): the tutorials' table of contents, while it exists (a
# learner who deleted or moved it lands in a plain Lab). Under the hub this refines the hub's
# Spawner.default_url ("/lab", passed as JUPYTERHUB_DEFAULT_URL) to a notebook inside the Lab.
seed_matplotlib_cache() {
  # The font list built at image build (Dockerfile): a new home's first `import matplotlib`
  # would otherwise scan every font. Never replaces the home's own list.
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/matplotlib" built
  for built in /opt/gluonlab/matplotlib/fontlist-*.json; do
    [[ -f "$built" && ! -e "$cache/${built##*/}" ]] || continue
    mkdir -p "$cache" && cp "$built" "$cache/" || echo "start-notebook: could not seed $cache (not needed)" >&2
  done
}

first_screen_url() {
  local dest="${GLUONLAB_TUTORIALS_DIR:-$HOME/tutorials}"
  local toc="$dest/README.ipynb"
  if [[ -f "$toc" && "$toc" == "$HOME/"* ]]; then
    printf '/lab/tree/%s\n' "${toc#"$HOME/"}"
  fi
}

main() {
  # Kernel connection files in /tmp, not ~/.local/share/jupyter/runtime: a full home (its own
  # size-limited file system under the hub) must not stop kernels, nor the attendee cleaning up.
  export JUPYTER_RUNTIME_DIR="${JUPYTER_RUNTIME_DIR:-/tmp/jupyter-runtime}"
  # Every kernel (and interactive python) warns, in its first output, when the home is >90 % full.
  export PYTHONSTARTUP="${PYTHONSTARTUP:-/opt/gluonlab/bin/home-space-warning.py}"
  if [[ "${1:-}" == "--help" ]]; then
    echo "Usage: start-notebook.sh [jupyter server options]"
    echo "Seeds ~/tutorials, then runs jupyterhub-singleuser (under JupyterHub) or jupyter lab."
    exit 0
  fi
  sync_tutorials
  seed_matplotlib_cache
  show_gpus
  local url
  url=$(first_screen_url)
  # start-jupyter-server.py: the same servers, with Python's garbage collector held back
  # until they listen and the Hub's database modules not loaded (see that file). The
  # server's own Python (/opt/venv) even where python3 on PATH is another one (the NGC
  # variant's kernel Python).
  if [[ -n "${JUPYTERHUB_API_TOKEN:-}" ]]; then
    if [[ -n "$url" ]]; then export JUPYTERHUB_DEFAULT_URL="$url"; fi
    exec /opt/venv/bin/python3 /usr/local/bin/start-jupyter-server.py singleuser "$@"
  fi
  exec /opt/venv/bin/python3 /usr/local/bin/start-jupyter-server.py lab \
    --ip=0.0.0.0 --port="${JUPYTER_PORT:-8888}" --no-browser ${url:+"--LabApp.default_url=$url"} "$@"
}

main "$@"
