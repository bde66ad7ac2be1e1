# Gluon Lab notebook image, `cu80` variant (LEGACY, for Kepler to Pascal GPUs such as K80,
# M40, P100, GTX 10xx): MXNet 1.5.0 built for CUDA 8 (mxnet-cu80, its last release) on
# Debian's Python 3.11 with numpy 1.23.5. MXNet 1.5 predates Gluon features used nowhere in the
# tutorials, but it lacks fixes of 1.6-1.9: prefer cu117 on any GPU it supports.
# The CUDA 8 / cuDNN 7 runtime libraries come from NVIDIA's public CUDA 8 image (multi-stage).
#   NOTEBOOK_VARIANT=cu80 docker compose build
ARG CUDA8_IMAGE=nvidia/cuda:8.0-cudnn7-runtime-ubuntu16.04
ARG NOTEBOOK_BASE_IMAGE=debian:bookworm-slim
FROM ${CUDA8_IMAGE} AS cuda8

FROM ${NOTEBOOK_BASE_IMAGE}
# CUDA 8 runtime (cudart, cublas, curand, cufft, cusolver, nvrtc) and cuDNN 7, found through
# LD_LIBRARY_PATH; the driver's libcuda comes from the host via the NVIDIA container toolkit.
COPY --from=cuda8 /usr/local/cuda-8.0/ /usr/local/cuda-8.0/
COPY --from=cuda8 /usr/lib/x86_64-linux-gnu/libcudnn.so.7* /usr/local/cuda-8.0/lib64/
ENV LD_LIBRARY_PATH=/usr/local/cuda-8.0/lib64 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    NVIDIA_REQUIRE_CUDA="cuda>=8.0"

ARG VARIANT=cu80
# Mirrors: one setting each, for users on slow links (see README "Mirrors").
ARG APT_MIRROR=""
ARG PIP_INDEX_URL=""
# 1 = download the tutorial data sets into the image, so 100 attendees do not fetch at once.
ARG PRECACHE_DATA=0
ARG MXNET_GLUON_REPO=""
ARG NB_USER=jovyan
ARG NB_UID=1000

LABEL org.opencontainers.image.title="gluonlab-notebook" \
      org.opencontainers.image.description="JupyterLab with MXNet/Gluon and the Gluon tutorials" \
      org.gluonlab.variant="${VARIANT}"

SHELL ["/bin/bash", "-euo", "pipefail", "-c"]

# Mirror + extra CA certificates first, so every later download can use them.
COPY images/common/prepare-build.sh /usr/local/sbin/gluonlab-prepare-build
COPY images/notebook/certs/ /tmp/certs/
RUN gluonlab-prepare-build /tmp/certs && rm -rf /tmp/certs

# Build scripts that run early; finalize.sh is copied late so editing it keeps the big layers cached.
COPY images/notebook/build/install-system.sh images/notebook/build/install-jupyter.sh images/notebook/build/add-deadsnakes-ppa.sh /opt/gluonlab/build/
RUN /opt/gluonlab/build/install-system.sh

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
RUN /opt/gluonlab/build/install-jupyter.sh python3 /tmp/requirements.txt

# Jupyter settings for everyone: Chinese UI, cell timing on, no news pings.
COPY images/notebook/rootfs/overrides.json /opt/venv/share/jupyter/lab/settings/overrides.json
COPY images/notebook/rootfs/jupyter_server_config.py /opt/venv/etc/jupyter/jupyter_server_config.py
COPY images/notebook/rootfs/start-notebook.sh images/notebook/rootfs/start-jupyter-server.py \
     images/notebook/rootfs/healthcheck.py /usr/local/bin/
COPY hub/gluonlab_hub/content_sync.py /opt/gluonlab/bin/content_sync.py
# Self-check and helper scripts (doctor.sh); users run them from a JupyterLab terminal.
COPY scripts/ /opt/gluonlab/scripts/
# Tutorials last: they change most often.
COPY content/ /opt/gluonlab/content/
# Small patches to pinned packages, applied by finalize.sh (each patch file says why).
COPY images/notebook/patches/ /opt/gluonlab/build/patches/
COPY images/notebook/build/finalize.sh images/notebook/build/convert-tutorials.py /opt/gluonlab/build/
RUN /opt/gluonlab/build/finalize.sh

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
