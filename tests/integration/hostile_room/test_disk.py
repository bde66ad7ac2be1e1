"""A hostile room, disk side: attendee A fills every place their server can write, on the real
compose stack (loop-mounted ext4 homes, read-only root, tmpfs /tmp: README "Threat model: disk").
A hits "No space left on device" at their own limit; B, the hub and its database carry on.

Homes here are 64 MiB (GLUONLAB_HOME_SIZE) and /tmp 16 MiB, so filling them takes a moment.
"""
from __future__ import annotations

import json
import subprocess
import tarfile

import docker
import pytest
import requests

from labclient import REPO_ROOT, HubClient, LabStack, execute, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.integration]

HOME_MIB, TMP_MIB = 64, 16
HUB_IMAGE = "gluonlab/hub:latest"


@pytest.fixture(scope="module")
def stack():
    lab = LabStack(extra_env={"GLUONLAB_HOME_SIZE": f"{HOME_MIB}m", "GLUONLAB_TMP_SIZE": f"{TMP_MIB}m"})
    with lab.running():
        yield lab


@pytest.fixture(scope="module")
def room(stack):
    """alice (A) and bob (B) with running servers."""
    hub = HubClient(stack.url)
    assert hub.login("admin", stack.admin_password).status_code == 302
    hub.create_token("admin")
    for name in ("alice", "bob"):
        assert hub.api("POST", f"/users/{name}").status_code in (201, 409)
        hub.start_server(name)
    containers = {c.name[len(stack.instance) + 1:]: c for c in stack.user_containers()}
    return {"hub": hub, "a": containers["alice"], "b": containers["bob"]}


def sh(container, script: str) -> tuple[int, str]:
    result = container.exec_run(["bash", "-c", script])
    return result.exit_code, result.output.decode(errors="replace")


def loop_devices_of(stack: LabStack) -> str:
    """`losetup --list` as the homes helper sees it (the host's loop devices): which images of
    this stack are attached."""
    return subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--cap-drop", "ALL", "--cap-add", "SYS_ADMIN",
         "--device-cgroup-rule", "b 7:* rwm", "-v", "/dev:/dev", "-v", f"{stack.instance}-homes:/homes",
         "--entrypoint", "losetup", HUB_IMAGE, "--list", "--noheadings", "--output", "NAME,BACK-FILE"],
        capture_output=True, text=True, timeout=60).stdout


# --- The home ----------------------------------------------------------------------------------
def test_an_attendees_home_is_its_own_file_system_of_the_set_size(stack, room):
    code, out = sh(room["a"], "stat -f -c '%b %S' ~ && findmnt -n -o FSTYPE,OPTIONS --target ~ && touch ~/mine && id -u")
    assert code == 0, out
    blocks, block_size = map(int, out.split()[:2])
    assert 0.8 * HOME_MIB < blocks * block_size / 2**20 <= HOME_MIB, out
    assert "ext4" in out and "nosuid" in out and "nodev" in out, out
    assert out.split()[-1] == "1000", "the attendee owns their home"
    # The image's home skeleton, as a plain volume gets it (Docker's copy into an empty volume).
    code, out = sh(room["a"], "ls -A ~ && stat -c %U ~/.bashrc")
    assert code == 0 and {".bashrc", ".profile"} <= set(out.split()) and "lost+found" not in out, out
    assert out.split()[-1] == "jovyan", out


def test_attendee_filling_their_home_gets_no_space_left_at_the_limit(stack, room):
    code, out = sh(room["a"], "fallocate -l 500G ~/x; echo rc=$?; rm -f ~/x")
    assert "rc=1" in out and "No space left on device" in out, out
    # Everything that is free in the home (the tutorials take some), and not a block more.
    code, out = sh(room["a"], "df -B1 --output=avail ~ | tail -1; dd if=/dev/zero of=~/fill bs=64k 2>&1; "
                              "echo; du -B1 --apparent-size ~/fill")
    assert "No space left on device" in out, out
    free, written = int(out.split()[0]), int(out.split()[-2])
    assert free - 2**20 < written <= free and written > 16 * 2**20, out


def test_with_alices_home_full_bob_the_hub_and_its_database_carry_on(stack, room):
    assert "No space left" in sh(room["a"], "dd if=/dev/zero of=~/more bs=1M count=8 2>&1")[1]
    code, out = sh(room["b"], "dd if=/dev/zero of=~/data bs=1M count=20 2>&1 && sync && du -m ~/data")
    assert code == 0 and out.split()[-2] == "20", out
    hub = room["hub"]
    # The hub writes its database: a new user, a new token, a login.
    assert hub.api("POST", "/users/carol").status_code == 201
    assert requests.get(f"{stack.url}/hub/health", timeout=10).ok
    assert HubClient(stack.url).login("admin", stack.admin_password).status_code == 302


def test_saving_a_notebook_in_a_full_home_says_so_in_both_languages(stack, room):
    sh(room["a"], "dd if=/dev/zero of=~/brim bs=64k 2>/dev/null; true")
    notebook = {"cells": [{"cell_type": "code", "source": "x = 1\n" * 20000, "metadata": {}, "outputs": [],
                           "execution_count": None}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    response = room["hub"].user_api("PUT", "alice", "/contents/full.ipynb",
                                    json={"type": "notebook", "format": "json", "content": notebook})
    assert response.status_code == 507, response.text
    message = response.json()["message"]
    assert "你的主目录已满" in message and "Your home folder is full, so the file was not saved" in message


def test_doctor_in_the_attendees_server_names_the_full_home(room):
    code, out = sh(room["a"], "bash /opt/gluonlab/scripts/doctor.sh --json --lang en --skip mxnet,gpu,conda")
    check = {c["name"]: c for c in json.loads(out)["checks"]}["home-space"]
    assert check["status"] == "FAIL" and check["found"].startswith("home /home/jovyan:"), check
    assert code == 1


def test_in_a_full_home_a_kernel_still_starts_and_the_attendee_can_clean_up(stack, room):
    code = "import os, shutil; os.remove(os.path.expanduser('~/fill')); print(shutil.disk_usage(os.path.expanduser('~')).free)"
    result = execute(stack.url, "alice", room["hub"].token, code)
    # stdout and stderr (the warning) arrive as separate streams, in either order.
    free = [int(line) for line in result["stdout"].splitlines() if line.strip().isdigit()]
    assert result["error"] is None and free and free[0] > 2**20, result
    # The new kernel's first output warned (home-space-warning.py, run by every kernel).
    assert "主目录已用" in result["stdout"] and "Warning: your home folder is" in result["stdout"], result


# --- Outside the home ------------------------------------------------------------------------
def test_attendee_cannot_write_to_the_root_file_system(room):
    for path in ("/x", "/opt/venv/x", "/var/tmp/x", "/usr/local/bin/x"):
        code, out = sh(room["a"], f"dd if=/dev/zero of={path} bs=1M count=1 2>&1")
        assert code != 0 and ("Read-only file system" in out or "Permission denied" in out), (path, out)
    code, out = sh(room["a"], "findmnt -n -o OPTIONS /")
    assert out.startswith("ro,"), out


def test_tmp_stops_at_its_size(room):
    code, out = sh(room["a"], "dd if=/dev/zero of=/tmp/fill bs=1M 2>&1; du -m /tmp/fill; rm -f /tmp/fill")
    assert "No space left on device" in out and int(out.split()[-2]) <= TMP_MIB, out


def test_the_container_log_is_capped(stack, room):
    config = room["a"].attrs["HostConfig"]["LogConfig"]
    assert config == {"Type": "json-file", "Config": {"max-file": "2", "max-size": "10m"}}


def test_a_kernel_runs_mxnet_and_matplotlib_on_the_read_only_root(stack, room):
    code = ("import mxnet as mx, tempfile, matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
            "plt.plot([1, 2]); plt.savefig(tempfile.gettempdir() + '/p.png')\nprint(float(mx.nd.ones(3).sum().asscalar()))")
    result = execute(stack.url, "bob", room["hub"].token, code)
    assert result["error"] is None and result["stdout"].split()[-1] == "3.0", result


# --- Restarts ------------------------------------------------------------------------------------
def test_a_stopped_server_leaves_no_loop_device_and_its_home_comes_back_with_its_files(stack, room):
    hub = room["hub"]
    # Attached while mounted (its link already gone: homes.py, release), freed by the unmount.
    assert f"{stack.instance}-home-bob.img" in loop_devices_of(stack)
    links = docker.from_env().containers.run(HUB_IMAGE, ["ls", "/homes"], remove=True, network_mode="none",
                                             volumes={f"{stack.instance}-homes": {"bind": "/homes", "mode": "ro"}})
    assert not [name for name in links.decode().split() if name.endswith(".dev")], links
    assert sh(room["b"], "echo kept > ~/note")[0] == 0
    hub.stop_server("bob")
    wait_until(lambda: f"{stack.instance}-home-bob.img" not in loop_devices_of(stack), 30,
               what="bob's loop device to be freed with the unmount")
    hub.start_server("bob")
    bob = docker.from_env().containers.get(f"{stack.instance}-bob")
    code, out = sh(bob, "cat ~/note && stat -f -c '%b %S' ~")
    assert code == 0 and out.split()[0] == "kept", out
    blocks, block_size = map(int, out.split()[1:3])
    assert blocks * block_size <= HOME_MIB * 2**20


def test_export_after_the_workshop_reads_stopped_and_running_sized_homes(stack, room, tmp_path):
    # alice stopped (her home not attached), bob running: both archived, through the hub.
    room["hub"].stop_server("alice")
    result = subprocess.run([str(REPO_ROOT / "scripts" / "export-homes.sh"), "--instance", stack.instance,
                             str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    with tarfile.open(tmp_path / "bob.tar.gz") as archive:
        assert archive.extractfile("./note").read() == b"kept\n"
    with tarfile.open(tmp_path / "alice.tar.gz") as archive:
        assert "./mine" in archive.getnames()
    assert f"{stack.instance}-home-alice.img" not in loop_devices_of(stack), "released after the export"


def test_one_kept_homes_helper_serves_the_hub_is_replaced_when_killed_and_goes_with_the_hub(stack, room):
    """homes.KeptHelper: one helper container for all of the hub's home work; killed, the next
    start gets a new one; a restarted hub's helper exits with its stdin and is removed."""
    hub, client = room["hub"], docker.from_env()

    def helpers():
        return client.containers.list(all=True, filters={"label": [f"org.gluonlab.instance={stack.instance}",
                                                                   "org.gluonlab.role=homes-helper"]})

    kept, = helpers()
    assert kept.status == "running" and kept.name.startswith(f"{stack.instance}-Homes-helper-")
    kept.kill()
    hub.stop_server("bob")
    hub.start_server("bob")
    replacement, = helpers()
    assert replacement.id != kept.id
    bob = client.containers.get(f"{stack.instance}-bob")
    assert sh(bob, "cat ~/note")[1].strip() == "kept"
    stack.restart_hub()
    wait_until(lambda: not helpers(), 30, what="the restarted hub's homes helper to exit and be removed")
    hub.stop_server("bob")
    hub.start_server("bob")
    assert len(helpers()) == 1 and f"{stack.instance}-home-bob.img" in loop_devices_of(stack)
