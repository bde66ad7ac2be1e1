"""The several-hosts wiring without a host: the docker_swarm role's knobs against its
argument_specs, the example inventory for a hub and GPU hosts, and the hub role's .env in Swarm
mode. The Swarm itself is formed in the docker_swarm molecule scenario (test_molecule.py)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ANSIBLE_DIR, REPO_ROOT, run_tool, tail, tool_env
from test_hub_env import render

ROLE = ANSIBLE_DIR / "roles" / "docker_swarm"
SWARM_INVENTORY = "inventory/example-swarm/hosts.yml"
ARGSPEC_PLAYBOOK = REPO_ROOT / "tests" / "ansible" / "fixtures" / "docker-swarm-argspec.yml"


def test_argument_specs_document_every_knob():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    options = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert set(options) == set(defaults), "argument_specs.yml and defaults/main.yml list different knobs"
    for name, spec in options.items():
        assert spec.get("description") and spec.get("type"), name
        if "choices" in spec:
            assert defaults[name] in spec["choices"], name


def validate(**knobs) -> tuple[int, str]:
    extra = {"ansible_python_interpreter": sys.executable, **knobs}
    result = run_tool(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", json.dumps(extra),
                       str(ARGSPEC_PLAYBOOK)], timeout=120)
    return result.returncode, result.stdout


def test_a_wrong_knob_is_refused_with_its_name_and_choices():
    returncode, output = validate(docker_swarm_manager_availability="off", docker_swarm_registry_port="x")
    assert returncode != 0, tail(output)
    assert "docker_swarm_manager_availability" in output and "active, pause, drain" in output, tail(output)
    assert "docker_swarm_registry_port" in output, tail(output)
    returncode, output = validate(docker_swarm_manager_availability="active", docker_swarm_registry_port=5001,
                                  docker_swarm_gpu_uuids=["GPU-1"])
    assert returncode == 0, tail(output)


def test_swarm_inventory_places_the_hub_and_the_gpu_hosts():
    result = run_tool(["ansible-inventory", "-i", SWARM_INVENTORY, "--list"], timeout=60)
    assert result.returncode == 0, tail(result.stdout)
    inventory = json.loads(result.stdout)
    assert inventory["gluonlab"]["hosts"] == ["hub01"]
    assert inventory["gpu_hosts"]["hosts"] == ["gpu01", "gpu02", "gpu03", "gpu04"]
    hub = inventory["_meta"]["hostvars"]["hub01"]
    assert hub["gluonlab_hub_spawner_backend"] == "swarm" and hub["preflight_min_gpus"] == 0
    assert inventory["_meta"]["hostvars"]["gpu01"]["docker_swarm_gpu_uuids"] == "auto"
    # Docker refuses swarm mode with live-restore: the docker_swarm role stops unless it is off.
    assert all(inventory["_meta"]["hostvars"][host]["docker_engine_live_restore"] is False
               for host in ["hub01", "gpu01", "gpu02", "gpu03", "gpu04"])


def test_site_playbook_with_gpu_hosts_passes_syntax_check():
    result = run_tool(["ansible-playbook", "-i", SWARM_INVENTORY, "--syntax-check", "site.yml"], timeout=120)
    assert result.returncode == 0, tail(result.stdout)


def test_hub_env_in_swarm_mode_points_the_workers_at_the_registry(tmp_path):
    env = render(tmp_path, gluonlab_hub_spawner_backend="swarm", gluonlab_hub_registry="10.1.0.1:5000",
                 gluonlab_hub_notebook_variant="cu117", gluonlab_hub_course_data_volume="gluonlab-course-data")
    assert env["GLUONLAB_SPAWNER_BACKEND"] == "swarm"
    assert env["GLUONLAB_NOTEBOOK_IMAGE"] == "10.1.0.1:5000/gluonlab/notebook:cu117"
    assert env["GLUONLAB_COURSE_DATA_VOLUME"] == "gluonlab-course-data"
    # One server: the image name follows the variant (settings.py derives it), no registry.
    env = render(tmp_path)
    assert env["GLUONLAB_SPAWNER_BACKEND"] == "docker" and "GLUONLAB_NOTEBOOK_IMAGE" not in env
    assert env["GLUONLAB_COURSE_DATA_VOLUME"] == ""


def test_swarm_compose_puts_the_hub_on_the_external_overlay_without_the_netguard():
    """What `docker compose config` makes of the two files the swarm .env names (no engine needed)."""
    env = {**tool_env(), "COMPOSE_FILE": "docker-compose.yml:docker-compose.swarm.yml",
           "GLUONLAB_INSTANCE": "lab-swarm"}
    result = run_tool(["docker", "compose", "config", "--format", "json"], timeout=60, cwd=REPO_ROOT, env=env)
    assert result.returncode == 0, tail(result.stdout)
    config = json.loads(result.stdout)
    assert config["networks"]["lab"] == {"name": "lab-swarm", "external": True, "ipam": {}}
    assert set(config["services"]) == {"hub", "notebook-image"}
    assert set(config["services"]["hub"]["depends_on"]) == {"notebook-image"}
    assert set(config["services"]["hub"]["networks"]) == {"lab"}


def unit_environment(tmp_path, **extra_vars) -> list[str]:
    out = tmp_path / "gluonlab.service"
    extra = {"out": str(out), "ansible_python_interpreter": sys.executable, **extra_vars}
    result = run_tool(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", json.dumps(extra),
                       str(REPO_ROOT / "tests" / "ansible" / "fixtures" / "render-hub-unit.yml")], timeout=120)
    assert result.returncode == 0, tail(result.stdout)
    return [line for line in out.read_text().splitlines() if line.startswith("Environment=")]


def test_hub_unit_in_swarm_mode_adds_the_swarm_compose_file(tmp_path):
    assert unit_environment(tmp_path, gluonlab_hub_spawner_backend="swarm") == [
        "Environment=COMPOSE_FILE=docker-compose.yml:docker-compose.swarm.yml"]
    assert unit_environment(tmp_path, gluonlab_hub_docker_host="unix:///x.sock") == [
        "Environment=DOCKER_HOST=unix:///x.sock"]


def test_no_role_builds_a_list_through_a_set():
    """Ansible's union, difference, intersect and symmetric_difference go through a Python set:
    the order of strings changes with each run's hash seed, so a file written from such a list
    differs between two runs with the same inputs (docker_swarm's daemon.json did: its second
    converge rewrote it and restarted Docker, one run in two). Use (a + b) | unique instead."""
    offenders = [f"{path.relative_to(ANSIBLE_DIR)}:{number}"
                 for path in sorted((ANSIBLE_DIR / "roles").rglob("*.yml"))
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if re.search(r"\|\s*(union|difference|intersect|symmetric_difference)\b", line)]
    assert offenders == []


ESP_PROBE = ROLE / "files" / "gluonlab-esp-probe.sh"


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root (CI runs as root)")
def test_the_encryption_probe_agrees_with_the_kernels_crypto_and_leaves_nothing_behind():
    # The probe asks the kernel for rfc4106(gcm(aes)), which loads it where it exists: afterwards
    # /proc/crypto lists it exactly when the probe said yes. This CI kernel has none (refusal).
    before = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    probe = subprocess.run(["bash", str(ESP_PROBE)], capture_output=True, text=True, timeout=30)
    assert probe.returncode in (0, 1), probe.stderr
    has_aead = "rfc4106(gcm(aes))" in Path("/proc/crypto").read_text()
    assert (probe.returncode == 0) == has_aead, (probe.stdout, has_aead)
    if probe.returncode:
        assert "docker_swarm_lab_network_encrypted: false" in probe.stdout and "esp4" in probe.stdout
    after = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert after == before  # the throwaway namespace is gone


def test_the_role_runs_the_node_guard_as_the_hub_package_describes_it():
    sys.path.insert(0, str(REPO_ROOT / "hub"))
    from gluonlab_hub import node_guard

    tasks = yaml.safe_load((ROLE / "tasks" / "node_guard.yml").read_text())
    run = next(t["community.docker.docker_container"] for t in tasks if "community.docker.docker_container" in t)
    assert sorted(run["capabilities"]) == sorted(node_guard.GUARD_CAPABILITIES) and run["cap_drop"] == ["ALL"]
    assert run["command"] == list(node_guard.GUARD_COMMAND)
    # The same volumes and loop devices as the package's own description of the container.
    described = node_guard.guard_container_kwargs(
        "image", {"GLUONLAB_INSTANCE": "{{ docker_swarm_node_guard_env.GLUONLAB_INSTANCE }}"}, "name")
    assert sorted(run["volumes"]) == sorted(f"{src}:{v['bind']}" for src, v in described["volumes"].items())
    assert run["device_cgroup_rules"] == described["device_cgroup_rules"]
    assert run["network_mode"] == run["pid_mode"] == "host" and run["read_only"] is True
    # site.yml runs it on the GPU hosts from the hub image the hub role pushed (second in its list).
    site = yaml.safe_load((ANSIBLE_DIR / "site.yml").read_text())
    play = next(p for p in site if p["hosts"] == "gpu_hosts")
    guard = next(t for t in play["tasks"] if t["ansible.builtin.include_role"].get("tasks_from") == "node_guard.yml")
    assert "gluonlab_hub_pushed_images[1]" in guard["vars"]["docker_swarm_node_guard_image"]
    images = yaml.safe_load((ANSIBLE_DIR / "roles" / "gluonlab_hub" / "vars" / "main.yml").read_text())
    assert [i["local"] for i in images["gluonlab_hub_registry_images"]][1] == "gluonlab/hub:latest"
