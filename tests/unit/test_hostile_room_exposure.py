"""A hostile room, without Docker: what the hub refuses to expose and what secrets it keeps.

Each test is named for the attack or mistake and the refusal. The same against a real compose
stack: tests/integration/hostile_room/test_exposure.py (pytest needs distinct file names, hence
this one's).
"""
from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from jupyterhub.objects import Hub
from traitlets.config import Config, PyFileConfigLoader

from gluonlab_hub import backup, bootstrap
from gluonlab_hub import settings as schema
from gluonlab_hub.accounts.rows import username_problem
from gluonlab_hub.gpus import Gpu, GpuAllocator
from gluonlab_hub.settings import Settings, SettingsError
from gluonlab_hub.spawner import LabDockerSpawner

REPO = Path(__file__).resolve().parents[2]
HUB = REPO / "hub"
NO_ENGINE = "unix:///nonexistent/docker.sock"
FROM_DOCKERSPAWNER = {"image": "gluonlab/notebook:cpu", "name": "gluonlab-alice",
                      "host_config": {"Memory": 1 << 30, "NetworkMode": "gluonlab"}}


# --- Plain HTTP beyond loopback ----------------------------------------------------------------
@pytest.mark.parametrize("bind", ["0.0.0.0", "192.168.1.20", "::", "10.0.0.5"])
def test_hub_refuses_to_listen_beyond_loopback_without_tls(bind):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"GLUONLAB_HUB_BIND": bind})
    message = str(error.value)
    assert message.startswith(f"GLUONLAB_HUB_BIND='{bind}' is not valid: ")
    for name in ("GLUONLAB_SSL_CERT", "GLUONLAB_SSL_KEY", "GLUONLAB_ALLOW_INSECURE=1"):
        assert name in message


@pytest.mark.parametrize("env", [
    {},
    {"GLUONLAB_HUB_BIND": "127.0.0.1"},
    {"GLUONLAB_HUB_BIND": "127.0.1.1"},
    {"GLUONLAB_HUB_BIND": "::1"},
    {"GLUONLAB_HUB_BIND": "0.0.0.0", "GLUONLAB_SSL_CERT": "/srv/jupyterhub/certs/hub.crt",
     "GLUONLAB_SSL_KEY": "/srv/jupyterhub/certs/hub.key"},
    {"GLUONLAB_HUB_BIND": "0.0.0.0", "GLUONLAB_ALLOW_INSECURE": "1"},
])
def test_loopback_https_or_an_explicit_tls_proxy_may_listen(env):
    Settings.from_env(env)


def test_allow_insecure_takes_only_an_explicit_one():
    with pytest.raises(SettingsError, match="GLUONLAB_ALLOW_INSECURE='yes' is not valid: choose '0' or '1'"):
        Settings.from_env({"GLUONLAB_HUB_BIND": "0.0.0.0", "GLUONLAB_ALLOW_INSECURE": "yes"})


def test_settings_check_stops_an_open_plain_http_hub_before_compose_starts_it(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("GLUONLAB_HUB_BIND=0.0.0.0\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GLUONLAB_")}
    result = subprocess.run([sys.executable, "-m", "gluonlab_hub.settings", "--check", str(env_file)],
                            env={**clean, "PYTHONPATH": str(HUB)}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "GLUONLAB_SSL_CERT" in result.stderr and "GLUONLAB_ALLOW_INSECURE" in result.stderr


def test_compose_hands_the_bind_address_to_the_hub_so_it_can_refuse():
    assert "GLUONLAB_HUB_BIND" in schema.names(schema.HUB) and "GLUONLAB_ALLOW_INSECURE" in schema.names(schema.HUB)


# --- TLS keys never in an image ------------------------------------------------------------------
def test_tls_keys_default_to_a_runtime_folder_no_image_build_reads():
    cert_dir = schema.meta("GLUONLAB_CERT_DIR")["default"]
    assert not cert_dir.startswith("./images/")
    folder = cert_dir.removeprefix("./").rstrip("/")
    # Docker's build context is the repo root: .dockerignore sends nothing it does not name.
    rules = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert rules[0] == "**" and not any(r.lstrip("!").startswith(folder) for r in rules[1:] if r.startswith("!"))
    for dockerfile in (REPO / "images").rglob("*Dockerfile"):
        assert not re.search(rf"^(COPY|ADD)\s+(--\S+\s+)*\.?/?{re.escape(folder)}/", dockerfile.read_text(), re.M), dockerfile
    # A key dropped there is never committed.
    ignored = subprocess.run(["git", "check-ignore", "-q", f"{folder}/hub.key"], cwd=REPO, timeout=30)
    assert ignored.returncode == 0


# --- The bootstrap admin password ---------------------------------------------------------------
def bootstrap_settings(tmp_path, **env):
    return Settings.from_env({"GLUONLAB_STATE_DIR": str(tmp_path / "state"), "GLUONLAB_ADMIN_USERS": "teacher", **env})


@pytest.mark.parametrize("password, reason", [
    ("short-pw", "it has 8 characters, at least 12"),
    ("TeacherTeacher"[:7], "at least 12"),
    ("x" * 73, "longer than 72 bytes"),
    ("密码" * 13, "longer than 72 bytes"),  # 26 characters, 78 bytes: bcrypt would cut it
])
def test_a_weak_or_truncated_bootstrap_password_is_refused_with_the_reason(tmp_path, password, reason):
    with pytest.raises(SettingsError) as error:
        bootstrap.chosen_admin_password(bootstrap_settings(tmp_path, GLUONLAB_ADMIN_PASSWORD=password))
    assert str(error.value).startswith("GLUONLAB_ADMIN_PASSWORD=(hidden) is not valid: ") and reason in str(error.value)
    assert password not in str(error.value)


def test_the_username_as_bootstrap_password_is_refused(tmp_path):
    settings = Settings.from_env({"GLUONLAB_STATE_DIR": str(tmp_path), "GLUONLAB_ADMIN_USERS": "workshop-admin",
                                  "GLUONLAB_ADMIN_PASSWORD": "Workshop-Admin"})
    with pytest.raises(SettingsError, match="it is the admin's username"):
        bootstrap.chosen_admin_password(settings)


def test_a_password_file_wins_and_is_checked_too(tmp_path):
    good = tmp_path / "admin-password"
    good.write_text("a-long-enough-pass\n")
    settings = bootstrap_settings(tmp_path, GLUONLAB_ADMIN_PASSWORD="ignored-because-file",
                                  GLUONLAB_ADMIN_PASSWORD_FILE=str(good))
    assert bootstrap.chosen_admin_password(settings) == "a-long-enough-pass"
    good.write_text("short\n")
    with pytest.raises(SettingsError, match="GLUONLAB_ADMIN_PASSWORD_FILE=.hidden. is not valid"):
        bootstrap.chosen_admin_password(settings)
    with pytest.raises(SettingsError, match="cannot be read"):
        bootstrap.chosen_admin_password(bootstrap_settings(tmp_path, GLUONLAB_ADMIN_PASSWORD_FILE=str(tmp_path / "nope")))


def test_no_password_chosen_means_one_is_generated(tmp_path):
    assert bootstrap.chosen_admin_password(bootstrap_settings(tmp_path)) is None


def run_bootstrap(tmp_path, env, command):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GLUONLAB_")}
    return subprocess.run([sys.executable, "-m", "gluonlab_hub.bootstrap", *command],
                          env={**clean, "PYTHONPATH": str(HUB), "GLUONLAB_STATE_DIR": str(tmp_path / "state"), **env},
                          capture_output=True, text=True, timeout=120)


def test_a_refused_bootstrap_password_stops_the_hub_with_exit_2_and_creates_nothing(tmp_path):
    result = run_bootstrap(tmp_path, {"GLUONLAB_ADMIN_PASSWORD": "admin"}, ["true"])
    assert result.returncode == 2
    assert "gluonlab: configuration error: GLUONLAB_ADMIN_PASSWORD=(hidden) is not valid" in result.stderr
    assert not (tmp_path / "state" / "jupyterhub.sqlite").exists()


def test_an_open_plain_http_hub_stops_in_bootstrap_before_jupyterhub(tmp_path):
    result = run_bootstrap(tmp_path, {"GLUONLAB_HUB_BIND": "0.0.0.0"}, ["true"])
    assert result.returncode == 2 and "GLUONLAB_HUB_BIND='0.0.0.0' is not valid" in result.stderr


def test_jupyterhub_and_its_children_do_not_inherit_the_bootstrap_password(tmp_path):
    password = "correct-horse-battery"
    pw_file = tmp_path / "pw"
    pw_file.write_text(password)
    show = [sys.executable, "-c", "import os; print(sorted(k for k in os.environ if 'PASSWORD' in k))"]
    result = run_bootstrap(tmp_path, {"GLUONLAB_ADMIN_PASSWORD": password}, show)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]" and password not in result.stdout + result.stderr
    result = run_bootstrap(tmp_path / "2", {"GLUONLAB_ADMIN_PASSWORD_FILE": str(pw_file)}, show)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr
    assert (tmp_path / "2" / "state" / "admin-password").read_text().strip() == password


# --- GPUs: a CPU-only server sees none ----------------------------------------------------------
def lab_spawner(name, pool):
    user = SimpleNamespace(name=name, id=1, url=f"/user/{name}/", escaped_name=name)
    return LabDockerSpawner(user=user, hub=Hub(), gpu_allocator=pool, prefix="gluonlab",
                            client_kwargs={"base_url": NO_ENGINE})


def test_cpu_only_server_sees_no_gpus_even_with_nvidia_default_runtime():
    alice = lab_spawner("alice", GpuAllocator([], policy="none"))
    assert alice.get_env()["NVIDIA_VISIBLE_DEVICES"] == "void"


def test_cpu_fallback_server_sees_no_gpus_when_every_gpu_is_taken():
    pool = GpuAllocator([Gpu("0", 0)], policy="exclusive", when_exhausted="cpu")
    pool.allocate("bob")
    carol = lab_spawner("carol", pool)
    carol.gpu_ids = pool.allocate("carol")  # what start() takes: nothing
    assert carol.gpu_ids == [] and carol.get_env()["NVIDIA_VISIBLE_DEVICES"] == "void"
    bob = lab_spawner("bob", pool)
    bob.gpu_ids = ["0"]
    # With a GPU, Docker sets the variable from the device request; the hub must not override it.
    assert "NVIDIA_VISIBLE_DEVICES" not in bob.get_env()


# --- Smaller holes ----------------------------------------------------------------------------
def test_a_user_container_cannot_swap_beyond_its_memory_limit():
    created, _ = lab_spawner("alice", GpuAllocator([], policy="none")).lab_create_kwargs(FROM_DOCKERSPAWNER)
    assert created["host_config"]["MemorySwap"] == created["host_config"]["Memory"] == 1 << 30
    # An explicit swap limit from the hub's config is kept.
    custom = {**FROM_DOCKERSPAWNER, "host_config": {**FROM_DOCKERSPAWNER["host_config"], "MemorySwap": 2 << 30}}
    created, _ = lab_spawner("alice", GpuAllocator([], policy="none")).lab_create_kwargs(custom)
    assert created["host_config"]["MemorySwap"] == 2 << 30


@pytest.fixture(scope="module")
def hub_config(tmp_path_factory):
    """hub/jupyterhub_config.py loaded as JupyterHub loads it, CPU-only (no Docker)."""
    state = tmp_path_factory.mktemp("state")
    saved = dict(os.environ)
    os.environ.update(GLUONLAB_STATE_DIR=str(state), GLUONLAB_CULL_MAX_AGE="43200", GLUONLAB_BACKUP_DAYS="5")
    try:
        loader = PyFileConfigLoader("jupyterhub_config.py", path=str(HUB))
        return loader.load_config(), state
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_a_users_own_jupyter_config_cannot_weaken_their_server(hub_config):
    config, _ = hub_config
    assert config.Spawner.disable_user_config is True


def test_the_admin_ui_refuses_usernames_the_accounts_tool_refuses(hub_config):
    config, _ = hub_config
    pattern = re.compile(config.Authenticator.username_pattern)
    for name in ["alice", "student01", "li.lei", "a_b-c", "x" * 32, "Alice", "bad name", "-dash", "../etc",
                 "x" * 33, "alice\n", "", "张三"]:
        # JupyterHub checks with re.match; the accounts tool with its own rules.
        assert bool(pattern.match(name)) == (username_problem(name) is None), repr(name)


def test_culler_stops_servers_past_their_max_age_when_set(hub_config):
    config, _ = hub_config
    [culler] = [s for s in config.JupyterHub.services if s["name"] == "idle-culler"]
    assert "--max-age=43200" in culler["command"]
    assert schema.meta("GLUONLAB_CULL_MAX_AGE")["default"] == 0  # 0 = the culler's "no limit"


def test_the_hub_database_is_backed_up_daily_on_the_hub_volume(hub_config):
    config, state = hub_config
    [service] = [s for s in config.JupyterHub.services if s["name"] == "db-backup"]
    assert service["command"][1:3] == ["-m", "gluonlab_hub.backup"]
    args = service["command"][3:]
    assert args == ["--db", f"{state}/jupyterhub.sqlite", "--dir", f"{state}/backups", "--keep", "5"]


def test_backups_are_consistent_private_and_only_the_newest_are_kept(tmp_path):
    db = tmp_path / "jupyterhub.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("create table users (name text)")
        conn.execute("insert into users values ('alice')")
    folder = tmp_path / "backups"
    for day in range(1, 6):
        made = backup.backup_once(db, folder, keep=3, now=datetime(2026, 12, day, tzinfo=timezone.utc))
    assert sorted(p.name for p in folder.iterdir()) == [f"jupyterhub-2026-12-0{d}.sqlite" for d in (3, 4, 5)]
    assert stat.S_IMODE(made.stat().st_mode) == 0o600 and stat.S_IMODE(folder.stat().st_mode) == 0o700
    with sqlite3.connect(made) as conn:
        assert conn.execute("select name from users").fetchall() == [("alice",)]
    # The restore command of the README: the copy is a whole database the hub can open.
    assert sqlite3.connect(made).execute("pragma integrity_check").fetchone() == ("ok",)


def test_a_failed_backup_is_reported_and_leaves_no_half_copy(tmp_path, caplog):
    assert backup.main(["--db", str(tmp_path / "missing.sqlite"), "--dir", str(tmp_path / "b"), "--once"]) == 1
    assert "backup failed: no hub database" in caplog.text
    assert not (tmp_path / "b").exists()
