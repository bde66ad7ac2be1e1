# Gluon Lab notebook image, `cpu` variant (the default): JupyterLab 4 + MXNet 1.9.1 on Debian.
# Build from the repository root (the build context holds content/, scripts/ and hub/):
#   docker build -f images/notebook/cpu.Dockerfile -t gluonlab/notebook:cpu .
# CI, which cannot reach a registry, passes --build-arg BASE_IMAGE=gluonlab/debian-base:bookworm.

# Debian bookworm ships Python 3.11: the newest Python that MXNet 1.9.1 + numpy 1.23 support.
ARG BASE_IMAGE=debian:bookworm-slim
# An empty value (compose passes one when NOTEBOOK_BASE_IMAGE is unset) falls back to the default.
FROM ${BASE_IMAGE:-debian:bookworm-slim}

ARG VARIANT=cpu
# Mirrors: one setting each, for users on slow links (see README "Mirrors").
ARG APT_MIRROR=""
ARG PIP_INDEX_URL=""
# 1 = download the tutorial data sets into the image, so 100 attendees do not fetch at once.
ARG PRECACHE_DATA=0
ARG MXNET_GLUON_REPO=""

LABEL org.opencontainers.image.title="gluonlab-notebook" \
      org.opencontainers.image.description="JupyterLab with MXNet/Gluon and the Gluon tutorials" \
      org.gluonlab.variant="${VARIANT}"

SHELL ["/bin/sh", "-eu", "-c"]

# Mirror + extra CA certificates first, so every later download can use them.
COPY images/common/prepare-build.sh /usr/local/sbin/gluonlab-prepare-build
COPY images/notebook/certs/ /tmp/certs/
RUN gluonlab-prepare-build /tmp/certs && rm -rf /tmp/certs

# System packages:
#  python3/venv   - the interpreter for Jupyter and MXNet (a venv keeps pip off Debian's Python)
#  libgomp1, libquadmath0 - runtime libraries libmxnet.so links against (import fails without them)
#  tini           - PID 1 that reaps zombies and forwards signals to the Jupyter server
#  git, less, procps, nano - what a terminal user expects in a teaching lab
#  locales-all    - zh_CN.UTF-8 for Chinese file names and terminal output
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 python3-venv libgomp1 libquadmath0 tini git less procps nano locales-all \
 && rm -rf /var/lib/apt/lists/*

ENV LANG=C.UTF-8 \
    LC_ALL=C.UTF-8 \
    PATH=/opt/venv/bin:$PATH \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

# Python packages from the lock file (every version pinned). Largest layer: kept early so a
# content or settings change does not reinstall it.
COPY images/notebook/requirements-${VARIANT}.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \
 && if [ -n "$PIP_INDEX_URL" ]; then export PIP_INDEX_URL; else unset PIP_INDEX_URL; fi \
 && /opt/venv/bin/pip install -q -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# The lab user. uid 1000 matches docker-stacks so volumes move between images.
ARG NB_USER=jovyan
ARG NB_UID=1000
RUN useradd --create-home --uid "${NB_UID}" --shell /bin/bash "${NB_USER}"

# Jupyter settings for everyone: Chinese UI, cell timing on, .md opens as a notebook.
COPY images/notebook/rootfs/overrides.json /opt/venv/share/jupyter/lab/settings/overrides.json
COPY images/notebook/rootfs/jupyter_server_config.py /opt/venv/etc/jupyter/jupyter_server_config.py
COPY images/notebook/rootfs/start-notebook.sh images/notebook/rootfs/healthcheck.py /usr/local/bin/
COPY hub/gluonlab_hub/content_sync.py /opt/gluonlab/bin/content_sync.py

# Self-check and helper scripts (doctor.sh); users run them from a JupyterLab terminal.
COPY scripts/ /opt/gluonlab/scripts/

# Tutorials last: they change most often. VERSION is a hash of the tree, so any change is
# a new content version and content_sync updates homes without anyone bumping a number.
COPY content/ /opt/gluonlab/content/
RUN cd /opt/gluonlab/content \
 && find . -type f ! -name VERSION -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12 > VERSION \
 && if [ "$PRECACHE_DATA" = 1 ]; then \
      MXNET_GLUON_REPO="$MXNET_GLUON_REPO" python3 datasets.py --all --dest /opt/gluonlab/data; \
    fi \
 && chmod -R a+rX /opt/gluonlab

# Gluon's DataLoader workers pass batches through /dev/shm: Docker's default 64 MB is too small
# for num_workers > 0, so the hub and compose give user containers shm_size (default 1g).
# Without that, keep num_workers=0 (the tutorials' default).
ENV GLUONLAB_CONTENT_DIR=/opt/gluonlab/content \
    GLUONLAB_VARIANT=${VARIANT}

USER ${NB_UID}
WORKDIR /home/${NB_USER}
EXPOSE 8888

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "/usr/local/bin/healthcheck.py"]

ENTRYPOINT ["tini", "-g", "--"]
CMD ["start-notebook.sh"]
