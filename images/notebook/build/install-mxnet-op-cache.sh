#!/usr/bin/env bash
# Installs mxnet_op_cache into the kernel's Python and builds its cache: MXNet's operator
# functions compiled once here instead of at every kernel start (mxnet_op_cache.py says how, and
# why it cannot give wrong code). A .pth file installs the cache's import hook at interpreter start;
# `check` then imports MXNet through the cache and compares every function with a fresh compile,
# so a cache that would not be used, or would differ, fails the build here. Where MXNet cannot be
# imported at build time at all (GPU variants, no driver), it says so and installs nothing.
# Usage: install-mxnet-op-cache.sh MODULE   (reads GLUONLAB_KERNEL_PYTHON, default /opt/venv's)
set -euo pipefail

die() { printf 'install-mxnet-op-cache: %s\n' "$*" >&2; exit 1; }

main() {
  local module="${1:?usage: install-mxnet-op-cache.sh MODULE}" python site_dir
  [[ -f "$module" ]] || die "no module at $module"
  python="${GLUONLAB_KERNEL_PYTHON:-/opt/venv/bin/python}"
  # A GPU variant's MXNet loads the NVIDIA driver's libcuda, which a build has not got (the
  # driver comes with the container at run time): there the kernels compile as before. The cpu
  # variant always imports, and tests/images asserts its kernels use the cache.
  local probe
  if ! probe=$("$python" -c 'import mxnet' 2>&1); then
    printf 'install-mxnet-op-cache: MXNet cannot be imported in this build, so no operator cache: %s\n' \
      "$(printf '%s\n' "$probe" | tail -n 1)" >&2
    return 0
  fi
  # The first site directory is one whose .pth files the interpreter reads at start.
  site_dir=$("$python" -c 'import site; print(site.getsitepackages()[0])')
  mkdir -p "$site_dir"
  install -m 0644 "$module" "$site_dir/mxnet_op_cache.py"
  # Byte-compiled here: PYTHONDONTWRITEBYTECODE would otherwise compile it at every start.
  "$python" -m compileall -q "$site_dir/mxnet_op_cache.py"
  printf 'import mxnet_op_cache; mxnet_op_cache.install()\n' > "$site_dir/gluonlab-mxnet-op-cache.pth"
  "$python" -m mxnet_op_cache build
  "$python" -m mxnet_op_cache check
}

main "$@"
