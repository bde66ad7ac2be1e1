"""Checks that run inside the built notebook image (docker-stacks style): the user, PID 1,
MXNet math and a Gluon training step, the JupyterLab extensions and settings."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]


def run(client, image, command: str, **kwargs) -> str:
    output = client.containers.run(image.id, ["bash", "-c", command], remove=True, **kwargs)
    return output.decode()


def test_runs_as_unprivileged_lab_user(docker_client, notebook_image):
    assert run(docker_client, notebook_image, "id -u; id -un; echo $HOME").split() == ["1000", "jovyan", "/home/jovyan"]
    assert notebook_image.attrs["Config"]["User"] in ("1000", "jovyan")


def test_tini_is_pid_one_and_healthcheck_is_defined(notebook_image):
    config = notebook_image.attrs["Config"]
    assert config["Entrypoint"][0] == "tini"
    assert config["Healthcheck"]["Test"][-1] == "/usr/local/bin/healthcheck.py"


def test_mxnet_numpy_versions_and_math(docker_client, notebook_image):
    out = run(docker_client, notebook_image,
              "python3 -c 'import mxnet as mx, numpy as np; "
              "a = mx.nd.array([[1, 2], [3, 4]]); "
              "print(mx.__version__, np.__version__, mx.nd.dot(a, a).asnumpy().tolist(), mx.context.num_gpus())'")
    assert out.split(maxsplit=2)[:2] == ["1.9.1", "1.23.5"]
    assert "[[7.0, 10.0], [15.0, 22.0]] 0" in out


def test_gluon_training_step_lowers_the_loss(docker_client, notebook_image):
    code = """
import mxnet as mx
from mxnet import autograd, gluon, nd
mx.random.seed(1)
X = nd.random.normal(shape=(200, 4)); y = (X.sum(axis=1) > 0)
net = gluon.nn.Sequential(); net.add(gluon.nn.Dense(8, activation='relu'), gluon.nn.Dense(2)); net.initialize()
loss = gluon.loss.SoftmaxCrossEntropyLoss(); trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.5})
first = loss(net(X), y).mean().asscalar()
for _ in range(30):
    with autograd.record():
        l = loss(net(X), y)
    l.backward(); trainer.step(200)
print(first, loss(net(X), y).mean().asscalar())
"""
    first, last = map(float, run(docker_client, notebook_image, f"python3 -c \"{code}\"").split())
    assert last < first * 0.5


def test_jupyterlab_extensions_installed(docker_client, notebook_image):
    out = run(docker_client, notebook_image, "jupyter labextension list 2>&1; pip list --format=json 2>/dev/null")
    for extension in ("jupyterlab-execute-time", "jupyterlab-jupytext", "@jupyter-server/resource-usage"):
        assert f"{extension} v" in out and "enabled" in out, extension
    packages = {p["name"].lower(): p["version"] for p in json.loads(out[out.index("[{"):])}
    assert packages["jupyterlab-language-pack-zh-cn"].startswith("4.")
    assert packages["jupyterhub"].split(".")[0] == "5"
    assert packages["jupyterlab"].split(".")[0] == "4"
    assert "notedown" in packages and "jupytext" in packages


def test_server_start_does_not_build_a_grammar_at_import(docker_client, notebook_image):
    # Every attendee's server start imports this chain; rfc3987-syntax (jsonschema 4.25+) builds
    # a Lark grammar at import, ~half of a start's CPU (bench/README.md). The jsonschema pin in
    # images/notebook/jupyter.in keeps it out; this fails if a lock update brings it back.
    out = run(docker_client, notebook_image,
              "python3 -c 'import sys, jupyterhub.singleuser.app, jupyterlab.labapp, jupytext; "
              "print(sorted(m for m in (\"lark\", \"rfc3987_syntax\") if m in sys.modules))'")
    assert out.strip() == "[]"


def test_lab_defaults_chinese_ui_and_cell_timing(docker_client, notebook_image):
    overrides = json.loads(run(docker_client, notebook_image, "cat /opt/venv/share/jupyter/lab/settings/overrides.json"))
    assert overrides["@jupyterlab/translation-extension:plugin"]["locale"] == "zh_CN"
    assert overrides["@jupyterlab/notebook-extension:tracker"]["recordTiming"] is True


def test_markdown_tutorial_opens_as_notebook_with_jupytext(docker_client, notebook_image):
    out = run(docker_client, notebook_image,
              "cd /tmp && printf '# 标题\\n\\n```python\\nprint(1 + 1)\\n```\\n' > t.md && "
              "python3 -c \"import jupytext; nb = jupytext.read('t.md'); print([c.cell_type for c in nb.cells])\"")
    assert out.strip() == "['markdown', 'code']"


def test_server_starts_every_extension_without_errors(docker_client, notebook_image):
    # A server extension that fails to load is only a warning in the log; the lab then silently
    # lacks it (here: jupytext's contents manager, which opens the .md tutorials as notebooks).
    log = run(docker_client, notebook_image,
              "export HOME=$(mktemp -d); start-notebook.sh > /tmp/server.log 2>&1 & "
              "for _ in $(seq 60); do grep -q 'garbage collector on' /tmp/server.log && break; sleep 0.5; done; "
              "kill %1; cat /tmp/server.log")
    assert "is running at" in log, log[-2000:]
    # start-jupyter-server.py: collector off during the start, on once the event loop runs
    # (not by its 120 s fallback timer), after the server announced itself.
    switched = "garbage collector on (the server's event loop runs)"
    assert switched in log and log.index("is running at") < log.index(switched), log[-2000:]
    # Standalone JupyterLab never imports JupyterHub's scopes: nothing was deferred, nothing used.
    assert "start-jupyter-server: deferred modules not loaded: none" in log, log[-2000:]
    assert "loaded on first use" not in log, log[-2000:]
    for extension in ("jupyterlab", "jupyterlab_jupytext", "jupyter_server_terminals", "jupyter_resource_usage"):
        assert f"{extension} | extension was successfully loaded" in log, extension
    assert "failed loading" not in log and "Traceback" not in log, log[-3000:]


HUB_MODULES_CHECK = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("launcher", "/usr/local/bin/start-jupyter-server.py")
launcher = importlib.util.module_from_spec(spec)
spec.loader.exec_module(launcher)
sys.meta_path.insert(0, launcher.DeferredImports())
import jupyterhub.singleuser
report = {"deferred": launcher.not_loaded(),
          "loaded": sorted(m for m in ("sqlalchemy", "alembic", "jupyterhub.handlers") if m in sys.modules)}
import jupyterhub.log, jupyterhub.orm, jupyterhub.roles
report["orm_table"] = jupyterhub.orm.User.__tablename__  # first use: the module runs now
report["default_roles"] = [role["name"] for role in jupyterhub.roles.get_default_roles()]
report["deferred_after_use"] = launcher.not_loaded()
import jupyterhub.handlers.pages as pages
report["health_check"] = [jupyterhub.log._is_health_check(object.__new__(pages.HealthCheckHandler)),
                          jupyterhub.log._is_health_check(object.__new__(pages.HomeHandler))]
print(json.dumps(report))
"""


def test_single_user_server_imports_leave_the_hubs_database_out(docker_client, notebook_image):
    # images/notebook/patches/ + start-jupyter-server.py's deferred modules: importing
    # jupyterhub-singleuser loads neither SQLAlchemy, Alembic nor the Hub's handlers, and the
    # Hub's ORM and roles stay lazy until something uses them, which then works as usual.
    out = run(docker_client, notebook_image, f"python3 - 2>&1 <<'EOF'\n{HUB_MODULES_CHECK}\nEOF")
    lines = out.strip().splitlines()
    report = json.loads(lines[-1])
    assert report["deferred"] == ["jupyterhub.orm", "jupyterhub.roles"], out
    assert report["loaded"] == [], out
    assert report["orm_table"] == "users" and "admin" in report["default_roles"], out
    assert report["deferred_after_use"] == [], out
    assert "start-jupyter-server: deferred module jupyterhub.orm loaded on first use" in lines, out
    # The patched log_request still recognises the Hub's health check once the Hub loaded it.
    assert report["health_check"] == [True, False], out


CONTROL_LOCK_CHECK = """
import json
import zmq
from ipykernel.kernelbase import Kernel
from zmq.eventloop.zmqstream import ZMQStream

seen = []


class WaitingMessageStream(ZMQStream):
    # A control stream whose message was already waiting: handled the moment a handler is set.
    def on_recv(self, callback, copy=True):
        try:
            seen.append(type(kernel._control_lock).__name__)
        except Exception as error:  # what dispatch_control would meet
            seen.append(f"{type(error).__name__}: {error}")


kernel = Kernel(control_stream=WaitingMessageStream(zmq.Context.instance().socket(zmq.ROUTER)))
kernel.start()
print(json.dumps(seen))
"""


def test_kernel_has_its_control_lock_before_it_listens_on_control(docker_client, notebook_image):
    # images/notebook/patches/ipykernel-control-lock-before-listening.patch: unpatched, this
    # prints a TraitError (the lock is still None when the handler is set).
    out = run(docker_client, notebook_image, f"python3 - 2>&1 <<'EOF'\n{CONTROL_LOCK_CHECK}\nEOF")
    assert json.loads(out.strip().splitlines()[-1]) == ["Lock"], out


OP_CACHE_USE = r"""
import json, sys, traceback
import mxnet as mx
finder = [f for f in sys.meta_path if type(f).__name__ == "OpCacheFinder"]
cache = finder[0].cache if finder else None
try:
    mx.nd.dot(mx.nd.ones((2, 3)), mx.nd.ones((2, 3))).wait_to_read()
except mx.MXNetError:
    frames = [(frame.name, frame.filename) for frame in traceback.extract_tb(sys.exc_info()[2])]
print(json.dumps({"hits": cache and cache.hits, "misses": cache and cache.misses, "left": cache and len(cache.codes),
                  "dot": mx.nd.dot(mx.nd.ones((2, 3)), mx.nd.ones((3, 2))).asnumpy().tolist(), "frames": frames}))
"""


def test_mxnet_operator_functions_come_from_the_images_cache(docker_client, notebook_image):
    # images/notebook/rootfs/mxnet_op_cache.py: the build compiled them; a kernel's Python only
    # looks them up. With the cache off, the same import compiles all, and errors read the same.
    used = json.loads(run(docker_client, notebook_image, f"python3 - <<'EOF'\n{OP_CACHE_USE}\nEOF").strip().splitlines()[-1])
    plain = json.loads(run(docker_client, notebook_image, f"python3 - <<'EOF'\n{OP_CACHE_USE}\nEOF",
                           environment={"GLUONLAB_MXNET_OP_CACHE": "off"}).strip().splitlines()[-1])
    assert used["hits"] > 2000 and used["misses"] == 0 and used["left"] == 0, used
    assert plain["hits"] is None
    assert used["dot"] == plain["dot"] == [[3.0, 3.0], [3.0, 3.0]]
    assert used["frames"] == plain["frames"] and ["dot", "<string>"] in used["frames"], used["frames"]


def test_server_launcher_names_its_modes_on_bad_usage(docker_client, notebook_image):
    out = run(docker_client, notebook_image, "start-jupyter-server.py notebook 2>&1; echo rc=$?")
    assert "usage: " in out and "{singleuser|lab}" in out and out.strip().endswith("rc=2"), out


def test_image_ships_tutorials_helper_scripts_and_content_version(docker_client, notebook_image):
    out = run(docker_client, notebook_image,
              "ls /opt/gluonlab/content; cat /opt/gluonlab/content/VERSION; test -x /opt/gluonlab/scripts/doctor.sh && echo doctor-ok; "
              "/opt/gluonlab/build/content-version.sh /opt/gluonlab/content; ls /opt/gluonlab/scripts")
    assert "utils.py" in out and "datasets.py" in out
    assert "doctor-ok" in out
    lines = out.split()
    # VERSION is the hash of the shipped tree (content-version.sh, as at build time).
    assert lines[lines.index("doctor-ok") - 1] == lines[lines.index("doctor-ok") + 1]
    # From scripts/ only what attendees run: the doctor and its library (no host tools).
    assert lines[-2:] == ["doctor.sh", "lib"]


def test_start_script_seeds_tutorials_into_an_empty_home(docker_client, notebook_image, tmp_path):
    out = run(docker_client, notebook_image,
              "export HOME=$(mktemp -d); timeout 60 start-notebook.sh --version >/dev/null 2>&1 || true; ls $HOME/tutorials")
    assert "utils.py" in out


def test_terminal_banner_names_the_gpu_and_the_self_check(docker_client, notebook_image):
    out = run(docker_client, notebook_image, "bash -i -c true 2>/dev/null",
              environment={"GLUONLAB_GPU_DESCRIPTION": "GPU 1: NVIDIA H100 80GB HBM3 (79 GiB)"})
    assert "GPU: GPU 1: NVIDIA H100 80GB HBM3 (79 GiB)" in out
    assert "bash /opt/gluonlab/scripts/doctor.sh" in out


def test_content_update_keeps_a_users_edited_tutorial(docker_client, notebook_image, tmp_path):
    """First start seeds ~/tutorials on a persistent volume; the user edits a notebook; a newer
    image (here: a changed content folder mounted in its place) updates the rest, keeps the
    user's edit, saves the new version beside it and writes a report."""
    import shutil

    volume = docker_client.volumes.create(f"gltest-home-{tmp_path.name[-20:].lower()}")
    home = {volume.name: {"bind": "/home/jovyan", "mode": "rw"}}
    try:
        run(docker_client, notebook_image, "timeout 60 start-notebook.sh --version >/dev/null 2>&1", volumes=home)
        run(docker_client, notebook_image, "echo 'my own notes' >> ~/tutorials/README.ipynb", volumes=home)

        newer = tmp_path / "content"
        shutil.copytree(REPO / "content", newer)
        (newer / "README.ipynb").write_text('{"cells": [], "note": "新增一节"}\n')  # the image ships notebooks
        (newer / "utils.py").write_text((newer / "utils.py").read_text() + "\n# updated helper\n")
        (newer / "new_section.md").write_text("# 新的一节\n")
        (newer / "VERSION").write_text("newer0000001\n")
        out = run(docker_client, notebook_image,
                  "timeout 60 start-notebook.sh --version >/dev/null 2>&1; cd ~/tutorials; "
                  "tail -n 1 README.ipynb; ls; tail -n 1 utils.py",
                  volumes={**home, str(newer): {"bind": "/opt/gluonlab/newer", "mode": "ro"}},
                  environment={"GLUONLAB_CONTENT_DIR": "/opt/gluonlab/newer"})
        lines = out.split()
        assert out.splitlines()[0] == "my own notes"          # the user's edit is kept
        assert "README.new-newer0000001.ipynb" in lines           # the new version beside it
        assert "CONTENT-UPDATE-newer0000001.md" in lines       # and a report
        assert "new_section.md" in lines                       # new files arrive
        assert out.splitlines()[-1] == "# updated helper"      # unchanged files update
    finally:
        volume.remove(force=True)


def test_every_tutorial_ships_once_as_a_notebook(docker_client, notebook_image):
    """One document per tutorial (README "First screen"): each .md of the repository is shipped
    as notedown's conversion to .ipynb, the .md itself is not, links between tutorials point at
    notebooks, and every notebook names the image's kernel."""
    script = r"""
import glob, json, os, nbformat
content = '/opt/gluonlab/content'
report = {'md': sorted(os.path.relpath(p, content) for p in glob.glob(content + '/**/*.md', recursive=True)),
          'kernel': json.load(open('/opt/venv/share/jupyter/kernels/python3/kernel.json'))['display_name'],
          'notebooks': {}}
for path in sorted(glob.glob(content + '/chapter*/*.ipynb')) + [content + '/README.ipynb']:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    text = '\n'.join(c.source for c in nb.cells if c.cell_type == 'markdown')
    report['notebooks'][os.path.relpath(path, content)] = {
        'code': sum(c.cell_type == 'code' for c in nb.cells), 'kernel': nb.metadata['kernelspec'],
        'md_links': text.count('.md)'), 'ipynb_links': text.count('.ipynb)'),
        'stable_ids': [c.id for c in nb.cells] == ['cell-%d' % i for i in range(len(nb.cells))]}
print(json.dumps(report))
"""
    report = json.loads(docker_client.containers.run(notebook_image.id, ["python3", "-c", script], remove=True))
    assert report["md"] == []
    assert report["kernel"] == "MXNet 1.9.1 · CPU (Python 3.11)"
    sections = sorted((REPO / "content").glob("chapter*/*.md"))
    notebooks = report["notebooks"]
    assert len(notebooks) == len(sections) + 1 >= 21
    for md in sections:
        fences = len(re.findall(r"^```python\s*$", md.read_text(encoding="utf-8"), re.M))
        got = notebooks[md.relative_to(REPO / "content").with_suffix(".ipynb").as_posix()]
        assert got["code"] == fences > 0, md
        assert got["kernel"] == {"name": "python3", "display_name": report["kernel"], "language": "python"}, md
        # Previous / Contents / Next: the navigation now leads to notebooks.
        assert got["md_links"] == 0 and got["ipynb_links"] >= 2, (md, got)
        # Same tutorial, same bytes: the content version changes only when the content does.
        assert got["stable_ids"], md
    assert notebooks["README.ipynb"]["ipynb_links"] >= len(sections) - 1


def test_home_lists_notebooks_only_and_the_lab_opens_the_table_of_contents(docker_client, notebook_image):
    out = run(docker_client, notebook_image,
              "export HOME=$(mktemp -d); start-notebook.sh > /tmp/server.log 2>&1 & "
              "for _ in $(seq 60); do grep -q 'is running at' /tmp/server.log && break; sleep 0.5; done; "
              "cd $HOME/tutorials; find . -name '*.md' | sort; ls README.ipynb ask-for-help.ipynb; "
              "/opt/venv/bin/python -c \"import http.client as h; c = h.HTTPConnection('127.0.0.1', 8888); "
              "c.request('GET', '/'); r = c.getresponse(); print(r.status, r.getheader('Location'))\"; kill %1")
    lines = out.split("\n")
    assert lines[:2] == ["README.ipynb", "ask-for-help.ipynb"], out       # no .md tutorial in the home
    assert "302 /lab/tree/tutorials/README.ipynb" in out, out              # the first screen is the ToC
    help_nb = json.loads(run(docker_client, notebook_image, "cat /opt/gluonlab/content/ask-for-help.ipynb"))
    assert "gluonlab-help" in help_nb["cells"][1]["source"]


def test_lab_menu_opens_the_table_of_contents_and_the_help_notebook(docker_client, notebook_image):
    overrides = json.loads(run(docker_client, notebook_image, "cat /opt/venv/share/jupyter/lab/settings/overrides.json"))
    (menu,) = overrides["@jupyterlab/mainmenu-extension:plugin"]["menus"]
    paths = [item["args"]["path"] for item in menu["items"] if item.get("command") == "docmanager:open"]
    assert paths == ["tutorials/README.ipynb", "tutorials/ask-for-help.ipynb"]
    shipped = run(docker_client, notebook_image, "cd /opt/gluonlab/content && ls README.ipynb ask-for-help.ipynb").split()
    assert shipped == ["README.ipynb", "ask-for-help.ipynb"]
