"""content/datasets.py: where data files are found, how pooch fetches them (mirror, then the
original source), what is refused, the fill/check command line and the IDX reader.

The "mirror" and the "original source" are real HTTP servers on 127.0.0.1 (http.server in a
thread) serving generated files in the real formats (tests/content/fakedata.py), so requests,
pooch's temporary file, its SHA-1 check and the final rename all run for real. The registry's
checksums are those of the real files, which generated files cannot match: tests that must
succeed declare the served files' checksums (monkeypatch), the others keep the real ones.
No Docker, no internet.
"""
import functools
import gzip
import hashlib
import http.server
import importlib
import os
import socket
import stat
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
import pooch.core as pooch_core  # noqa: E402
import fakedata  # noqa: E402

ENV_VARS = ('GLUONLAB_DATA_DIR', 'MXNET_HOME', 'MXNET_GLUON_REPO', 'GLUONLAB_PRECACHE_DIR',
            'GLUONLAB_COURSE_DATA_DIR', 'http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY',
            'no_proxy', 'NO_PROXY')
REAL = {name: spec for name, spec in datasets.DATASETS.items()}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    # Never read a course volume or the image's pre-cache (they may exist on a dev box).
    monkeypatch.setenv('GLUONLAB_COURSE_DATA_DIR', str(tmp_path / 'no-course-data'))
    monkeypatch.setenv('GLUONLAB_PRECACHE_DIR', str(tmp_path / 'no-precache'))
    monkeypatch.setattr(datasets, 'TIMEOUT', (5, 10))
    importlib.reload(datasets)


class Server:
    """A folder served over HTTP; `fail` maps a path to the status to answer instead."""

    def __init__(self, root):
        self.root, self.requests, self.fail = root, [], {}
        root.mkdir(parents=True, exist_ok=True)
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                status = server.fail.get(self.path)
                if callable(status):
                    status = status()
                if status == 'truncate':  # headers promise more than is sent, then the line drops
                    self.send_response(200)
                    self.send_header('Content-Length', '100000')
                    self.end_headers()
                    self.wfile.write(b'only the beginning')
                    self.close_connection = True
                    return
                if status:
                    self.send_error(status)
                    return
                super().do_GET()

            def log_message(self, fmt, *args):  # keep pytest output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     functools.partial(Handler, directory=str(root)))
        self.url = 'http://127.0.0.1:%d/' % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def put(self, rel, data):
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return hashlib.sha1(data).hexdigest()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers(tmp_path):
    mirror, origin = Server(tmp_path / 'mirror'), Server(tmp_path / 'origin')
    yield mirror, origin
    mirror.close()
    origin.close()


def closed_url():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return 'http://127.0.0.1:%d/' % s.getsockname()[1]  # nothing listens there afterwards


def declare(monkeypatch, dataset, origin, files, mirror_path='keep'):
    """Point a data set's original source at `origin` and declare `files` {name: bytes}."""
    spec = datasets.DATASETS[dataset]
    sha1s = {name: hashlib.sha1(data).hexdigest() for name, data in files.items()}
    monkeypatch.setitem(datasets.DATASETS, dataset, datasets.Dataset(
        files=sha1s, origin=origin, mirror_path=spec.mirror_path if mirror_path == 'keep' else mirror_path))
    return sha1s


def fashion_bytes(tmp_path):
    fakedata.write_fashion_mnist(str(tmp_path / 'gen'), n_train=40, n_test=20)
    d = tmp_path / 'gen' / 'fashion-mnist'
    return {name: (d / name).read_bytes() for name in REAL['fashion-mnist'].files}


# ---- folders and sources ------------------------------------------------------------------


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    assert datasets.data_root() == str(tmp_path / 'home' / '.mxnet' / 'datasets')
    monkeypatch.setenv('MXNET_HOME', str(tmp_path / 'mx'))
    assert datasets.data_root() == str(tmp_path / 'mx' / 'datasets')
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path / 'ours'))
    assert datasets.data_root() == str(tmp_path / 'ours')
    assert not (tmp_path / 'ours').exists()  # asking for the path creates nothing


def test_sources_without_a_mirror_are_the_originals():
    assert datasets.sources('fashion-mnist', 'train-images-idx3-ubyte.gz') == [(
        'original source', 'https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/'
        'gluon/dataset/fashion-mnist/train-images-idx3-ubyte.gz')]
    assert datasets.mirror_url('kaggle-house', 'kaggle_house_pred_train.csv') == (
        'http://d2l-data.s3-accelerate.amazonaws.com/kaggle_house_pred_train.csv')


@pytest.mark.parametrize('repo', ['https://mirror.example.cn/mxnet', 'https://mirror.example.cn/mxnet/'])
def test_mirror_applies_only_to_the_sets_mirrors_carry(monkeypatch, repo):
    monkeypatch.setenv('MXNET_GLUON_REPO', repo)
    assert [url for _, url in datasets.sources('fashion-mnist', 't10k-labels-idx1-ubyte.gz')] == [
        'https://mirror.example.cn/mxnet/gluon/dataset/fashion-mnist/t10k-labels-idx1-ubyte.gz',
        'https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/gluon/dataset/fashion-mnist/'
        't10k-labels-idx1-ubyte.gz']
    # MXNet-layout mirrors have no house prices or Time Machine: straight to the original.
    assert datasets.sources('timemachine', 'timemachine.txt') == [
        ('original source', 'http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt')]
    assert len(datasets.sources('kaggle-house', 'kaggle_house_pred_test.csv')) == 1


def test_unknown_dataset_or_file_is_a_clear_error():
    with pytest.raises(datasets.DatasetError, match='unknown dataset .*known: fashion-mnist'):
        datasets.get_file('mnist', 'x.gz')
    with pytest.raises(datasets.DatasetError, match="has no file 'x.gz'; its files:"):
        datasets.get_file('fashion-mnist', 'x.gz')


def test_registry_holds_a_sha1_for_every_file():
    for spec in datasets.DATASETS.values():
        assert spec.files and all(len(s) == 40 and int(s, 16) >= 0 for s in spec.files.values())
        assert spec.origin.startswith('http') and spec.origin.endswith('/')


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
    assert X.shape == (30, 28, 28) and y.dtype == np.int32


# ---- finding files on disk ----------------------------------------------------------------


def test_present_file_is_used_without_checksum_or_network(monkeypatch, tmp_path):
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path))
    # A mirror at a closed port would fail any download: the file on disk must win.
    monkeypatch.setenv('MXNET_GLUON_REPO', closed_url())
    fakedata.write_time_machine(str(tmp_path))
    assert datasets.time_machine_path() == str(tmp_path / 'timemachine' / 'timemachine.txt')


def test_course_data_then_precache_then_data_root(monkeypatch, tmp_path):
    course, pre, root = tmp_path / 'course', tmp_path / 'pre', tmp_path / 'root'
    monkeypatch.setenv('GLUONLAB_COURSE_DATA_DIR', str(course))
    monkeypatch.setenv('GLUONLAB_PRECACHE_DIR', str(pre))
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(root))
    monkeypatch.setenv('MXNET_GLUON_REPO', closed_url())
    assert datasets.search_dirs() == [str(course), str(pre), str(root)]
    fakedata.write_time_machine(str(root))
    assert datasets.time_machine_path() == str(root / 'timemachine' / 'timemachine.txt')
    fakedata.write_time_machine(str(pre))
    assert datasets.time_machine_path() == str(pre / 'timemachine' / 'timemachine.txt')
    fakedata.write_time_machine(str(course))
    assert datasets.time_machine_path() == str(course / 'timemachine' / 'timemachine.txt')


# ---- downloading: mirror, fallback, refusal -----------------------------------------------


def test_download_from_the_mirror_with_checksum(monkeypatch, tmp_path, servers):
    mirror, origin = servers
    files = fashion_bytes(tmp_path)
    declare(monkeypatch, 'fashion-mnist', origin.url + 'fm/', files)
    for name, data in files.items():
        mirror.put('gluon/dataset/fashion-mnist/' + name, data)
    monkeypatch.setenv('MXNET_GLUON_REPO', mirror.url)
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path / 'data'))
    X, y = datasets.load_fashion_mnist(train=True)
    assert X.shape == (40, 28, 28) and y.shape == (40,)
    assert sorted(mirror.requests) == ['/gluon/dataset/fashion-mnist/train-images-idx3-ubyte.gz',
                                       '/gluon/dataset/fashion-mnist/train-labels-idx1-ubyte.gz']
    assert origin.requests == []
    folder = tmp_path / 'data' / 'fashion-mnist'
    assert sorted(os.listdir(folder)) == ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz']
    assert stat.S_IMODE(os.stat(folder / 'train-images-idx3-ubyte.gz').st_mode) == 0o644
    datasets.load_fashion_mnist(train=True)  # second call: found on disk, no new request
    assert len(mirror.requests) == 2


def test_mirror_down_falls_back_to_the_original(monkeypatch, tmp_path, servers):
    _, origin = servers
    files = fashion_bytes(tmp_path)
    declare(monkeypatch, 'fashion-mnist', origin.url + 'fm/', files)
    for name, data in files.items():
        origin.put('fm/' + name, data)
    monkeypatch.setenv('MXNET_GLUON_REPO', closed_url())
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path / 'data'))
    path = datasets.get_file('fashion-mnist', 't10k-labels-idx1-ubyte.gz')
    assert Path(path).read_bytes() == files['t10k-labels-idx1-ubyte.gz']
    assert origin.requests == ['/fm/t10k-labels-idx1-ubyte.gz']


def test_mirror_without_the_file_is_asked_once_then_the_original(monkeypatch, tmp_path, servers):
    mirror, origin = servers
    files = fashion_bytes(tmp_path)
    declare(monkeypatch, 'fashion-mnist', origin.url + 'fm/', files)
    origin.put('fm/t10k-labels-idx1-ubyte.gz', files['t10k-labels-idx1-ubyte.gz'])
    monkeypatch.setenv('MXNET_GLUON_REPO', mirror.url)
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path / 'data'))
    datasets.get_file('fashion-mnist', 't10k-labels-idx1-ubyte.gz')
    assert mirror.requests == ['/gluon/dataset/fashion-mnist/t10k-labels-idx1-ubyte.gz']  # a 404 is final
    assert origin.requests == ['/fm/t10k-labels-idx1-ubyte.gz']


def test_server_error_is_retried_once(monkeypatch, tmp_path, servers):
    _, origin = servers
    data = fakedata.time_machine_text().encode()
    declare(monkeypatch, 'timemachine', origin.url, {'timemachine.txt': data})
    origin.put('timemachine.txt', data)
    answers = iter([503])
    origin.fail['/timemachine.txt'] = lambda: next(answers, None)
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path / 'data'))
    assert Path(datasets.time_machine_path()).read_bytes() == data
    assert origin.requests == ['/timemachine.txt', '/timemachine.txt']


def test_a_transfer_cut_short_is_retried_a_dead_address_is_not(monkeypatch, tmp_path, servers):
    mirror, origin = servers
    files = fashion_bytes(tmp_path)
    name = 't10k-labels-idx1-ubyte.gz'
    declare(monkeypatch, 'fashion-mnist', origin.url + 'fm/', files)
    mirror.put('gluon/dataset/fashion-mnist/' + name, files[name])
    answers = iter(['truncate'])
    mirror.fail['/gluon/dataset/fashion-mnist/' + name] = lambda: next(answers, None)
    monkeypatch.setenv('MXNET_GLUON_REPO', mirror.url)
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path / 'data'))
    assert Path(datasets.get_file('fashion-mnist', name)).read_bytes() == files[name]
    assert len(mirror.requests) == 2 and origin.requests == []
    # Nothing listens at the mirror: no second try, the original is asked straight away.
    monkeypatch.setenv('MXNET_GLUON_REPO', closed_url())
    origin.put('fm/t10k-images-idx3-ubyte.gz', files['t10k-images-idx3-ubyte.gz'])
    pauses = []
    monkeypatch.setattr(pooch_core.time, 'sleep', pauses.append)
    datasets.get_file('fashion-mnist', 't10k-images-idx3-ubyte.gz')
    assert pauses == [] and origin.requests == ['/fm/t10k-images-idx3-ubyte.gz']


def test_sets_the_mirror_lacks_never_ask_it(monkeypatch, tmp_path, servers):
    mirror, origin = servers
    fakedata.write_house(str(tmp_path / 'gen'), n_train=20, n_test=10)
    files = {n: (tmp_path / 'gen' / 'kaggle-house' / n).read_bytes() for n in REAL['kaggle-house'].files}
    declare(monkeypatch, 'kaggle-house', origin.url, files)
    for name, data in files.items():
        origin.put(name, data)
        mirror.put('gluon/dataset/kaggle-house/' + name, data)  # even where a mirror has it
    monkeypatch.setenv('MXNET_GLUON_REPO', mirror.url)
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path / 'data'))
    train, test = datasets.house_csv_paths()
    assert Path(train).read_text().startswith('Id,MSSubClass,MSZoning')
    assert mirror.requests == []
    assert sorted(origin.requests) == ['/kaggle_house_pred_test.csv', '/kaggle_house_pred_train.csv']


def test_wrong_checksum_on_the_mirror_is_refused_and_the_original_used(monkeypatch, tmp_path, servers):
    mirror, origin = servers
    files = fashion_bytes(tmp_path)
    declare(monkeypatch, 'fashion-mnist', origin.url + 'fm/', files)
    name = 'train-labels-idx1-ubyte.gz'
    mirror.put('gluon/dataset/fashion-mnist/' + name, files[name][:-10] + b'0123456789')
    origin.put('fm/' + name, files[name])
    monkeypatch.setenv('MXNET_GLUON_REPO', mirror.url)
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path / 'data'))
    assert Path(datasets.get_file('fashion-mnist', name)).read_bytes() == files[name]
    assert len(mirror.requests) == 2  # pooch tries a damaged download once more
    assert os.listdir(tmp_path / 'data' / 'fashion-mnist') == [name]


def test_wrong_checksum_everywhere_keeps_nothing_and_explains(monkeypatch, tmp_path, servers):
    mirror, origin = servers
    # The real registry: generated files cannot have the real Fashion-MNIST's checksum.
    monkeypatch.setitem(datasets.DATASETS, 'fashion-mnist', REAL['fashion-mnist']._replace(origin=origin.url))
    name = 'train-labels-idx1-ubyte.gz'
    served = fashion_bytes(tmp_path)[name]
    mirror.put('gluon/dataset/fashion-mnist/' + name, served)
    origin.put(name, served)
    monkeypatch.setenv('MXNET_GLUON_REPO', mirror.url)
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path / 'data'))
    with pytest.raises(datasets.DatasetError) as e:
        datasets.get_file('fashion-mnist', name)
    msg = str(e.value)
    assert 'wrong checksum' in msg and hashlib.sha1(served).hexdigest() in msg and 'not kept' in msg
    assert msg.count('wrong checksum') == 2
    assert os.listdir(tmp_path / 'data' / 'fashion-mnist') == []  # neither file nor temp kept
    assert len(mirror.requests) == 2 and len(origin.requests) == 2


def test_every_source_down_names_each_url_and_the_settings(monkeypatch, tmp_path, servers):
    mirror, _ = servers
    dead = closed_url()
    monkeypatch.setitem(datasets.DATASETS, 'fashion-mnist', REAL['fashion-mnist']._replace(origin=dead + 'fm/'))
    monkeypatch.setenv('MXNET_GLUON_REPO', mirror.url)  # answers 404 for everything
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path / 'data'))
    with pytest.raises(datasets.DatasetError) as e:
        datasets.load_fashion_mnist()
    lines = str(e.value).splitlines()
    assert lines[0] == '无法获取数据文件 fashion-mnist/train-images-idx3-ubyte.gz：所有来源都失败了。'
    assert lines[1] == 'Cannot get fashion-mnist/train-images-idx3-ubyte.gz: every source failed.'
    assert str(tmp_path / 'data' / 'fashion-mnist') in lines[2] and 'no-course-data' in lines[2]
    assert lines[4] == ('  1. %sgluon/dataset/fashion-mnist/train-images-idx3-ubyte.gz (mirror (MXNET_GLUON_REPO)): '
                        'HTTP 404 File not found' % mirror.url)
    assert lines[5].startswith('  2. %sfm/train-images-idx3-ubyte.gz (original source): cannot connect (' % dead)
    assert 'refused' in lines[5].lower()
    fix = lines[6]
    assert fix.startswith('To fix / 怎么办:') and 'export MXNET_GLUON_REPO=' in fix
    assert 'GLUONLAB_COURSE_DATA_VOLUME' in fix
    assert str(tmp_path / 'data' / 'fashion-mnist' / 'train-images-idx3-ubyte.gz') in fix


def test_no_mirror_for_the_set_says_so(monkeypatch, tmp_path):
    monkeypatch.setitem(datasets.DATASETS, 'timemachine', REAL['timemachine']._replace(origin=closed_url()))
    monkeypatch.setenv('MXNET_GLUON_REPO', 'http://mirror.invalid/')
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(tmp_path / 'data'))
    with pytest.raises(datasets.DatasetError) as e:
        datasets.time_machine_path()
    assert 'MXNET_GLUON_REPO mirrors do not carry timemachine' in str(e.value)
    assert 'mirror.invalid' not in str(e.value)


def test_unwritable_data_root_says_which_setting_to_change(monkeypatch, tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('not a directory')
    monkeypatch.setenv('GLUONLAB_DATA_DIR', str(blocker))
    with pytest.raises(datasets.DatasetError, match='cannot create data directory.*GLUONLAB_DATA_DIR'):
        datasets.time_machine_path()
    assert blocker.read_text() == 'not a directory'


# ---- filling and checking a folder (pre-cache, course data) -------------------------------


def test_fill_from_a_local_folder_copies_only_verified_files(monkeypatch, tmp_path, capsys):
    data = fakedata.time_machine_text().encode()
    declare(monkeypatch, 'timemachine', closed_url(), {'timemachine.txt': data})
    src = tmp_path / 'usb' / 'any' / 'layout'
    src.mkdir(parents=True)
    (src / 'timemachine.txt').write_bytes(data)
    fakedata.write_house(str(tmp_path / 'usb'), n_train=5, n_test=5)  # real checksums: refused
    dest = tmp_path / 'course'
    assert datasets.main(['--all', '--dest', str(dest), '--from', str(tmp_path / 'usb')]) == 1
    out, err = capsys.readouterr()
    assert 'copied: timemachine/timemachine.txt' in out
    assert 'error: kaggle-house/kaggle_house_pred_train.csv: refused (wrong checksum, expected sha1 585e9cc9' in err
    assert 'error: fashion-mnist/train-images-idx3-ubyte.gz: not found under' in err
    assert (dest / 'timemachine' / 'timemachine.txt').read_bytes() == data
    assert stat.S_IMODE(os.stat(dest / 'timemachine' / 'timemachine.txt').st_mode) == 0o644
    assert not (dest / 'kaggle-house' / 'kaggle_house_pred_train.csv').exists()
    assert os.listdir(dest / 'kaggle-house') == []  # no temporary files either
    # Again: the verified file is kept as it is, nothing is copied twice.
    assert datasets.main(['timemachine', '--dest', str(dest), '--from', str(tmp_path / 'usb')]) == 0
    assert 'present: timemachine/timemachine.txt' in capsys.readouterr().out


def test_fill_downloads_with_fallback_and_replaces_only_with_a_verified_file(monkeypatch, tmp_path, servers, capsys):
    mirror, origin = servers
    files = fashion_bytes(tmp_path)
    declare(monkeypatch, 'fashion-mnist', origin.url + 'fm/', files)
    for name, data in files.items():
        origin.put('fm/' + name, data)
    monkeypatch.setenv('MXNET_GLUON_REPO', mirror.url)  # has nothing: 404s
    dest = tmp_path / 'course'
    damaged = dest / 'fashion-mnist' / 't10k-labels-idx1-ubyte.gz'
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b'half a file')
    assert datasets.main(['fashion-mnist', '--dest', str(dest)]) == 0
    assert 'downloaded: fashion-mnist/t10k-labels-idx1-ubyte.gz' in capsys.readouterr().out
    assert damaged.read_bytes() == files['t10k-labels-idx1-ubyte.gz']
    assert datasets.main(['--check', 'fashion-mnist', '--dest', str(dest)]) == 0
    # Every source down: the folder keeps what it has, the command says what is missing.
    monkeypatch.setitem(datasets.DATASETS, 'fashion-mnist', datasets.DATASETS['fashion-mnist']._replace(
        origin=closed_url()))
    damaged.write_bytes(b'damaged again')
    assert datasets.main(['fashion-mnist', '--dest', str(dest)]) == 1
    assert damaged.read_bytes() == b'damaged again'
    assert 'every source failed' in capsys.readouterr().err


def test_check_reports_missing_and_damaged_files(monkeypatch, tmp_path, capsys):
    data = fakedata.time_machine_text().encode()
    sha1s = declare(monkeypatch, 'timemachine', closed_url(), {'timemachine.txt': data})
    dest = tmp_path / 'course'
    (dest / 'timemachine').mkdir(parents=True)
    (dest / 'timemachine' / 'timemachine.txt').write_bytes(data)
    assert datasets.main(['--check', 'timemachine', '--dest', str(dest)]) == 0
    assert capsys.readouterr().out == 'ok: timemachine/timemachine.txt\n'
    (dest / 'timemachine' / 'timemachine.txt').write_bytes(b'edited')
    assert datasets.main(['--check', '--dest', str(dest)]) == 1
    out = capsys.readouterr().out
    assert 'BAD: timemachine/timemachine.txt (sha1 %s, expected %s)' % (
        hashlib.sha1(b'edited').hexdigest(), sha1s['timemachine.txt']) in out
    assert 'BAD: fashion-mnist/train-images-idx3-ubyte.gz (missing)' in out


# ---- command line in a process of its own --------------------------------------------------


def run_cli(*args, env=None):
    full_env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    full_env.update(env or {})
    return subprocess.run([sys.executable, str(CONTENT / 'datasets.py'), *args],
                          capture_output=True, text=True, env=full_env, timeout=60)


def test_cli_list_prints_sources_and_sha1():
    proc = run_cli('--list', env={'MXNET_GLUON_REPO': 'https://m.example/'})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == sum(len(spec.files) for spec in datasets.DATASETS.values())
    assert ('fashion-mnist/t10k-images-idx3-ubyte.gz\tsha1=626ed6a7c06dd17c0eec72fa3be1740f146a2863\t'
            'https://m.example/gluon/dataset/fashion-mnist/t10k-images-idx3-ubyte.gz '
            'https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/gluon/dataset/fashion-mnist/'
            't10k-images-idx3-ubyte.gz') in lines
    assert ('kaggle-house/kaggle_house_pred_test.csv\tsha1=fa19780a7b011d9b009e8bff8e99922a8ee2eb90\t'
            'http://d2l-data.s3-accelerate.amazonaws.com/kaggle_house_pred_test.csv') in lines


def test_cli_rejects_bad_usage(tmp_path):
    proc = run_cli()
    assert proc.returncode == 2 and 'name datasets to fetch or use --all' in proc.stderr
    proc = run_cli('cifar10')
    assert proc.returncode == 2 and 'unknown dataset(s) cifar10' in proc.stderr
    proc = run_cli('--all', '--from', str(tmp_path / 'nowhere'))
    assert proc.returncode == 2 and 'is not a folder' in proc.stderr


@pytest.mark.parametrize('value, code, says', [('0', 0, ''), ('yes', 1, "PRECACHE_DATA must be 0 or 1, got 'yes'")])
def test_precache_script_reads_its_switch(tmp_path, value, code, says):
    proc = subprocess.run(['bash', str(REPO / 'images/notebook/build/precache-data.sh'), '--dest', str(tmp_path / 'pre')],
                          env={'PATH': os.environ['PATH'], 'PRECACHE_DATA': value},
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, says in proc.stderr) == (code, True), proc.stderr
    assert not (tmp_path / 'pre').exists()


def test_precache_script_fills_the_folder_it_is_given(tmp_path):
    """PRECACHE_DATA=1 runs the same fill as the course data (datasets.py next to the script);
    with every source unreachable it fails the build and says which file."""
    build = tmp_path / 'build'
    build.mkdir()
    for src in (REPO / 'images/notebook/build/precache-data.sh', CONTENT / 'datasets.py'):
        (build / src.name).write_bytes(src.read_bytes())
    # Only fashion-mnist has a mirror; the script fetches everything, so cut it short with a
    # proxy that refuses: every source fails fast, offline or not.
    dead = closed_url()
    proc = subprocess.run(['bash', str(build / 'precache-data.sh'), '--dest', str(tmp_path / 'pre')],
                          env={'PATH': os.path.dirname(sys.executable) + ':' + os.environ['PATH'],
                               'PRECACHE_DATA': '1', 'MXNET_GLUON_REPO': dead,
                               'HTTP_PROXY': dead, 'HTTPS_PROXY': dead},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'error: fashion-mnist/train-images-idx3-ubyte.gz:' in proc.stderr
    assert 'error: timemachine/timemachine.txt:' in proc.stderr
    assert '7 file(s) not filled' in proc.stderr
