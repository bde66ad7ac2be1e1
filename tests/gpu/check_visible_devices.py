#!/usr/bin/env python3
"""On a real NVIDIA host: a container sees exactly the GPU or MIG slice the allocator gave it.

What the unit and integration tests cannot show (they run without a GPU, through a stub hook):
the NVIDIA container toolkit really exposes the devices the hub requested by id and nothing
else. For each device the hub's allocator can hand out (whole GPUs and MIG slices, as found by
the hub's own discovery), this starts a container the way LabDockerSpawner does (device request
by explicit id), runs `nvidia-smi -L` in it and compares the UUIDs it lists with the allocated
one; a CPU-only container (NVIDIA_VISIBLE_DEVICES=void, as the spawner sets it) must see none.
It never changes a GPU's MIG mode or MIG instances. Exit 0 when every device matches.

Usage (from the repository root, with the docker SDK available, e.g. the project's .venv):
    python3 tests/gpu/check_visible_devices.py [--image gluonlab/notebook:ngc] [--max 8]
Takes a few seconds per device. Record its output in the issue note when a GPU host is at hand.
"""
from __future__ import annotations

import argparse
import re
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hub"))

UUID_IN_LIST = re.compile(r"\(UUID: ((?:GPU|MIG)-[0-9a-fA-F-]+)\)")


def visible_uuids(client, image: str, device_ids: list[str], environment: dict[str, str]) -> tuple[int, list[str], str]:
    """(exit status, UUIDs listed by `nvidia-smi -L`, raw output) in a fresh container."""
    from gluonlab_hub import gpus as g

    name = f"gluonlab-gpucheck-{uuid.uuid4().hex[:8]}"
    container = client.containers.create(image, entrypoint=["sh", "-c"], command=["nvidia-smi -L 2>&1"], name=name,
                                         device_requests=g.device_requests(device_ids) or None,
                                         environment={"NVIDIA_DRIVER_CAPABILITIES": "utility", **environment},
                                         network_disabled=True, labels={"gluonlab.role": "gpu-check"})
    try:
        container.start()
        status = int(container.wait(timeout=120).get("StatusCode", -1))
        out = container.logs().decode("utf-8", "replace")
    finally:
        container.remove(force=True)
    return status, UUID_IN_LIST.findall(out), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="gluonlab/notebook:ngc", help="image to run (the users' image)")
    parser.add_argument("--max", type=int, default=8, help="check at most this many devices")
    args = parser.parse_args(argv)

    import docker

    from gluonlab_hub import gpus as g

    client = docker.from_env()
    found = g.discover_gpus("auto", client, args.image)
    pool = g.GpuAllocator(found, policy="exclusive")
    by_index = {x.index: x for x in found if not x.is_slice}
    print(f"discovered: {'; '.join(x.describe() for x in found)}")
    requests = [g.GpuRequest("whole", 1)] * len([x for x in pool.gpus if not x.is_slice])
    requests += [g.GpuRequest("mig", 1, x.mig_profile) for x in pool.gpus if x.is_slice]
    failures = 0
    for n, request in enumerate(requests[: args.max]):
        [device] = pool.allocate(f"check{n}", request)
        gpu = pool.device(device)
        expected = [gpu.uuid] if gpu.is_slice else [by_index[gpu.index].uuid]
        status, seen, out = visible_uuids(client, args.image, [device], {})
        if gpu.is_slice:  # -L lists the parent GPU, then only this slice
            seen = [u for u in seen if u.startswith("MIG-")]
        ok = status == 0 and seen == expected
        failures += not ok
        print(f"{'OK  ' if ok else 'FAIL'} {gpu.describe()}: requested {device}, sees {seen or 'nothing'}"
              + ("" if ok else f"\n     nvidia-smi -L said (exit {status}):\n{out}"))
    status, seen, out = visible_uuids(client, args.image, [], {"NVIDIA_VISIBLE_DEVICES": "void"})
    ok = not seen
    failures += not ok
    print(f"{'OK  ' if ok else 'FAIL'} CPU-only server (NVIDIA_VISIBLE_DEVICES=void): sees {seen or 'nothing'}")
    print(f"{len(requests[: args.max]) + 1 - failures} OK, {failures} FAIL")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
