"""The warm kernel (images/notebook/rootfs/gluonlab_kernels.py), in a real notebook container
started as the hub starts one (read-only root, tmpfs /tmp, ulimit nice=20, a CPU limit), driven
over the Jupyter REST API and the kernel websocket as JupyterLab does.

A second container with GLUONLAB_WARM_KERNEL=0 gives the fresh kernel every adopted one is
compared with: same image, same notebook path, first cell first.
"""
from __future__ import annotations

import json
import sys
import time
import uuid

import docker
import pytest
import requests
import websocket
from labclient import REPO_ROOT, free_port, next_message, wait_until

sys.path.insert(0, str(REPO_ROOT / "hub"))  # gluonlab_hub, as tests/unit/conftest.py does
from gluonlab_hub.spawner import engine_sets_nice_ulimit  # noqa: E402

pytestmark = pytest.mark.docker

NOTEBOOK_DIR = "lesson"
WARM_IMPORTS = "import numpy, mxnet, matplotlib, matplotlib.pyplot"
# Imports of its own come first, so the fresh and the adopted kernel pay for them alike.
PROBE = r"""
import json as _json, os as _os, sys as _sys
_names = sorted(dir())
def _nices():
    values = set()
    for tid in _os.listdir('/proc/self/task'):
        with open(f'/proc/self/task/{tid}/stat') as stat:
            values.add(int(stat.read().rsplit(')', 1)[1].split()[16]))
    return sorted(values)
print(_json.dumps({"pid": _os.getpid(), "cwd": _os.getcwd(), "dir": _names, "modules": sorted(_sys.modules),
                   "env": dict(_os.environ), "nices": _nices(), "path": _sys.path}))
del _json, _os, _sys, _names, _nices
"""


class Lab:
    """A notebook container running the standalone Jupyter server, reached on a local port."""

    def __init__(self, client, image, name: str, *, warm: bool, cpus: float, nice_ulimit: bool):
        self.token = uuid.uuid4().hex
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.container = client.containers.run(
            image.id, ["start-notebook.sh", f"--IdentityProvider.token={self.token}"], detach=True, name=name,
            ports={"8888/tcp": ("127.0.0.1", self.port)}, read_only=True,
            tmpfs={"/tmp": "size=512m,mode=1777", "/home/jovyan": "size=512m,uid=1000,mode=0755"},
            ulimits=[docker.types.Ulimit(name="nice", soft=20, hard=20)] if nice_ulimit else None,
            nano_cpus=int(cpus * 1e9),
            environment={"GLUONLAB_WARM_KERNEL": "1" if warm else "0", "GLUONLAB_WARM_KERNEL_REFILL_DELAY": "1"})
        wait_until(lambda: self.get("/api/status").status_code == 200, 120, what="the Jupyter server")
        self.put(f"/api/contents/{NOTEBOOK_DIR}", json={"type": "directory"})

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, headers=self.headers, timeout=30)

    def put(self, path: str, **kwargs) -> requests.Response:
        return requests.put(self.url + path, headers=self.headers, timeout=30, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        response = requests.post(self.url + path, headers=self.headers, timeout=300, **kwargs)
        assert response.status_code in (200, 201, 204), response.text
        return response

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def warm_status(self) -> dict:
        response = self.get("/api/gluonlab/warm-kernel")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_warm(self, timeout: float = 400) -> dict:
        return wait_until(lambda: (status := self.warm_status())["ready"] and status, timeout, interval=1,
                          what="a warm kernel")

    def new_session(self, notebook: str) -> str:
        """Open *notebook* as JupyterLab does (POST /api/sessions); the kernel's id."""
        body = {"path": f"{NOTEBOOK_DIR}/{notebook}", "name": notebook, "type": "notebook",
                "kernel": {"name": "python3"}}
        return self.post("/api/sessions", json=body).json()["kernel"]["id"]

    def connect(self, kernel_id: str) -> "KernelSocket":
        return KernelSocket(f"ws://127.0.0.1:{self.port}/api/kernels/{kernel_id}/channels", self.headers)

    def run(self, kernel_id: str, code: str, timeout: float = 300) -> dict:
        with self.connect(kernel_id) as kernel:
            return kernel.run(code, timeout)

    def probe(self, kernel_id: str) -> dict:
        reply = self.run(kernel_id, PROBE)
        assert reply["error"] is None, reply
        return {**json.loads(reply["stdout"]), "execution_count": reply["execution_count"]}

    def kernel_processes(self) -> dict[int, list[int]]:
        """{pid: nice values of its threads} of every ipykernel process in the container."""
        script = ("import json, os\nout = {}\nfor pid in filter(str.isdigit, os.listdir('/proc')):\n"
                  "    try:\n        cmd = open(f'/proc/{pid}/cmdline').read()\n"
                  "        if 'ipykernel_launcher' not in cmd or pid == str(os.getpid()): continue\n"
                  "        out[pid] = sorted({int(open(f'/proc/{pid}/task/{t}/stat').read().rsplit(')', 1)[1].split()[16])"
                  " for t in os.listdir(f'/proc/{pid}/task')})\n"
                  "    except OSError: pass\nprint(json.dumps(out))")
        result = self.container.exec_run(["python3", "-c", script])
        return {int(pid): nices for pid, nices in json.loads(result.output).items()}

    def log(self) -> str:
        return self.container.logs().decode(errors="replace")

    def remove(self) -> None:
        self.container.remove(force=True)


class KernelSocket:
    def __init__(self, url: str, headers: dict[str, str]):
        self.conn = websocket.create_connection(url, header=[f"{k}: {v}" for k, v in headers.items()], timeout=300)
        self.session = uuid.uuid4().hex

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.conn.close()

    def send(self, code: str) -> str:
        return self._request("execute_request", {"code": code, "silent": False, "store_history": True,
                                                 "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})

    def _request(self, msg_type: str, content: dict) -> str:
        msg_id = uuid.uuid4().hex
        self.conn.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": msg_type, "username": "test", "session": self.session,
                       "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [], "content": content}))
        return msg_id

    def _next(self, deadline: float, what: str) -> dict:
        try:
            return next_message(self.conn, deadline)
        except TimeoutError:
            raise TimeoutError(f"no {what} by the deadline") from None

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the kernel answers kernel_info on this websocket, as JupyterLab asks after a
        restart: a request sent before the server reconnected its channels is lost."""
        deadline = time.monotonic() + timeout
        while True:
            msg_id = self._request("kernel_info_request", {})
            answer_by = min(deadline, time.monotonic() + 3)
            try:
                while True:
                    message = self._next(answer_by, "kernel_info_reply")
                    if (message["msg_type"] == "kernel_info_reply"
                            and message.get("parent_header", {}).get("msg_id") == msg_id):
                        return
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"the kernel did not answer kernel_info within {timeout} s") from None

    def collect(self, msg_id: str, timeout: float = 300) -> dict:
        result = {"stdout": "", "error": None, "mime": [], "execution_count": None}
        deadline = time.monotonic() + timeout
        idle = replied = False
        while not (idle and replied):
            try:
                message = self._next(deadline, "reply")
            except TimeoutError:
                raise TimeoutError(f"no reply within {timeout} s: {result}") from None
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                result["stdout"] += content["text"]
            elif kind in ("display_data", "execute_result"):
                result["mime"] += list(content["data"])
            elif kind == "error":
                result["error"] = f"{content['ename']}: {content['evalue']}"
            elif kind == "execute_reply":
                result["execution_count"], replied = content.get("execution_count"), True
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        return result

    def run(self, code: str, timeout: float = 300) -> dict:
        return self.collect(self.send(code), timeout)


@pytest.fixture(scope="module")
def warm_nice(docker_client, notebook_image) -> int:
    """The warm kernel's nice value on this engine: 19 where containers can get ulimit nice=20 (as
    the hub gives them: gluonlab_hub.spawner.engine_sets_nice_ulimit), else 0 (nested or rootless
    Docker refuses the ulimit; a niced kernel could not be raised back there)."""
    return 19 if engine_sets_nice_ulimit(docker_client.api, notebook_image.id) else 0


@pytest.fixture(scope="module")
def labs(docker_client, notebook_image, warm_nice):
    suffix = uuid.uuid4().hex[:8]
    made = []
    try:
        made.append(Lab(docker_client, notebook_image, f"gltest-warm-{suffix}", warm=True, cpus=2,
                        nice_ulimit=warm_nice == 19))
        made.append(Lab(docker_client, notebook_image, f"gltest-cold-{suffix}", warm=False, cpus=1,
                        nice_ulimit=warm_nice == 19))
        yield made[0], made[1]
    finally:
        for lab in made:
            lab.remove()


@pytest.fixture(scope="module")
def fresh(labs):
    """A fresh kernel's first cell, then the same kernel after the warm imports."""
    _, cold = labs
    kernel_id = cold.new_session("a.ipynb")
    first = cold.probe(kernel_id)
    assert cold.run(kernel_id, WARM_IMPORTS)["error"] is None
    return first, cold.probe(kernel_id)


@pytest.fixture(scope="module")
def adopted(labs):
    warm, _ = labs
    warm.wait_warm()
    (warm_pid, nices), = warm.kernel_processes().items()
    kernel_id = warm.new_session("a.ipynb")
    return {"kernel_id": kernel_id, "warm_pid": warm_pid, "warm_nices": nices,
            "kernels_listed": [k["id"] for k in warm.get("/api/kernels").json()], "probe": warm.probe(kernel_id)}


def test_warm_kernel_waits_hidden_at_the_lowest_priority(labs, warm_nice):
    warm, _ = labs
    status = warm.wait_warm()
    assert status["enabled"] is True and status["adopted"] == 0, status
    assert warm.get("/api/kernels").json() == []  # not in the Lab's running-kernels list
    processes = warm.kernel_processes()
    assert len(processes) == 1, processes
    # Every thread (MXNet's and OpenMP's were made while warming) at nice 19.
    assert list(processes.values()) == [[warm_nice]], processes
    if warm_nice == 0:
        assert "RLIMIT_NICE does not allow raising a niced kernel back" in warm.log()


def test_a_new_notebook_adopts_the_warm_kernel_and_it_is_as_fresh(labs, adopted, fresh):
    warm, _ = labs
    probe = adopted["probe"]
    fresh_first, fresh_warmed = fresh
    assert probe["pid"] == adopted["warm_pid"]
    assert adopted["kernels_listed"] == [adopted["kernel_id"]]
    assert probe["cwd"] == fresh_first["cwd"] == f"/home/jovyan/{NOTEBOOK_DIR}"
    assert probe["execution_count"] == fresh_first["execution_count"] == 1
    assert probe["dir"] == fresh_first["dir"]
    # sys.path as after the same imports in a fresh kernel (importing them adds setuptools' _vendor).
    assert probe["path"] == fresh_warmed["path"]
    added = set(probe["modules"]) - set(fresh_first["modules"])
    assert {"mxnet", "numpy", "matplotlib.pyplot"} <= added
    assert added <= set(fresh_warmed["modules"]) - set(fresh_first["modules"]), sorted(added)
    assert set(probe["modules"]) == set(fresh_warmed["modules"]), sorted(set(fresh_warmed["modules"]) ^ set(probe["modules"]))
    differ = {name for name in set(probe["env"]) | set(fresh_first["env"])
              if probe["env"].get(name) != fresh_first["env"].get(name)}
    # Only what differs between the two containers on purpose.
    assert differ <= {"HOSTNAME", "GLUONLAB_WARM_KERNEL", "OMP_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS",
                      "JPY_PARENT_PID"}, {n: (probe["env"].get(n), fresh_first["env"].get(n)) for n in differ}
    assert probe["env"]["JPY_SESSION_NAME"] == f"/home/jovyan/{NOTEBOOK_DIR}/a.ipynb"
    # Threads bounded by the container's CPU limit (1 core for the cold one, 2 for this one).
    assert fresh_first["env"]["OMP_NUM_THREADS"] == fresh_first["env"]["MXNET_CPU_WORKER_NTHREADS"] == "1"
    assert probe["env"]["OMP_NUM_THREADS"] == "2"
    assert probe["nices"] == [0], probe["nices"]


def test_adopted_kernel_plots_inline_and_imports_the_tutorials_helper(labs, adopted):
    warm, _ = labs
    plot = warm.run(adopted["kernel_id"], "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\n"
                    "plt.show()")
    assert plot["error"] is None and "image/png" in plot["mime"], plot
    assert plot["execution_count"] == 2
    helper = warm.run(adopted["kernel_id"], "import os, sys\nsys.path.insert(0, os.path.expanduser('~/tutorials'))\n"
                      "import utils\nprint(utils.__file__)")
    assert helper["error"] is None and helper["stdout"].strip() == "/home/jovyan/tutorials/utils.py", helper


def test_the_pool_refills_and_a_second_notebook_gets_another_warm_kernel(labs, adopted, warm_nice):
    warm, _ = labs
    warm.wait_warm()
    processes = warm.kernel_processes()
    (new_warm_pid,) = set(processes) - {adopted["warm_pid"]}
    assert processes[new_warm_pid] == [warm_nice] and processes[adopted["warm_pid"]] == [0], processes
    second = warm.new_session("b.ipynb")
    probe = warm.probe(second)
    assert probe["pid"] == new_warm_pid and probe["cwd"] == f"/home/jovyan/{NOTEBOOK_DIR}"
    assert probe["env"]["JPY_SESSION_NAME"] == f"/home/jovyan/{NOTEBOOK_DIR}/b.ipynb"
    assert warm.warm_status()["adopted"] == 2


def test_interrupt_and_restart_of_an_adopted_kernel_give_a_fresh_one(labs, adopted, fresh):
    warm, _ = labs
    kernel_id = adopted["kernel_id"]
    with warm.connect(kernel_id) as kernel:
        sleeping = kernel.send("import time\ntime.sleep(120)")
        time.sleep(2)
        warm.post(f"/api/kernels/{kernel_id}/interrupt")
        interrupted = kernel.collect(sleeping, timeout=30)
        assert interrupted["error"] is not None and interrupted["error"].startswith("KeyboardInterrupt"), interrupted
        # Restart with the websocket connected, as the Lab's restart button does.
        warm.post(f"/api/kernels/{kernel_id}/restart")
    # Then open a new websocket, as JupyterLab's KernelConnection.restart() does (it reconnects):
    # the old connection's iopub subscription can miss the restarted kernel's messages for good
    # (jupyter_client#593; CI saw an execute_reply with no output and no idle for 300 s), and the
    # server nudges a new connection until its iopub is live.
    with warm.connect(kernel_id) as kernel:
        kernel.wait_ready()
        after = kernel.run(PROBE)
    assert after["error"] is None, after
    probe = json.loads(after["stdout"])
    assert probe["pid"] != adopted["warm_pid"]
    assert probe["cwd"] == f"/home/jovyan/{NOTEBOOK_DIR}"
    assert "mxnet" not in probe["modules"] and set(probe["modules"]) == set(fresh[0]["modules"])
    assert probe["nices"] == [0] and after["execution_count"] == 1
    assert probe["env"]["JPY_SESSION_NAME"] == f"/home/jovyan/{NOTEBOOK_DIR}/a.ipynb"
    log = warm.log()
    assert "Traceback" not in log and "KeyError" not in log, log[-4000:]


def test_warm_kernel_off_gives_plain_kernels(labs, fresh):
    _, cold = labs
    assert cold.warm_status() == {"enabled": False, "ready": False, "warming": False, "adopted": 0}
    assert cold.kernel_processes() and all(nices == [0] for nices in cold.kernel_processes().values())
    assert "mxnet" not in fresh[0]["modules"]
    assert "Traceback" not in cold.log(), cold.log()[-4000:]


def test_a_notebook_opened_while_the_first_kernel_warms_adopts_it(docker_client, notebook_image, warm_nice):
    """Cold start: the server and its warm kernel start together and the attendee's first notebook
    arrives while the kernel still imports. It must get that kernel, not a second one beside it
    (which would pay for every import twice while the whole room starts). A quarter of a CPU keeps
    the warm-up slow enough (several seconds) for the notebook to arrive during it; the test checks
    that it did."""
    lab = Lab(docker_client, notebook_image, f"gltest-warming-{uuid.uuid4().hex[:8]}", warm=True, cpus=0.25,
              nice_ulimit=warm_nice == 19)
    try:
        warming = wait_until(lambda: len(lab.kernel_processes()) == 1 and lab.warm_status()["warming"]
                             and lab.kernel_processes(), 60, interval=0.2, what="the first kernel warming")
        (warming_pid,) = warming
        assert not lab.warm_status()["ready"], "the warm-up finished before the notebook came: nothing tested"
        kernel_id = lab.new_session("a.ipynb")
        status = lab.warm_status()
        assert status["adopted"] == 1, status
        probe = lab.probe(kernel_id)
        assert probe["pid"] == warming_pid, (probe["pid"], warming_pid)
        assert "mxnet" in probe["modules"] and probe["cwd"] == f"/home/jovyan/{NOTEBOOK_DIR}"
        assert probe["execution_count"] == 1
        assert "Traceback" not in lab.log(), lab.log()[-4000:]
    finally:
        lab.remove()


def test_an_adopted_kernel_warns_of_a_home_that_filled_after_its_warm_up(docker_client, notebook_image, warm_nice):
    """The full-home warning (home-space-warning.py, every kernel's PYTHONSTARTUP) measures the home
    at the attendee's first cell, not at the kernel's start: a warm kernel starts with the server,
    and the home may fill before the attendee opens a notebook."""
    lab = Lab(docker_client, notebook_image, f"gltest-warmfull-{uuid.uuid4().hex[:8]}", warm=True, cpus=1,
              nice_ulimit=warm_nice == 19)
    try:
        lab.wait_warm()
        filled = lab.container.exec_run(["fallocate", "-l", "480M", "/home/jovyan/fill"], user="1000")
        assert filled.exit_code == 0, filled.output
        kernel_id = lab.new_session("a.ipynb")
        assert lab.warm_status()["adopted"] == 1
        first = lab.run(kernel_id, "print('first cell')")
        assert first["error"] is None and "first cell" in first["stdout"], first
        assert "主目录已用" in first["stdout"] and "Warning: your home folder is" in first["stdout"], first
        second = lab.run(kernel_id, "print('second cell')")
        assert "Warning: your home folder is" not in second["stdout"], second  # once, not at every cell
    finally:
        lab.remove()
