"""Data sets of the Gluon Lab tutorials: where they are found, fetched (with pooch) and read.

Where a file is looked for, in order (the first folder that has it wins; files found on disk
are used as they are, checksums are verified when a file is fetched or a folder is filled):
  1. the course data: $GLUONLAB_COURSE_DATA_DIR (default /opt/gluonlab/course-data), a
     read-only volume the lab's admin filled once for the whole room (README "Course data");
  2. the image's pre-cache: $GLUONLAB_PRECACHE_DIR (default /opt/gluonlab/data), filled at
     build time with PRECACHE_DATA=1 (single-user images);
  3. the data root, the user's own cache: $GLUONLAB_DATA_DIR, else $MXNET_HOME/datasets, else
     ~/.mxnet/datasets (where MXNet's own gluon.data.vision data sets go);
  4. otherwise it is downloaded into the data root by pooch, which writes a temporary file,
     checks its SHA-1 against the registry below and only then gives it the real name (a file
     with the wrong checksum is deleted, never kept). Sources, in order:
       a. the mirror named by MXNET_GLUON_REPO (the variable MXNet uses), for the data sets
          that such mirrors carry: only Fashion-MNIST, at <repo>/gluon/dataset/fashion-mnist/;
       b. the data set's original source (MXNet's repository, the book's data bucket).
     When every source fails, DatasetError lists each URL tried, why it failed and what to set.

Every folder has the same layout: <folder>/<dataset>/<file>.

Command line (PRECACHE_DATA=1 at image build, `gluonlab-course-data fill` for the course data):
  python datasets.py --list                      every file, its sources and SHA-1
  python datasets.py --all --dest DIR            download into DIR (checksums verified)
  python datasets.py --all --dest DIR --from SRC take the files from a local folder instead
  python datasets.py --check --dest DIR          verify DIR: exit 1 if a file is missing or bad
"""
import argparse
import gzip
import os
import re
import shutil
import struct
import sys
import tempfile
from collections import namedtuple

import numpy as np
import pooch
import requests
import urllib3

# MXNet's default repository (mxnet.gluon.utils._get_repo_url): Fashion-MNIST lives there.
MXNET_REPO = 'https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/'
# Where the book (d2l) hosts the Kaggle house-price CSVs and "The Time Machine".
D2L_DATA_URL = 'http://d2l-data.s3-accelerate.amazonaws.com/'
COURSE_DATA_DIR = '/opt/gluonlab/course-data'
PRECACHE_DIR = '/opt/gluonlab/data'
# One more try after a failed download or a checksum mismatch (pooch waits 1 s between).
RETRIES = 1
# requests' (connect, read) timeouts in seconds: a mirror that stops answering fails over.
TIMEOUT = (15, 60)
# Each download is announced below in Chinese and English; pooch's own English lines would repeat it.
pooch.get_logger().setLevel('WARNING')

# files: {file name: SHA-1 of the real file}; origin: base URL of the original source;
# mirror_path: where mirrors with MXNet's layout keep the set under MXNET_GLUON_REPO, or None
# for sets they do not carry (the book's own mirror answers HTTP errors for those).
Dataset = namedtuple('Dataset', 'files origin mirror_path')

DATASETS = {
    'fashion-mnist': Dataset(
        files={
            'train-images-idx3-ubyte.gz': '0cf37b0d40ed5169c6b3aba31069a9770ac9043d',
            'train-labels-idx1-ubyte.gz': '236021d52f1e40852b06a4c3008d8de8aef1e40b',
            't10k-images-idx3-ubyte.gz': '626ed6a7c06dd17c0eec72fa3be1740f146a2863',
            't10k-labels-idx1-ubyte.gz': '17f9ab60e7257a1620f4ad76bbbaf857c3920701',
        },
        origin=MXNET_REPO + 'gluon/dataset/fashion-mnist/',
        mirror_path='gluon/dataset/fashion-mnist/'),
    'kaggle-house': Dataset(
        files={
            'kaggle_house_pred_train.csv': '585e9cc93e70b39160e7921475f9bcd7d31219ce',
            'kaggle_house_pred_test.csv': 'fa19780a7b011d9b009e8bff8e99922a8ee2eb90',
        },
        origin=D2L_DATA_URL, mirror_path=None),
    'timemachine': Dataset(
        files={'timemachine.txt': '090b5e7e70c295757f55df93cb0a180b9691891a'},
        origin=D2L_DATA_URL, mirror_path=None),
}


class DatasetError(RuntimeError):
    """A data file could not be found, downloaded or read; the message says how to fix it."""


# ---- Folders and sources ------------------------------------------------------------------

def data_root():
    """The user's cache, where downloads go: $GLUONLAB_DATA_DIR, else MXNet's data folder."""
    mxnet_home = os.environ.get('MXNET_HOME')
    default = (os.path.join(mxnet_home, 'datasets') if mxnet_home
               else os.path.join('~', '.mxnet', 'datasets'))
    # pooch.create resolves the environment override (and ~); it touches no file.
    return str(pooch.create(path=default, base_url='', env='GLUONLAB_DATA_DIR').abspath)


def course_data_dir():
    return os.environ.get('GLUONLAB_COURSE_DATA_DIR', COURSE_DATA_DIR)


def precache_dir():
    return os.environ.get('GLUONLAB_PRECACHE_DIR', PRECACHE_DIR)


def search_dirs():
    """Folders searched for a file before anything is downloaded, in order."""
    return [course_data_dir(), precache_dir(), data_root()]


def _spec(dataset, filename):
    if dataset not in DATASETS:
        raise DatasetError('unknown dataset %r; known: %s' % (dataset, ', '.join(sorted(DATASETS))))
    files = DATASETS[dataset].files
    if filename not in files:
        raise DatasetError('dataset %r has no file %r; its files: %s'
                           % (dataset, filename, ', '.join(sorted(files))))
    return DATASETS[dataset]


def sources(dataset, filename, repo=None):
    """[(label, URL), ...] a file is downloaded from, in order: the mirror (when MXNET_GLUON_REPO
    or `repo` is set and carries the set), then the original source."""
    spec = _spec(dataset, filename)
    repo = os.environ.get('MXNET_GLUON_REPO', '') if repo is None else repo
    found = []
    if repo and spec.mirror_path:
        found.append(('mirror (MXNET_GLUON_REPO)', repo.rstrip('/') + '/' + spec.mirror_path + filename))
    original = spec.origin + filename
    if original not in [url for _, url in found]:
        found.append(('original source', original))
    return found


def mirror_url(dataset, filename, repo=None):
    """The first URL a file would be downloaded from."""
    return sources(dataset, filename, repo)[0][1]


def sha1_of(path):
    return pooch.file_hash(path, alg='sha1')


def find_file(dataset, filename):
    """Path of a file already on disk (course data, pre-cache, data root), or None."""
    _spec(dataset, filename)
    for base in search_dirs():
        path = os.path.join(base, dataset, filename)
        if os.path.isfile(path):
            return path
    return None


# ---- Downloading --------------------------------------------------------------------------

class _Final(Exception):
    """A failure that asking again will not change: the server says the file is not there
    (HTTP 4xx), or nothing answers at that address at all (connection refused, no such host)."""


def _downloader():
    http = pooch.HTTPDownloader(progressbar=False, timeout=TIMEOUT)

    def download(url, output_file, pup):
        # pooch retries every requests error (after a pause); these are final, so they are
        # raised as another type and the next source is tried at once.
        try:
            http(url, output_file, pup)
        except requests.HTTPError as e:
            if e.response is not None and e.response.status_code < 500:
                raise _Final(_reason(e)) from e
            raise
        except requests.ConnectionError as e:
            cause = getattr(e.args[0], 'reason', None) if e.args else None
            if isinstance(cause, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ProxyError)):
                raise _Final(_reason(e)) from e
            raise  # e.g. a connection reset in the middle of the file: worth another try
    return download


def _reason(error):
    """One line on why a download failed."""
    if isinstance(error, _Final):
        return str(error)
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return 'HTTP %d %s' % (error.response.status_code, error.response.reason)
    if isinstance(error, requests.Timeout):
        return 'no answer within %d s' % TIMEOUT[1]
    if isinstance(error, requests.ConnectionError):
        # requests nests the socket error deep in its message; show only that part.
        found = re.search(r'(\[Errno -?\d+\][^\'")]*|Name or service not known|Connection refused)', str(error))
        return 'cannot connect (%s)' % (found.group(1).strip() if found else type(error).__name__)
    if isinstance(error, ValueError):  # pooch: the checksum does not match
        got = re.search(r'got:? ?([0-9a-f]{40})', str(error))
        return ('wrong checksum: the file served has sha1 %s, not the registry\'s; it was not kept'
                % (got.group(1) if got else '?'))
    return '%s: %s' % (type(error).__name__, error)


def _make_dir(path):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise DatasetError('cannot create data directory %s (%s). Set GLUONLAB_DATA_DIR to a '
                           'writable directory.' % (path, e)) from e


def _fix_hint(dataset, filename, dest):
    spec = DATASETS[dataset]
    if spec.mirror_path:
        mirror = ('set a mirror that has it, e.g. `export MXNET_GLUON_REPO=https://<mirror>/` '
                  '(it is fetched from <mirror>/%s%s), ' % (spec.mirror_path, filename))
    else:
        mirror = ('MXNET_GLUON_REPO mirrors do not carry %s, so only its original source is tried; '
                  % dataset)
    return ('To fix / 怎么办: %scheck the network (a lab with GLUONLAB_USER_INTERNET=0 gets no '
            'downloads: ask the admin to fill the course data, GLUONLAB_COURSE_DATA_VOLUME), '
            'or copy the file by hand to %s.' % (mirror, dest))


def download(dataset, filename, root=None):
    """Download one file into <root>/<dataset>/ (default: the data root), trying each source in
    turn; pooch verifies the SHA-1 before the file gets its name. Returns the path."""
    spec = _spec(dataset, filename)
    root = root or data_root()
    dest = os.path.join(root, dataset, filename)
    _make_dir(os.path.dirname(dest))
    key = dataset + '/' + filename
    tried = []
    for label, url in sources(dataset, filename):
        pup = pooch.create(path=root, base_url=os.path.dirname(url), registry={key: 'sha1:' + spec.files[filename]},
                           urls={key: url}, retry_if_failed=RETRIES)
        print('正在下载 / downloading %s (%s) -> %s' % (url, label, dest), file=sys.stderr, flush=True)
        try:
            path = pup.fetch(key, downloader=_downloader())
        except (requests.RequestException, ValueError, _Final) as e:
            tried.append((label, url, _reason(e)))
            continue
        except OSError as e:
            raise DatasetError('cannot write %s (%s). Set GLUONLAB_DATA_DIR to a writable directory.'
                               % (dest, e)) from e
        os.chmod(path, 0o644)  # pooch's temporary files are private; data files are not
        return path
    lines = ['无法获取数据文件 %s：所有来源都失败了。' % key,
             'Cannot get %s: every source failed.' % key,
             'Looked on disk in / 已查找: %s' % ', '.join(os.path.join(d, dataset) for d in search_dirs()),
             'Tried / 已尝试:']
    lines += ['  %d. %s (%s): %s' % (i, url, label, why) for i, (label, url, why) in enumerate(tried, 1)]
    lines.append(_fix_hint(dataset, filename, dest))
    raise DatasetError('\n'.join(lines))


def get_file(dataset, filename):
    """Path of a data file: found on disk, else downloaded into the data root."""
    return find_file(dataset, filename) or download(dataset, filename)


# ---- Filling a folder (pre-cache, course data) ---------------------------------------------

def _copy_verified(src, dest):
    """Copy src to dest through a temporary file in dest's folder, so readers never see half a file."""
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(dest) + '.', dir=os.path.dirname(dest))
    try:
        with os.fdopen(fd, 'wb') as out, open(src, 'rb') as f:
            shutil.copyfileobj(f, out)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _local_candidates(folder, filename):
    """Files named `filename` anywhere under folder (any layout: flat, <dataset>/, MXNet's)."""
    for here, dirs, files in os.walk(folder):
        dirs.sort()
        if filename in files:
            yield os.path.join(here, filename)


def fill_file(dataset, filename, dest_root, from_dir=None):
    """Make <dest_root>/<dataset>/<filename> a verified copy. Returns (state, detail): state is
    'present', 'copied', 'downloaded' or 'failed'. A damaged file already there is replaced only
    by a verified one; a file with the wrong checksum is never written."""
    sha1 = _spec(dataset, filename).files[filename]
    dest = os.path.join(dest_root, dataset, filename)
    if os.path.isfile(dest) and sha1_of(dest) == sha1:
        return 'present', dest
    _make_dir(os.path.dirname(dest))
    os.chmod(os.path.dirname(dest), 0o755)
    if from_dir is not None:
        refused = []
        for candidate in _local_candidates(from_dir, filename):
            got = sha1_of(candidate)
            if got == sha1:
                _copy_verified(candidate, dest)
                return 'copied', candidate
            refused.append('%s has sha1 %s' % (candidate, got))
        if refused:
            return 'failed', 'refused (wrong checksum, expected sha1 %s): %s' % (sha1, '; '.join(refused))
        return 'failed', 'not found under %s' % from_dir
    try:
        download(dataset, filename, root=dest_root)
    except DatasetError as e:
        return 'failed', str(e)
    return 'downloaded', dest


def check_dir(root, names):
    """[(dataset/file, problem or None)] for every file of the named data sets under root."""
    found = []
    for name in names:
        for filename, sha1 in DATASETS[name].files.items():
            path = os.path.join(root, name, filename)
            if not os.path.isfile(path):
                problem = 'missing'
            else:
                got = sha1_of(path)
                problem = None if got == sha1 else 'sha1 %s, expected %s' % (got, sha1)
            found.append((name + '/' + filename, problem))
    return found


# ---- Readers ------------------------------------------------------------------------------

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: '>i2', 0x0C: '>i4', 0x0D: '>f4', 0x0E: '>f8'}


def read_idx(path):
    """Read an IDX file (gzip'd or not), the format of MNIST/Fashion-MNIST, into a numpy array."""
    opener = gzip.open if path.endswith('.gz') else open
    try:
        with opener(path, 'rb') as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DatasetError('cannot read %s (%s); delete it so that it is downloaded again'
                           % (path, e)) from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DatasetError('%s is not an IDX file (bad magic number); delete it so that it is '
                           'downloaded again' % path)
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = struct.unpack('>' + 'I' * ndim, data[4:header])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise DatasetError('%s is truncated or damaged: header says shape %s (%d bytes of data), '
                           'file has %d; delete it so that it is downloaded again'
                           % (path, shape, expected, len(data) - header))
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder('='))


def load_fashion_mnist(train=True):
    """(images uint8 [N, 28, 28], labels int32 [N]) of the Fashion-MNIST train or test split."""
    prefix = 'train' if train else 't10k'
    images = read_idx(get_file('fashion-mnist', prefix + '-images-idx3-ubyte.gz'))
    labels = read_idx(get_file('fashion-mnist', prefix + '-labels-idx1-ubyte.gz'))
    if images.shape[0] != labels.shape[0]:
        raise DatasetError('Fashion-MNIST %s split: %d images but %d labels; the files do not '
                           'belong together' % (prefix, images.shape[0], labels.shape[0]))
    return images, labels.astype(np.int32)


def house_csv_paths():
    """(train.csv, test.csv) paths of the Kaggle house-price competition, as the book ships them."""
    return (get_file('kaggle-house', 'kaggle_house_pred_train.csv'),
            get_file('kaggle-house', 'kaggle_house_pred_test.csv'))


def time_machine_path():
    """Path of H. G. Wells' "The Time Machine" (public domain), as the book ships it."""
    return get_file('timemachine', 'timemachine.txt')


# ---- Command line ---------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Fetch, copy or check the Gluon Lab tutorial data sets (SHA-1 verified; '
                    'downloads honour MXNET_GLUON_REPO and fall back to the original sources).')
    parser.add_argument('datasets', nargs='*', help='dataset names: ' + ', '.join(DATASETS))
    parser.add_argument('--all', action='store_true', help='every dataset')
    parser.add_argument('--dest', help='folder to fill or check (default: the data root, %s)' % data_root())
    parser.add_argument('--from', dest='from_dir', metavar='FOLDER',
                        help='copy the files from this local folder (any layout) instead of downloading')
    parser.add_argument('--check', action='store_true',
                        help='only verify the files in --dest: exit 1 if one is missing or damaged')
    parser.add_argument('--list', action='store_true',
                        help='print every file with its sources and SHA-1 and exit')
    args = parser.parse_args(argv)
    names = list(DATASETS) if args.all or args.list or (args.check and not args.datasets) else args.datasets
    if not names:
        parser.error('name datasets to fetch or use --all')
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        parser.error('unknown dataset(s) %s; known: %s' % (', '.join(unknown), ', '.join(DATASETS)))
    if args.from_dir is not None and not os.path.isdir(args.from_dir):
        parser.error('--from %s is not a folder' % args.from_dir)
    if args.list:
        for name in names:
            for filename, sha1 in DATASETS[name].files.items():
                urls = ' '.join(url for _, url in sources(name, filename))
                print('%s/%s\tsha1=%s\t%s' % (name, filename, sha1, urls))
        return 0
    root = args.dest or data_root()
    if args.check:
        results = check_dir(root, names)
        for key, problem in results:
            print('%s: %s' % ('ok' if problem is None else 'BAD', key if problem is None else key + ' (' + problem + ')'))
        return 1 if any(problem for _, problem in results) else 0
    failed = 0
    for name in names:
        for filename in DATASETS[name].files:
            state, detail = fill_file(name, filename, root, args.from_dir)
            if state == 'failed':
                failed += 1
                print('error: %s/%s: %s' % (name, filename, detail), file=sys.stderr, flush=True)
            else:
                print('%s: %s/%s (%s)' % (state, name, filename, detail), flush=True)
    if failed:
        print('%d file(s) not filled; what is there is verified and kept.' % failed, file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
