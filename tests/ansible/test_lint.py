"""Static checks of the playbook and roles: yamllint, ansible-lint's production profile and
ansible-playbook --syntax-check. They need no Docker engine."""
from __future__ import annotations

from conftest import run_tool, tail


def test_yamllint_is_clean():
    result = run_tool(["yamllint", "--strict", "."], timeout=120)
    assert result.returncode == 0, f"yamllint found problems:\n{tail(result.stdout)}"


def test_ansible_lint_production_profile_passes():
    # ansible/.ansible-lint selects the production profile and offline mode (no Galaxy in CI).
    result = run_tool(["ansible-lint"], timeout=300)
    assert result.returncode == 0, f"ansible-lint failed:\n{tail(result.stdout)}"
    assert "Profile 'production' was required, and it passed" in result.stdout, tail(result.stdout)


def test_site_playbook_passes_syntax_check():
    result = run_tool(["ansible-playbook", "-i", "inventory/example/hosts.yml", "--syntax-check", "site.yml"],
                      timeout=120)
    assert result.returncode == 0, f"syntax check failed:\n{tail(result.stdout)}"
    assert "playbook: site.yml" in result.stdout


def test_example_inventory_defines_the_lab_group():
    result = run_tool(["ansible-inventory", "-i", "inventory/example/hosts.yml", "--host", "gpu01"], timeout=60)
    assert result.returncode == 0, tail(result.stdout)
    assert '"gluonlab_hub_tls": "letsencrypt"' in result.stdout
    assert '"nvidia_driver_branch": "580"' in result.stdout
