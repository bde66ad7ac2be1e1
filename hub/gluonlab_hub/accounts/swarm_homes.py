"""``gluonlab-accounts remove`` on Swarm: the removed accounts' homes, on every worker.

On Swarm a home is a volume on the worker where its user's first server ran (sized: with its
image file in that worker's ``<instance>-homes``), which the hub's engine, the manager's, cannot
reach. Left there, it would greet the next account of the same name placed on that worker (next
week's ``student01``). So for the accounts being removed, after their servers have stopped, one
service runs once on every node that may run servers (swarm_jobs.py), from the hub's image
(GLUONLAB_SWARM_HUB_IMAGE) with that node's Docker socket and its ``<instance>-homes`` and
``<instance>-exports`` volumes. For each of these accounts whose home is on that node it:

1. waits for the account's old server containers there to be gone (Swarm removes a stopped
   service's containers a moment later) and for a sized home to be unmounted (node_homes.in_use:
   the ext4's own "mounted" flag, since the task has no loop devices), refusing one that stays so;
2. exports the home to ``<stamp>/<user>.tar.gz`` in the node's ``<instance>-exports`` volume
   (mode 600, ``.part`` until complete, never overwriting), unless ``--no-export``: a sized home's
   files are read from its image with ``debugfs rdump`` (no loop device, which a service cannot
   have), a plain one through a never-started container as on one host;
3. removes the home volume and the image file;

and prints one JSON line per home it held. An account is deleted from the hub only when no node
reported a failure for it: a node whose task failed as a whole, or that is down or drained (its
homes cannot be looked at), fails every account, which is kept until a later run can look there.
Nothing is lost if a step fails, as on one host.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

EXPORTS_MOUNT = "/exports"
#: How long a node waits for a stopped server's containers to be removed by Swarm.
CONTAINERS_GONE_S = 60.0
JOB_TIMEOUT_S = 900.0
ROLE_LABEL = "org.gluonlab.role"


def exports_volume(instance: str) -> str:
    """The volume on each worker that holds the homes exported there."""
    return f"{instance}-exports"


# ------------------------------------------------------------------ on each node


def _dump_sized(image: Path, dest: Path) -> None:
    """*image*'s files (an ext4 home) as the tar.gz *dest*, read with debugfs (no mount)."""
    work = dest.with_name(f".{dest.name}.files")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)
    part = dest.with_name(dest.name + ".part")
    try:
        result = subprocess.run(["debugfs", "-R", f"rdump / {work}", str(image)], capture_output=True, text=True)
        problems = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("debugfs ")]
        if result.returncode != 0 or problems:
            raise RuntimeError(f"reading {image.name}: {'; '.join(problems) or result.returncode}")
        with open(part, "xb") as raw:
            part.chmod(0o600)
            with tarfile.open(fileobj=raw, mode="w:gz") as tar:
                tar.add(work, arcname=".")
        part.replace(dest)
    finally:
        part.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)


def remove_here(client: Any, homes: dict[str, str], export_dir: Optional[Path], images_dir: Path,
                reader_image: str, say: Callable[[dict], None], gone_s: float = CONTAINERS_GONE_S) -> int:
    """Export and remove, on this node, each of *homes* (user -> volume) found here; one report
    each through *say*; the number of failures."""
    import docker

    from ..homes import home_names
    from ..node_homes import in_use
    from .removal import export_volume

    failures = 0
    for user, volume_name in sorted(homes.items()):
        try:
            volume = client.volumes.get(volume_name)
        except docker.errors.NotFound:
            volume = None
        image = images_dir / home_names(volume_name)[0]
        if volume is None and not image.exists():
            continue
        report: dict[str, Any] = {"user": user, "volume": volume_name}
        try:
            deadline = time.monotonic() + gone_s
            while users := client.containers.list(all=True, filters={"volume": volume_name}):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"still used by {', '.join(c.name for c in users)}: stop it first")
                time.sleep(1)
            # A stopped server's home is unmounted (and flushed) a moment after its container;
            # read the image only once it is, or what was written last is missing.
            while image.exists() and in_use(image):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{image.name} is still mounted, or was not unmounted cleanly (a node that "
                                       f"lost power): if no server of {user} runs here, `e2fsck -p` it first")
                time.sleep(0.5)
            if export_dir is not None:
                dest = export_dir / f"{user}.tar.gz"
                if dest.exists():
                    raise RuntimeError(f"{dest.name} exists in this export already: left as is, home not removed")
                if image.exists():
                    _dump_sized(image, dest)
                elif not export_volume(client, reader_image, volume_name, dest):
                    raise RuntimeError(f"{dest.name} exists in this export already: home not removed")
                report["exported"] = str(dest.relative_to(export_dir.parent))
            if volume is not None:
                volume.remove()
            if image.exists():
                report["freed"] = image.stat().st_size
                image.unlink()
        except Exception as error:  # noqa: BLE001  (reported for this home; the others go on)
            report["error"] = str(error)
            failures += 1
        say(report)
    return failures


def main(argv: Optional[list[str]] = None) -> int:
    import docker

    from ..node_homes import IMAGES_DIR

    parser = argparse.ArgumentParser(prog="python -m gluonlab_hub.accounts.swarm_homes",
                                     description="Export and remove removed accounts' homes on this Swarm node "
                                                 "(run by gluonlab-accounts remove, once per node).")
    parser.add_argument("--homes", required=True, help="JSON object: user -> home volume")
    parser.add_argument("--image", required=True, help="an image on this node to read plain volumes with")
    parser.add_argument("--export", metavar="STAMP", help="export into this folder of the exports volume first")
    args = parser.parse_args(argv)
    export_dir = None
    if args.export:
        export_dir = Path(EXPORTS_MOUNT) / args.export
        export_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    failures = remove_here(docker.from_env(), json.loads(args.homes), export_dir, IMAGES_DIR, args.image,
                           lambda report: print(json.dumps(report), flush=True))
    return 1 if failures else 0


# ------------------------------------------------------------------ from the hub container


def job_spec(instance: str, image: str, constraints: list[str], homes: dict[str, str],
             stamp: Optional[str]) -> dict[str, Any]:
    """``create_service`` keyword arguments of the once-per-node removal (module doc)."""
    from docker.types import ContainerSpec, Mount, Placement, RestartPolicy, TaskTemplate

    from ..homes import homes_volume
    from ..node_homes import IMAGES_DIR
    from ..swarm_jobs import global_once

    command = ["python3", "-m", "gluonlab_hub.accounts.swarm_homes", "--homes", json.dumps(homes), "--image", image]
    command += ["--export", stamp] if stamp else []
    mounts = [Mount("/var/run/docker.sock", "/var/run/docker.sock", type="bind"),
              Mount(str(IMAGES_DIR), homes_volume(instance), type="volume"),
              Mount(EXPORTS_MOUNT, exports_volume(instance), type="volume")]
    labels = {ROLE_LABEL: "home-removal", "org.gluonlab.instance": instance}
    # Root with only what reading and removing another user's files takes.
    container = ContainerSpec(image, command=command, user="0", labels=labels, mounts=mounts, cap_drop=["ALL"],
                              cap_add=["CHOWN", "DAC_OVERRIDE", "FOWNER"])
    return global_once(name=f"{instance}-home-removal", labels=labels,
                       task_template=TaskTemplate(container_spec=container, placement=Placement(constraints=constraints),
                                                  restart_policy=RestartPolicy(condition="none")))


def outcomes(results: list, users: list[str]) -> dict[str, dict[str, list[str]]]:
    """Per user: ``{"done": [...], "failed": [...]}`` lines from every node's results
    (swarm_jobs.NodeResult); a node that failed as a whole fails every user."""
    found: dict[str, dict[str, list[str]]] = {user: {"done": [], "failed": []} for user in users}
    for result in results:
        reported = set()
        for line in result.lines:
            try:
                report = json.loads(line)
            except ValueError:
                continue
            user = report.get("user")
            if user not in found:
                continue
            reported.add(user)
            if "error" in report:
                found[user]["failed"].append(f"on {result.node}: {report['error']}")
                continue
            if "exported" in report:
                found[user]["done"].append(f"home exported on {result.node} to {report['exported']} in its "
                                           "exports volume")
            freed = report.get("freed", 0)
            found[user]["done"].append(f"home removed on {result.node}" +
                                       (f" ({freed // 1024**2} MiB freed)" if freed else ""))
        if not result.ok and not any(found[u]["failed"] for u in reported):
            if result.state in ("node down", "not reached"):
                line = (f"on {result.node}: not looked at, {result.error}; run remove again once it is back "
                        "(or take it out of the swarm: docker node rm)")
            else:
                why = result.error or f"exit {result.exit_code}"
                line = f"on {result.node}: its task {result.state} ({why})" + (
                    f": {result.lines[-1]}" if result.lines else "")
            for user in users:
                found[user]["failed"].append(line)
    return found


def hub_image(client: Any, configured: str) -> str:
    """The image the node work runs from: GLUONLAB_SWARM_HUB_IMAGE, else this container's own."""
    if configured:
        return configured
    import socket

    import docker

    try:
        return client.containers.get(socket.gethostname()).attrs["Config"]["Image"]
    except docker.errors.DockerException:
        from .rows import AccountsError

        raise AccountsError("cannot tell which image this hub container runs: set GLUONLAB_SWARM_HUB_IMAGE to the "
                            "hub image as the workers pull it") from None


def remove(names: list[str], *, api: Any, db: Any, client: Any, settings: Any, stamp: Optional[str],
           log=print, run: Optional[Callable] = None) -> list[str]:
    """Remove ``names`` on Swarm (module doc); returns the ones that failed."""
    from ..swarm_jobs import JobError, TimedOut, run_on_every_node
    from .enrolment import forget_joined

    failed, stopped = [], []
    for name in names:
        try:
            api.stop_server(name)
            log(f"{name}: server stopped")
            stopped.append(name)
        except Exception as error:  # noqa: BLE001  (reported per account)
            log(f"{name}: FAILED to stop its server: {error}")
            failed.append(name)
    if not stopped:
        return failed
    homes = {name: settings.home_volume_template.format(username=name) for name in stopped}
    constraints = [x.strip() for x in settings.swarm_constraints.split(",") if x.strip()]
    spec = job_spec(settings.instance, hub_image(client, settings.swarm_hub_image), constraints, homes, stamp)
    try:
        results = (run or run_on_every_node)(client, spec, JOB_TIMEOUT_S, "home removal", every_node=True)
    except TimedOut as error:
        results = error.results
        log(f"gluonlab-accounts: {error}")
    except JobError as error:
        for name in stopped:
            log(f"{name}: FAILED to remove its home on the workers: {error}")
        return failed + stopped
    for name, outcome in outcomes(results, stopped).items():
        for line in outcome["done"]:
            log(f"{name}: {line}")
        if outcome["failed"]:
            for line in outcome["failed"]:
                log(f"{name}: FAILED to export or remove its home {line} (the account is kept)")
            failed.append(name)
            continue
        try:
            api.delete_user(name)
            forget_joined(db, [name])
            db.commit()
            log(f"{name}: account deleted")
        except Exception as error:  # noqa: BLE001
            db.rollback()
            log(f"{name}: FAILED to delete the account: {error}")
            failed.append(name)
    return failed


if __name__ == "__main__":
    sys.exit(main())
