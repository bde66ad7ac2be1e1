"""``gluonlab-accounts remove``: the end of the workshop, in the hub container.

Which accounts: usernames from a CSV (first column, header optional, as ``create`` reads), a
prefix, or every account that joined today (``enrolment``). Admins (hub admins, and the names
in GLUONLAB_ADMIN_USERS) are never removed. For each account, in this order, so that nothing
is lost if a step fails:

1. its server is stopped through the hub's REST API (the hub's own token for this tool,
   the ``gluonlab-accounts`` service in hub_config, read from the state folder);
2. its home volume is exported to ``<out>/<user>.tar.gz`` (mode 600, written as ``.part`` and
   renamed when complete, never overwriting: scripts/export-homes.sh's rules; the hub image
   has the Docker SDK, not the CLI, so the volume is read through a created, never started,
   container with the volume mounted read-only and no network);
3. the JupyterHub user is deleted through the API (NativeAuthenticator deletes its
   ``users_info`` row with it), and the joined list forgets it;
4. its home volume is removed.

A failure stops that account at that step (later accounts still go) and is reported.
"""
from __future__ import annotations

import csv
import gzip
import io
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .rows import AccountsError, normalize_username

API_TOKEN_FILE = "accounts_api_token"
SERVICE = "gluonlab-accounts"


@dataclass
class Plan:
    remove: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # admins
    unknown: list[str] = field(default_factory=list)  # named in the CSV, no such account


def usernames_from_csv(text: str) -> list[str]:
    names = []
    for n, cells in enumerate(csv.reader(io.StringIO(text))):
        if not cells or not cells[0].strip() or (n == 0 and cells[0].strip().lower() == "username"):
            continue
        names.append(normalize_username(cells[0]))
    return names


def plan(db: Any, *, admins: set[str], names: list[str] | None = None, prefix: str | None = None,
         joined_since: float | None = None) -> Plan:
    """Who would be removed; ``db`` a session on the hub database (read only)."""
    from jupyterhub import orm
    from nativeauthenticator.orm import UserInfo

    from .enrolment import joined_accounts

    # An account is a users_info row, a hub user, or both (the value: is it an admin).
    existing = {n: False for (n,) in db.query(UserInfo.username)}
    existing.update((u.name, u.admin) for u in db.query(orm.User))
    if names is not None:
        wanted = list(dict.fromkeys(names))
    elif prefix is not None:
        if not prefix:
            raise AccountsError("--prefix must not be empty (to remove every joined account use --joined-today)")
        wanted = sorted(n for n in existing if n.startswith(prefix))
    else:
        wanted = [j.username for j in joined_accounts(db, joined_since)]
    db.rollback()
    result = Plan()
    for name in wanted:
        if name not in existing:
            result.unknown.append(name)
        elif existing[name] or name in admins:
            result.refused.append(name)
        else:
            result.remove.append(name)
    return result


class HubAPI:
    """The hub's REST API with the accounts tool's own token."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url.rstrip("/"), token

    def request(self, method: str, path: str) -> Any:
        import requests

        return requests.request(method, f"{self.url}{path}", headers={"Authorization": f"token {self.token}"},
                                timeout=60)

    def stop_server(self, name: str, timeout: float = 120) -> None:
        response = self.request("GET", f"/users/{name}")
        if response.status_code == 404:
            return
        response.raise_for_status()
        if not response.json().get("servers"):
            return
        stop = self.request("DELETE", f"/users/{name}/server")
        if stop.status_code not in (202, 204, 400):  # 400: already stopping or not running
            stop.raise_for_status()
        deadline = time.monotonic() + timeout
        while self.request("GET", f"/users/{name}").json().get("servers"):
            if time.monotonic() > deadline:
                raise AccountsError(f"{name}'s server did not stop within {timeout:.0f} s")
            time.sleep(1)

    def delete_user(self, name: str) -> None:
        response = self.request("DELETE", f"/users/{name}")
        if response.status_code not in (204, 404):
            raise AccountsError(f"the hub refused to delete {name}: {response.status_code} {response.text[:200]}")


def export_volume(client: Any, image: str, volume: str, dest: Path) -> bool:
    """``volume`` as ``dest`` (tar.gz of the home's files, 0600); False if ``dest`` exists."""
    if dest.exists():
        return False
    part = dest.with_name(dest.name + ".part")
    part.unlink(missing_ok=True)
    reader = client.containers.create(image, command=["true"], network_mode="none", user="0",
                                      volumes={volume: {"bind": "/home/user", "mode": "ro"}},
                                      labels={"org.gluonlab.role": "export"})
    try:
        stream, _ = reader.get_archive("/home/user/.")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as out:
            for chunk in stream:
                out.write(chunk)
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    finally:
        reader.remove(force=True)
    return True


def remove(names: list[str], *, api: HubAPI, docker_client: Any, db: Any, volume_template: str, image: str,
           out: Path | None, log=print, home_store: Any = None) -> list[str]:
    """Remove ``names`` (already planned: no admins); returns the ones that failed. With
    ``home_store`` (sized homes, gluonlab_hub/homes.py) a stopped user's home is attached for the
    export and released after, and its image file is deleted with its volume."""
    import docker

    from .enrolment import forget_joined

    failed = []
    if out is not None:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in names:
        volume = volume_template.format(username=name)
        step = "stop its server"
        try:
            api.stop_server(name)
            log(f"{name}: server stopped")
            try:
                docker_client.volumes.get(volume)
                has_volume = True
            except docker.errors.NotFound:
                has_volume = False
            if out is not None and has_volume:
                step = "export its home"
                dest = out / f"{name}.tar.gz"
                # A sized home can be mounted only while its loop device is attached.
                sized = home_store is not None and home_store.prepare(volume)
                try:
                    exported = export_volume(docker_client, image, volume, dest)
                finally:
                    if sized:
                        home_store.release(volume)
                if exported:
                    log(f"{name}: home exported to {dest}")
                else:
                    log(f"{name}: {dest} exists, left as is (the home is not removed)")
                    raise AccountsError(f"{dest} exists")
            step = "delete the account"
            api.delete_user(name)
            forget_joined(db, [name])
            db.commit()
            log(f"{name}: account deleted")
            if has_volume:
                step = "remove its home volume"
                docker_client.volumes.get(volume).remove()
                log(f"{name}: volume {volume} removed")
                if home_store is not None:
                    freed = home_store.delete(volume)["freed"]
                    if freed:
                        log(f"{name}: home image deleted ({freed // 1024**2} MiB freed)")
        except Exception as error:  # noqa: BLE001  (reported per account; the others go on)
            db.rollback()
            log(f"{name}: FAILED to {step}: {error}")
            failed.append(name)
    return failed


def default_out(state_dir: str) -> Path:
    return Path(state_dir) / "exports" / datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")

