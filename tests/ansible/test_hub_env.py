"""The .env the gluonlab_hub role writes, rendered from the role's defaults and from inventory
overrides: the values docker-compose.yml reads must follow the inventory."""
from __future__ import annotations

import json
import re
import sys

import yaml
from conftest import REPO_ROOT, run_tool, tail

if str(REPO_ROOT / "hub") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "hub"))
from gluonlab_hub import settings as schema  # noqa: E402

PLAYBOOK = REPO_ROOT / "tests" / "ansible" / "fixtures" / "render-hub-env.yml"
ROLE = REPO_ROOT / "ansible" / "roles" / "gluonlab_hub"


def render(tmp_path, **extra_vars) -> dict[str, str]:
    out = tmp_path / "env"
    extra = {"out": str(out), "ansible_python_interpreter": sys.executable, **extra_vars}
    result = run_tool(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", json.dumps(extra),
                       str(PLAYBOOK)], timeout=120)
    assert result.returncode == 0, tail(result.stdout)
    lines = [line for line in out.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_defaults_keep_the_hub_on_loopback_with_gpus(tmp_path):
    env = render(tmp_path)
    assert env["GLUONLAB_HUB_BIND"] == "127.0.0.1" and env["GLUONLAB_HUB_PORT"] == "8000"
    assert env["NOTEBOOK_VARIANT"] == "cu117" and env["GLUONLAB_GPU_POLICY"] == "exclusive"
    assert env["GLUONLAB_GPUS"] == "auto"
    assert env["GLUONLAB_SSL_CERT"] == "" and env["GLUONLAB_SSL_KEY"] == ""
    # Absent, not empty: an empty build arg would replace the Dockerfiles' default base image.
    assert "NOTEBOOK_BASE_IMAGE" not in env and "HUB_BASE_IMAGE" not in env


def test_https_opens_port_443_and_points_at_the_mounted_certificate(tmp_path):
    env = render(tmp_path, gluonlab_hub_tls="provided", gluonlab_hub_domain="lab.example.org",
                 gluonlab_hub_gpu_policy="none", gluonlab_hub_notebook_variant="cpu",
                 gluonlab_hub_admin_users=["alice", "bob"], gluonlab_hub_pip_index_url="https://pypi.example/simple",
                 gluonlab_hub_env_extra={"GLUONLAB_SPAWN_TIMEOUT": 300})
    assert env["GLUONLAB_HUB_BIND"] == "0.0.0.0" and env["GLUONLAB_HUB_PORT"] == "443"
    assert env["GLUONLAB_SSL_CERT"] == "/srv/jupyterhub/certs/hub.crt"
    assert env["GLUONLAB_SSL_KEY"] == "/srv/jupyterhub/certs/hub.key"
    assert env["GLUONLAB_GPUS"] == "" and env["GLUONLAB_ADMIN_USERS"] == "alice,bob"
    assert env["PIP_INDEX_URL"] == "https://pypi.example/simple"
    assert env["GLUONLAB_SPAWN_TIMEOUT"] == "300"


PROFILES = {
    "profiles": [
        {"name": "cpu", "display_name": {"zh": "CPU 座位", "en": "CPU seat"}, "variant": "cpu"},
        {"name": "mig-small", "display_name": {"zh": "GPU 切片", "en": "GPU slice"}, "gpu": "1g.10gb",
         "groups": ["students"], "idle_gpu_minutes": 15},
    ],
    "idle_gpu_exempt_groups": ["instructors", "staff"],
}


def test_no_profiles_and_the_hubs_own_idle_check_by_default(tmp_path):
    env = render(tmp_path)
    assert env["GLUONLAB_PROFILES_FILE"] == ""
    assert "GLUONLAB_GPU_IDLE_CHECK" not in env  # absent: the schema's default applies
    assert not (tmp_path / "env.profiles").exists()


def test_profiles_are_written_where_the_hub_reads_them_and_pass_its_checks(tmp_path):
    from gluonlab_hub import profiles

    env = render(tmp_path, gluonlab_hub_profiles=PROFILES, gluonlab_hub_gpu_idle_check=30)
    assert env["GLUONLAB_GPU_IDLE_CHECK"] == "30"
    in_hub = env["GLUONLAB_PROFILES_FILE"]
    # The cert dir is what compose mounts at /srv/jupyterhub/certs; the name follows the content,
    # so a changed document changes .env and the reload recreates the hub.
    assert re.fullmatch(r"/srv/jupyterhub/certs/profiles-[0-9a-f]{12}\.yml", in_hub), in_hub
    text = (tmp_path / "env.profiles").read_text(encoding="utf-8")
    assert "CPU 座位" in text  # written as UTF-8, not \u escapes
    found = profiles.parse(text, schema.Settings.from_env({"GLUONLAB_GPU_POLICY": "exclusive"}), source=in_hub)
    assert found.names() == ["cpu", "mig-small"] and found.idle_gpu_exempt_groups == ("instructors", "staff")
    assert found.get("mig-small").gpu.mig_profile == "1g.10gb" and found.get("mig-small").idle_gpu_minutes == 15
    changed = {**PROFILES, "idle_gpu_exempt_groups": ["instructors"]}
    (tmp_path / "b").mkdir()
    assert render(tmp_path / "b", gluonlab_hub_profiles=changed)["GLUONLAB_PROFILES_FILE"] != in_hub


# --- The role against the settings schema (no Ansible run needed) ------------------------------
def role_env_lines() -> dict[str, str]:
    """Setting name -> the role variable that feeds it, for every NAME= line env.j2 writes."""
    lines = {}
    for line in (ROLE / "templates" / "env.j2").read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            feeds = re.search(r"\bgluonlab_hub_\w+", match.group(2))
            lines[match.group(1)] = feeds.group(0) if feeds else ""
    return lines


def test_every_setting_the_role_writes_is_in_the_schema():
    written = role_env_lines()
    assert len(written) >= 25
    unknown = set(written) - set(schema.SETTINGS)
    assert not unknown, f"env.j2 writes settings the schema does not define: {unknown}"
    # What docker compose itself and the image builds read must follow the inventory too.
    missing = {n for n in schema.names(schema.BUILD) + schema.names(schema.COMPOSE)
               if n not in written and n != "GLUONLAB_HUB_CPU_SHARES"}
    assert not missing, f"env.j2 does not write {missing}"


def test_argument_specs_document_every_knob_with_the_schemas_choices():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    options = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert set(options) == set(defaults), "argument_specs.yml and defaults/main.yml list different knobs"
    for name, spec in options.items():
        assert spec.get("description") and spec.get("type"), name
    for setting, variable in role_env_lines().items():
        facts = schema.meta(setting)
        if not variable or variable not in options:
            continue
        if facts["choices"] == ("0", "1") and options[variable]["type"] == "bool":
            continue  # a yes/no knob that env.j2 writes as 0/1
        if facts["choices"]:
            assert options[variable].get("choices") == list(facts["choices"]), (
                f"{variable} (for {setting}): choices {options[variable].get('choices')}, schema {facts['choices']}")
            default = defaults[variable]
            # The role's default may differ from a laptop's (a GPU server), not leave the choices.
            assert "{{" in str(default) or default in facts["choices"], variable
        if facts["secret"]:
            assert options[variable].get("no_log") is True, f"{variable} holds {setting}: mark it no_log"
