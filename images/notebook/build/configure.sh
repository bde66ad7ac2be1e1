#!/usr/bin/env bash
# After the packages, before the tutorials: the lab user, the terminal banner, and our patches
# to installed packages. Nothing here depends on content/, so a tutorial edit keeps this layer.
# Usage: configure.sh   (reads NB_USER, NB_UID)
set -euo pipefail

create_user() {
  # uid 1000 matches docker-stacks, so home volumes move between images.
  if ! id -u "$NB_USER" >/dev/null 2>&1; then
    useradd --create-home --uid "$NB_UID" --shell /bin/bash "$NB_USER"
  fi
}

add_banner() {
  # Interactive bash reads /etc/bash.bashrc: which GPU or MIG slice this server got ("your GPU"),
  # its profile, and where the self-check is. GLUONLAB_GPU_DESCRIPTION, GLUONLAB_PROFILE and
  # GLUONLAB_GPUS come from the hub. A whole GPU also shows its memory and utilisation now
  # (nvidia-smi in the container sees only its own GPUs; for a MIG slice it would show the
  # whole GPU's numbers, so none are shown).
  if grep -q gluonlab-banner /etc/bash.bashrc; then return 0; fi
  cat >>/etc/bash.bashrc <<'BANNER'
# gluonlab-banner
if [ -n "${PS1:-}" ] && [ -z "${GLUONLAB_BANNER_SHOWN:-}" ]; then
  export GLUONLAB_BANNER_SHOWN=1
  echo "Gluon Lab (${GLUONLAB_VARIANT:-cpu})${GLUONLAB_PROFILE:+ | ${GLUONLAB_PROFILE}} | 你的 GPU / your GPU: ${GLUONLAB_GPU_DESCRIPTION:-CPU only} | 自检 self-check: bash /opt/gluonlab/scripts/doctor.sh"
  case "${GLUONLAB_GPUS:-}" in
    ""|MIG-*) ;;
    *) if command -v nvidia-smi >/dev/null 2>&1; then
         nvidia-smi --query-gpu=index,memory.used,memory.total,utilization.gpu --format=csv,noheader 2>/dev/null \
           | sed 's/^/  正在使用 \/ in use (GPU, memory, total, utilisation): /' || true
       fi ;;
  esac
fi
BANNER
}

apply_patches() {
  # images/notebook/patches/ (each says why). git apply is all-or-nothing and refuses a patch
  # that no longer matches, so an upgrade cannot half-apply one (tests/unit checks the patch
  # against the pinned version before any build). The patched modules are byte-compiled
  # again: PYTHONDONTWRITEBYTECODE would otherwise make every server start compile them.
  local site_packages patch_file
  site_packages=$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  for patch_file in /opt/gluonlab/build/patches/*.patch; do
    [[ -e "$patch_file" ]] || continue
    (cd "$site_packages" && git apply --verbose "$patch_file")
    git apply --numstat "$patch_file" | cut -f3 | sed "s#^#$site_packages/#" | xargs -r /opt/venv/bin/python -m compileall -q
  done
}

main() {
  : "${NB_USER:?NB_USER is a build arg}" "${NB_UID:?NB_UID is a build arg}"
  create_user
  add_banner
  apply_patches
}

main "$@"
