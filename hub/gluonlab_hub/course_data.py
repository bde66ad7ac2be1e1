"""Shared course data: one Docker volume holding the tutorials' data sets, filled once by the
admin and mounted read-only into every user server (README "Course data").

    gluonlab-course-data fill [--from HOST_FOLDER]   fill GLUONLAB_COURSE_DATA_VOLUME
    gluonlab-course-data check                       verify every file's SHA-1

Both run content/datasets.py (the same code the notebooks and PRECACHE_DATA use, so there is
one registry of files and checksums) in a one-shot container of the notebook image with the
volume mounted: `fill` downloads (the MXNET_GLUON_REPO mirror for the sets it carries, else the
original URLs) or, with --from, copies from a folder on the Docker host with no network at
all; a file is written only when its SHA-1 matches, through a temporary name, so servers that
already mount the volume never see half a file. The hub's spawner mounts the volume at
COURSE_DATA_MOUNT (hub_config._user_servers).

On Swarm (GLUONLAB_SPAWNER_BACKEND=swarm) a volume is local to its node, so every node that
runs servers holds its own copy: the same work runs as a one-shot global Swarm service
(:func:`job_spec`, swarm_jobs.py), one task on each node that GLUONLAB_SWARM_CONSTRAINTS lets run servers, with that node's copy
mounted; the command prints each node's output under its name and exits 0 only when every node
succeeded. ``--from`` then names a folder that must exist on every such node.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any, Optional

import docker
import requests
from docker.types import ContainerSpec, Mount, Placement, RestartPolicy, TaskTemplate

from .settings import Settings, SettingsError
from .swarm_jobs import JobError, NodeResult, TimedOut, global_once, run_on_every_node

# Where user servers see the volume; content/datasets.py's COURSE_DATA_DIR (looked at first)
# must be the same path (tests/unit/test_course_data.py checks).
COURSE_DATA_MOUNT = "/opt/gluonlab/course-data"
# Where the notebook image ships datasets.py (images/notebook/Dockerfile: COPY content/).
DATASETS_PY = "/opt/gluonlab/content/datasets.py"
FROM_MOUNT = "/srv/from"
ROLE_LABEL = "org.gluonlab.role"
PROXY_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


class CourseDataError(RuntimeError):
    """The command cannot run as asked; the message says what to change."""


def container_spec(settings: Settings, action: str, from_dir: Optional[str] = None) -> dict[str, Any]:
    """Keyword arguments of containers.create for *action* ('fill' or 'check')."""
    volume = settings.course_data_volume
    command = ["python3", DATASETS_PY, "--all", "--dest", COURSE_DATA_MOUNT]
    mounts = [Mount(COURSE_DATA_MOUNT, volume, type="volume", read_only=action == "check")]
    if action == "check":
        command = ["python3", DATASETS_PY, "--check", "--dest", COURSE_DATA_MOUNT]
    elif from_dir:
        command += ["--from", FROM_MOUNT]
        # A bind Mount (not a -v bind) fails when the folder is missing instead of creating it.
        mounts.append(Mount(FROM_MOUNT, from_dir, type="bind", read_only=True))
    environment = {"MXNET_GLUON_REPO": settings.mxnet_gluon_repo}
    environment.update({name: os.environ[name] for name in PROXY_NAMES if os.environ.get(name)})
    return {
        "image": settings.notebook_image,
        "command": command,
        # root, but without capabilities: it owns the fresh volume, the users (uid 1000) do not.
        "user": "0",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        # Only a download needs the network (Docker's default bridge, not the lab network).
        "network_mode": "bridge" if action == "fill" and not from_dir else "none",
        "mounts": mounts,
        "environment": environment,
        "labels": {ROLE_LABEL: f"course-data-{action}", "org.gluonlab.instance": settings.instance},
    }


def job_spec(settings: Settings, action: str, from_dir: Optional[str] = None) -> dict[str, Any]:
    """Keyword arguments of docker-py's ``create_service`` for *action* on Swarm: the container
    of :func:`container_spec` once on every node that may run servers (swarm_jobs.py)."""
    one = container_spec(settings, action, from_dir)
    mounts = [Mount(m["Target"], m.get("Source"), type=m["Type"], read_only=m.get("ReadOnly", False),
                    labels=volume_labels(settings) if m["Type"] == "volume" else None) for m in one["mounts"]]
    container = ContainerSpec(one["image"], command=one["command"], env=one["environment"], user=one["user"],
                              labels=one["labels"], mounts=mounts, cap_drop=one["cap_drop"])
    constraints = [x.strip() for x in settings.swarm_constraints.split(",") if x.strip()]
    return global_once(name=f"{settings.instance}-course-data-{action}", labels=one["labels"],
                       task_template=TaskTemplate(container_spec=container,
                                                  placement=Placement(constraints=constraints),
                                                  restart_policy=RestartPolicy(condition="none")))


def run_on_swarm(settings: Settings, action: str, from_dir: Optional[str], timeout: float, out,
                 client: docker.DockerClient) -> int:
    """*action* on every server node's copy of the volume (:func:`job_spec`), each node's result and
    output printed under its name; the worst exit code (0 when all succeeded)."""
    try:
        results = run_on_every_node(client, job_spec(settings, action, from_dir), timeout, action)
    except TimedOut as error:
        _print_nodes(error.results, out)
        raise CourseDataError(f"{error}; what it verified is kept: run it again, or raise --timeout") from None
    except JobError as error:
        raise CourseDataError(str(error)) from None
    return _print_nodes(results, out)


def _print_nodes(results: list[NodeResult], out) -> int:
    worst = 0
    for result in results:
        out.write(f"== {result.node}: {result.state} (exit {result.exit_code})"
                  f"{': ' + result.error if result.error else ''}\n")
        for message in result.lines:
            out.write(f"   {message}\n")
        worst = max(worst, result.exit_code)
    out.flush()
    return worst


def volume_labels(settings: Settings) -> dict[str, str]:
    return {ROLE_LABEL: "course-data", "org.gluonlab.instance": settings.instance}


def _ensure_volume(client: docker.DockerClient, settings: Settings) -> None:
    try:
        client.volumes.get(settings.course_data_volume)
    except docker.errors.NotFound:
        client.volumes.create(settings.course_data_volume, labels=volume_labels(settings))


def run(settings: Settings, action: str, from_dir: Optional[str] = None, timeout: float = 1800, out=sys.stdout,
        client: Optional[docker.DockerClient] = None) -> int:
    """Run *action* in a one-shot container, copying its output to *out*; returns its exit code."""
    if not settings.course_data_volume:
        raise CourseDataError("GLUONLAB_COURSE_DATA_VOLUME is empty: set it (e.g. GLUONLAB_COURSE_DATA_VOLUME="
                              "gluonlab-course-data in .env), then `docker compose up -d` so the hub mounts it")
    if from_dir is not None and not os.path.isabs(from_dir):
        raise CourseDataError(f"--from {from_dir}: give an absolute path of a folder on the Docker host")
    client = client or docker.from_env()
    if settings.spawner_backend == "swarm":
        return run_on_swarm(settings, action, from_dir, timeout, out, client)
    try:
        client.images.get(settings.notebook_image)
    except docker.errors.ImageNotFound:
        raise CourseDataError(f"the notebook image {settings.notebook_image} is not built: run "
                              "`docker compose build notebook-image` first") from None
    if action == "fill":
        _ensure_volume(client, settings)
    else:
        try:
            client.volumes.get(settings.course_data_volume)
        except docker.errors.NotFound:
            raise CourseDataError(f"volume {settings.course_data_volume} does not exist: run "
                                  "`gluonlab-course-data fill` first") from None
    try:
        container = client.containers.create(**container_spec(settings, action, from_dir))
    except docker.errors.APIError as error:
        raise CourseDataError(f"cannot create the {action} container: {error.explanation or error}") from None
    try:
        try:
            container.start()
        except docker.errors.APIError as error:
            hint = f" (is {from_dir} a folder on the Docker host?)" if from_dir else ""
            raise CourseDataError(f"cannot start the {action} container: {error.explanation or error}{hint}") from None
        # The log stream ends when the container does; the wait below is what times out.
        copier = threading.Thread(target=_copy_logs, args=(container, out), daemon=True)
        copier.start()
        try:
            code = container.wait(timeout=timeout)["StatusCode"]
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            container.kill()
            raise CourseDataError(f"{action} did not finish within {timeout:.0f} s (stopped); what it verified "
                                  "is kept: run it again, or raise --timeout") from None
        copier.join(timeout=10)
        return code
    finally:
        container.remove(force=True)


def _copy_logs(container, out) -> None:
    for chunk in container.logs(stream=True, follow=True):
        out.write(chunk.decode("utf-8", "replace"))
        out.flush()


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gluonlab-course-data",
        description="Fill or check the course data volume (GLUONLAB_COURSE_DATA_VOLUME) that every user server "
                    "mounts read-only: the tutorials' data sets, each verified against its SHA-1.")
    sub = parser.add_subparsers(dest="action", required=True)
    fill = sub.add_parser("fill", help="download the data sets (MXNET_GLUON_REPO mirror, then the original URLs) "
                                       "or copy them from a folder; files already verified are kept")
    fill.add_argument("--from", dest="from_dir", metavar="HOST_FOLDER",
                      help="absolute path of a folder on the Docker host holding the files (any layout); "
                           "nothing is downloaded")
    fill.add_argument("--timeout", type=float, default=1800, help="seconds before the fill is stopped (default 1800)")
    check = sub.add_parser("check", help="verify every file (exit 1 if one is missing or damaged)")
    check.add_argument("--timeout", type=float, default=300, help="seconds before the check is stopped (default 300)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        return run(settings, args.action, getattr(args, "from_dir", None), args.timeout)
    except (SettingsError, CourseDataError) as error:
        print(f"gluonlab-course-data: {error}", file=sys.stderr)
        return 2
    except docker.errors.DockerException as error:
        print(f"gluonlab-course-data: cannot talk to the Docker engine ({error}); run this in the hub container "
              "(docker compose exec hub gluonlab-course-data ...)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
