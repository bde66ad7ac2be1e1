"""The docker_swarm role without hosts: every knob documented in argument_specs, the GPU
resource name the same as the hub's, and the playbook's wiring. (The Swarm it builds is what
tests/swarm runs, with the same flags, on Docker-in-Docker nodes; this role itself has not run
against real GPU hosts here.)"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from conftest import ANSIBLE_DIR, run_tool, tail

ROLE = ANSIBLE_DIR / "roles" / "docker_swarm"
sys.path.insert(0, str(ANSIBLE_DIR.parent / "hub"))
from gluonlab_hub.settings import meta  # noqa: E402


def load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_every_default_is_a_documented_argument_and_back():
    defaults = set(load(ROLE / "defaults" / "main.yml"))
    specs = set(load(ROLE / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"])
    assert defaults == specs, f"undocumented: {defaults - specs}, without a default: {specs - defaults}"


def test_the_gpu_resource_name_is_the_hubs():
    assert load(ROLE / "defaults" / "main.yml")["docker_swarm_gpu_resource"] == \
        meta("GLUONLAB_SWARM_GPU_RESOURCE")["default"]


def test_tasks_are_named_as_sentences():
    for path in sorted((ROLE / "tasks").glob("*.yml")) + [ROLE / "handlers" / "main.yml"]:
        for task in load(path):
            name = task.get("name", "")
            assert name[:1].isupper() and not name.endswith("."), f"{path.name}: {name!r}"


def test_the_several_hosts_inventory_names_one_manager_and_the_workers():
    result = run_tool(["ansible-inventory", "-i", "inventory/several-hosts/hosts.yml", "--graph"], timeout=60)
    assert result.returncode == 0, tail(result.stdout)
    graph = result.stdout
    assert "|--@gluonlab_swarm_manager:\n  |  |--hub01\n" in graph
    assert "|--@gluonlab_swarm_workers:\n  |  |--gpu01\n  |  |--gpu02\n" in graph


def test_site_playbook_passes_syntax_check_with_several_hosts():
    result = run_tool(["ansible-playbook", "-i", "inventory/several-hosts/hosts.yml", "--syntax-check", "site.yml"],
                      timeout=120)
    assert result.returncode == 0, f"syntax check failed:\n{tail(result.stdout)}"
