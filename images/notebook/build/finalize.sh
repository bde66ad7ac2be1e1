#!/bin/sh
# Last build step of every notebook image: the lab user, our patches to installed packages, the
# tutorials' content version, and (optionally) the data sets pre-cached so a room of attendees
# does not download at once.
# Usage: finalize.sh   (reads NB_USER, NB_UID, PRECACHE_DATA, MXNET_GLUON_REPO)
set -eu
# uid 1000 matches docker-stacks, so home volumes move between images.
if ! id -u "$NB_USER" >/dev/null 2>&1; then
  useradd --create-home --uid "$NB_UID" --shell /bin/bash "$NB_USER"
fi
# Terminal banner (interactive bash reads /etc/bash.bashrc): which GPU this server got, and
# where the self-check is. GLUONLAB_GPU_DESCRIPTION comes from the hub.
if ! grep -q gluonlab-banner /etc/bash.bashrc; then
  cat >>/etc/bash.bashrc <<'BANNER'
# gluonlab-banner
if [ -n "${PS1:-}" ] && [ -z "${GLUONLAB_BANNER_SHOWN:-}" ]; then
  export GLUONLAB_BANNER_SHOWN=1
  echo "Gluon Lab (${GLUONLAB_VARIANT:-cpu}) | GPU: ${GLUONLAB_GPU_DESCRIPTION:-CPU only} | 自检 self-check: bash /opt/gluonlab/scripts/doctor.sh"
fi
BANNER
fi

# Our patches to installed packages (images/notebook/patches/: each says why). git apply is
# all-or-nothing and refuses a patch that no longer matches, so an upgrade cannot half-apply
# one. The patched modules are byte-compiled again: PYTHONDONTWRITEBYTECODE would otherwise
# make every server start compile them from source.
site_packages=$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
for patch_file in /opt/gluonlab/build/patches/*.patch; do
  [ -e "$patch_file" ] || continue
  (cd "$site_packages" && git apply --verbose "$patch_file")
  git apply --numstat "$patch_file" | cut -f3 | sed "s#^#$site_packages/#" | xargs -r /opt/venv/bin/python -m compileall -q
done

cd /opt/gluonlab/content
# A notebook (.ipynb) next to each markdown tutorial, so a double-click opens a notebook.
/opt/venv/bin/python /opt/gluonlab/build/convert-tutorials.py /opt/gluonlab/content
# VERSION is a hash of the tree: any change is a new content version, and content_sync updates
# homes without anyone having to bump a number.
version=$(find . -type f ! -name VERSION -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
echo "$version" > VERSION
if [ "${PRECACHE_DATA:-0}" = 1 ]; then
  MXNET_GLUON_REPO="${MXNET_GLUON_REPO:-}" /opt/venv/bin/python datasets.py --all --dest /opt/gluonlab/data
fi
chmod -R a+rX /opt/gluonlab
