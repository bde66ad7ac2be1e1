"""Settings from the environment: safe defaults, and bad values named with their fix."""
from __future__ import annotations

import pytest

from gluonlab_hub.settings import Settings, SettingsError


def test_defaults_are_cpu_only_and_safe():
    s = Settings.from_env({})
    assert s.notebook_variant == "cpu" and s.notebook_image == "gluonlab/notebook:cpu"
    assert s.gpu_policy == "none" and s.gpus == ""
    assert s.admin_users == ("admin",)
    assert s.network == "gluonlab" and s.home_volume_template == "gluonlab-home-{username}"
    assert s.cull_timeout == 3600 and s.shm_size == "1g"
    assert s.warnings() == []


def test_gpu_variant_and_policy():
    s = Settings.from_env({"NOTEBOOK_VARIANT": "cu117", "GLUONLAB_GPU_POLICY": "shared", "GLUONLAB_USERS_PER_GPU": "3"})
    assert s.notebook_image == "gluonlab/notebook:cu117"
    assert s.gpus == "auto" and s.users_per_gpu == 3


def test_instance_names_every_docker_object():
    s = Settings.from_env({"GLUONLAB_INSTANCE": "ws-2026"})
    assert s.network == "ws-2026" and s.home_volume_template == "ws-2026-home-{username}"


def test_short_cull_timeout_warns():
    assert "below 330 s" in Settings.from_env({"GLUONLAB_CULL_TIMEOUT": "120"}).warnings()[0]


def test_gpu_policy_on_cpu_image_warns():
    s = Settings.from_env({"GLUONLAB_GPU_POLICY": "exclusive", "GLUONLAB_GPUS": "0,1"})
    assert "NOTEBOOK_VARIANT=cu117" in s.warnings()[0]


@pytest.mark.parametrize("env, needle", [
    ({"NOTEBOOK_VARIANT": "cuda"}, "NOTEBOOK_VARIANT='cuda' is not valid: choose one of cpu, cu117, ngc, cu80"),
    ({"GLUONLAB_GPU_POLICY": "all"}, "GLUONLAB_GPU_POLICY='all' is not valid"),
    ({"GLUONLAB_GPU_EXHAUSTED": "wait"}, "choose 'refuse' or 'cpu'"),
    ({"GLUONLAB_MEM_LIMIT": "lots"}, "GLUONLAB_MEM_LIMIT='lots' is not valid: use a size"),
    ({"GLUONLAB_SHM_SIZE": "1 GB"}, "GLUONLAB_SHM_SIZE"),
    ({"GLUONLAB_CULL_TIMEOUT": "30"}, "GLUONLAB_CULL_TIMEOUT='30' is not valid: must be at least 60"),
    ({"GLUONLAB_CPU_LIMIT": "two"}, "must be a number"),
    ({"GLUONLAB_ADMIN_USERS": "Admin!"}, "GLUONLAB_ADMIN_USERS='Admin!'"),
    ({"GLUONLAB_ADMIN_USERS": " , "}, "name at least one admin"),
    ({"GLUONLAB_INSTANCE": "My Lab"}, "GLUONLAB_INSTANCE='My Lab'"),
    ({"GLUONLAB_SSL_CERT": "/c.pem"}, "set both the certificate and the key"),
])
def test_bad_values_name_the_setting_and_the_fix(env, needle):
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert needle in str(error.value)


# --- The schema: every setting once, each error naming the variable and the fix ----------------
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402
from dotenv import dotenv_values  # noqa: E402

from gluonlab_hub import settings as schema  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def error_of(env: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    return str(error.value)


@pytest.mark.parametrize("env, message", [
    ({"GLUONLAB_USERS_PER_GPU": "0"}, "GLUONLAB_USERS_PER_GPU='0' is not valid: must be at least 1"),
    ({"GLUONLAB_PIDS_LIMIT": "1.5"}, "GLUONLAB_PIDS_LIMIT='1.5' is not valid: must be a whole number (default 1024)"),
    ({"GLUONLAB_HUB_PORT": "70000"}, "GLUONLAB_HUB_PORT='70000' is not valid: must be at most 65535"),
    ({"GLUONLAB_LOG_LEVEL": "verbose"},
     "GLUONLAB_LOG_LEVEL='verbose' is not valid: choose one of DEBUG, INFO, WARNING, ERROR, CRITICAL (default INFO)"),
    ({"PRECACHE_DATA": "yes"}, "PRECACHE_DATA='yes' is not valid: choose '0' or '1' (default 0)"),
    ({"GLUONLAB_HUB_BIND": "localhost"}, "GLUONLAB_HUB_BIND='localhost' is not valid: use an IP address"),
    ({"PIP_INDEX_URL": "pypi.example"}, "PIP_INDEX_URL='pypi.example' is not valid: use an http:// or https:// URL"),
    ({"GLUONLAB_SPAWN_TIMEOUT": "5"}, "GLUONLAB_SPAWN_TIMEOUT='5' is not valid: must be at least 10"),
])
def test_each_kind_of_bad_value_names_the_variable_and_the_fix(env, message):
    assert message in error_of(env)


def test_every_choice_bound_and_number_is_checked_with_the_variable_named():
    checked = 0
    for env in schema.SETTINGS:
        facts = schema.meta(env)
        if facts["choices"]:
            assert error_of({env: "no-such-choice"}).startswith(f"{env}='no-such-choice' is not valid: choose "), env
            checked += 1
        if facts["minimum"] is not None:
            below = str(type(facts["minimum"])(facts["minimum"] - 1) if facts["minimum"] >= 1 else -1)
            assert f"{env}='{below}' is not valid: must be at least {facts['minimum']}" in error_of({env: below})
            assert f"{env}='many' is not valid: must be a" in error_of({env: "many"})
            checked += 1
    assert checked >= 10


def test_all_bad_values_are_reported_at_once():
    message = error_of({"GLUONLAB_GPU_POLICY": "all", "GLUONLAB_CULL_TIMEOUT": "1"})
    assert "GLUONLAB_GPU_POLICY='all'" in message and "GLUONLAB_CULL_TIMEOUT='1'" in message


def test_unknown_names_are_reported_with_the_closest_setting():
    message = error_of({"GLUONLAB_GPU_POLCY": "exclusive", "GLUONLAB_MEMLIMIT": "8G", "GLUONLAB_ZQX": "1"})
    assert "GLUONLAB_GPU_POLCY is not a Gluon Lab setting: did you mean GLUONLAB_GPU_POLICY?" in message
    assert "GLUONLAB_MEMLIMIT is not a Gluon Lab setting: did you mean GLUONLAB_MEM_LIMIT?" in message
    assert "GLUONLAB_ZQX is not a Gluon Lab setting: no setting has a similar name" in message
    # The setting nothing read any more is not silently accepted either.
    assert "did you mean NOTEBOOK_VARIANT?" in error_of({"GLUONLAB_NOTEBOOK_VARIANT": "cpu"})


def test_names_of_other_parts_of_the_project_are_not_typos():
    assert Settings.from_env({"GLUONLAB_DOCTOR_LANG": "zh", "GLUONLAB_GPU_DESCRIPTION": "x"}).instance == "gluonlab"


def test_the_admin_password_is_never_shown():
    message = error_of({"GLUONLAB_ADMIN_PASWORD": "s3cret-value"})
    assert "did you mean GLUONLAB_ADMIN_PASSWORD?" in message and "s3cret-value" not in message
    s = Settings.from_env({"GLUONLAB_ADMIN_PASSWORD": "s3cret-value"})
    assert s.admin_password.get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(s) and "s3cret-value" not in str(s)
    assert schema.meta("GLUONLAB_ADMIN_PASSWORD")["secret"]


def test_empty_values_mean_the_default_and_the_process_environment_is_read_only_when_asked(monkeypatch):
    assert Settings.from_env({"GLUONLAB_MEM_LIMIT": " ", "GLUONLAB_GPUS": ""}) == Settings.from_env({})
    monkeypatch.setenv("NOTEBOOK_VARIANT", "ngc")
    monkeypatch.setenv("GLUONLAB_LOG_LEVEL", "debug")
    assert Settings.from_env({}).notebook_variant == "cpu"
    s = Settings.from_env()
    assert s.notebook_variant == "ngc" and s.notebook_image == "gluonlab/notebook:ngc" and s.log_level == "DEBUG"


def test_every_setting_has_help_a_consumer_and_a_group():
    assert len(schema.SETTINGS) >= 30
    for env in schema.SETTINGS:
        facts = schema.meta(env)
        assert facts["help"] and "\n" not in facts["help"], env
        assert facts["read_by"] and set(facts["read_by"]) <= {schema.HUB, schema.COMPOSE, schema.BUILD}, env
        assert facts["group"] in schema.GROUPS, env
    assert "GLUONLAB_HUB_PORT" in schema.names(schema.COMPOSE) and "GLUONLAB_HUB_PORT" not in schema.names(schema.HUB)
    # The hub reads the address compose publishes it on, to refuse plain HTTP beyond loopback.
    assert "GLUONLAB_HUB_BIND" in schema.names(schema.COMPOSE) and "GLUONLAB_HUB_BIND" in schema.names(schema.HUB)
    assert "PIP_INDEX_URL" in schema.names(schema.BUILD)


# --- Generated documentation ---------------------------------------------------------------------
def test_env_example_is_the_generated_one():
    assert (REPO / ".env.example").read_text(encoding="utf-8") == schema.env_example(), (
        f"regenerate: {schema.REGENERATE}")


def test_readme_settings_table_is_the_generated_one():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme == schema.readme_with_table(readme), f"regenerate: {schema.REGENERATE}"
    table = readme.split(schema.README_BEGIN)[1].split(schema.README_END)[0]
    assert all(f"| `{env}` |" in table for env in schema.SETTINGS)


def test_env_example_states_the_defaults():
    """A .env copied from .env.example changes nothing, so every value shown is the default."""
    values = dotenv_values(REPO / ".env.example")
    assert set(values) == {e for e in schema.SETTINGS if not schema.meta(e)["unset_when_empty"]}
    assert Settings.from_env({k: v or "" for k, v in values.items()}) == Settings.from_env({})


def test_write_docs_rewrites_a_stale_copy(tmp_path):
    (tmp_path / ".env.example").write_text("GLUONLAB_OLD=1\n")
    readme = f"# Lab\n\n{schema.README_BEGIN}\n| old |\n{schema.README_END}\nafter\n"
    (tmp_path / "README.md").write_text(readme)
    result = subprocess.run([sys.executable, "-m", "gluonlab_hub.settings", "--write-docs", str(tmp_path)],
                            cwd=REPO / "hub", capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".env.example").read_text() == schema.env_example()
    text = (tmp_path / "README.md").read_text()
    assert "| old |" not in text and schema.markdown_table() in text and text.endswith("after\n")


def test_check_command_validates_an_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("GLUONLAB_GPU_POLICY=shared\nGLUONLAB_USERS_PER_GPU=0\n")
    clean = {"PATH": "/usr/bin:/bin"}
    run = lambda *args: subprocess.run([sys.executable, "-m", "gluonlab_hub.settings", *args], cwd=REPO / "hub",  # noqa: E731
                                       env=clean, capture_output=True, text=True, timeout=60)
    bad = run("--check", str(env_file))
    assert bad.returncode == 2 and "GLUONLAB_USERS_PER_GPU='0' is not valid: must be at least 1" in bad.stderr
    env_file.write_text("GLUONLAB_GPU_POLICY=shared\n")
    good = run("--check", str(env_file))
    assert good.returncode == 0 and "NOTEBOOK_VARIANT=cpu" in good.stderr  # the GPU-on-CPU-image warning


# --- docker-compose.yml states no setting of its own -----------------------------------------------
def compose() -> tuple[str, dict]:
    text = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    return text, yaml.safe_load(text)


def test_compose_passes_the_hubs_settings_without_defaults():
    _, config = compose()
    hub = config["services"]["hub"]
    assert hub["env_file"] == [{"path": ".env", "required": False}]
    # Bare names only: compose passes each one when it is set in the shell, and states no value.
    assert hub["environment"] == schema.names(schema.HUB)


def test_compose_defaults_are_the_schemas():
    text, config = compose()
    text = re.sub(r"(?m)^\s*#.*$", "", text)  # comments may quote the syntax
    used = re.findall(r"\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}", text)
    assert used
    for name, default in used:
        assert name in schema.SETTINGS, f"docker-compose.yml reads {name}, which the schema does not define"
        facts = schema.meta(name)
        assert schema.COMPOSE in facts["read_by"] or schema.BUILD in facts["read_by"], name
        assert default == facts["text_default"], f"{name}: compose default {default!r}, schema {facts['text_default']!r}"
    for name in schema.names(schema.COMPOSE):
        assert "${" + name in text, f"the schema says compose reads {name}, docker-compose.yml does not"
    build_args = set(config["x-build-args"])
    for service in config["services"].values():
        build_args |= set((service.get("build") or {}).get("args") or {}) - {"<<"}
    assert build_args == set(schema.names(schema.BUILD))


def test_every_gluonlab_name_in_the_tree_is_known():
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    this = Path(__file__).resolve().relative_to(REPO).as_posix()
    found: dict[str, set[str]] = {}
    for path in files:
        full = REPO / path
        if path == this or not full.is_file():
            continue
        try:
            text = full.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for name in re.findall(r"\bGLUONLAB_[A-Z0-9_]*[A-Z0-9]\b", text):
            found.setdefault(name, set()).add(path)
    # The README shows what a typo looks like.
    unknown = {n: p for n, p in found.items()
               if n not in schema.SETTINGS and n not in schema.OTHER_NAMES and n != "GLUONLAB_GPU_POLCY"}
    assert not unknown, f"add to the schema or to settings.OTHER_NAMES: {unknown}"
    stale = set(schema.OTHER_NAMES) - {n for n, p in found.items() if p - {"hub/gluonlab_hub/settings.py"}}
    assert not stale, f"settings.OTHER_NAMES lists names nothing uses: {stale}"
