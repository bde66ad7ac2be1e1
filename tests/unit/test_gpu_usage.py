"""Per-user GPU usage and idle reclaim (hub/gluonlab_hub/gpu_usage.py) without an engine: the
real H100 captures, fake process tables and cgroup files, the idle clock, the usage file and
the metrics read from it. The helper on the real engine: tests/integration/test_gpu_requests.py."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gluonlab_hub import gpu_usage as u

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
H100 = "GPU-2b18b8c7-7792-5f89-e0b9-8e2040f7172d"
ANA = "a" * 64
BO = "b" * 64
SLICE = "MIG-1e2d3c4b-5a69-5788-96a5-b4c3d2e1f002"


def captured(name: str) -> str:
    lines = (FIXTURES / "gpu-host-h100" / name).read_text().splitlines()
    return "\n".join(ln for ln in lines if not ln.startswith(("$ ", "[exit ")))


def helper_output(apps: list[str], cgroups: dict[int, str], gpus: str | None = None) -> str:
    """What HELPER_SCRIPT prints: the real capture's headers, fake process rows and cgroup files."""
    header = captured("query-apps.txt").strip()
    out = ["### apps", header, *apps, "### gpus", gpus if gpus is not None else captured("query-gpu.txt").strip()]
    for pid, text in cgroups.items():
        out += [f"### cgroup {pid}", text]
    return "\n".join(out) + "\n"


def test_the_real_h100_captures_parse() -> None:
    assert u.parse_compute_apps(captured("query-apps.txt")) == []  # no process ran during the capture
    [reading] = u.parse_gpu_readings(captured("query-gpu.txt"))
    assert reading == u.GpuReading(0, H100, 0.0, 0)


@pytest.mark.parametrize("text, want", [
    ("0::/system.slice/docker-" + ANA + ".scope\n", ANA),  # cgroup v2, systemd driver
    ("0::/docker/" + ANA + "\n", ANA),  # cgroup v2, cgroupfs driver
    ("12:memory:/docker/" + ANA + "\n11:cpu,cpuacct:/docker/" + ANA + "\n", ANA),  # cgroup v1
    ("0::/user.slice/user-1000.slice/session-3.scope\n", None),  # a host process
    ("0::/docker/abc\n", None),
])
def test_the_container_is_read_from_the_cgroup_file(text, want) -> None:
    assert u.container_id_from_cgroup(text) == want


def test_processes_map_to_their_users_servers() -> None:
    out = helper_output(
        [f"4242, {H100}, 3100 MiB", f"4243, {H100}, 900 MiB", f"5000, {H100}, 100 MiB", f"6000, {SLICE}, 2048 MiB"],
        {4242: "0::/docker/" + ANA, 4243: "0::/docker/" + ANA, 5000: "0::/init.scope", 6000: "0::/docker/" + BO},
        gpus="index, uuid, utilization.gpu [%], memory.used [MiB]\n0, " + H100 + ", 37 %, 4100 MiB")
    report = u.parse_helper_output(out)
    servers = [u.Server(ANA, "ana", ("0",), "whole-gpu"), u.Server(BO, "bo", (SLICE,), "mig-small"),
               u.Server("c" * 64, "cy", ("0",)), u.Server("d" * 64, "dee", ())]
    usage = u.usage_by_user(report, servers)
    assert sorted(usage) == ["ana", "bo", "cy"]  # dee has no GPU: not listed
    ana, bo, cy = usage["ana"], usage["bo"], usage["cy"]
    assert (ana.processes, ana.memory_used_mib, ana.utilization_pct, ana.idle) == (2, 4000, 37.0, False)
    # A MIG slice: its memory counts, nvidia-smi gives no per-slice utilisation.
    assert (bo.processes, bo.memory_used_mib, bo.utilization_pct, bo.idle) == (1, 2048, None, False)
    assert (cy.processes, cy.idle) == (0, True)  # the host process (PID 5000) is nobody's


@pytest.mark.parametrize("text, needle", [
    ("### gpus\nindex, uuid\n", "no '### apps' section"),
    ("junk\n### apps\n", "line 1: text before the first section"),
    ("### apps\npid, gpu_uuid, used_gpu_memory [MiB]\nx, GPU-1, 1 MiB\n### gpus\nindex, uuid\n", "'x' is not a PID"),
    ("### apps\npid, gpu_uuid, used_gpu_memory [MiB]\n1, GPU-1\n### gpus\nindex, uuid\n", "line 2: 2 columns"),
    ("### apps\npid, gpu_uuid, used_gpu_memory [MiB]\n1, GPU-1, lots MiB\n### gpus\nindex, uuid\n", "not a number"),
    ("### apps\npid, gpu_uuid, used_gpu_memory [MiB]\n### gpus\nindex, uuid\n### cgroup me\n", "does not name a PID"),
])
def test_malformed_helper_output_is_an_error(text, needle) -> None:
    with pytest.raises(u.UsageError, match=needle):
        u.parse_helper_output(text)


def test_not_reported_values_are_none() -> None:
    [app] = u.parse_compute_apps(f"pid, gpu_uuid, used_gpu_memory [MiB]\n7, {H100}, [N/A]\n")
    assert app.used_mib is None
    [reading] = u.parse_gpu_readings(f"index, uuid, utilization.gpu [%], memory.used [MiB]\n0, {H100}, [N/A], 10 MiB\n")
    assert reading.utilization_pct is None and reading.memory_used_mib == 10


def usage(user: str, processes: int, util: float | None = 0.0) -> u.UserUsage:
    return u.UserUsage(user, ["0"], processes=processes, utilization_pct=util)


def test_idle_gpus_get_a_notice_then_are_stopped_and_activity_resets_the_clock() -> None:
    now = [0.0]
    tracker = u.IdleTracker(notice_s=300, clock=lambda: now[0])
    limits = {"ana": 20, "bo": 20, "boss": 0}

    def at(minute: float, readings: list[u.UserUsage]):
        now[0] = minute * 60
        return tracker.observe({x.user: x for x in readings}, limits)

    assert at(0, [usage("ana", 0), usage("bo", 1, 55.0), usage("boss", 0)]) == ([], [])
    assert at(14, [usage("ana", 0), usage("bo", 1, 0.0), usage("boss", 0)]) == ([], [])
    assert at(15, [usage("ana", 0), usage("bo", 1, 0.0), usage("boss", 0)]) == (["ana"], [])
    assert at(16, [usage("ana", 0), usage("bo", 1, 0.0), usage("boss", 0)]) == ([], [])  # one notice only
    assert at(19, [usage("ana", 0), usage("bo", 1, 80.0), usage("boss", 0)]) == ([], [])  # bo works again
    readings = [usage("ana", 0), usage("bo", 1, 0.0), usage("boss", 0)]
    assert at(20, readings) == ([], ["ana"])
    assert readings[0].idle_s == 1200 and readings[2].idle_s == 1200  # boss: counted, never stopped
    assert at(35, [usage("bo", 1, 0.0)]) == (["bo"], [])  # ana's server is gone; bo idle since minute 20
    assert at(40, [usage("bo", 1, 0.0), usage("ana", 0)]) == ([], ["bo"])  # ana's new server: a fresh clock


def test_the_usage_file_feeds_the_metrics_and_goes_stale(tmp_path) -> None:
    path = tmp_path / "gpu-usage.json"
    ana = u.UserUsage("ana", ["0"], "whole-gpu", 2, 4000, 37.0, 0.0)
    bo = u.UserUsage("bo", [SLICE], "mig-small", 0, 0, None, 600.0)
    u.write_usage(path, {"ana": ana, "bo": bo}, now=1000.0)
    assert u.read_usage(path, max_age_s=180, now=1100.0)["bo"]["idle"] is True
    assert u.read_usage(path, max_age_s=180, now=2000.0) == {}  # the service stopped writing
    assert u.read_usage(tmp_path / "missing.json", 180) == {}
    u.write_usage(path, {"ana": ana, "bo": bo})
    registry = CollectorRegistry()
    registry.register(u.UsageCollector(path, max_age_s=180))
    text = generate_latest(registry).decode()
    assert 'gluonlab_gpu_memory_used_mib{gpu="0",user="ana"} 4000.0' in text
    assert 'gluonlab_gpu_utilization_percent{gpu="0",user="ana"} 37.0' in text
    assert f'gluonlab_gpu_utilization_percent{{gpu="{SLICE}"' not in text
    assert f'gluonlab_gpu_idle_seconds{{gpu="{SLICE}",user="bo"}} 600.0' in text


def test_the_notice_is_bilingual_and_says_files_are_kept() -> None:
    text = u.notice_text(5, 20)
    assert "15 分钟" in text and "文件会保留" in text and "your files are kept" in text and "5 more minutes" in text


def inspected(network: str, ip: str, env: list[str]) -> SimpleNamespace:
    """A container as docker-py's Container shows it (labels, and attrs as `docker inspect` prints)."""
    return SimpleNamespace(id=ANA, labels={"gluonlab.user": "ana", "gluonlab.gpus": SLICE, "gluonlab.profile": "mig"},
                           attrs={"Config": {"Env": env},
                                  "NetworkSettings": {"Networks": {network: {"IPAddress": ip}}}})


def test_a_servers_lab_address_is_its_ip_on_the_lab_network_and_its_bind_url() -> None:
    env = ["PATH=/usr/bin", "JUPYTERHUB_SERVICE_URL=http://0.0.0.0:8888/user/ana/", "X=a=b"]
    server = u.Server.from_container(inspected("lab1", "172.30.0.7", env), "lab1")
    assert (server.user, server.devices, server.profile) == ("ana", (SLICE,), "mig")
    assert server.url == "http://172.30.0.7:8888/user/ana/"
    assert u.Server.from_container(inspected("other", "172.30.0.7", env), "lab1").url == ""  # not on the lab network
    assert u.Server.from_container(inspected("lab1", "172.30.0.7", env[:1]), "lab1").url == ""  # no bind URL


class Recorder(BaseHTTPRequestHandler):
    """A real HTTP server standing in for a Lab: records each POST, answers with the class's status."""

    status = 200
    seen: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append((self.path, self.headers["Authorization"], json.loads(body)))
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b'{"success": true}')

    def log_message(self, *args):
        pass


@pytest.fixture
def lab_server():
    Recorder.seen, Recorder.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/user/ana/"
    server.shutdown()
    server.server_close()


def test_the_idle_notice_is_posted_to_the_users_lab_as_a_lasting_warning(lab_server) -> None:
    import requests

    text = u.notice_text(1, 2)
    assert u.notify_lab(requests.post, lab_server, "svc-token", text) is True
    [(path, auth, body)] = Recorder.seen
    assert path == "/user/ana/jupyterlab-notifications-extension/ingest" and auth == "token svc-token"
    assert body["message"] == text.strip() and "文件会保留" in body["message"]
    assert (body["type"], body["autoClose"], body["immediate"]) == ("warning", False, True)
    Recorder.status = 404  # a server without the extension: refused, logged, and the file notice still goes
    assert u.notify_lab(requests.post, lab_server, "svc-token", text) is False
    assert u.notify_lab(requests.post, "http://127.0.0.1:9/user/ana/", "t", text) is False  # nothing listens


def test_the_hub_runs_the_service_with_the_profiles_idle_times(tmp_path) -> None:
    from traitlets.config import Config

    from gluonlab_hub import hub_config, profiles
    from gluonlab_hub.settings import Settings

    settings = Settings.from_env({"GLUONLAB_GPU_POLICY": "exclusive", "NOTEBOOK_VARIANT": "ngc", "GLUONLAB_GPUS": "0",
                                  "GLUONLAB_STATE_DIR": str(tmp_path), "GLUONLAB_INSTANCE": "lab1",
                                  "GLUONLAB_PROFILES_FILE": str(FIXTURES / "profiles" / "workshop.yml")})
    c = Config()
    hub_config._services(c, settings, profiles.load(settings))
    [service] = [s for s in c.JupyterHub.services if s["name"] == "gpu-usage"]
    args = service["command"][service["command"].index("gluonlab_hub.gpu_usage") + 1:]
    assert args == ["--instance", "lab1", "--image", "gluonlab/notebook:ngc", "--interval", "60",
                    "--usage-file", f"{tmp_path}/gpu-usage.json", "--idle-minutes", "mig-small=20,whole-gpu=0",
                    "--exempt-groups", "instructors", "--network", "lab1"]
    [role] = [r for r in c.JupyterHub.load_roles if r["name"] == "gpu-usage"]
    assert role["services"] == ["gpu-usage"] and {"delete:servers", "access:servers"} <= set(role["scopes"])
    # A CPU-only hub runs no GPU service.
    cpu = Config()
    hub_config._services(cpu, Settings.from_env({"GLUONLAB_STATE_DIR": str(tmp_path)}),
                         profiles.load(Settings.from_env({})))
    assert "gpu-usage" not in [s["name"] for s in cpu.JupyterHub.services]
    assert "idle-culler" in [s["name"] for s in cpu.JupyterHub.services]


def test_the_terminal_banner_shows_your_gpu(tmp_path) -> None:
    """The banner the notebook image appends to /etc/bash.bashrc (images/notebook/build/configure.sh),
    run by an interactive bash here; a stub nvidia-smi stands in for the one the toolkit mounts."""
    import subprocess

    script = (Path(__file__).resolve().parents[2] / "images" / "notebook" / "build" / "configure.sh").read_text()
    (tmp_path / "bashrc").write_text(script.split("<<'BANNER'\n", 1)[1].split("\nBANNER\n", 1)[0] + "\n")
    (tmp_path / "nvidia-smi").write_text("#!/bin/sh\necho '0, 3100 MiB, 81559 MiB, 37 %'\n")
    (tmp_path / "nvidia-smi").chmod(0o755)

    def banner(**env: str) -> str:
        full = {"PATH": f"{tmp_path}:/usr/bin:/bin", "HOME": str(tmp_path), **env}
        return subprocess.run(["bash", "--rcfile", str(tmp_path / "bashrc"), "-i", "-c", "true"], env=full,
                              capture_output=True, text=True, timeout=30).stdout

    whole = banner(GLUONLAB_GPUS="1", GLUONLAB_GPU_DESCRIPTION="GPU 1 (NVIDIA H100 80GB HBM3, 79.6 GiB)",
                   GLUONLAB_PROFILE="整块 GPU / Whole GPU", GLUONLAB_VARIANT="ngc")
    assert whole.splitlines()[0] == ("Gluon Lab (ngc) | 整块 GPU / Whole GPU | 你的 GPU / your GPU: GPU 1 (NVIDIA H100 "
                                     "80GB HBM3, 79.6 GiB) | 自检 self-check: bash /opt/gluonlab/scripts/doctor.sh")
    assert "正在使用 / in use (GPU, memory, total, utilisation): 0, 3100 MiB, 81559 MiB, 37 %" in whole
    mig = banner(GLUONLAB_GPUS=SLICE, GLUONLAB_GPU_DESCRIPTION="MIG 1g.10gb slice 1 of GPU 0 (NVIDIA H100 80GB HBM3)")
    assert "your GPU: MIG 1g.10gb slice 1 of GPU 0" in mig and "in use" not in mig
    cpu = banner()
    assert "Gluon Lab (cpu) | 你的 GPU / your GPU: CPU only |" in cpu and "in use" not in cpu


def test_the_real_gpu_check_script_compiles_and_explains_itself() -> None:
    """tests/gpu/check_visible_devices.py needs a GPU host; here only its syntax and --help."""
    import py_compile
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "tests" / "gpu" / "check_visible_devices.py"
    py_compile.compile(str(script), doraise=True)
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--image" in out.stdout and "--max" in out.stdout
