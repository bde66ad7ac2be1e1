"""content/datasets.py: data roots, mirror URLs, IDX parsing and the real download path.

Downloads go to a real HTTP server on 127.0.0.1 (http.server in a thread) that plays the
mirror named by MXNET_GLUON_REPO and serves generated files, so urllib, the temporary file,
the sha1 check and the final rename all run for real. No Docker, no internet.
"""
import functools
import gzip
import hashlib
import http.server
import importlib
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
CONTENT = REPO / 'content'
for p in (CONTENT, REPO / 'tests' / 'content'):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import datasets  # noqa: E402
import fakedata  # noqa: E402

ENV_VARS = ('GLUONLAB_DATA_DIR', 'MXNET_HOME', 'MXNET_GLUON_REPO', 'GLUONLAB_PRECACHE_DIR',
            'http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY')


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    # Never read the image's pre-cache (it may exist on a dev box): point it at an empty dir.
    monkeypatch.setenv('GLUONLAB_PRECACHE_DIR', str(tmp_path / 'no-precache'))
    importlib.reload(datasets)


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP 'mirror' with MXNet's layout; yields (base URL, served dir, request log)."""
    root = tmp_path / 'mirror'
    root.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, fmt, *args):  # keep pytest output clean
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                             functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield 'http://127.0.0.1:%d/' % server.server_address[1], root, requests
    finally:
        server.shutdown()
        server.server_close()


def serve(root, dataset, filename, data):
    path = root / 'gluon' / 'dataset' / dataset / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha1(data).hexdigest()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# ---- data root and URLs -------------------------------------------------------------------


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    assert datasets.data_root() == str(tmp_path / 'home' / '.mxnet' / 'datasets')
    monkeypatch.setenv('MXNET_HOME', str(tmp_path / 'mx'))
    assert datasets.data_root() == str(tmp_path / 'mx' / 'datasets')
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path / 'ours'))
    assert datasets.data_root() == str(tmp_path / 'ours')


def test_default_urls_are_the_real_sources():
    assert datasets.mirror_url('fashion-mnist', 'train-images-idx3-ubyte.gz') == (
        'https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/'
        'gluon/dataset/fashion-mnist/train-images-idx3-ubyte.gz')
    assert datasets.mirror_url('kaggle-house', 'kaggle_house_pred_train.csv') == (
        'http://d2l-data.s3-accelerate.amazonaws.com/kaggle_house_pred_train.csv')


@pytest.mark.parametrize('repo', ['https://mirror.example.cn/mxnet', 'https://mirror.example.cn/mxnet/'])
def test_mirror_url_from_mxnet_gluon_repo(monkeypatch, repo):
    monkeypatch.setenv('MXNET_GLUON_REPO', repo)
    assert datasets.mirror_url('fashion-mnist', 't10k-labels-idx1-ubyte.gz') == (
        'https://mirror.example.cn/mxnet/gluon/dataset/fashion-mnist/t10k-labels-idx1-ubyte.gz')
    assert datasets.mirror_url('timemachine', 'timemachine.txt') == (
        'https://mirror.example.cn/mxnet/gluon/dataset/timemachine/timemachine.txt')


def test_unknown_dataset_or_file_is_a_clear_error():
    with pytest.raises(datasets.DatasetError, match='unknown dataset .*known: fashion-mnist'):
        datasets.get_file('mnist', 'x.gz')
    with pytest.raises(datasets.DatasetError, match="has no file 'x.gz'; its files:"):
        datasets.get_file('fashion-mnist', 'x.gz')


# ---- IDX ----------------------------------------------------------------------------------


def test_idx_round_trip_of_generated_files(tmp_path):
    images, labels = fakedata.fashion_mnist_arrays(50, seed=0)
    fakedata.write_idx(str(tmp_path / 'i.gz'), images)
    fakedata.write_idx(str(tmp_path / 'l'), labels)  # uncompressed works too
    got_images = datasets.read_idx(str(tmp_path / 'i.gz'))
    got_labels = datasets.read_idx(str(tmp_path / 'l'))
    assert got_images.shape == (50, 28, 28) and got_images.dtype == np.uint8
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_idx_header_is_big_endian_like_the_real_files(tmp_path):
    fakedata.write_idx(str(tmp_path / 'x.gz'), np.zeros((3, 28, 28), np.uint8))
    raw = gzip.open(str(tmp_path / 'x.gz')).read()
    # magic 0x00000803 (unsigned byte, 3 dims), then 3, 28, 28 as big-endian int32
    assert raw[:16] == bytes([0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 28, 0, 0, 0, 28])


def test_idx_errors_say_what_is_wrong(tmp_path):
    bad = tmp_path / 'bad.gz'
    with gzip.open(str(bad), 'wb') as f:
        f.write(b'<html>not found</html>')
    with pytest.raises(datasets.DatasetError, match='not an IDX file.*delete it'):
        datasets.read_idx(str(bad))
    short = tmp_path / 'short.gz'
    with gzip.open(str(short), 'wb') as f:
        f.write(bytes([0, 0, 8, 1, 0, 0, 0, 10]) + b'\x01\x02')
    with pytest.raises(datasets.DatasetError, match='truncated or damaged'):
        datasets.read_idx(str(short))
    not_gzip = tmp_path / 'plain.gz'
    not_gzip.write_bytes(b'plain')
    with pytest.raises(datasets.DatasetError, match='cannot read'):
        datasets.read_idx(str(not_gzip))


def test_load_fashion_mnist_from_generated_files(monkeypatch, tmp_path):
    fakedata.write_fashion_mnist(str(tmp_path), n_train=120, n_test=30)
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path))
    X, y = datasets.load_fashion_mnist(train=True)
    assert X.shape == (120, 28, 28) and y.shape == (120,) and set(y) <= set(range(10))
    X, y = datasets.load_fashion_mnist(train=False)
    assert X.shape == (30, 28, 28)


def test_generated_house_csvs_have_the_real_layout(tmp_path):
    fakedata.write_house(str(tmp_path), n_train=20, n_test=10)
    train = (tmp_path / 'kaggle-house' / 'kaggle_house_pred_train.csv').read_text().splitlines()
    test = (tmp_path / 'kaggle-house' / 'kaggle_house_pred_test.csv').read_text().splitlines()
    assert len(fakedata.HOUSE_COLUMNS) == 81
    assert train[0].split(',')[:3] == ['Id', 'MSSubClass', 'MSZoning']
    assert train[0].split(',')[-1] == 'SalePrice' and len(train[0].split(',')) == 81
    assert len(test[0].split(',')) == 80 and 'SalePrice' not in test[0]
    assert len(train) == 21 and len(test) == 11


# ---- finding and downloading --------------------------------------------------------------


def test_present_file_is_used_without_checksum_or_network(monkeypatch, tmp_path):
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path))
    # A point at a closed port would fail any download: the file on disk must win.
    monkeypatch.setenv('MXNET_GLUON_REPO', 'http://127.0.0.1:%d/' % free_port())
    fakedata.write_time_machine(str(tmp_path))
    assert datasets.time_machine_path() == str(tmp_path / 'timemachine' / 'timemachine.txt')


def test_precache_is_searched_first(monkeypatch, tmp_path):
    pre, root = tmp_path / 'pre', tmp_path / 'root'
    for base in (pre, root):
        fakedata.write_time_machine(str(base))
    monkeypatch.setenv('GLUONLAB_PRECACHE_DIR', str(pre))
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(root))
    assert datasets.time_machine_path() == str(pre / 'timemachine' / 'timemachine.txt')


def test_download_from_mirror_with_sha1_check(monkeypatch, tmp_path, mirror):
    base, served, requests = mirror
    data = fakedata.time_machine_text().encode()
    sha1 = serve(served, 'timemachine', 'timemachine.txt', data)
    # The real file's sha1 cannot match generated text; declare the served file's instead.
    monkeypatch.setitem(datasets.DATASETS, 'timemachine',
                        {'timemachine.txt': ('http://unused.invalid/timemachine.txt', sha1)})
    monkeypatch.setenv('MXNET_GLUON_REPO', base)
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path / 'data'))
    path = datasets.time_machine_path()
    assert Path(path).read_bytes() == data
    assert requests == ['/gluon/dataset/timemachine/timemachine.txt']
    assert os.listdir(tmp_path / 'data' / 'timemachine') == ['timemachine.txt']  # no temp left
    datasets.time_machine_path()  # second call: found on disk, no new request
    assert len(requests) == 1


def test_sha1_mismatch_keeps_nothing_and_explains(monkeypatch, tmp_path, mirror):
    base, served, requests = mirror
    # Generated IDX files are not the real Fashion-MNIST: their sha1 differs from the real one.
    fakedata.write_fashion_mnist(str(tmp_path / 'gen'), n_train=10, n_test=10)
    name = 'train-labels-idx1-ubyte.gz'
    serve(served, 'fashion-mnist', name, (tmp_path / 'gen' / 'fashion-mnist' / name).read_bytes())
    monkeypatch.setenv('MXNET_GLUON_REPO', base)
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path / 'data'))
    with pytest.raises(datasets.DatasetError) as e:
        datasets.get_file('fashion-mnist', name)
    msg = str(e.value)
    assert name in msg and base + 'gluon/dataset/fashion-mnist/' + name in msg
    assert "sha1 is" in msg and '236021d52f1e40852b06a4c3008d8de8aef1e40b' in msg
    assert os.listdir(tmp_path / 'data' / 'fashion-mnist') == []  # neither file nor temp kept
    assert len(requests) == 2  # retried once


def test_missing_file_on_mirror_names_file_url_and_fix(monkeypatch, tmp_path, mirror):
    base, _, requests = mirror
    monkeypatch.setenv('MXNET_GLUON_REPO', base)
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path / 'data'))
    with pytest.raises(datasets.DatasetError) as e:
        datasets.house_csv_paths()
    msg = str(e.value)
    assert 'kaggle_house_pred_train.csv' in msg
    assert base + 'gluon/dataset/kaggle-house/kaggle_house_pred_train.csv' in msg
    assert 'HTTP 404' in msg and 'MXNET_GLUON_REPO' in msg
    assert len(requests) == 1  # a 404 is not retried
    assert str(tmp_path / 'data' / 'kaggle-house' / 'kaggle_house_pred_train.csv') in msg


def test_unreachable_source_names_file_url_and_fix(monkeypatch, tmp_path):
    url = 'http://127.0.0.1:%d/' % free_port()  # nothing listens there
    monkeypatch.setenv('MXNET_GLUON_REPO', url)
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path / 'data'))
    with pytest.raises(datasets.DatasetError) as e:
        datasets.load_fashion_mnist()
    msg = str(e.value)
    assert msg.startswith('cannot download train-images-idx3-ubyte.gz from ' + url + 'gluon/dataset/')
    assert 'refused' in msg.lower()
    assert 'export MXNET_GLUON_REPO=' in msg and 'copy the file by hand to' in msg


def test_unwritable_data_root_says_which_setting_to_change(monkeypatch, tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('not a directory')
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(blocker))
    monkeypatch.setenv('MXNET_GLUON_REPO', 'http://127.0.0.1:%d/' % free_port())
    with pytest.raises(datasets.DatasetError, match='cannot create data directory.*GLUONLAB_DATA_DIR'):
        datasets.time_machine_path()


# ---- command line -------------------------------------------------------------------------


def run_cli(*args, env=None):
    full_env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    full_env.update(env or {})
    return subprocess.run([sys.executable, str(CONTENT / 'datasets.py'), *args],
                          capture_output=True, text=True, env=full_env, timeout=60)


def test_cli_list_prints_mirror_urls_and_sha1():
    proc = run_cli('--list', env={'MXNET_GLUON_REPO': 'https://m.example/'})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == sum(len(files) for files in datasets.DATASETS.values())
    assert ('kaggle-house/kaggle_house_pred_test.csv\thttps://m.example/gluon/dataset/kaggle-house/'
            'kaggle_house_pred_test.csv\tsha1=fa19780a7b011d9b009e8bff8e99922a8ee2eb90') in lines


def test_cli_precache_keeps_present_files_and_fails_clearly(tmp_path):
    dest = tmp_path / 'precache'
    fakedata.write_time_machine(str(dest))
    proc = run_cli('timemachine', '--dest', str(dest))
    assert proc.returncode == 0 and 'present: ' in proc.stdout
    proc = run_cli('--all', '--dest', str(dest),
                   env={'MXNET_GLUON_REPO': 'http://127.0.0.1:%d/' % free_port()})
    assert proc.returncode == 1
    assert 'error: cannot download train-images-idx3-ubyte.gz' in proc.stderr


def test_cli_rejects_bad_usage():
    proc = run_cli()
    assert proc.returncode == 2 and 'name datasets to fetch or use --all' in proc.stderr
    proc = run_cli('cifar10')
    assert proc.returncode == 2 and 'unknown dataset(s) cifar10' in proc.stderr
