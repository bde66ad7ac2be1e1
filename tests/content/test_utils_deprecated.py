"""The old helper names that chapters 4-6 still call (deprecated aliases at the end of utils.py).

Delete this file together with that section of content/utils.py once no notebook uses the old
names any more (test_utils_coverage.py then stops asking for these checks).
"""
import pytest

import harness

CHECKS = {
    'try_gpu': '''
assert utils.try_gpu() == utils.choose_device()
''',
    'try_all_gpus': '''
assert utils.try_all_gpus() == utils.all_devices()
''',
    'load_data_fashion_mnist': '''
train, test = utils.load_data_fashion_mnist(100, resize=32)
X, y = next(iter(test))
assert X.shape == (100, 1, 32, 32) and y.shape == (100,)
''',
    'train': '''
from mxnet import gluon, init
from mxnet.gluon import nn
train_iter, test_iter = utils.load_data_fashion_mnist(200)
net = nn.Dense(10)
net.initialize(init.Normal(0.01))
trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.3})
h = utils.train(train_iter, test_iter, net, gluon.loss.SoftmaxCrossEntropyLoss(), 2,
                trainer=trainer, verbose=False)
assert sorted(h) == ['loss', 'test_acc', 'train_acc'] and len(h['loss']) == 2
assert h['loss'][1] < h['loss'][0]
''',
    'sgd': '''
from mxnet import nd
w = nd.array([1.0])
w.attach_grad()
w.grad[:] = 4
utils.sgd([w], 0.5, 2)
assert w.asscalar() == 0.0
''',
    'plot': '''
fig = utils.plot([1, 2], [[1, 2], [2, 1]], 'x', 'y', legend=['a', 'b'])
assert len(fig.axes[0].lines) == 2
''',
    'semilogy': '''
fig = utils.semilogy([1, 2], [1, 10], 'x', 'y', [1, 2], [2, 20], ['a', 'b'])
assert fig.axes[0].get_yscale() == 'log' and len(fig.axes[0].lines) == 2
''',
    'read_time_machine': '''
assert utils.read_time_machine(50) == utils.time_machine_text(50)
''',
    'data_iter_random': '''
X, Y = next(iter(utils.data_iter_random(list(range(50)), 2, 4)))
assert X.shape == (2, 4) and (Y - X == 1).min().asscalar() == 1
''',
    'grad_clipping': '''
from mxnet import nd
w = nd.array([3.0, 4.0])
w.attach_grad()
w.grad[:] = nd.array([3.0, 4.0])
utils.grad_clipping([w], 1.0, None)
assert abs((w.grad ** 2).sum().asscalar() - 1) < 1e-6
''',
}


@pytest.fixture(scope='module')
def check_results():
    return harness.run_checks(CHECKS)


@pytest.mark.parametrize('name', sorted(CHECKS))
def test_deprecated_alias(check_results, name):
    result = check_results[name]
    assert result['ok'], 'utils.%s:\n%s' % (name, result['error'])


pytestmark = [pytest.mark.docker, pytest.mark.content]
