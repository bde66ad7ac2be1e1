"""The docker_swarm role's GPU steps on this machine (connection local), against a fake
nvidia-smi that replays the MIG fixtures (tests/fixtures/gpu-host-mig: written by hand from
NVIDIA's documented formats, see its README): what a worker with one GPU in MIG mode and one
without registers with Swarm, the NVIDIA runtime's swarm-resource line, and that the hub reads
those registrations back as the same slices it finds on one host, and the seats of a GPU that
attendees share."""
from __future__ import annotations

import json
import os
import sys

from conftest import REPO_ROOT, run_tool, tail, tool_env

sys.path.insert(0, str(REPO_ROOT / "hub"))  # gluonlab_hub, as tests/unit/conftest.py does
from gluonlab_hub import gpus  # noqa: E402
from gluonlab_hub.swarm_spawner import SwarmGpuLedger, gpu_seats, node_gpus, resource_variable  # noqa: E402

PLAYBOOK = REPO_ROOT / "tests" / "ansible" / "fixtures" / "swarm-gpus-local.yml"
MIG_HOST = REPO_ROOT / "tests" / "fixtures" / "gpu-host-mig"
FAKE_SMI = REPO_ROOT / "tests" / "ansible" / "fixtures" / "fake-nvidia-smi"


def run_gpu_steps(tmp_path, fixtures=MIG_HOST, **extra_vars):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "nvidia-smi").unlink(missing_ok=True)
    (bin_dir / "nvidia-smi").symlink_to(FAKE_SMI)
    config = tmp_path / "config.toml"
    if not config.exists():  # as the NVIDIA toolkit's package ships it; kept between runs
        config.write_text('#swarm-resource = "DOCKER_RESOURCE_GPU"\n[nvidia-container-cli]\n'
                          'ldconfig = "@/sbin/ldconfig"\n')
    extra = {"docker_swarm_skip_gpu_steps": False, "docker_swarm_nvidia_runtime_config": str(config),
             "gpus_out": str(tmp_path / "gpus.json"), "ansible_python_interpreter": sys.executable, **extra_vars}
    env = tool_env() | {"FAKE_NVIDIA_SMI_DIR": str(fixtures)}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    result = run_tool(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", json.dumps(extra), str(PLAYBOOK)],
                      timeout=180, env=env)
    found = json.loads((tmp_path / "gpus.json").read_text()) if result.returncode == 0 else None
    return result, found, config


def test_a_worker_registers_whole_gpus_and_the_mig_slices_of_a_gpu_in_mig_mode(tmp_path):
    result, found, config = run_gpu_steps(tmp_path)
    assert result.returncode == 0, tail(result.stdout)
    slices = gpus.parse_nvidia_smi_list("\n".join((MIG_HOST / "nvidia-smi-L.txt").read_text().splitlines()[1:-1]))
    # GPU 0 is in MIG mode: its five slices only; GPU 1 (MIG disabled) whole.
    assert found["gpus"] == ["GPU-5d4c3b2a-1f0e-9d8c-7b6a-5f4e3d2c1b0a"]
    assert found["mig_slices"] == [f"{s.uuid}={s.mig_profile}" for s in slices] and len(slices) == 5
    assert found["resources"] == ["NVIDIA-GPU=GPU-5d4c3b2a-1f0e-9d8c-7b6a-5f4e3d2c1b0a"] + [
        f"NVIDIA-GPU-MIG-{s.mig_profile}={s.uuid}" for s in slices]
    assert found["model"] == "NVIDIA H100 80GB HBM3"
    # The runtime takes the device list from whichever of these the task has (Swarm's names).
    lines = config.read_text().splitlines()
    assert lines[0] == ('swarm-resource = "DOCKER_RESOURCE_NVIDIA-GPU,DOCKER_RESOURCE_NVIDIA-GPU-MIG-3G.40GB,'
                        'DOCKER_RESOURCE_NVIDIA-GPU-MIG-1G.10GB"')
    assert lines[0].split('"')[1].split(",")[1:] == [resource_variable(f"NVIDIA-GPU-MIG-{p}")
                                                   for p in ("3g.40gb", "1g.10gb")]
    assert "#swarm-resource" not in config.read_text()
    # What the hub reads back from a node with these registrations: the same slices as on one host.
    node = as_node(found["resources"])
    ledger = SwarmGpuLedger(node_gpus([node], "NVIDIA-GPU"), "exclusive")
    assert [(g.uuid, g.mig_profile) for g in ledger.gpus if g.is_slice] == [(s.uuid, s.mig_profile) for s in slices]
    assert ledger.free_seats(gpus.GpuRequest.parse("1g.10gb")) == 4 and ledger.free_seats(gpus.ONE_GPU) == 1
    # A second run changes nothing (the line is there).
    again, _, _ = run_gpu_steps(tmp_path)
    assert again.returncode == 0 and "changed=0" in again.stdout, tail(again.stdout)


def as_node(resources: list[str]) -> dict:
    """A Swarm node as the engine shows one whose daemon.json registers *resources*."""
    return {"Description": {"Hostname": "gpu01", "Resources": {"GenericResources": [
        {"NamedResourceSpec": dict(zip(("Kind", "Value"), entry.split("=", 1)))} for entry in resources]}}}


def test_a_worker_for_the_shared_policy_registers_each_whole_gpus_seats(tmp_path):
    result, found, config = run_gpu_steps(tmp_path, docker_swarm_gpu_seats=3)
    assert result.returncode == 0, tail(result.stdout)
    whole = "GPU-5d4c3b2a-1f0e-9d8c-7b6a-5f4e3d2c1b0a"
    seats = [r for r in found["resources"] if not r.startswith("NVIDIA-GPU-MIG-")]
    assert seats == [f"NVIDIA-GPU={whole}", f"NVIDIA-GPU-SEAT-2={whole}", f"NVIDIA-GPU-SEAT-3={whole}"]
    assert len(found["resources"]) == 3 + 5  # the five MIG slices stay one attendee's each
    kinds = config.read_text().splitlines()[0].split('"')[1].split(",")
    # Every seat's variable is one the NVIDIA runtime reads (a task has only one of them).
    assert {resource_variable(k) for k in ("NVIDIA-GPU", "NVIDIA-GPU-SEAT-2", "NVIDIA-GPU-SEAT-3")} <= set(kinds)
    assert len(kinds) == len(set(kinds)) == 3 + 2  # and the two MIG profiles
    # The hub reads one GPU with three seats, and the slices beside it.
    node = as_node(found["resources"])
    assert gpu_seats([node], "NVIDIA-GPU") == {whole: 3}
    ledger = SwarmGpuLedger(node_gpus([node], "NVIDIA-GPU"), "shared", seats=gpu_seats([node], "NVIDIA-GPU"))
    assert ledger.free_seats(gpus.ONE_GPU) == 3 and ledger.free_seats(gpus.GpuRequest.parse("1g.10gb")) == 4
    bad, _, _ = run_gpu_steps(tmp_path, docker_swarm_gpu_seats="two")
    assert bad.returncode != 0
    assert "docker_swarm_gpu_seats must be a whole number of attendees per GPU" in bad.stdout, tail(bad.stdout)


def test_an_nvidia_smi_line_the_role_does_not_understand_stops_it_with_what_to_do(tmp_path):
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "query.txt").write_text((MIG_HOST / "query-gpu-noheader.txt").read_text())
    listing = (MIG_HOST / "nvidia-smi-L.txt").read_text().replace("MIG 3g.40gb     Device  0:", "MIG 3g.40gb  Dev 0:")
    (odd / "list.txt").write_text(listing)
    result, _, _ = run_gpu_steps(tmp_path, fixtures=odd)
    assert result.returncode != 0
    assert "nvidia-smi printed GPU or MIG lines this role does not understand" in result.stdout, tail(result.stdout)
    assert "MIG-<uuid>=<profile>" in result.stdout


def test_a_listed_mig_slice_needs_its_profile(tmp_path):
    result, _, _ = run_gpu_steps(tmp_path, docker_swarm_gpu_uuids=["GPU-1", "MIG-5c1e"])
    assert result.returncode != 0
    assert "MIG slices with their profile such as MIG-5c1e...=1g.10gb" in result.stdout, tail(result.stdout)
    listed, found, _ = run_gpu_steps(tmp_path, docker_swarm_gpu_uuids=["GPU-1", "MIG-5c1e=1g.10gb"])
    assert listed.returncode == 0, tail(listed.stdout)
    assert found["resources"] == ["NVIDIA-GPU=GPU-1", "NVIDIA-GPU-MIG-1g.10gb=MIG-5c1e"]
