# Gluon Lab notebook image, `ngc` variant: NVIDIA's NGC MXNet container, whose MXNet is built for
# CUDA 12 and runs on Hopper (H100/H200) as well as older GPUs. Use it where mxnet-cu117 lacks
# kernels for the GPU (sm_90).
#
# Two Pythons, on purpose: NGC 23.04 ships Python 3.8 (Ubuntu 20.04), too old for JupyterLab 4
# and JupyterHub 5. The Jupyter server runs in its own Python 3.11 env (/opt/venv, from the
# deadsnakes PPA) and starts kernels in NGC's Python, where MXNet lives; the kernel protocol is
# stable across versions, so every variant gets the same Lab and hub.
#   NOTEBOOK_VARIANT=ngc docker compose build     (needs access to nvcr.io)
ARG NOTEBOOK_BASE_IMAGE=nvcr.io/nvidia/mxnet:23.04-py3
FROM ${NOTEBOOK_BASE_IMAGE}

ARG VARIANT=ngc
ARG APT_MIRROR=""
ARG PIP_INDEX_URL=""
ARG PRECACHE_DATA=0
ARG MXNET_GLUON_REPO=""
ARG NB_USER=jovyan
ARG NB_UID=1000

LABEL org.opencontainers.image.title="gluonlab-notebook" \
      org.opencontainers.image.description="JupyterLab with NGC MXNet (CUDA 12) and the Gluon tutorials" \
      org.gluonlab.variant="${VARIANT}"

SHELL ["/bin/bash", "-euo", "pipefail", "-c"]

COPY images/common/prepare-build.sh /usr/local/sbin/gluonlab-prepare-build
COPY images/notebook/certs/ /tmp/certs/
RUN gluonlab-prepare-build /tmp/certs && rm -rf /tmp/certs

# Python 3.11 for the Jupyter server comes from the deadsnakes PPA (Ubuntu 20.04 has 3.8).
# Build scripts that run early; finalize.sh is copied late so editing it keeps the big layers cached.
COPY images/notebook/build/install-system.sh images/notebook/build/install-jupyter.sh images/notebook/build/add-deadsnakes-ppa.sh /opt/gluonlab/build/
RUN /opt/gluonlab/build/add-deadsnakes-ppa.sh \
 && /opt/gluonlab/build/install-system.sh python3.11 python3.11-venv

# NGC's Python (with MXNet) stays first on PATH, so `python3` in a terminal imports MXNet; the
# Jupyter commands are found in /opt/venv/bin after it.
ENV LANG=C.UTF-8 \
    LC_ALL=C.UTF-8 \
    PATH=$PATH:/opt/venv/bin \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

COPY images/notebook/requirements-ngc-server.txt /tmp/requirements.txt
RUN /opt/gluonlab/build/install-jupyter.sh python3.11 /tmp/requirements.txt

# The kernel: ipykernel + plotting into NGC's Python, holding its numpy and MXNet exactly as
# NVIDIA built them, registered as the default "python3" kernel of the server env.
COPY images/notebook/requirements-ngc-kernel.txt /tmp/kernel-requirements.txt
RUN if [ -z "$PIP_INDEX_URL" ]; then unset PIP_INDEX_URL; fi \
 && python3 -m pip freeze | grep -iE '^(numpy|mxnet)==' > /tmp/ngc-constraints.txt \
 && python3 -m pip install -q -c /tmp/ngc-constraints.txt -r /tmp/kernel-requirements.txt \
 && python3 -m ipykernel install --prefix /opt/venv --name python3 --display-name "Python 3 (MXNet, NGC)" \
 && python3 -c "import mxnet; print('NGC MXNet', mxnet.__version__)" \
 && rm /tmp/kernel-requirements.txt /tmp/ngc-constraints.txt

COPY images/notebook/rootfs/overrides.json /opt/venv/share/jupyter/lab/settings/overrides.json
COPY images/notebook/rootfs/jupyter_server_config.py /opt/venv/etc/jupyter/jupyter_server_config.py
COPY images/notebook/rootfs/start-notebook.sh images/notebook/rootfs/start-jupyter-server.py \
     images/notebook/rootfs/healthcheck.py /usr/local/bin/
COPY hub/gluonlab_hub/content_sync.py /opt/gluonlab/bin/content_sync.py
COPY scripts/ /opt/gluonlab/scripts/
COPY content/ /opt/gluonlab/content/
# Small patches to pinned packages, applied by finalize.sh (each patch file says why).
COPY images/notebook/patches/ /opt/gluonlab/build/patches/
COPY images/notebook/build/finalize.sh images/notebook/build/convert-tutorials.py /opt/gluonlab/build/
RUN /opt/gluonlab/build/finalize.sh

# NGC recommends a large /dev/shm too: the hub and compose set shm_size (default 1g).
ENV GLUONLAB_CONTENT_DIR=/opt/gluonlab/content \
    GLUONLAB_VARIANT=${VARIANT}

USER ${NB_UID}
WORKDIR /home/${NB_USER}
EXPOSE 8888
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "/usr/local/bin/healthcheck.py"]
# NGC's own entrypoint prints a banner and checks the driver; tini still reaps and forwards.
ENTRYPOINT ["tini", "-g", "--"]
CMD ["start-notebook.sh"]
