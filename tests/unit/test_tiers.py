"""The test tiers themselves: the fast lane selects by directory, and tests/unit refuses Docker.

Each case runs a real pytest, in a scratch tree holding this repo's pytest.ini and the two
conftest.py files that define the tiers, over small test modules written for the case.
"""
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

MODULES = {
    "unit/test_engine.py": '''
import docker
import pytest

@pytest.mark.docker
def test_marked():
    pass

def test_fixture(docker_client):
    pass

def test_sdk(tmp_path):
    # A socket path that exists, as an engine's does: the guard must refuse before connecting.
    socket = tmp_path / "docker.sock"
    socket.touch()
    docker.DockerClient(base_url=f"unix://{socket}").ping()

def test_a_missing_socket_gets_the_sdks_own_error():
    with pytest.raises(docker.errors.DockerException):
        docker.DockerClient(base_url="unix:///nonexistent/docker.sock").ping()

def test_sdk_objects_without_an_engine_are_fine():
    assert docker.types.HostConfig(version="1.41", mem_limit="1g")["Memory"] == 1 << 30
''',
    "lint/test_static.py": '''
def test_plain():
    pass

def test_fixture(docker_client):
    pass
''',
    "scripts/test_mixed.py": '''
import pytest

def test_host_side():
    pass

@pytest.mark.docker
def test_in_image():
    pass

def test_unmarked_fixture_user(docker_client):
    pass
''',
    "integration/test_stack.py": 'raise RuntimeError("the fast lane imported a Docker tier")\n',
}


def run_pytest(tmp_path, *args):
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    shutil.copy(REPO / "pytest.ini", tmp_path / "pytest.ini")
    shutil.copy(REPO / "tests" / "conftest.py", tmp_path / "tests" / "conftest.py")
    shutil.copy(REPO / "tests" / "unit" / "conftest.py", tmp_path / "tests" / "unit" / "conftest.py")
    for rel, body in MODULES.items():
        path = tmp_path / "tests" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    # An engine may or may not answer here: the guard must win either way.
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)


def outcomes(output):
    """{"folder/module.py::test": PASSED/FAILED/ERROR} from pytest's -rA summary."""
    found = {}
    for line in output.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("PASSED", "FAILED", "ERROR") and rest.startswith("tests/"):
            found[rest.split(" ")[0][len("tests/"):]] = word
    return found


def test_fast_lane_runs_unit_lint_and_host_side_scripts_only(tmp_path):
    proc = run_pytest(tmp_path, "--fast")
    out = proc.stdout + proc.stderr
    assert "the fast lane imported a Docker tier" not in out, out
    assert outcomes(proc.stdout) == {
        "unit/test_engine.py::test_marked": "ERROR",
        "unit/test_engine.py::test_fixture": "ERROR",
        "unit/test_engine.py::test_sdk": "FAILED",
        "unit/test_engine.py::test_a_missing_socket_gets_the_sdks_own_error": "PASSED",
        "unit/test_engine.py::test_sdk_objects_without_an_engine_are_fine": "PASSED",
        "lint/test_static.py::test_plain": "PASSED",
        "lint/test_static.py::test_fixture": "ERROR",
        "scripts/test_mixed.py::test_host_side": "PASSED",
    }, out
    # tests/scripts' docker tests (marked, or taking the engine fixture) leave the fast lane.
    assert "2 deselected" in proc.stdout, out
    assert proc.returncode == 1, out


def test_unit_tests_that_use_docker_fail_with_where_to_move_them(tmp_path):
    proc = run_pytest(tmp_path, "tests/unit")
    out = proc.stdout
    assert outcomes(out) == {"unit/test_engine.py::test_marked": "ERROR",
                             "unit/test_engine.py::test_fixture": "ERROR",
                             "unit/test_engine.py::test_sdk": "FAILED",
                             "unit/test_engine.py::test_a_missing_socket_gets_the_sdks_own_error": "PASSED",
                             "unit/test_engine.py::test_sdk_objects_without_an_engine_are_fine": "PASSED",
                             }, out + proc.stderr
    move = "but tests/unit runs without Docker: move it to tests/integration"
    assert f"tests/unit/test_engine.py::test_marked is marked docker, {move}" in out
    assert f"tests/unit/test_engine.py::test_fixture uses the docker_client fixture, {move}" in out
    assert f"tests/unit/test_engine.py::test_sdk asks the Docker engine for GET /version, {move}" in out


def test_fast_lane_fails_a_lint_test_that_takes_the_engine(tmp_path):
    proc = run_pytest(tmp_path, "--fast", "tests/lint")
    assert outcomes(proc.stdout) == {"lint/test_static.py::test_plain": "PASSED",
                                     "lint/test_static.py::test_fixture": "ERROR"}, proc.stdout
    assert ("tests/lint/test_static.py::test_fixture needs Docker but runs in the fast lane "
            "(tests/lint must work without an engine)") in proc.stdout


def test_engine_fixture_marks_its_tests_docker(tmp_path):
    """Outside the fast lane too: `-m "not docker"` leaves out an unmarked docker_client user."""
    proc = run_pytest(tmp_path, "tests/scripts", "-m", "not docker")
    assert outcomes(proc.stdout) == {"scripts/test_mixed.py::test_host_side": "PASSED"}, proc.stdout
    assert "2 deselected" in proc.stdout and proc.returncode == 0, proc.stdout
