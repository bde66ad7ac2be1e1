"""Checks inside the built hub image: the versions the stack depends on, and our package."""
from __future__ import annotations

import sys

import pytest

from labclient import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "hub"))  # the package's description of the node guard's container

pytestmark = pytest.mark.docker


def run(client, image, command: str) -> str:
    return client.containers.run(image.id, ["bash", "-c", command], remove=True, entrypoint=[]).decode()


def test_hub_versions(docker_client, hub_image):
    out = run(docker_client, hub_image,
              "jupyterhub --version; configurable-http-proxy --version; "
              "python3 -c 'import dockerspawner, nativeauthenticator, jupyterhub_idle_culler; print(dockerspawner.__version__)'")
    hub_version, proxy_version, spawner_version = out.split()
    assert hub_version.startswith("5.")
    assert proxy_version.startswith("5.")
    assert spawner_version.startswith("14.")


def test_hub_package_and_config_load(docker_client, hub_image):
    out = run(docker_client, hub_image,
              "cd /tmp && python3 -c 'from gluonlab_hub.settings import Settings; print(Settings.from_env().notebook_image)' && "
              "gluonlab-accounts --help >/dev/null && echo accounts-ok")
    assert out.split() == ["gluonlab/notebook:cpu", "accounts-ok"]


def test_bad_setting_stops_the_hub_with_a_clear_message(docker_client, hub_image):
    import docker

    with pytest.raises(docker.errors.ContainerError) as failure:
        docker_client.containers.run(hub_image.id, environment={"NOTEBOOK_VARIANT": "gpu-please"}, remove=True)
    assert b"NOTEBOOK_VARIANT='gpu-please' is not valid: choose one of cpu, cu117, ngc, cu80" in failure.value.stderr


def test_misspelt_setting_stops_the_hub_naming_the_right_one(docker_client, hub_image):
    import docker

    with pytest.raises(docker.errors.ContainerError) as failure:
        docker_client.containers.run(hub_image.id, environment={"GLUONLAB_GPU_POLCY": "exclusive"}, remove=True)
    assert b"GLUONLAB_GPU_POLCY is not a Gluon Lab setting: did you mean GLUONLAB_GPU_POLICY?" in failure.value.stderr


def test_the_node_guard_has_its_tools_and_refuses_to_run_without_isolation(docker_client, hub_image):
    # nsenter (util-linux) enters a server's namespace; iptables-restore writes its chains there.
    out = run(docker_client, hub_image, "cd /tmp && command -v nsenter iptables-nft-restore iptables-legacy-restore && "
              "python3 -m gluonlab_hub.node_guard --help | head -1")
    assert out.split()[:3] == ["/usr/bin/nsenter", "/usr/sbin/iptables-nft-restore", "/usr/sbin/iptables-legacy-restore"]
    assert out.split()[3:5] == ["usage:", "python"]
    off = run(docker_client, hub_image, "cd /tmp && GLUONLAB_NETWORK_ISOLATION=0 python3 -m gluonlab_hub.node_guard "
              "--once 2>&1; echo rc=$?")
    assert "GLUONLAB_NETWORK_ISOLATION=0, nothing to guard" in off and off.strip().endswith("rc=2")


def test_the_node_guard_mounts_a_sized_home_into_a_server(docker_client, hub_image):
    """What the node guard does on each Swarm worker for a new server with a sized home
    (gluonlab_hub/node_homes.py), here on this engine: the guard's container as the package
    describes it, a server with a labelled home volume, and the mount in the server's namespace."""
    import uuid

    import docker

    from gluonlab_hub import node_guard, node_homes
    from gluonlab_hub.homes import SIZE_LABEL

    name = f"gluonlab-test-nodehome-{uuid.uuid4().hex[:8]}"
    home, size = f"{name}-home-alice", 64 * 1024**2
    docker_client.volumes.create(home, labels={SIZE_LABEL: str(size)})
    started: list = []

    def server():
        # /etc/skel stands in for the home folder: Docker copies its files into the new volume.
        started.append(docker_client.containers.run(
            hub_image.id, ["sleep", "600"], entrypoint=[], detach=True, read_only=True, cap_drop=["ALL"],
            volumes={home: {"bind": "/etc/skel", "mode": "rw"}}, name=f"{name}-srv{len(started)}"))
        started[-1].reload()
        return started[-1]

    def guard_mount(pid: int, **changes) -> tuple[int, str]:
        kwargs = node_guard.guard_container_kwargs(hub_image.id, {"GLUONLAB_INSTANCE": name}, f"{name}-guard")
        kwargs.pop("restart_policy")
        kwargs.update(command=["python3", "-m", "gluonlab_hub.node_homes", "mount", str(pid), home, str(size),
                               "/etc/skel"], entrypoint=[], **changes)
        guard = docker_client.containers.run(**kwargs)
        try:
            code = guard.wait(timeout=60)["StatusCode"]
            return code, guard.logs().decode()
        finally:
            guard.remove(force=True)

    def in_server(container, command: str) -> str:
        return container.exec_run(["sh", "-c", command]).output.decode()

    try:
        first = server()
        code, out = guard_mount(first.attrs["State"]["Pid"])
        assert code == 0, out
        assert '"created": true' in out
        # The server sees a file system of that size with the skeleton in it, and it stops writes there.
        listing = in_server(first, "ls -A /etc/skel; df -k /etc/skel | tail -1")
        assert ".bashrc" in listing.split() and "lost+found" not in listing.split()  # homes.create_image
        assert 50_000 < int(listing.split()[-5]) < 66_000  # 1K-blocks of a 64 MiB ext4
        assert "No space left on device" in in_server(first, "head -c 70000000 /dev/zero 2>&1 >/etc/skel/big")
        in_server(first, "rm /etc/skel/big; echo mine > /etc/skel/kept")
        # Mounted once only: a second server of the same home on this node is refused.
        code, out = guard_mount(first.attrs["State"]["Pid"])
        assert code == node_homes.BUSY_CHILD_EXIT and "is mounted already" in out
        # The server gone, the loop device goes with it; the next server gets the same files.
        first.remove(force=True)
        second = server()
        code, out = guard_mount(second.attrs["State"]["Pid"])
        assert code == 0 and '"created": false' in out, out
        assert in_server(second, "cat /etc/skel/kept") == "mine\n"
        second.remove(force=True)
        # A node whose disk has no room for a new home refuses it with NO_ROOM_EXIT.
        docker_client.volumes.get(home).remove()
        docker_client.volumes.create(home, labels={SIZE_LABEL: str(size)})
        third = server()
        small = node_guard.guard_container_kwargs(hub_image.id, {"GLUONLAB_INSTANCE": name}, "x")["volumes"]
        small.pop(f"{name}-homes")
        code, out = guard_mount(third.attrs["State"]["Pid"], volumes=small, tmpfs={"/tmp": "", "/homes": "size=40m"})
        assert code == node_homes.NO_ROOM_EXIT and "no room for a 64 MiB home" in out, out
    finally:
        for container in started:
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
        for volume in (home, f"{name}-homes"):
            try:
                docker_client.volumes.get(volume).remove()
            except docker.errors.NotFound:
                pass
