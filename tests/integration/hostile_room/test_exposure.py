"""A hostile room against the real compose stack: exposure and secrets. Each test is named for
the attack or mistake and the refusal (rules without Docker: tests/unit/test_hostile_room_exposure.py).

- A hub published beyond loopback over plain HTTP does not start; the reason, naming the
  settings to fix, is in `docker compose logs hub`, with exit status 2.
- A weak bootstrap admin password is refused the same way, never a silent restart loop.
- The bootstrap password does not reach JupyterHub or anything it starts; with
  GLUONLAB_ADMIN_PASSWORD_FILE it is not in the container's configuration either.
- A CPU-only server gets NVIDIA_VISIBLE_DEVICES=void and no swap beyond its memory limit, and
  the user's own ~/.jupyter cannot change their server.
- Exported homes are mode 0600 and never half-written under their final name.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import tarfile
import time
import uuid

import docker
import pytest
import requests

from labclient import REPO_ROOT, HubClient, LabStack, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.integration]

NOTEBOOK_IMAGE = "gluonlab/notebook:cpu"


def hub_container(lab: LabStack):
    return docker.from_env().containers.get(f"{lab.instance}-hub-1")


def refused_start(lab: LabStack, timeout: float = 120) -> tuple[dict, str]:
    """`docker compose up -d` of a hub that must refuse: wait until it has exited (or is being
    restarted) with a status, and return its state and its logs."""
    result = lab.compose("up", "-d", check=False)
    assert result.returncode == 0, result.stderr  # compose starts it; the hub itself refuses

    def exited():
        state = hub_container(lab).attrs["State"]
        return state if state["ExitCode"] != 0 and not state["Running"] or state["Restarting"] else None

    state = wait_until(exited, timeout, what="the hub to stop")
    # Docker restarts it (restart: unless-stopped) with a growing delay; each start says why again.
    wait_until(lambda: "configuration error" in lab.logs(), 30, what="the refusal in the logs")
    return state, lab.logs()


def test_hub_refuses_to_listen_beyond_loopback_without_tls():
    lab = LabStack(extra_env={"GLUONLAB_HUB_BIND": "0.0.0.0"})
    try:
        state, logs = refused_start(lab)
        assert state["ExitCode"] == 2
        assert "GLUONLAB_HUB_BIND='0.0.0.0' is not valid" in logs
        for name in ("GLUONLAB_SSL_CERT", "GLUONLAB_SSL_KEY", "GLUONLAB_ALLOW_INSECURE=1"):
            assert name in logs
        assert "Traceback" not in logs
        # Nothing answers on the published port: the refusal came before JupyterHub.
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{lab.url}/hub/api/", timeout=3)
    finally:
        lab.down()


def test_hub_behind_an_explicit_tls_proxy_may_listen_on_all_addresses():
    with LabStack(extra_env={"GLUONLAB_HUB_BIND": "0.0.0.0", "GLUONLAB_ALLOW_INSECURE": "1"}).running() as lab:
        bindings = hub_container(lab).attrs["HostConfig"]["PortBindings"]["8000/tcp"]
        assert [b["HostIp"] for b in bindings] == ["0.0.0.0"]


def test_weak_bootstrap_password_is_refused_visibly_not_in_a_silent_restart_loop():
    lab = LabStack(admin_password="admin")
    try:
        state, logs = refused_start(lab)
        assert state["ExitCode"] == 2
        assert "GLUONLAB_ADMIN_PASSWORD=(hidden) is not valid: it has 5 characters, at least 12" in logs
        # Each restart says it again, and no account was made with the weak password.
        wait_until(lambda: hub_container(lab).attrs["RestartCount"] >= 1, 60, what="a restart")
        wait_until(lambda: lab.logs().count("GLUONLAB_ADMIN_PASSWORD=(hidden) is not valid") >= 2, 60,
                   what="the refusal repeated")
    finally:
        lab.down()


def environ_of_hub_processes(lab: LabStack) -> dict[str, dict[str, str]]:
    """Command line -> environment of every process in the hub container but tini (pid 1,
    which holds the container's configured environment, as `docker inspect` shows it)."""
    script = (
        "import json, os\n"
        "out = {}\n"
        "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "    if pid == '1' or pid == str(os.getpid()): continue\n"
        "    try:\n"
        "        cmd = open(f'/proc/{pid}/cmdline', 'rb').read().replace(b'\\0', b' ').decode().strip()\n"
        "        env = dict(e.split('=', 1) for e in open(f'/proc/{pid}/environ', 'rb').read().decode().split('\\0') if '=' in e)\n"
        "    except OSError: continue\n"
        "    out[cmd] = env\n"
        "print(json.dumps(out))\n"
    )
    # Not `docker compose exec`: an exec'd process gets the container's configured environment.
    # The hub's own processes are what matter; read them from a process started with none.
    result = lab.compose("exec", "-T", "hub", "env", "-i", "/opt/venv/bin/python3", "-c", script)
    found = json.loads(result.stdout)
    return {cmd: env for cmd, env in found.items() if not cmd.startswith("env -i") and "python3 -c" not in cmd}


def test_jupyterhub_and_its_children_do_not_inherit_the_bootstrap_password():
    with LabStack(extra_env={"GLUONLAB_BACKUP_DAYS": "3"}).running() as lab:
        wait_until(lambda: any("gluonlab_hub.backup" in c for c in environ_of_hub_processes(lab)), 60,
                   what="the hub's services")
        processes = environ_of_hub_processes(lab)
        assert any("jupyterhub" in cmd for cmd in processes) and any("configurable-http-proxy" in c for c in processes)
        # The culler runs with its max-age option (0 = the culler's "no limit" by default).
        assert any("jupyterhub_idle_culler" in c and "--max-age=0" in c for c in processes), list(processes)
        for cmd, env in processes.items():
            assert "GLUONLAB_ADMIN_PASSWORD" not in env, cmd
            assert lab.admin_password not in json.dumps(env), cmd
        assert HubClient(lab.url).login("admin", lab.admin_password).status_code == 302
        # The daily backup service made its first copy on the hub volume.
        listing = lab.compose("exec", "-T", "hub", "ls", "/srv/jupyterhub/state/backups").stdout.split()
        assert len(listing) == 1 and listing[0].startswith("jupyterhub-") and listing[0].endswith(".sqlite")


def test_password_file_keeps_the_bootstrap_password_out_of_the_container_configuration(tmp_path):
    secret = f"file-password-{time.time_ns()}"
    (tmp_path / "admin-password").write_text(secret + "\n")
    (tmp_path / "admin-password").chmod(0o600)
    lab = LabStack(admin_password="", extra_env={
        "GLUONLAB_CERT_DIR": str(tmp_path), "GLUONLAB_ADMIN_PASSWORD_FILE": "/srv/jupyterhub/certs/admin-password"})
    with lab.running():
        configured = hub_container(lab).attrs["Config"]["Env"]
        assert not any(secret in e for e in configured)
        assert not any(e.startswith("GLUONLAB_ADMIN_PASSWORD=") and e != "GLUONLAB_ADMIN_PASSWORD=" for e in configured)
        assert HubClient(lab.url).login("admin", secret).status_code == 302


def test_cpu_only_server_sees_no_gpus_even_with_nvidia_default_runtime_and_ignores_the_users_jupyter_config():
    lab = LabStack(extra_env={"GLUONLAB_MEM_LIMIT": "1G"})
    client = docker.from_env()
    try:
        # The attendee's home carries a ~/.jupyter that would add a header to every response
        # (as one could switch off XSRF checks or open CORS); the server must ignore it.
        volume = f"{lab.instance}-home-alice"
        client.containers.run(
            NOTEBOOK_IMAGE, ["sh", "-c", "mkdir -p ~/.jupyter && printf '%s' \"$CONF\" > ~/.jupyter/jupyter_server_config.py"],
            entrypoint=[], user="1000", remove=True, network_mode="none",
            environment={"CONF": "c.ServerApp.tornado_settings = {'headers': {'X-Probe': 'user-config'}}\n"},
            volumes={volume: {"bind": "/home/jovyan", "mode": "rw"}})
        lab.up()
        hub = HubClient(lab.url)
        assert hub.login("admin", lab.admin_password).status_code == 302
        hub.create_token("admin")
        assert hub.api("POST", "/users/alice").status_code == 201
        hub.start_server("alice")
        [container] = [c for c in lab.user_containers() if c.labels.get("gluonlab.user") == "alice"]
        environ = container.exec_run(["cat", "/proc/1/environ"]).output.decode().split("\0")
        assert "NVIDIA_VISIBLE_DEVICES=void" in environ
        host = container.attrs["HostConfig"]
        assert host["Memory"] == 1 << 30 and host["MemorySwap"] == host["Memory"]
        response = hub.user_api("GET", "alice", "/contents")
        assert response.status_code == 200, (response.url, response.text[:300])
        assert "X-Probe" not in response.headers, response.headers
        assert container.exec_run(["test", "-f", "/home/jovyan/.jupyter/jupyter_server_config.py"]).exit_code == 0
    finally:
        lab.down()


def test_exported_homes_are_private_and_never_half_written(tmp_path):
    """An attendee's work copied off the host is readable by the admin only; the archive is
    written as .part and renamed (a crashed run's .part is replaced, never taken as done)."""
    instance = f"gltest-{uuid.uuid4().hex[:8]}"
    client = docker.from_env()
    volume = client.volumes.create(f"{instance}-home-dana")
    try:
        client.containers.run(NOTEBOOK_IMAGE, ["sh", "-c", "echo dana was here > /home/jovyan/work.txt"],
                              entrypoint=[], user="0", remove=True, network_mode="none",
                              volumes={volume.name: {"bind": "/home/jovyan", "mode": "rw"}})
        (tmp_path / "dana.tar.gz.part").write_text("left by a crashed run")
        export = [str(REPO_ROOT / "scripts" / "export-homes.sh"), "--instance", instance, "--image", NOTEBOOK_IMAGE]
        result = subprocess.run(export + [str(tmp_path)], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        archive = tmp_path / "dana.tar.gz"
        assert stat.S_IMODE(archive.stat().st_mode) == 0o600 and archive.stat().st_uid == os.getuid()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["dana.tar.gz"]
        with tarfile.open(archive) as tar:
            assert tar.extractfile("./work.txt").read() == b"dana was here\n"
    finally:
        volume.remove(force=True)
