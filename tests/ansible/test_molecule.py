"""Molecule scenarios on this machine's real Docker engine (Debian 12 containers from the local
base image): converge, a second converge that must change nothing, and verify with real
assertions. Roles whose GPU steps cannot run in a container skip them through
gluonlab_skip_gpu_steps, and the skip must show in the output. The driver scenario also runs in
check mode first. See ansible/README.md, "What the tests cover"."""
from __future__ import annotations

import re

import pytest

from conftest import molecule_env, netguard_host_rules, run_tool, tail

pytestmark = [pytest.mark.docker, pytest.mark.slow]

GPU_SKIP = "GPU STEP SKIPPED"


def molecule_test(scenario: str, timeout: float) -> str:
    result = run_tool(["molecule", "test", "-s", scenario], timeout=timeout, env=molecule_env(scenario))
    assert result.returncode == 0, f"molecule test -s {scenario} failed:\n{tail(result.stdout)}"
    return result.stdout


def assert_actions_ran(output: str, scenario: str, actions: list[str]) -> None:
    for action in actions:
        pattern = rf"{scenario} > {action}\]?:? Executed: Successful"
        assert re.search(pattern, output), f"{scenario}: action {action!r} did not run successfully:\n{tail(output)}"


def test_preflight_scenario(molecule_image):
    output = molecule_test("preflight", timeout=600)
    assert_actions_ran(output, "preflight", ["converge", "idempotence", "verify"])
    assert GPU_SKIP in output


def test_nvidia_driver_scenario_with_check_mode(molecule_image):
    output = molecule_test("nvidia_driver", timeout=600)
    assert_actions_ran(output, "nvidia_driver", ["check", "converge", "idempotence", "verify"])
    assert "GPU STEP SKIPPED (nvidia_driver_skip_gpu_steps is true)" in output


def test_docker_engine_and_toolkit_scenario(molecule_image):
    output = molecule_test("docker_engine", timeout=840)
    assert_actions_ran(output, "docker_engine", ["prepare", "converge", "idempotence", "verify"])
    assert "GPU STEP SKIPPED (nvidia_container_toolkit_skip_gpu_steps is true)" in output


def test_docker_swarm_scenario_forms_a_three_node_swarm(molecule_image):
    # Three Docker-in-Docker hosts: manager (hub host) and two workers with fake GPU UUIDs.
    output = molecule_test("docker_swarm", timeout=840)
    assert_actions_ran(output, "docker_swarm", ["prepare", "converge", "idempotence", "verify"])
    assert "GPU STEP SKIPPED (docker_swarm_skip_gpu_steps is true)" in output
    assert "TASK [docker_swarm : Wait until every worker is ready with its GPUs registered]" in output
    assert "TASK [Check that the anchor runs once on each of the three nodes]" in output


# Above pytest.ini's 900 s: on a cold layer cache the role's image build alone takes minutes.
@pytest.mark.timeout(2700)
def test_gluonlab_hub_scenario_spawns_a_server(molecule_image, hub_leftovers_removed):
    output = molecule_test("gluonlab_hub", timeout=2400)
    assert_actions_ran(output, "gluonlab_hub", ["prepare", "converge", "idempotence", "verify", "cleanup"])
    assert "TASK [Reach the server's Jupyter API through the hub's proxy]" in output
    # The netguard's host rules go with the lab (they outlive `compose down` on purpose).
    assert "NETGUARD RULES REMOVED rc=0" in output, tail(output)
    assert netguard_host_rules() == []
