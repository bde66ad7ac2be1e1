"""Chapter 5 (convolutional networks): every section executes in the notebook image and learns.

All its notebooks run in ONE container (see harness.py) on generated data with
GLUONLAB_SMALL=1. The check code of a notebook runs as an extra cell in the same kernel after
the notebook, so it sees the notebook's variables. Learning is judged against a stated
baseline: the majority-class accuracy of the test set (0.1 for 10 balanced classes), which
a classifier must beat by a margin. The margins sit below what the small-mode runs reach on
the generated data (see tests/content/README.md) so that a lesson whose model only half
learns fails. Scratch batch norm is checked for behaviour: batch statistics in training
mode, the stored moving statistics at prediction time, updates off the autograd tape.
"""
import pytest

# The two checks every notebook gets; `results` and `rel` come from conftest.py.
from harness import test_notebook_executes_and_check_passes, test_notedown_and_jupytext_agree  # noqa: F401
from test_figures import drawn_check


def learns(margin):
    """Check code: the last epoch's test accuracy beats the majority class by `margin`."""
    code = '''
import numpy as _np
_labels = _np.concatenate([y.asnumpy() for _, y in test_iter])
majority = _np.bincount(_labels.astype(int)).max() / len(_labels)
assert len(history['loss']) == num_epochs
assert history['loss'][-1] < history['loss'][0], history['loss']
assert history['test_acc'][-1] > majority + %r, (history['test_acc'], majority)
''' % margin
    return code


NOTEBOOKS = {
    'chapter05_cnn/conv_scratch.md': learns(0.45) + '''
# xcorr2d against an independent numpy loop on a new input
_X = _np.random.RandomState(1).randn(6, 7)
_K = _np.random.RandomState(2).randn(3, 2)
_ref = _np.array([[(_X[i:i + 3, j:j + 2] * _K).sum() for j in range(6)] for i in range(4)])
_got = xcorr2d(nd.array(_X), nd.array(_K)).asnumpy()
assert _np.abs(_got - _ref).max() < 1e-4
# the kernel-identification experiment recovered the hidden kernel
assert (K_learned - K_true).abs().max().asscalar() < 0.05, (K_learned, K_true)
# output-size formula agrees with MXNet on configurations the notebook did not try
for n, k, p, s in [(11, 3, 2, 2), (7, 7, 0, 1), (30, 4, 1, 4)]:
    _o = nd.Convolution(nd.zeros((1, 1, n, n)), nd.zeros((1, 1, k, k)), no_bias=True, kernel=(k, k),
                        pad=(p, p), stride=(s, s), num_filter=1).shape[-1]
    assert conv_out_len(n, k, p, s) == _o, (n, k, p, s)
_G = nd.random.uniform(shape=(6, 8))
assert (max_pool_2x2(_G) - nd.Pooling(_G.reshape((1, 1, 6, 8)), pool_type='max', kernel=(2, 2),
        stride=(2, 2)).reshape((3, 4))).abs().max().asscalar() == 0
''',
    'chapter05_cnn/conv_gluon.md': learns(0.45) + '''
# the parameter claims in the text, recounted here from the layer shapes
def _count(c1, c2, h, k2=3):
    side = ((28 - 5 + 1) // 2 - k2 + 1) // 2
    return (c1 * 25 + c1) + (c2 * c1 * k2 * k2 + c2) + (c2 * side * side * h + h) + (h * 10 + 10)
assert n_ours == _count(8, 16, 64) and n_wide == _count(20, 50, 128) == 170988
assert n_mlp == 784 * 256 + 256 + 2570 == 203530
assert n_ours / n_mlp < 1 / 6 and 0.8 < n_wide / n_mlp < 0.9
''',
    'chapter05_cnn/batch_norm_scratch.md': learns(0.4) + '''
from mxnet import autograd as _ag, nd as _nd
_bn = ScratchBatchNorm(3, momentum=0.8)
_bn.initialize()
_bn.gamma.set_data(_nd.array([2.0, 0.5, 1.0]))
_bn.beta.set_data(_nd.array([1.0, -1.0, 0.0]))
_X = _nd.random.normal(loc=4, scale=3, shape=(32, 3, 5, 5))
_mu = _X.mean(axis=(0, 2, 3))
_var = ((_X - _mu.reshape((1, 3, 1, 1))) ** 2).mean(axis=(0, 2, 3))
with _ag.record():
    _Yt = _bn(_X)
# training mode normalises with the batch's statistics: per-channel mean beta, std gamma
assert (_Yt.mean(axis=(0, 2, 3)) - _bn.beta.data()).abs().max().asscalar() < 1e-3
_std = ((_Yt - _Yt.mean(axis=(0, 2, 3), keepdims=True)) ** 2).mean(axis=(0, 2, 3)).sqrt()
assert (_std - _bn.gamma.data()).abs().max().asscalar() < 1e-3
# moving statistics moved by (1 - momentum) towards the batch statistics, and stay off the tape
assert (_bn.running_mean.data() - 0.2 * _mu).abs().max().asscalar() < 1e-4
assert (_bn.running_var.data() - (0.8 + 0.2 * _var)).abs().max().asscalar() < 1e-3
assert _bn.running_mean.grad_req == 'null'
# predict mode: uses the stored moving statistics, not the batch's, and does not update them
_rm, _rv = _bn.running_mean.data().copy(), _bn.running_var.data().copy()
_Yp = _bn(_X)
_exp = (_bn.gamma.data().reshape((1, 3, 1, 1)) * (_X - _rm.reshape((1, 3, 1, 1)))
        / _nd.sqrt(_rv.reshape((1, 3, 1, 1)) + _bn.eps) + _bn.beta.data().reshape((1, 3, 1, 1)))
assert (_Yp - _exp).abs().max().asscalar() < 1e-4
assert (_Yp - _Yt).abs().max().asscalar() > 0.5
assert (_bn.running_mean.data() == _rm).min().asscalar() == 1
# predict mode: a sample's output does not depend on the rest of the batch
assert (_bn(_X[:1]) - _Yp[:1]).abs().max().asscalar() < 1e-5
# dense (2-D) inputs: statistics per feature over the batch
_d = ScratchBatchNorm(4)
_d.initialize()
with _ag.record():
    _Z = _d(_nd.random.normal(loc=-2, scale=5, shape=(64, 4)))
assert _Z.mean(axis=0).abs().max().asscalar() < 1e-3
# the motivation: without normalisation the first layer gets a much smaller gradient than the last
assert grad_norms[0] < 0.5 * grad_norms[-2], grad_norms
# the trained network's BN layer in predict mode uses its stored statistics on a test batch
assert by_layer.shape == conv_out.shape and (by_layer - by_hand).abs().max().asscalar() < 1e-4
assert net[1].running_mean.data().abs().sum().asscalar() > 0
# the lesson's experiment: at lr 0.9 the sigmoid net learns with batch norm, far less without
assert runs[True]['test_acc'][-1] > runs[False]['test_acc'][-1] + 0.2, runs
''',
    'chapter05_cnn/batch_norm_gluon.md': learns(0.4) + '''
assert (train_mode - predict_mode).abs().max().asscalar() > 1e-3
assert (alone - predict_mode[:1]).abs().max().asscalar() < 1e-4
assert (gluon_running - by_formula).abs().max().asscalar() < 1e-4
assert after_forward.abs().max().asscalar() == 0   # MXNet updates them in backward
assert (alone_train[:1] - train_mode[:1]).abs().max().asscalar() > 1e-4
''',
    'chapter05_cnn/alexnet.md': learns(0.3) + '''
# the text's claim: about 68 is the smallest input this structure accepts (67 works, 63 fails)
from mxnet import init as _init, nd as _nd
_small = alexnet(width=8)
_small.initialize(_init.Xavier())
assert _small(_nd.zeros((1, 1, 67, 67))).shape == (1, 10)
try:
    _small(_nd.zeros((1, 1, 63, 63))).wait_to_read()
    _too_small_ok = True
except Exception:
    _too_small_ok = False
assert not _too_small_ok, 'a 63x63 input should be too small for the three 3x3 poolings'
assert X.shape == (1, 10)
''',
    'chapter05_cnn/vgg.md': learns(0.3) + '''
# each of the five stages halves height and width: 32 -> 16 -> 8 -> 4 -> 2 -> 1 in small mode
assert [s[-1] for s in stage_shapes[:5]] == [resize // 2 ** i for i in range(1, 6)], stage_shapes
assert [s[1] for s in stage_shapes[:5]] == [c // shrink for _, c in VGG11]
assert X.shape == (1, 10)
''',
}

# every notebook also proves it drew its figures (test_figures.EXPECTED)
for _rel in NOTEBOOKS:
    NOTEBOOKS[_rel] += drawn_check(_rel)

pytestmark = [pytest.mark.docker, pytest.mark.content]
