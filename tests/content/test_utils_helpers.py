"""content/utils.py, one function at a time, in the notebook image (the host has no MXNet).

Every check below runs in a fresh namespace with `utils` imported, GLUONLAB_SMALL=1 and the
generated data sets (fakedata.py) on disk; all of them share ONE container. The key of a check
is the utils name it tests: test_utils_coverage.py fails when a notebook calls a utils name
that no check here (or in another test_utils_*.py) is named after.
"""
import pytest

import harness

CHECKS = {
    'SMALL': '''
assert utils.SMALL is True  # the runner sets GLUONLAB_SMALL=1
''',
    'SMALL_FASHION_MNIST': '''
n_train, n_test = utils.SMALL_FASHION_MNIST
assert n_train > n_test > 0
train, test = utils.fashion_mnist_loaders(1000)
assert sum(y.shape[0] for _, y in train) == n_train  # the fake set has exactly this many
''',
    'by_mode': '''
assert utils.by_mode(full=100, small=3) == 3
''',
    'choose_device': '''
import mxnet as mx
d = utils.choose_device()
assert d.device_type in ('cpu', 'gpu')
assert utils.choose_device(99) == mx.cpu()  # no 100th GPU anywhere: falls back
x = mx.nd.ones((2,), ctx=d)
assert x.sum().asscalar() == 2
''',
    'all_devices': '''
import mxnet as mx
ds = utils.all_devices()
assert ds and all(d.device_type in ('cpu', 'gpu') for d in ds)
assert ds == [mx.cpu()] or all(d.device_type == 'gpu' for d in ds)
''',
    'FASHION_CLASSES': '''
assert len(utils.FASHION_CLASSES) == 10 and utils.FASHION_CLASSES[9] == 'ankle boot'
''',
    'class_names': '''
import numpy as np
from mxnet import nd
assert utils.class_names(nd.array([0, 9, 3])) == ['t-shirt', 'ankle boot', 'dress']
assert utils.class_names(np.array([[1], [8]])) == ['trouser', 'bag']
''',
    'fashion_mnist_loaders': '''
train, test = utils.fashion_mnist_loaders(64)
X, y = next(iter(train))
assert X.shape == (64, 1, 28, 28) and y.shape == (64,)
assert X.dtype.__name__ == 'float32' and 0 <= X.min().asscalar() and X.max().asscalar() <= 1
assert sum(b[1].shape[0] for b in train) == 2000 and sum(b[1].shape[0] for b in test) == 500
labels = [set(b[1].asnumpy().astype(int)) for b in test]
assert set().union(*labels) == set(range(10))
# the test loader keeps its order, the training loader reshuffles every epoch
first = [b[1].asnumpy().tolist() for b in test]
assert first == [b[1].asnumpy().tolist() for b in test]
a, b = next(iter(train))[1].asnumpy(), next(iter(train))[1].asnumpy()
assert (a != b).any()
big, _ = utils.fashion_mnist_loaders(8, resize=40)
assert next(iter(big))[0].shape == (8, 1, 40, 40) and len(big) == 250
try:
    utils.fashion_mnist_loaders(0)
except ValueError as e:
    assert 'batch_size' in str(e)
else:
    raise AssertionError('batch_size=0 accepted')
''',
    'minibatches': '''
from mxnet import nd
X = nd.arange(20).reshape((10, 2))
y = nd.arange(10)
batches = list(utils.minibatches(X, y, 4))
assert [b[0].shape[0] for b in batches] == [4, 4, 2]
rows = sorted(int(v) for b in batches for v in b[1].asnumpy())
assert rows == list(range(10))  # every sample exactly once
for Xb, yb in batches:  # features stay paired with their labels
    assert (Xb[:, 0] == 2 * yb).min().asscalar() == 1
ordered = [b[1].asnumpy().tolist() for b in utils.minibatches(X, y, 5, shuffle=False)]
assert ordered == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
try:
    list(utils.minibatches(X, y[:3], 2))
except ValueError as e:
    assert '10 rows' in str(e)
else:
    raise AssertionError('mismatched lengths accepted')
''',
    'house_prices': '''
train, test = utils.house_prices()
assert train.shape[1] == 81 and test.shape[1] == 80
assert 'SalePrice' in train.columns and 'SalePrice' not in test.columns
assert train.Id.is_unique and not set(train.Id) & set(test.Id)
''',
    'time_machine_text': '''
text = utils.time_machine_text()
assert '\\n' not in text and len(text) > 10000
assert utils.time_machine_text(100) == text[:100]
''',
    'random_windows': '''
import numpy as np
corpus = list(range(101))
batches = list(utils.random_windows(corpus, 3, 5))
assert len(batches) == 6  # 20 windows of 5 -> 6 full batches of 3
starts = []
for X, Y in batches:
    assert X.shape == (3, 5) and Y.shape == (3, 5)
    assert (Y - X == 1).min().asscalar() == 1  # Y is X moved on by one token
    assert (X[:, 1:] - X[:, :-1] == 1).min().asscalar() == 1  # windows are contiguous
    starts += X[:, 0].asnumpy().astype(int).tolist()
assert len(set(starts)) == len(starts) and all(s % 5 == 0 for s in starts)  # no overlap
assert starts != sorted(starts)  # random order
''',
    'sequential_windows': '''
corpus = list(range(61))
batches = list(utils.sequential_windows(corpus, 2, 5))
assert len(batches) == 6 and all(X.shape == (2, 5) for X, _ in batches)
for (X0, _), (X1, _) in zip(batches, batches[1:]):
    assert (X1[:, 0] - X0[:, -1] == 1).min().asscalar() == 1  # rows continue across batches
assert all((Y - X == 1).min().asscalar() == 1 for X, Y in batches)
''',
    'sgd_step': '''
from mxnet import autograd, nd
w = nd.array([1.0, 2.0])
w.attach_grad()
with autograd.record():
    l = (w * nd.array([[3.0, 4.0], [5.0, 6.0]])).sum()  # two samples: grad is [8, 10]
l.backward()
utils.sgd_step([w], lr=0.5, batch_size=2)
assert w.asnumpy().tolist() == [1.0 - 0.5 * 4, 2.0 - 0.5 * 5]
''',
    'count_correct': '''
from mxnet import nd
scores = nd.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
assert utils.count_correct(scores, nd.array([1, 0, 0])) == 2.0
''',
    'classification_accuracy': '''
from mxnet import gluon, nd
X = nd.array([[1, 0], [0, 1], [1, 0], [0, 1]])
y = nd.array([0, 1, 1, 1])
loader = gluon.data.DataLoader(gluon.data.ArrayDataset(X, y), batch_size=3)
assert utils.classification_accuracy(lambda x: x, loader) == 0.75
''',
    'History': '''
h = utils.History()
h.record(loss=2.0, train_acc=0.3)
h.record(loss=1.0, train_acc=0.5)
assert h['loss'] == [2.0, 1.0] and h.epochs == 2 and isinstance(h, dict)
fig = h.plot(title='t')
assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 1
''',
    'fit': '''
import numpy as np
from mxnet import gluon, init, nd
from mxnet.gluon import nn
# Two Gaussian blobs: a linear classifier must beat the 0.5 baseline by far.
rng = np.random.RandomState(0)
X = np.concatenate([rng.normal(-1, 1, (200, 2)), rng.normal(1, 1, (200, 2))]).astype('float32')
y = np.array([0] * 200 + [1] * 200, dtype='float32')
data = gluon.data.ArrayDataset(nd.array(X), nd.array(y))
train = gluon.data.DataLoader(data, 50, shuffle=True)
net = nn.Dense(2)
net.initialize(init.Normal(0.01))
loss = gluon.loss.SoftmaxCrossEntropyLoss()
h = utils.fit(net, train, train, loss, 3, log=False, plot=False,
              trainer=gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.5}))
assert isinstance(h, utils.History) and h.epochs == 3
assert h['test_acc'][-1] > 0.85 and h['loss'][-1] < 0.5, h
# the from-scratch way: own NDArrays and sgd_step
W, b = nd.random.normal(scale=0.01, shape=(2, 2)), nd.zeros(2)
for p in (W, b):
    p.attach_grad()
h2 = utils.fit(lambda x: nd.dot(x, W) + b, train, train, loss, 3, params=[W, b], lr=0.5,
               log=False, plot=True)
assert h2['test_acc'][-1] > 0.85, h2
for bad in ({}, {'params': [W], 'lr': 0.1, 'trainer': object()}, {'params': [W]}):
    try:
        utils.fit(net, train, train, loss, 1, **bad)
    except ValueError as e:
        assert 'trainer' in str(e) or 'lr' in str(e)
    else:
        raise AssertionError('fit accepted %r' % (bad,))
''',
    'clip_gradients': '''
from mxnet import autograd, gluon, nd
a, b = nd.array([3.0]), nd.array([4.0])
for p in (a, b):
    p.attach_grad()
with autograd.record():
    l = 3 * a + 4 * b  # gradients 3 and 4: joint norm 5
l.backward()
assert abs(utils.clip_gradients([a, b], 1.0) - 5.0) < 1e-6
assert abs(a.grad.asscalar() - 0.6) < 1e-6 and abs(b.grad.asscalar() - 0.8) < 1e-6
assert abs(utils.clip_gradients([a, b], 10.0) - 1.0) < 1e-6  # under the bar: unchanged
assert abs(a.grad.asscalar() - 0.6) < 1e-6
dense = gluon.nn.Dense(1, in_units=2)
dense.initialize()
with autograd.record():
    out = dense(nd.array([[30.0, 40.0]]))
out.backward()
utils.clip_gradients(list(dense.collect_params().values()), 1.0)
total = sum((p.grad() ** 2).sum().asscalar() for p in dense.collect_params().values())
assert abs(total - 1.0) < 1e-4
''',
    'set_figure_size': '''
import matplotlib.pyplot as plt
utils.set_figure_size(5, 3)
assert tuple(plt.rcParams['figure.figsize']) == (5.0, 3.0)
''',
    'plot_curves': '''
fig = utils.plot_curves([1, 2, 3], {'train': [3, 2, 1], 'test': [3, 2.5, 2]}, 'epoch', 'loss',
                        logy=True)
ax = fig.axes[0]
assert len(ax.lines) == 2 and ax.get_yscale() == 'log' and ax.get_legend() is not None
fig = utils.plot_curves(range(1, 5), [0, 1, 4, 9], 'x', 'x^2', logx=True)
assert len(fig.axes[0].lines) == 1 and fig.axes[0].get_ylabel() == 'x^2'
assert fig.axes[0].get_xscale() == 'log' and fig.axes[0].get_yscale() == 'linear'
try:
    utils.plot_curves([1], {}, 'x', 'y')
except ValueError:
    pass
else:
    raise AssertionError('an empty series was accepted')
''',
    'show_images': '''
from mxnet import nd
fig = utils.show_images(nd.zeros((10, 1, 28, 28)), ['c%d' % i for i in range(10)], ncols=5)
shown = [ax for ax in fig.axes if ax.images]
assert len(fig.axes) == 10 and len(shown) == 10 and shown[3].get_title() == 'c3'
''',
}


@pytest.fixture(scope='module')
def check_results():
    return harness.run_checks(CHECKS)


@pytest.mark.parametrize('name', sorted(CHECKS))
def test_utils_function(check_results, name):
    result = check_results[name]
    assert result['ok'], 'utils.%s:\n%s' % (name, result['error'])


pytestmark = [pytest.mark.docker, pytest.mark.content]
