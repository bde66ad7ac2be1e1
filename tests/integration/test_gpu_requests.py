"""GPU requests on the real Docker engine, through the stub nvidia-container-runtime-hook: it
accepts a GPU request and mounts no driver, so these prove the request path (what Docker
records and passes to the container) and the parsing of what a container printed, not access to
a real GPU. Also: a hub whose GPU setting cannot work stops at start with the setting named.
"""
from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import uuid as uuidlib

import pytest

from labclient import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "hub"))  # gluonlab_hub, as tests/unit/conftest.py does

from gluonlab_hub import gpus as g  # noqa: E402
from gluonlab_hub.settings import Settings  # noqa: E402
from gluonlab_hub.spawner import hub_gpu_allocator  # noqa: E402

pytestmark = [pytest.mark.docker]

FIXTURES = REPO_ROOT / "tests" / "fixtures"
H100_UUID = "GPU-2b18b8c7-7792-5f89-e0b9-8e2040f7172d"
BASE_IMAGE = "gluonlab/debian-base:bookworm"


def fixture_output(path) -> str:
    """The captured command output, without the '$ command' and '[exit N]' lines around it."""
    lines = path.read_text().splitlines()
    return "\n".join(ln for ln in lines if not ln.startswith("$ ") and not ln.startswith("[exit "))


def synthetic_gpus(n: int) -> list[g.Gpu]:
    return [g.Gpu(device_id=str(i), index=i, uuid=f"GPU-{i:08d}-0000-0000-0000-000000000000") for i in range(n)]


def test_discovery_through_real_docker_with_stub_hook(docker_client) -> None:
    """Runs discovery's container with all GPUs requested on the real engine.

    The stub hook accepts the GPU request but mounts no driver, so the image carries a fake
    nvidia-smi that prints the H100 capture plus a second GPU: this checks the request path,
    the container's NVIDIA_VISIBLE_DEVICES and the parsing, not a real GPU.
    """
    client = docker_client
    h100 = fixture_output(FIXTURES / "gpu-host-h100" / "query-gpu-noheader.txt").strip()
    second = "1, GPU-11111111-2222-3333-4444-555555555555, NVIDIA H100 80GB HBM3, 81559"
    script = (
        "#!/bin/sh\n"
        '[ "$NVIDIA_VISIBLE_DEVICES" = all ] || { echo "no GPU request: $NVIDIA_VISIBLE_DEVICES" >&2; exit 9; }\n'
        f"printf '%s\\n' '{h100}' '{second}'\n"
    )
    tag = f"gluonlab-hubtest/fake-smi:{uuidlib.uuid4().hex[:10]}"
    ctx = io.BytesIO()
    with tarfile.open(fileobj=ctx, mode="w") as tar:
        for name, data, mode in [
            ("Dockerfile", b"FROM gluonlab/debian-base:bookworm\nCOPY nvidia-smi /usr/local/bin/nvidia-smi\n", 0o644),
            ("nvidia-smi", script.encode(), 0o755),
        ]:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    ctx.seek(0)
    client.images.build(fileobj=ctx, custom_context=True, tag=tag, rm=True)
    try:
        before = {c.id for c in client.containers.list(all=True, filters={"label": "gluonlab.role=gpu-discovery"})}
        found = g.discover_gpus("auto", client, tag)
        assert [(x.device_id, x.uuid) for x in found] == [
            ("0", H100_UUID),
            ("1", "GPU-11111111-2222-3333-4444-555555555555"),
        ]
        after = {c.id for c in client.containers.list(all=True, filters={"label": "gluonlab.role=gpu-discovery"})}
        assert after == before  # the throwaway container is gone

        # Without nvidia-smi in the image (and no real toolkit to mount it) discovery fails clearly.
        with pytest.raises(g.GpuDiscoveryError, match="explicitly"):
            g.discover_gpus("auto", client, "gluonlab/debian-base:bookworm")
    finally:
        client.images.remove(tag, force=True)


def test_rebuild_from_real_containers_with_gpu_requests(docker_client) -> None:
    """Containers made as the spawner makes them (labels + device_requests) on the real engine.

    The stub hook accepts the GPU request without a GPU: this checks what Docker records
    (DeviceRequests, NVIDIA_VISIBLE_DEVICES) and that a fresh allocator reads the labels back.
    """
    client = docker_client
    instance = f"gluonlab-hubtest-{uuidlib.uuid4().hex[:8]}"
    gpus = synthetic_gpus(2)
    first = g.GpuAllocator(gpus, policy="shared", users_per_gpu=2)
    made = []
    try:
        for user in ("ana", "bo", "cy"):
            ids = first.allocate(user)
            made.append(
                client.containers.run(
                    "gluonlab/debian-base:bookworm",
                    ["sleep", "120"],
                    detach=True,
                    name=f"{instance}-{user}",
                    labels=g.container_labels(user, ids, instance),
                    device_requests=g.device_requests(ids),
                    network_disabled=True,
                )
            )
        made[2].stop(timeout=0)  # cy's server stopped: its GPU is free again

        for c, want in zip(made[:2], (["0"], ["1"]), strict=True):
            c.reload()
            [req] = c.attrs["HostConfig"]["DeviceRequests"]
            assert req["DeviceIDs"] == want and req["Driver"] == "nvidia"
            # Docker adds it to the main process's environment only (not to `docker exec`)
            environ = c.exec_run(["cat", "/proc/1/environ"]).output.decode().split("\0")
            assert f"NVIDIA_VISIBLE_DEVICES={want[0]}" in environ

        after_restart = g.GpuAllocator(gpus, policy="shared", users_per_gpu=2)
        assert after_restart.rebuild_from_docker(client, instance=instance) == {"ana": ["0"], "bo": ["1"]}
        assert after_restart.allocate("dee") == ["0"]
    finally:
        for c in made:
            c.remove(force=True)


def test_hub_allocator_with_auto_and_no_gpu_tooling_names_the_setting(docker_client) -> None:
    """What `docker compose up` on a host without the NVIDIA toolkit meets at hub start."""
    settings = Settings.from_env({"GLUONLAB_GPU_POLICY": "exclusive", "GLUONLAB_NOTEBOOK_IMAGE": BASE_IMAGE})
    assert settings.gpus == "auto"
    with pytest.raises(g.GpuSetupError) as error:
        hub_gpu_allocator(settings, docker_client)
    message = str(error.value)
    assert message.startswith("GLUONLAB_GPUS='auto' (GLUONLAB_GPU_POLICY=exclusive): GPU discovery failed")
    assert "explicitly" in message and "GLUONLAB_GPU_POLICY=none" in message


def test_hub_allocator_rebuilds_from_this_instances_containers(docker_client) -> None:
    instance = f"gluonlab-hubtest-{uuidlib.uuid4().hex[:8]}"
    made = [docker_client.containers.run(BASE_IMAGE, ["sleep", "120"], detach=True, name=f"{name}-{instance}",
                                         labels=g.container_labels("bo", ["1"], inst), network_disabled=True)
            for name, inst in (("ours", instance), ("other-lab", f"{instance}-other"))]
    try:
        settings = Settings.from_env({"GLUONLAB_GPU_POLICY": "exclusive", "GLUONLAB_GPUS": "0,1",
                                      "GLUONLAB_INSTANCE": instance})
        allocator = hub_gpu_allocator(settings, docker_client)
        assert allocator.assignments() == {"bo": ["1"]}  # the other lab's "bo" is not counted twice
        assert allocator.allocate("cy") == ["0"]
        with pytest.raises(g.GpusExhausted):
            allocator.allocate("dee")
    finally:
        for c in made:
            c.remove(force=True)


@pytest.mark.parametrize("env, mount_socket, needle", [
    ({"GLUONLAB_GPUS": "gpu0"}, False, "GLUONLAB_GPUS='gpu0' (GLUONLAB_GPU_POLICY=exclusive) is not valid"),
    ({"GLUONLAB_GPUS": "auto", "GLUONLAB_NOTEBOOK_IMAGE": BASE_IMAGE}, True,
     "GLUONLAB_GPUS='auto' (GLUONLAB_GPU_POLICY=exclusive): GPU discovery failed"),
], ids=["bad-spec", "auto-without-gpus"])
def test_hub_with_an_unusable_gpu_setting_stops_at_start(hub_image, env, mount_socket, needle) -> None:
    command = ["docker", "run", "--rm", "-e", "GLUONLAB_GPU_POLICY=exclusive", "-e", "GLUONLAB_ADMIN_PASSWORD=not-used-password-1"]
    for name, value in env.items():
        command += ["-e", f"{name}={value}"]
    if mount_socket:
        command += ["-v", "/var/run/docker.sock:/var/run/docker.sock"]
    result = subprocess.run(command + [hub_image.id], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"gluonlab: configuration error: {needle}" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_usage_helper_maps_a_process_to_its_container_on_the_real_engine(docker_client) -> None:
    """gpu_usage's helper container on the real engine: host PID namespace, the real cgroup
    files Docker makes. The stub hook has no GPU, so the image's fake nvidia-smi lists as a GPU
    process the host PID of a marked `sleep` it finds in /proc (which only the host PID
    namespace shows); the mapping from that PID to the user's container is then Docker's own."""
    from gluonlab_hub import gpu_usage

    client = docker_client
    marker = "4242.0" + str(uuidlib.uuid4().int % 1000)
    script = (
        "#!/bin/sh\n"
        'case "$1" in\n'
        "  --query-compute-apps=*)\n"
        "    echo 'pid, gpu_uuid, used_gpu_memory [MiB]'\n"
        "    for d in /proc/[0-9]*; do\n"
        f"      if [ \"$(tr '\\000' ' ' < \"$d/cmdline\" 2>/dev/null)\" = 'sleep {marker} ' ]; then\n"
        f"        echo \"${{d#/proc/}}, {H100_UUID}, 1234 MiB\"\n"
        "      fi\n"
        "    done ;;\n"
        f"  *) echo 'index, uuid, utilization.gpu [%], memory.used [MiB]'; echo '0, {H100_UUID}, 12 %, 1234 MiB' ;;\n"
        "esac\n"
    )
    tag = f"gluonlab-hubtest/fake-smi-usage:{uuidlib.uuid4().hex[:10]}"
    ctx = io.BytesIO()
    with tarfile.open(fileobj=ctx, mode="w") as tar:
        for name, data, mode in [
            ("Dockerfile", f"FROM {BASE_IMAGE}\nCOPY nvidia-smi /usr/local/bin/nvidia-smi\n".encode(), 0o644),
            ("nvidia-smi", script.encode(), 0o755),
        ]:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    ctx.seek(0)
    client.images.build(fileobj=ctx, custom_context=True, tag=tag, rm=True)
    instance = f"gluonlab-hubtest-{uuidlib.uuid4().hex[:8]}"
    server = client.containers.run(BASE_IMAGE, ["sleep", marker], detach=True, name=f"{instance}-ana",
                                   labels=g.container_labels("ana", ["0"], instance, profile="whole-gpu"),
                                   network_disabled=True)
    try:
        servers = gpu_usage.running_servers(client, instance)
        assert servers == [gpu_usage.Server(server.id, "ana", ("0",), "whole-gpu")]
        report = gpu_usage.parse_helper_output(gpu_usage.run_helper(client, tag))
        [app] = report.apps
        assert report.containers[app.pid] == server.id  # the real cgroup file names the container
        usage = gpu_usage.usage_by_user(report, servers)["ana"]
        assert (usage.processes, usage.memory_used_mib, usage.utilization_pct) == (1, 1234, 12.0)
        assert not client.containers.list(all=True, filters={"label": "gluonlab.role=gpu-usage"})
    finally:
        server.remove(force=True)
        client.images.remove(tag, force=True)
