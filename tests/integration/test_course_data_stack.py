"""Shared course data on the real stack: one volume holding the data sets, mounted read-only
into every user server (GLUONLAB_COURSE_DATA_VOLUME), in a room without internet
(GLUONLAB_USER_INTERNET=0). Two servers see the same files and cannot change them, a
notebook-like snippet trains from them without any download, and `gluonlab-course-data`
(in the hub container) refuses files whose checksums are wrong and keeps what is there.

The data sets cannot be downloaded here, and generated stand-ins (tests/content/fakedata.py)
cannot have the real files' SHA-1s: so the fixture writes the stand-ins into the volume itself
(as root, like the fill), and the fill command is run for what it must refuse.
"""
from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

import docker
import pytest
from docker.types import Mount

from labclient import REPO_ROOT, HubClient, LabStack, execute

sys.path.insert(0, str(REPO_ROOT / "tests" / "content"))
import fakedata  # noqa: E402

pytestmark = [pytest.mark.docker, pytest.mark.integration]

MOUNT = "/opt/gluonlab/course-data"
IMAGE = "gluonlab/notebook:cpu"

LIST_AND_TRY_WRITES = """
import errno, hashlib, json, os
root = %r
files = {}
for here, _, names in os.walk(root):
    for name in names:
        path = os.path.join(here, name)
        with open(path, 'rb') as f:
            files[os.path.relpath(path, root)] = hashlib.sha1(f.read()).hexdigest()
target = os.path.join(root, 'timemachine', 'timemachine.txt')
attempts = {}
def attempt(what, action):
    try:
        action()
        attempts[what] = 'allowed'
    except OSError as e:
        attempts[what] = errno.errorcode.get(e.errno, str(e.errno))
attempt('create', lambda: open(os.path.join(root, 'timemachine', 'notes.txt'), 'w').close())
attempt('delete', lambda: os.remove(target))
attempt('rename', lambda: os.rename(target, target + '.bak'))
attempt('mkdir', lambda: os.mkdir(os.path.join(root, 'mine')))
attempt('chmod', lambda: os.chmod(target, 0o666))
print(json.dumps({'files': files, 'attempts': attempts}))
""" % MOUNT

TRAIN_FROM_COURSE_DATA = """
import json, os, socket, sys
sys.path.insert(0, '/opt/gluonlab/content')
# Any download would fail: TEST-NET-1 mirror, and the room has no internet anyway.
os.environ['MXNET_GLUON_REPO'] = 'http://192.0.2.1/'
try:
    socket.create_connection(('1.1.1.1', 443), timeout=3).close()
    internet = 'reachable'
except OSError as e:
    internet = type(e).__name__
import numpy as np
import mxnet as mx
import pandas as pd
from mxnet import autograd, gluon, nd
import datasets
found = [datasets.find_file(name, f) for name, spec in sorted(datasets.DATASETS.items()) for f in sorted(spec.files)]
X, y = datasets.load_fashion_mnist(train=True)
Xt, yt = datasets.load_fashion_mnist(train=False)
mx.random.seed(0)
np.random.seed(0)
loader = gluon.data.DataLoader(gluon.data.ArrayDataset(X.reshape(len(X), -1).astype('float32') / 255,
                                                       y.astype('float32')), 100, shuffle=True)
net = gluon.nn.Dense(10)
net.initialize(mx.init.Normal(0.01))
trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.5})
loss = gluon.loss.SoftmaxCrossEntropyLoss()
for epoch in range(5):
    for xb, yb in loader:
        with autograd.record():
            l = loss(net(xb), yb)
        l.backward()
        trainer.step(xb.shape[0])
pred = net(nd.array(Xt.reshape(len(Xt), -1).astype('float32') / 255)).argmax(axis=1).asnumpy()
train_csv, test_csv = datasets.house_csv_paths()
print(json.dumps({
    'internet': internet, 'found': found,
    'accuracy': float((pred == yt).mean()), 'majority': float(np.bincount(yt).max() / len(yt)),
    'house': list(pd.read_csv(train_csv).shape), 'text_chars': len(open(datasets.time_machine_path()).read()),
    'cache_made': os.path.exists(datasets.data_root()),
}))
"""


def fake_data(root: Path) -> dict[str, str]:
    """Generated stand-ins of every data set under root; returns {relative path: sha1}."""
    fakedata.write_fashion_mnist(str(root), n_train=2000, n_test=500)
    fakedata.write_house(str(root), n_train=200, n_test=100)
    fakedata.write_time_machine(str(root))
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def root_owned_tar(root: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(root.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=path.relative_to(root).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o755 if path.is_dir() else 0o644
            if path.is_file():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return buffer.getvalue()


def user_container(lab: LabStack, username: str):
    found = [c for c in lab.user_containers() if c.labels.get("gluonlab.user") == username]
    assert len(found) == 1, f"expected one container for {username}"
    return found[0]


def run_json(lab: LabStack, username: str, token: str, code: str) -> dict:
    result = execute(lab.url, username, token, code, timeout=300)
    assert result["error"] is None, result
    return json.loads(result["stdout"].strip().splitlines()[-1])


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    client = docker.from_env()
    lab = LabStack()
    volume = f"{lab.instance}-course-data"
    lab.extra_env.update(GLUONLAB_COURSE_DATA_VOLUME=volume, GLUONLAB_USER_INTERNET="0", GLUONLAB_MEM_LIMIT="1G")
    data = tmp_path_factory.mktemp("course-data")
    expected = fake_data(data)
    client.volumes.create(volume)
    # Written as the fill writes: root-owned files in the volume, through a container of the image.
    filler = client.containers.create(IMAGE, ["true"], network_mode="none",
                                      mounts=[Mount(MOUNT, volume, type="volume")])
    try:
        assert filler.put_archive(MOUNT, root_owned_tar(data))
    finally:
        filler.remove(force=True)
    try:
        with lab.running(log_name="course-data-hub.log"):
            hub = HubClient(lab.url)
            assert hub.login("admin", lab.admin_password).status_code == 302
            hub.create_token("admin")
            for name in ("alice", "bob"):
                assert hub.api("POST", f"/users/{name}").status_code == 201
                hub.start_server(name)
            yield lab, hub, volume, expected, data
    finally:
        client.volumes.get(volume).remove(force=True)


def test_two_servers_see_the_same_files_and_cannot_change_them(room):
    lab, hub, volume, expected, _ = room
    for name in ("alice", "bob"):
        mounts = {m["Destination"]: m for m in user_container(lab, name).attrs["Mounts"]}
        assert (mounts[MOUNT]["Type"], mounts[MOUNT]["Name"], mounts[MOUNT]["RW"]) == ("volume", volume, False)
        seen = run_json(lab, name, hub.token, LIST_AND_TRY_WRITES)
        assert seen["files"] == expected
        assert seen["attempts"] == dict.fromkeys(("create", "delete", "rename", "mkdir", "chmod"), "EROFS")
    # Not even root in the container can write: the mount itself is read-only.
    denied = user_container(lab, "bob").exec_run(["touch", f"{MOUNT}/timemachine/x"], user="0")
    assert denied.exit_code != 0 and b"Read-only file system" in denied.output


def test_a_notebook_trains_from_the_course_data_without_network(room):
    lab, hub, _, _, _ = room
    got = run_json(lab, "alice", hub.token, TRAIN_FROM_COURSE_DATA)
    assert got["internet"] != "reachable"
    assert all(path.startswith(MOUNT + "/") for path in got["found"]), got["found"]
    # Softmax regression must beat always answering the most common class by a wide margin.
    assert got["accuracy"] > got["majority"] + 0.3, got
    assert got["house"] == [200, 81] and got["text_chars"] > 10000
    assert got["cache_made"] is False  # nothing was downloaded into the user's home


def test_fill_refuses_wrong_checksums_and_keeps_what_is_there(room):
    lab, hub, _, expected, data = room
    fill = lab.compose("exec", "-T", "hub", "gluonlab-course-data", "fill", "--from", str(data), check=False,
                       timeout=600)
    output = fill.stdout + fill.stderr
    assert fill.returncode == 1, output
    assert output.count("refused (wrong checksum, expected sha1") == 7
    assert "error: fashion-mnist/train-images-idx3-ubyte.gz: refused (wrong checksum, expected sha1 " \
           "0cf37b0d40ed5169c6b3aba31069a9770ac9043d)" in output
    assert "7 file(s) not filled; what is there is verified and kept." in output
    assert run_json(lab, "bob", hub.token, LIST_AND_TRY_WRITES)["files"] == expected
    check = lab.compose("exec", "-T", "hub", "gluonlab-course-data", "check", check=False, timeout=300)
    assert check.returncode == 1
    assert f"BAD: timemachine/timemachine.txt (sha1 {expected['timemachine/timemachine.txt']}, expected " \
           "090b5e7e70c295757f55df93cb0a180b9691891a)" in check.stdout
    missing = lab.compose("exec", "-T", "hub", "gluonlab-course-data", "fill", "--from", "/no/such/folder",
                          check=False, timeout=120)
    assert missing.returncode == 2 and "/no/such/folder" in missing.stderr
