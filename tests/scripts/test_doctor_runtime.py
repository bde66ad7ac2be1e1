"""`doctor.sh --host` on a host whose Docker default runtime is nvidia: there, any container
from a CUDA image sees every GPU unless it says otherwise, so the doctor warns. A stub `docker`
answers like an engine configured that way (the real engine here has runc as default, which
the real-engine scenario in test_doctor_scenarios.py sees)."""
import pytest

DOCKER_STUB = """#!/usr/bin/env bash
case "$*" in
  'version --format {{.Server.Version}}') echo 20.10.24 ;;
  'info --format {{.DefaultRuntime}}') echo %s ;;
  'info --format {{.DockerRootDir}}') echo / ;;
  *) echo "stub docker: unsupported: $*" >&2; exit 2 ;;
esac
"""


def host_run(scenario, runtime, lang="en"):
    scenario._script(scenario.bin / "docker", DOCKER_STUB % runtime)
    return scenario.run("--host", "--skip", "python,conda,mxnet,gpu,jupyter", "--min-free-gb", "0", lang=lang)


def test_doctor_warns_when_nvidia_is_the_docker_default_runtime(scenario):
    r = host_run(scenario, "nvidia")
    assert r.lines["docker-runtime"] == ("WARN", "Docker's default runtime is nvidia"), r
    block = r.block("docker-runtime")
    assert "see every GPU" in block and 'remove "default-runtime": "nvidia" from /etc/docker/daemon.json' in block
    assert "sudo systemctl restart docker" in block


def test_doctor_warns_in_chinese_too(scenario):
    r = host_run(scenario, "nvidia", lang="zh")
    assert r.lines["docker-runtime"] == ("WARN", "Docker 默认运行时 (default runtime) 是 nvidia"), r


@pytest.mark.parametrize("runtime", ["runc", "crun"])
def test_doctor_passes_a_host_whose_default_runtime_hands_out_no_gpu(scenario, runtime):
    r = host_run(scenario, runtime)
    assert r.lines["docker-runtime"] == ("PASS", "Docker's default runtime is %s" % runtime), r
