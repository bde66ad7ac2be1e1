"""Gluon Lab settings: the one schema.

Every setting of the lab is one field of ``Settings`` below: its environment variable, type,
default, allowed values, one-line help, and who reads it (the hub, docker compose itself, or
the image builds). Nothing else states a default: ``.env.example`` and the README's settings
table are generated from this file (``python -m gluonlab_hub.settings --write-docs``), and
tests check docker-compose.yml and the Ansible role against it.

``Settings.from_env()`` validates everything once, before the hub starts. A bad value raises
SettingsError naming the variable, what was found and how to fix it (``NAME='value' is not
valid: <fix>``); so does an unknown ``GLUONLAB_*`` variable (a typo), with the closest name.
"""
from __future__ import annotations

import argparse
import difflib
import ipaddress
import os
import re
import sys
import textwrap
from pathlib import Path
from typing import Any, Literal, Mapping, Optional

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

# Who reads a setting: the hub (and the tools run in its container), docker compose
# (interpolation in docker-compose.yml), or the image builds (build args).
HUB, COMPOSE, BUILD = "hub", "compose", "image build"

VARIANTS = ("cpu", "cu117", "ngc", "cu80")
# The one list of GPU policies and exhausted-pool behaviours (gluonlab_hub.gpus uses these).
GPU_POLICIES = ("none", "exclusive", "shared")
WHEN_EXHAUSTED = ("refuse", "cpu")
SPAWNER_BACKENDS = ("docker", "swarm")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_SIZE = r"^\d+(\.\d+)?[kKmMgG]?$"
_SIZE_FIX = "use a size such as 512m, 4G or 1g"
_SIZE_ALLOWED = "a size: 512m, 4G, 1g"
_URL_ALLOWED = "an http(s) URL"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_URL = re.compile(r"^https?://\S+$")

# GLUONLAB_* names the project uses that are not settings of the lab: set for or by the
# scripts, the tests and inside users' containers. Known here so that only a real typo is
# reported as unknown (tests/unit/test_settings.py checks this list against the tree).
OTHER_NAMES = {
    "GLUONLAB_GPU_DESCRIPTION": "set by the hub in users' containers (what their GPUs are)",
    "GLUONLAB_PROFILE": "set by the hub in users' containers (the server profile's display name)",
    "GLUONLAB_NODE_GUARD_GATE": "set by the hub in users' Swarm services: the file their node guard creates",
    "GLUONLAB_NODE_GUARD_WAIT": "set by the hub in users' Swarm services: how long to wait for that file",
    "GLUONLAB_NODE_GUARD_REFUSED": "set by the hub in users' Swarm services: the file in which their node guard "
                                   "says why the server may not start (its home could not be mounted)",
    "GLUONLAB_VARIANT": "set in the notebook images (the variant they were built as)",
    "GLUONLAB_CONTENT_DIR": "notebook images: where the tutorials are shipped",
    "GLUONLAB_TUTORIALS_DIR": "notebook images: the tutorials folder in a user's home",
    "GLUONLAB_BANNER_SHOWN": "notebook images: the terminal banner shows once",
    "GLUONLAB_MXNET_OP_CACHE": "notebook images: off makes kernels compile MXNet's operator functions "
                               "instead of using the image's cache (bench/kernel_start.py compares both)",
    "GLUONLAB_DATA_DIR": "tutorials: where data sets are downloaded",
    "GLUONLAB_PRECACHE_DIR": "tutorials: data sets pre-cached in the image",
    "GLUONLAB_COURSE_DATA_DIR": "tutorials: where the course data volume is mounted (tests point it elsewhere)",
    "GLUONLAB_SMALL": "tutorials: smaller runs (used by the content tests)",
    "GLUONLAB_SEED": "tutorials: random seed",
    "GLUONLAB_DOCTOR_LANG": "scripts/doctor.sh: message language",
    "GLUONLAB_DOCTOR_RUNNER": "scripts/doctor.sh: internal",
    "GLUONLAB_HOST_CA": "scripts/build-images.sh: trust the host's CA bundle",
    "GLUONLAB_SERVER_PYTHON": "notebook image build: the Python the Jupyter server runs in",
    "GLUONLAB_SERVER_PPA": "notebook image build: the PPA that Python comes from (ngc)",
    "GLUONLAB_KERNEL_PYTHON": "notebook image build: the Python of the kernel (ngc: NGC's own)",
    "GLUONLAB_WORK_DIR": "host scripts: logs, rootfs and tool venvs",
    "GLUONLAB_LOCAL_BASE": "scripts/setup-docker-host.sh and the Ansible tests: local base image",
    "GLUONLAB_IMAGES_CHANGED": "Ansible role: marker printed by the image build task",
    "GLUONLAB_HOST_CA_BUNDLE": "Ansible tests: CA bundle for the test hosts",
    "GLUONLAB_ANSIBLE_RUN_SUFFIX": "Ansible tests",
    "GLUONLAB_ANSIBLE_IMAGE_TAG": "Ansible tests",
    "GLUONLAB_ANSIBLE_HUB_DIR": "Ansible tests",
    "GLUONLAB_ANSIBLE_STACK": "Ansible tests",
    "GLUONLAB_ANSIBLE_HUB_PORT": "Ansible tests",
    "GLUONLAB_ANSIBLE_COPY_REF": "Ansible tests",
    "GLUONLAB_KEEP_TEST_IMAGES": "Ansible tests",
}

# Sections of .env.example and of the README table, in order.
GROUPS = {
    "listen": "Where the hub listens",
    "image": "Users' image",
    "mirrors": "Mirrors (one setting each; empty = the official sources)",
    "accounts": "Accounts",
    "gpus": "GPUs",
    "limits": "Limits per user server",
    "network": "Network of users' servers",
    "storage": "Disk of users' servers",
    "hub": "Hub internals (rarely changed)",
    "course_data": "Course data (one read-only copy of the tutorials' data sets for every server)",
    "swarm": "Several hosts (Docker Swarm)",
}


def notebook_image_for(variant: str) -> str:
    """The image tag scripts/build-images.sh gives a notebook variant."""
    return f"gluonlab/notebook:{variant}"


class SettingsError(ValueError):
    """A setting has a value the hub cannot use; the message says how to fix it."""


def _invalid(fix: str, **ctx: Any) -> PydanticCustomError:
    # Our own error type: its message is the fix, shown after "NAME='value' is not valid: ".
    return PydanticCustomError("gluonlab", "{fix}", {"fix": fix, **ctx})


def setting(env: str, default: Any, help: str, *, group: str, read_by: tuple[str, ...],
            fix: str = "", allowed: str = "", secret: bool = False, doc_default: str = "",
            unset_when_empty: bool = False, **constraints: Any) -> Any:
    """One setting: *env* is its variable, *help* one line for the docs, *read_by* who reads it.
    *fix* is the remedy for a pattern mismatch and *allowed* its short form for the docs (choices
    and bounds are taken from the type); *doc_default* describes a default that depends
    on other settings; *unset_when_empty* settings are left out of .env when empty (an empty
    build arg would replace the Dockerfile's default)."""
    extra = {"env": env, "group": group, "read_by": list(read_by), "fix": fix, "allowed": allowed, "secret": secret,
             "doc_default": doc_default, "unset_when_empty": unset_when_empty}
    return Field(default, validation_alias=env, description=help, json_schema_extra=extra, **constraints)


class Settings(BaseSettings):
    # Values come only through from_env (init arguments by variable name), so there is one way in.
    model_config = SettingsConfigDict(frozen=True, extra="forbid", populate_by_name=False,
                                      str_strip_whitespace=True)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        # Only from_env's mapping: Settings.from_env({...}) must not see the process environment.
        return (init_settings,)

    # --- Where the hub listens -------------------------------------------------------------
    hub_bind: str = setting(
        "GLUONLAB_HUB_BIND", "127.0.0.1", "Host address the hub is published on: 127.0.0.1 keeps the lab "
        "on this machine; to serve a room set 0.0.0.0 and HTTPS (GLUONLAB_SSL_CERT/KEY): the hub refuses "
        "any other address over plain HTTP.", group="listen", read_by=(HUB, COMPOSE), allowed="an IP address")
    hub_port: int = setting("GLUONLAB_HUB_PORT", 8000, "Host port the hub is published on.",
                            group="listen", read_by=(COMPOSE,), ge=1, le=65535)
    cert_dir: str = setting(
        "GLUONLAB_CERT_DIR", "./certs", "Host folder mounted read-only at /srv/jupyterhub/certs "
        "in the hub container: put the HTTPS certificate and key there (no image build reads it; "
        "images/*/certs are only for build CA bundles).", group="listen", read_by=(COMPOSE,))
    ssl_cert: str = setting(
        "GLUONLAB_SSL_CERT", "", "HTTPS certificate, a path inside the hub container (e.g. "
        "/srv/jupyterhub/certs/fullchain.pem); set together with GLUONLAB_SSL_KEY. Empty: plain HTTP.",
        group="listen", read_by=(HUB,))
    ssl_key: str = setting("GLUONLAB_SSL_KEY", "", "HTTPS private key, a path inside the hub container.",
                           group="listen", read_by=(HUB,))
    allow_insecure: Literal["0", "1"] = setting(
        "GLUONLAB_ALLOW_INSECURE", "0", "1 = serve plain HTTP on a GLUONLAB_HUB_BIND beyond loopback, only "
        "when a TLS-terminating proxy in front of the hub carries every attendee's traffic.", group="listen",
        read_by=(HUB,))
    # One name for this lab's Docker objects (network, container prefix, home volumes), so two
    # labs (or a test run) on one engine never touch each other's containers or volumes.
    instance: str = setting(
        "GLUONLAB_INSTANCE", "gluonlab", "Name of this lab's compose project, Docker network, containers "
        "(<instance>-<user>) and home volumes (<instance>-home-<user>); two labs on one host need two names.",
        group="listen", read_by=(HUB, COMPOSE), pattern=r"^[a-z0-9][a-z0-9_.-]{0,40}$",
        fix="use lowercase letters, digits, '-', '_' or '.' (max 41)", allowed="a-z 0-9 - _ . (max 41)")

    # --- Users' image ----------------------------------------------------------------------
    notebook_variant: Literal[VARIANTS] = setting(
        "NOTEBOOK_VARIANT", "cpu", "Users' image: cpu, cu117 (Volta..Ampere, driver >= 515), ngc (Hopper "
        "H100/H200, CUDA 12) or cu80 (legacy: Kepler..Pascal): a final stage of images/notebook/Dockerfile.",
        group="image", read_by=(HUB, COMPOSE, BUILD))
    notebook_image: str = setting(
        "GLUONLAB_NOTEBOOK_IMAGE", "", "Image the hub starts for each user.", group="image", read_by=(HUB,),
        doc_default="gluonlab/notebook:<NOTEBOOK_VARIANT>")
    notebook_base_image: str = setting(
        "NOTEBOOK_BASE_IMAGE", "", "Base image of the notebook image (e.g. gluonlab/debian-base:bookworm "
        "on a host without Docker Hub).", group="image", read_by=(BUILD,), unset_when_empty=True,
        doc_default="the public image named in the Dockerfile")
    cuda8_image: str = setting(
        "CUDA8_IMAGE", "", "Where the cu80 variant copies the CUDA 8 / cuDNN 7 libraries from (CI passes a "
        "stand-in).", group="image", read_by=(BUILD,), unset_when_empty=True,
        doc_default="the public image named in the Dockerfile")
    hub_base_image: str = setting(
        "HUB_BASE_IMAGE", "", "Base image of the hub image.", group="image", read_by=(BUILD,),
        unset_when_empty=True, doc_default="the public image named in the Dockerfile")
    precache_data: Literal["0", "1"] = setting(
        "PRECACHE_DATA", "0", "1 = download the tutorials' data sets into the image at build time (single-user "
        "images; a room shares one copy instead: GLUONLAB_COURSE_DATA_VOLUME).", group="image", read_by=(BUILD,))

    # --- Mirrors ---------------------------------------------------------------------------
    apt_mirror: str = setting("APT_MIRROR", "", "Debian/Ubuntu package mirror, e.g. "
                              "http://mirrors.tuna.tsinghua.edu.cn/debian.", group="mirrors", read_by=(BUILD,), allowed=_URL_ALLOWED)
    pip_index_url: str = setting("PIP_INDEX_URL", "", "Python package index, e.g. "
                                 "https://pypi.tuna.tsinghua.edu.cn/simple.", group="mirrors", read_by=(BUILD,), allowed=_URL_ALLOWED)
    npm_registry: str = setting("NPM_REGISTRY", "", "npm registry (the hub's proxy).", group="mirrors",
                                read_by=(BUILD,), allowed=_URL_ALLOWED)
    mxnet_gluon_repo: str = setting("MXNET_GLUON_REPO", "", "Data sets mirror for the tutorials (as the book "
                                    "describes; only Fashion-MNIST is taken from it, every set falls back to its "
                                    "original URL), used by PRECACHE_DATA and gluonlab-course-data fill.",
                                    group="mirrors", read_by=(HUB, BUILD), allowed=_URL_ALLOWED)

    # --- Accounts --------------------------------------------------------------------------
    admin_users: tuple[str, ...] = setting(
        "GLUONLAB_ADMIN_USERS", ("admin",), "Comma-separated hub admins; the first gets an account on "
        "first start.", group="accounts", read_by=(HUB,), allowed="usernames: a-z 0-9 . _ -")
    admin_password: SecretStr = setting(
        "GLUONLAB_ADMIN_PASSWORD", SecretStr(""), "First admin's password at first start (later changes "
        "do not reset it). Empty: generated and stored in /srv/jupyterhub/state/admin-password in the hub "
        "container. Stays in the container's configuration (docker inspect): prefer "
        "GLUONLAB_ADMIN_PASSWORD_FILE.", group="accounts", read_by=(HUB,), secret=True)
    admin_password_file: str = setting(
        "GLUONLAB_ADMIN_PASSWORD_FILE", "", "File inside the hub container holding the first admin's "
        "password (e.g. /srv/jupyterhub/certs/admin-password, from GLUONLAB_CERT_DIR); wins over "
        "GLUONLAB_ADMIN_PASSWORD. Either way: at least 12 characters, at most 72 bytes, not the username.",
        group="accounts", read_by=(HUB,))

    # --- GPUs ------------------------------------------------------------------------------
    gpu_policy: Literal[GPU_POLICIES] = setting(
        "GLUONLAB_GPU_POLICY", "none", "none (CPU only), exclusive (one user per GPU) or shared "
        "(GLUONLAB_USERS_PER_GPU users per GPU).", group="gpus", read_by=(HUB,))
    gpus: str = setting(
        "GLUONLAB_GPUS", "", "GPUs to hand out: auto (ask nvidia-smi) or a list of indexes and GPU-/MIG- "
        "UUIDs, e.g. 0,1,2,3; a MIG slice's profile comes from nvidia-smi, or write MIG-<uuid>=1g.10gb.",
        group="gpus", read_by=(HUB,), doc_default="auto with a GPU policy, else none")
    users_per_gpu: int = setting(
        "GLUONLAB_USERS_PER_GPU", 2, "Users per GPU under the shared policy, on one host. On Swarm each GPU "
        "host's registration says it (docker_swarm_gpu_seats; README \"One server or several\").",
        group="gpus", read_by=(HUB,), ge=1)
    gpu_when_exhausted: Literal[WHEN_EXHAUSTED] = setting(
        "GLUONLAB_GPU_EXHAUSTED", "refuse", "When every GPU is taken: refuse (with a message) or cpu "
        "(start a CPU-only server).", group="gpus", read_by=(HUB,))
    profiles_file: str = setting(
        "GLUONLAB_PROFILES_FILE", "", "Server profiles file (YAML, path in the hub container): CPU seats, "
        "whole GPUs, MIG slices, who may use them (README \"GPU profiles and MIG\"); empty = one profile "
        "from the settings above.", group="gpus", read_by=(HUB,))
    gpu_idle_check_s: int = setting(
        "GLUONLAB_GPU_IDLE_CHECK", 60, "Seconds between the hub's checks of GPU use per server (idle GPU "
        "reclaim and the per-user usage shown to admins; 0 = no checks).", group="gpus", read_by=(HUB,), ge=0)

    # --- Limits per user server ------------------------------------------------------------
    mem_limit: str = setting("GLUONLAB_MEM_LIMIT", "4G", "Memory limit of each user server.", group="limits",
                             read_by=(HUB,), pattern=_SIZE, fix=_SIZE_FIX, allowed=_SIZE_ALLOWED)
    cpu_limit: float = setting("GLUONLAB_CPU_LIMIT", 2.0, "CPU cores each user server may use.",
                               group="limits", read_by=(HUB,), ge=0.1)
    shm_size: str = setting(
        "GLUONLAB_SHM_SIZE", "1g", "Size of /dev/shm in user servers (Gluon DataLoader workers share "
        "batches there; Docker's default is 64 MB).", group="limits", read_by=(HUB,), pattern=_SIZE,
        fix=_SIZE_FIX, allowed=_SIZE_ALLOWED)
    pids_limit: int = setting("GLUONLAB_PIDS_LIMIT", 1024, "Processes and threads per user server.",
                              group="limits", read_by=(HUB,), ge=64)
    cull_timeout: int = setting(
        "GLUONLAB_CULL_TIMEOUT", 3600, "Stop servers idle this many seconds (their GPUs return to the "
        "pool); keep it >= 330.", group="limits", read_by=(HUB,), ge=60)
    cull_max_age: int = setting(
        "GLUONLAB_CULL_MAX_AGE", 0, "Stop servers older than this many seconds even when busy (0 = never); "
        "e.g. 43200 ends a day's forgotten servers.", group="limits", read_by=(HUB,), ge=0)
    concurrent_spawn_limit: int = setting(
        "GLUONLAB_CONCURRENT_SPAWN_LIMIT", 20, "Server starts in parallel (a start is CPU-bound); more "
        "users are asked to retry.", group="limits", read_by=(HUB,), ge=1)
    active_server_limit: int = setting("GLUONLAB_ACTIVE_SERVER_LIMIT", 0, "Running servers at most "
                                       "(0 = no limit).", group="limits", read_by=(HUB,), ge=0)
    spawn_timeout: int = setting("GLUONLAB_SPAWN_TIMEOUT", 120, "Seconds a user server may take to start "
                                 "and answer.", group="limits", read_by=(HUB,), ge=10)
    warm_kernel: Literal["0", "1"] = setting(
        "GLUONLAB_WARM_KERNEL", "1", "1 = every server keeps one kernel with MXNet, NumPy and Matplotlib "
        "imported for the first notebook opened, and warms a new one in the background at low priority "
        "(README \"Warm kernels\"); 0 = each notebook starts its own kernel.", group="limits", read_by=(HUB,))
    warm_kernel_refill_delay: int = setting(
        "GLUONLAB_WARM_KERNEL_REFILL_DELAY", 30, "Seconds after a warm kernel is taken before the next is "
        "warmed (then also until the server's CPU is quiet, 2 minutes at most).", group="limits",
        read_by=(HUB,), ge=0)
    hub_cpu_shares: int = setting(
        "GLUONLAB_HUB_CPU_SHARES", 20480, "CPU weight of the hub + proxy container against user servers "
        "(1024 each) when the CPU is busy.", group="limits", read_by=(COMPOSE,), ge=2)

    # --- Network of users' servers ----------------------------------------------------------
    # Read by the netguard service (compose passes them; see gluonlab_hub/netguard.py).
    user_internet: Literal["0", "1"] = setting(
        "GLUONLAB_USER_INTERNET", "1", "1 = users' servers may reach the internet (pip, data sets); 0 = only "
        "the hub (exam-style rooms). Other attendees, the host and 169.254.0.0/16 are always closed.",
        group="network", read_by=(COMPOSE,))
    network_isolation: Literal["0", "1"] = setting(
        "GLUONLAB_NETWORK_ISOLATION", "1", "1 = the netguard service keeps attendees' containers apart and "
        "away from the host; 0 = plain Docker networking (measurements and debugging only, never in a room).",
        group="network", read_by=(HUB, COMPOSE))
    netguard_interval: int = setting(
        "GLUONLAB_NETGUARD_INTERVAL", 10, "Seconds between the netguard's (and the Swarm node guards') checks "
        "of their firewall rules (they also react at once to Docker events); on Swarm a new server waits up to "
        "3 x this + 5 s for its node guard.", group="network", read_by=(HUB, COMPOSE), ge=1, le=300)

    # --- Disk of users' servers (gluonlab_hub/homes.py, README "Threat model: disk") ------------
    home_size: str = setting(
        "GLUONLAB_HOME_SIZE", "2g", "Size of each user's home: its own file system, allocated in full on the "
        "Docker disk at the first login (room for N users = N x this); writing past it fails in that home "
        "only. 0 = plain Docker volumes without a limit. A home keeps the size it was created with. On Swarm "
        "each worker's node guard mounts them (README \"One server or several\").",
        group="storage", read_by=(HUB,), pattern=r"^(0|\d+(\.\d+)?[kKmMgG]?)$", fix=_SIZE_FIX + ", at least 32m, "
        "or 0", allowed="0 or a size >= 32m: 2g")
    tmp_size: str = setting(
        "GLUONLAB_TMP_SIZE", "512m", "Size of /tmp in each user server (memory, counted in "
        "GLUONLAB_MEM_LIMIT); the rest of its root file system is read-only. 0 = Docker's writable root "
        "(no limit outside the home).", group="storage", read_by=(HUB,), pattern=r"^(0|\d+(\.\d+)?[kKmMgG]?)$",
        fix=_SIZE_FIX + ", or 0", allowed="0 or a size: 512m")

    # --- Hub internals ---------------------------------------------------------------------
    log_level: Literal[LOG_LEVELS] = setting(
        "GLUONLAB_LOG_LEVEL", "INFO", "Hub log level.", group="hub", read_by=(HUB,))
    hub_connect_host: str = setting(
        "GLUONLAB_HUB_HOST", "hub", "Name by which users' containers reach the hub on the lab network "
        "(the compose service name).", group="hub", read_by=(HUB,))
    state_dir: str = setting(
        "GLUONLAB_STATE_DIR", "/srv/jupyterhub/state", "Hub state folder inside the hub container "
        "(database, secrets, admin password); compose keeps the default on a volume.", group="hub",
        read_by=(HUB,))
    backup_days: int = setting(
        "GLUONLAB_BACKUP_DAYS", 7, "Daily copies of the hub's SQLite database kept in "
        "<GLUONLAB_STATE_DIR>/backups (0 = no backups).", group="hub", read_by=(HUB,), ge=0)
    hub_db_url: str = setting(
        "GLUONLAB_HUB_DB_URL", "", "Hub database URL (SQLAlchemy).", group="hub", read_by=(HUB,),
        doc_default="SQLite in GLUONLAB_STATE_DIR")

    # --- Course data ------------------------------------------------------------------------
    course_data_volume: str = setting(
        "GLUONLAB_COURSE_DATA_VOLUME", "", "Docker volume with the tutorials' data sets, mounted read-only "
        "into every user server at /opt/gluonlab/course-data, where the tutorials look first; fill it once "
        "with `docker compose exec hub gluonlab-course-data fill` (README \"Course data\"). Empty: off (each "
        "server downloads into its own home).", group="course_data", read_by=(HUB,),
        pattern=r"^([a-zA-Z0-9][a-zA-Z0-9_.-]+)?$", allowed="a Docker volume name",
        fix="use a Docker volume name (letters, digits, '_', '.', '-'; at least 2), e.g. gluonlab-course-data, "
            "or leave it empty")

    # --- Several hosts (Docker Swarm) --------------------------------------------------------
    spawner_backend: Literal[SPAWNER_BACKENDS] = setting(
        "GLUONLAB_SPAWNER_BACKEND", "docker", "docker: users' servers run on the hub's host; swarm: on the "
        "worker nodes of the Docker Swarm the hub's host manages (README \"One server or several\").",
        group="swarm", read_by=(HUB,))
    swarm_constraints: str = setting(
        "GLUONLAB_SWARM_CONSTRAINTS", "node.role==worker", "Swarm placement constraints every user server "
        "gets (comma-separated), e.g. node.labels.gluonlab.gpu==true.", group="swarm", read_by=(HUB,),
        pattern=r"^[A-Za-z0-9_.\-]+\s*(==|!=)\s*[A-Za-z0-9_.\-]+(\s*,\s*[A-Za-z0-9_.\-]+\s*(==|!=)\s*[A-Za-z0-9_.\-]+)*$",
        fix="write constraints as in docker service create --constraint, comma-separated, e.g. node.role==worker",
        allowed="key==value, ...")
    swarm_gpu_resource: str = setting(
        "GLUONLAB_SWARM_GPU_RESOURCE", "NVIDIA-GPU", "Name of the node generic resource that stands for a GPU "
        "(dockerd node-generic-resources; a MIG slice's is <name>-MIG-<profile>; the NVIDIA runtime's "
        "swarm-resource names DOCKER_RESOURCE_<NAME> and each slice kind's, upper-cased).",
        group="swarm", read_by=(HUB,), pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$",
        fix="use letters, digits, '_' and '-', e.g. NVIDIA-GPU", allowed="A-Z a-z 0-9 _ -")
    swarm_hub_image: str = setting(
        "GLUONLAB_SWARM_HUB_IMAGE", "", "The hub's image as the Swarm workers pull it (their node guards run "
        "it); what the hub does on each worker runs from it (gluonlab-accounts remove: the homes there). Empty: "
        "the hub container's own image name. The Ansible role sets the registry's copy.", group="swarm",
        read_by=(HUB,), pattern=r"^([A-Za-z0-9][A-Za-z0-9._:/@-]*)?$", allowed="an image reference",
        fix="give an image reference, e.g. gpu01:5000/gluonlab/hub:latest, or leave it empty",
        doc_default="the hub container's own image")

    # --- Validation ------------------------------------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, data: Any) -> Any:
        """Defaults that follow other settings (the image follows the variant, GPUs the policy)."""
        if isinstance(data, dict):
            data = dict(data)
            data.setdefault("GLUONLAB_NOTEBOOK_IMAGE", notebook_image_for(data.get("NOTEBOOK_VARIANT", "cpu")))
            if data.get("GLUONLAB_GPU_POLICY", "none") != "none":
                data.setdefault("GLUONLAB_GPUS", "auto")
        return data

    @field_validator("admin_users", mode="before")
    @classmethod
    def _admin_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = tuple(a.strip() for a in value.split(",") if a.strip())
            for admin in value:
                if not _USERNAME.match(admin):
                    raise _invalid("usernames use lowercase letters, digits, '.', '_' and '-', starting "
                                   "with a letter or digit", value=admin)
            if not value:
                raise _invalid("name at least one admin, e.g. GLUONLAB_ADMIN_USERS=admin", value="")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("hub_bind")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise _invalid("use an IP address of this host, e.g. 127.0.0.1 (this machine) or 0.0.0.0 (all)") from None
        return value

    @field_validator("apt_mirror", "pip_index_url", "npm_registry", "mxnet_gluon_repo")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not _URL.match(value):
            raise _invalid("use an http:// or https:// URL, e.g. https://mirrors.example.org/..., or leave it empty")
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> "Settings":
        if bool(self.ssl_cert) != bool(self.ssl_key):
            raise _invalid("set both the certificate and the key file, or neither",
                           name="GLUONLAB_SSL_CERT/GLUONLAB_SSL_KEY", value=self.ssl_cert or self.ssl_key)
        return self

    @model_validator(mode="after")
    def _no_plain_http_beyond_loopback(self) -> "Settings":
        # Passwords and session cookies would cross the room's Wi-Fi in clear text.
        if not self.ssl_cert and not ipaddress.ip_address(self.hub_bind).is_loopback and self.allow_insecure != "1":
            raise _invalid(
                "the hub would be reachable from other machines over plain HTTP (passwords and cookies in "
                "clear text): set GLUONLAB_SSL_CERT and GLUONLAB_SSL_KEY (files in GLUONLAB_CERT_DIR), or keep "
                "GLUONLAB_HUB_BIND=127.0.0.1; only behind a TLS-terminating proxy set GLUONLAB_ALLOW_INSECURE=1",
                name="GLUONLAB_HUB_BIND", value=self.hub_bind)
        return self

    # --- API -------------------------------------------------------------------------------
    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Settings":
        """The settings in *env* (default: the process environment), validated. Empty values
        mean "the default" (as ``${X:-default}`` did); unknown GLUONLAB_* names are errors."""
        env = os.environ if env is None else env
        unknown = sorted(n for n in env if n.startswith("GLUONLAB_") and n not in SETTINGS and n not in OTHER_NAMES)
        if unknown:
            raise SettingsError("\n".join(_unknown_message(name) for name in unknown))
        values = {name: env[name].strip() for name in SETTINGS if env.get(name, "").strip()}
        try:
            return cls(**values)
        except ValidationError as error:
            raise SettingsError("\n".join(_message(e, values) for e in error.errors())) from None

    def warnings(self) -> list[str]:
        """Settings that work but are probably not what the admin meant."""
        found = []
        if self.gpu_policy != "none" and self.notebook_variant == "cpu":
            found.append("GLUONLAB_GPU_POLICY=%s with NOTEBOOK_VARIANT=cpu: GPUs are pinned to containers "
                         "whose MXNet cannot use them; set NOTEBOOK_VARIANT=cu117 or ngc" % self.gpu_policy)
        if self.cull_timeout < 330:
            # Servers report activity to the hub every 300 s: below ~330 s an attendee who is
            # reading (not typing) can lose their server.
            found.append(f"GLUONLAB_CULL_TIMEOUT={self.cull_timeout} is below 330 s: servers of users who are "
                         "reading but not typing may be culled")
        return found

    @property
    def db_url(self) -> str:
        """The hub's database: GLUONLAB_HUB_DB_URL, else SQLite in the state folder."""
        return self.hub_db_url or f"sqlite:///{self.state_dir}/jupyterhub.sqlite"

    @property
    def network(self) -> str:
        return self.instance

    @property
    def home_volume_template(self) -> str:
        return f"{self.instance}-home-{{username}}"


# Variable name -> field, in schema order: the one list every generated file and check uses.
SETTINGS = {info.validation_alias: (name, info) for name, info in Settings.model_fields.items()}


def meta(env: str) -> dict[str, Any]:
    """The schema's facts about one variable: field, default, choices, minimum, help, read_by..."""
    name, info = SETTINGS[env]
    facts = dict(info.json_schema_extra)
    facts.update(field=name, help=info.description, default=info.default, text_default=env_text(info.default),
                 choices=_choices(info), minimum=_bound(info, "ge"), maximum=_bound(info, "le"))
    return facts


def names(read_by: str) -> list[str]:
    """Every variable one consumer reads (HUB, COMPOSE or BUILD), in schema order."""
    return [env for env in SETTINGS if read_by in meta(env)["read_by"]]


def env_text(value: Any) -> str:
    """A value as it is written in .env."""
    if isinstance(value, SecretStr):
        return ""
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _choices(info) -> tuple[str, ...]:
    args = getattr(info.annotation, "__args__", ())
    return tuple(args) if getattr(info.annotation, "__origin__", None) is Literal else ()


def _bound(info, kind: str):
    for item in info.metadata:
        if getattr(item, kind, None) is not None:
            return getattr(item, kind)
    return None


def _unknown_message(name: str) -> str:
    # Compare what follows the common prefix, or every name would look alike.
    known = {env.removeprefix("GLUONLAB_"): env for env in SETTINGS}
    close = difflib.get_close_matches(name.removeprefix("GLUONLAB_"), list(known), n=1, cutoff=0.6)
    hint = f"did you mean {known[close[0]]}?" if close else "no setting has a similar name; remove it"
    return f"{name} is not a Gluon Lab setting: {hint} (every setting: .env.example)"


def _message(error: dict[str, Any], given: Mapping[str, str]) -> str:
    ctx = error.get("ctx") or {}
    name = ctx.get("name") or (str(error["loc"][0]) if error["loc"] else "?")
    # What the admin wrote, not what a validator made of it.
    value = ctx.get("value", given.get(name, error.get("input")))
    facts = meta(name) if name in SETTINGS else {}
    shown = "(hidden)" if facts.get("secret") else repr(env_text(value))
    return f"{name}={shown} is not valid: {_fix(error, facts, ctx)}"


def _fix(error: dict[str, Any], facts: dict[str, Any], ctx: dict[str, Any]) -> str:
    kind = error["type"]
    default = facts.get("text_default", "")
    if kind == "gluonlab":
        return ctx["fix"]
    if kind == "literal_error":
        choices = facts["choices"]
        if len(choices) == 2:
            return f"choose '{choices[0]}' or '{choices[1]}' (default {default})"
        return f"choose one of {', '.join(choices)} (default {default})"
    if kind in ("int_parsing", "int_from_float"):
        return f"must be a whole number (default {default})"
    if kind in ("float_parsing", "int_type", "float_type"):
        return f"must be a number (default {default})"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind == "string_pattern_mismatch" and facts.get("fix"):
        return facts["fix"]
    return error["msg"]


# --- Generated documentation -----------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "PYTHONPATH=hub .venv/bin/python -m gluonlab_hub.settings --write-docs"
README_BEGIN = f"<!-- settings table: generated from hub/gluonlab_hub/settings.py by `{REGENERATE}` -->"
README_END = "<!-- end of settings table -->"


def _allowed(facts: dict[str, Any]) -> str:
    if facts["allowed"]:
        return facts["allowed"]
    if facts["choices"]:
        return " | ".join(facts["choices"])
    if facts["minimum"] is not None and facts["maximum"] is not None:
        return f"{facts['minimum']}..{facts['maximum']}"
    if facts["minimum"] is not None:
        return f">= {facts['minimum']}"
    return ""


def env_example() -> str:
    """The text of .env.example."""
    out = [
        "# Gluon Lab settings. Copy to .env (next to docker-compose.yml) and edit; every line is optional",
        "# and shows the default. Bad values stop the hub with a message naming the setting; so do",
        "# unknown GLUONLAB_* names. Generated from hub/gluonlab_hub/settings.py, the one place a",
        "# setting is defined: edit it there, then run",
        f"#   {REGENERATE}",
        "# [read by ...]: hub = the hub container, compose = docker compose itself, image build = build args.",
    ]
    for group, title in GROUPS.items():
        out += ["", f"# --- {title} ".ljust(96, "-")]
        for env in SETTINGS:
            facts = meta(env)
            if facts["group"] != group:
                continue
            note = [f"read by {', '.join(facts['read_by'])}"]
            if _allowed(facts):
                note.insert(0, _allowed(facts))
            if facts["doc_default"]:
                note.append(f"default: {facts['doc_default']}")
            comment = f"{facts['help']} [{'; '.join(note)}]"
            out += textwrap.wrap(comment, 96, initial_indent="# ", subsequent_indent="# ")
            line = f"{env}={facts['text_default']}"
            out.append(f"# {line}" if facts["unset_when_empty"] else line)
    return "\n".join(out) + "\n"


def markdown_table() -> str:
    """The README's settings table (between README_BEGIN and README_END)."""
    rows = ["| Setting | Default | Allowed | Read by | What it does |", "| --- | --- | --- | --- | --- |"]
    for env in SETTINGS:
        facts = meta(env)
        if facts["doc_default"]:
            default = facts["doc_default"]
        else:
            default = f"`{facts['text_default']}`" if facts["text_default"] else "empty"
        allowed = _allowed(facts).replace(" | ", ", ")
        cells = [f"`{env}`", default, allowed, ", ".join(facts["read_by"]), facts["help"]]
        # Markdown: "<x>" would be read as an HTML tag, "|" as a column break.
        cells = [c.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|") for c in cells]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def readme_with_table(readme: str) -> str:
    """*readme* with the text between the settings-table markers replaced by markdown_table()."""
    start, end = readme.find(README_BEGIN), readme.find(README_END)
    if start < 0 or end < start:
        raise SettingsError(f"README.md has no settings table markers ({README_BEGIN} ... {README_END})")
    return readme[: start + len(README_BEGIN)] + "\n" + markdown_table() + readme[end:]


def write_docs(root: Path = ROOT) -> list[Path]:
    """Rewrite .env.example and the README's settings table under *root*; returns what changed."""
    changed = []
    for path, text in ((root / ".env.example", env_example()),
                       (root / "README.md", readme_with_table((root / "README.md").read_text(encoding="utf-8")))):
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gluonlab_hub.settings",
        description="Gluon Lab's settings schema: validate settings, or print/write the docs generated from it.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", nargs="?", const="", metavar="ENV_FILE",
                      help="validate the environment (with ENV_FILE's values under it, as compose does): exit 2 if bad")
    mode.add_argument("--env-example", action="store_true", help="print .env.example")
    mode.add_argument("--markdown", action="store_true", help="print the README's settings table")
    mode.add_argument("--write-docs", nargs="?", const=str(ROOT), metavar="REPO",
                      help="rewrite .env.example and the README table in REPO (default: this checkout)")
    args = parser.parse_args(argv)
    if args.env_example:
        sys.stdout.write(env_example())
    elif args.markdown:
        sys.stdout.write(markdown_table())
    elif args.write_docs is not None:
        for path in write_docs(Path(args.write_docs)):
            print(f"wrote {path}")
    else:
        env = dict(os.environ)
        if args.check:
            from dotenv import dotenv_values

            # The shell wins over the file, as in docker compose.
            env = {**{k: v or "" for k, v in dotenv_values(args.check).items()}, **env}
        try:
            settings = Settings.from_env(env)
        except SettingsError as error:
            print(f"gluonlab: configuration error:\n{error}", file=sys.stderr)
            return 2
        for warning in settings.warnings():
            print(f"gluonlab: warning: {warning}", file=sys.stderr)
        print("settings OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
