"""Dataset fetchers for the Gluon Lab tutorials (stdlib + numpy only at import time).

Where a file is looked for, in order:
  1. the read-only pre-cache baked into the image: $GLUONLAB_PRECACHE_DIR (default
     /opt/gluonlab/data), filled at build time with PRECACHE_DATA=1;
  2. the data root: $GLUONLAB_DATA_DIR, else $MXNET_HOME/datasets, else ~/.mxnet/datasets
     (the same place MXNet's own gluon.data.vision datasets use);
  3. otherwise it is downloaded into the data root from the real source, or from the mirror
     named by MXNET_GLUON_REPO (same variable MXNet uses; mirror layout below).

A file that is already present is used as it is: a checksum is verified only right after a
download (so a hand-copied or generated file is never thrown away).

Mirror layout: with MXNET_GLUON_REPO=https://mirror.example/mxnet/ every file is fetched from
  <MXNET_GLUON_REPO>/gluon/dataset/<dataset>/<file>
which is exactly where MXNet's own repository keeps Fashion-MNIST; the house-price CSVs and
the Time Machine text are placed next to it by whoever runs the mirror
(`python datasets.py --list` prints every path).

Command line (used by the image build with PRECACHE_DATA=1):
  python datasets.py --all --dest /opt/gluonlab/data
"""
import argparse
import gzip
import hashlib
import os
import shutil
import struct
import sys
import tempfile
import urllib.error
import urllib.request

import numpy as np

# MXNet's default repository (mxnet.gluon.utils._get_repo_url): Fashion-MNIST lives there.
MXNET_REPO = 'https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/'
# Where the book (d2l) hosts the Kaggle house-price CSVs and "The Time Machine".
D2L_DATA_URL = 'http://d2l-data.s3-accelerate.amazonaws.com/'
PRECACHE_DIR = '/opt/gluonlab/data'

# dataset -> {file name: (default URL, sha1 of the real file)}
DATASETS = {
    'fashion-mnist': {
        'train-images-idx3-ubyte.gz': (
            MXNET_REPO + 'gluon/dataset/fashion-mnist/train-images-idx3-ubyte.gz',
            '0cf37b0d40ed5169c6b3aba31069a9770ac9043d'),
        'train-labels-idx1-ubyte.gz': (
            MXNET_REPO + 'gluon/dataset/fashion-mnist/train-labels-idx1-ubyte.gz',
            '236021d52f1e40852b06a4c3008d8de8aef1e40b'),
        't10k-images-idx3-ubyte.gz': (
            MXNET_REPO + 'gluon/dataset/fashion-mnist/t10k-images-idx3-ubyte.gz',
            '626ed6a7c06dd17c0eec72fa3be1740f146a2863'),
        't10k-labels-idx1-ubyte.gz': (
            MXNET_REPO + 'gluon/dataset/fashion-mnist/t10k-labels-idx1-ubyte.gz',
            '17f9ab60e7257a1620f4ad76bbbaf857c3920701'),
    },
    'kaggle-house': {
        'kaggle_house_pred_train.csv': (
            D2L_DATA_URL + 'kaggle_house_pred_train.csv',
            '585e9cc93e70b39160e7921475f9bcd7d31219ce'),
        'kaggle_house_pred_test.csv': (
            D2L_DATA_URL + 'kaggle_house_pred_test.csv',
            'fa19780a7b011d9b009e8bff8e99922a8ee2eb90'),
    },
    'timemachine': {
        'timemachine.txt': (
            D2L_DATA_URL + 'timemachine.txt',
            '090b5e7e70c295757f55df93cb0a180b9691891a'),
    },
}


class DatasetError(RuntimeError):
    """A data file could not be found, downloaded or read; the message says how to fix it."""


def data_root():
    """Directory that downloads go to (created on demand)."""
    root = os.environ.get('GLUONLAB_DATA_DIR')
    if root:
        return os.path.expanduser(root)
    mxnet_home = os.environ.get('MXNET_HOME')
    if mxnet_home:
        return os.path.join(os.path.expanduser(mxnet_home), 'datasets')
    return os.path.join(os.path.expanduser('~'), '.mxnet', 'datasets')


def precache_dir():
    return os.environ.get('GLUONLAB_PRECACHE_DIR', PRECACHE_DIR)


def _spec(dataset, filename):
    if dataset not in DATASETS:
        raise DatasetError('unknown dataset %r; known: %s' % (dataset, ', '.join(sorted(DATASETS))))
    files = DATASETS[dataset]
    if filename not in files:
        raise DatasetError('dataset %r has no file %r; its files: %s'
                           % (dataset, filename, ', '.join(sorted(files))))
    return files[filename]


def mirror_url(dataset, filename, repo=None):
    """URL of a file: the mirror's when MXNET_GLUON_REPO (or `repo`) is set, else the source."""
    repo = repo if repo is not None else os.environ.get('MXNET_GLUON_REPO', '')
    if not repo:
        return _spec(dataset, filename)[0]
    _spec(dataset, filename)
    if not repo.endswith('/'):
        repo += '/'
    return '%sgluon/dataset/%s/%s' % (repo, dataset, filename)


def sha1_of(path, chunk=1 << 20):
    h = hashlib.sha1()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            h.update(block)
    return h.hexdigest()


def find_file(dataset, filename):
    """Path of a file already on disk (pre-cache first, then data root), or None."""
    _spec(dataset, filename)
    for base in (precache_dir(), data_root()):
        path = os.path.join(base, dataset, filename)
        if os.path.isfile(path):
            return path
    return None


def _mirror_hint(dataset, filename, dest):
    return ('To fix: set a mirror, e.g. `export MXNET_GLUON_REPO=https://<mirror>/` '
            '(files are fetched from <mirror>/gluon/dataset/%s/%s), '
            'or copy the file by hand to %s.' % (dataset, filename, dest))


def download(dataset, filename, root=None, retries=2, timeout=60):
    """Download one file into <root>/<dataset>/ and verify its sha1; returns the path.

    The file is written to a temporary name and renamed only after the checksum matched, so an
    interrupted or corrupt download never leaves a half file that would later be trusted.
    """
    root = root or data_root()
    _, sha1 = _spec(dataset, filename)
    url = mirror_url(dataset, filename)
    dest_dir = os.path.join(root, dataset)
    dest = os.path.join(dest_dir, filename)
    try:
        os.makedirs(dest_dir, exist_ok=True)
    except OSError as e:
        raise DatasetError('cannot create data directory %s (%s). Set GLUONLAB_DATA_DIR to a '
                           'writable directory.' % (dest_dir, e)) from e
    last_error = None
    for _ in range(max(1, retries)):
        fd, tmp = tempfile.mkstemp(prefix='.' + filename + '.', dir=dest_dir)
        try:
            with os.fdopen(fd, 'wb') as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                shutil.copyfileobj(resp, out)
            got = sha1_of(tmp)
            if got != sha1:
                last_error = DatasetError(
                    'downloaded %s from %s but its sha1 is %s, expected %s: the mirror serves a '
                    'different or damaged file. %s'
                    % (filename, url, got, sha1, _mirror_hint(dataset, filename, dest)))
                continue
            os.replace(tmp, dest)
            return dest
        except urllib.error.HTTPError as e:
            last_error = DatasetError('cannot download %s from %s (HTTP %d %s). %s'
                                      % (filename, url, e.code, e.reason,
                                         _mirror_hint(dataset, filename, dest)))
            if e.code < 500:  # the file is not there: asking again will not help
                break
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, 'reason', None) or e
            last_error = DatasetError('cannot download %s from %s (%s). %s'
                                      % (filename, url, reason,
                                         _mirror_hint(dataset, filename, dest)))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise last_error


def get_file(dataset, filename):
    """Path of a data file, downloading it into the data root if it is not on disk yet."""
    return find_file(dataset, filename) or download(dataset, filename)


# ---- Readers -------------------------------------------------------------------------------

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
        description='Fetch the Gluon Lab tutorial data sets (honours MXNET_GLUON_REPO).')
    parser.add_argument('datasets', nargs='*', help='dataset names: ' + ', '.join(DATASETS))
    parser.add_argument('--all', action='store_true', help='fetch every dataset')
    parser.add_argument('--dest', help='data root to fill (default: %s)' % data_root())
    parser.add_argument('--list', action='store_true',
                        help='print every file with the URL it would come from and exit')
    args = parser.parse_args(argv)
    names = list(DATASETS) if args.all or args.list else args.datasets
    if not names:
        parser.error('name datasets to fetch or use --all')
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        parser.error('unknown dataset(s) %s; known: %s' % (', '.join(unknown), ', '.join(DATASETS)))
    if args.list:
        for name in names:
            for filename in DATASETS[name]:
                print('%s/%s\t%s\tsha1=%s' % (name, filename, mirror_url(name, filename),
                                              DATASETS[name][filename][1]))
        return 0
    root = args.dest or data_root()
    for name in names:
        for filename in DATASETS[name]:
            path = os.path.join(root, name, filename)
            if os.path.isfile(path):
                print('present: %s' % path)
                continue
            try:
                print('downloading %s' % mirror_url(name, filename), flush=True)
                download(name, filename, root=root)
            except DatasetError as e:
                print('error: %s' % e, file=sys.stderr)
                return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
