"""Chapter 4 (Gluon basics): every section executes in the notebook image.

All its notebooks run in ONE container (see harness.py) on generated data with
GLUONLAB_SMALL=1. The check code of a notebook runs as an extra cell in the same kernel after
the notebook, so it sees the notebook's variables: the serialization notebook must
reload a model with identical outputs, and the GPU notebook must fall back to the CPU and say
so (the image is the CPU build: this proves the no-GPU path only).
"""
import pytest

import harness
# The two checks every notebook gets; `results` and `rel` come from conftest.py.
from harness import test_notebook_executes_and_check_passes, test_notedown_and_jupytext_agree  # noqa: F401

NOTEBOOKS = {
    'chapter04_gluon_basics/model_construction.md': '''
assert net(x).shape == (2, 10)
assert my_seq(x).shape == (2, 10)
assert len(list(my_seq.collect_params().keys())) == 4, my_seq.collect_params()
assert fancy(x).shape == (1,)
assert y.shape == (1,)
# rand_weight is a constant: no gradient, so a Trainer never changes it
assert fancy.rand_weight.grad_req == 'null'
''',
    'chapter04_gluon_basics/parameters.md': '''
assert shared_net[1].weight is shared_net[2].weight
assert net[0].weight.shape == (256, 20) and net[1].weight.shape == (10, 256)
assert lazy.weight.shape == (4, 0)
assert eager.weight.data().shape == (4, 20)
w = net[0].weight.data().abs()
assert ((w == 0) + (w >= 5)).min().asscalar() == 1, 'MyInit: weights are 0 or |w| >= 5'
''',
    'chapter04_gluon_basics/serialization.md': '''
import os
assert (x2 == x).min().asscalar() == 1 and (y2 == y).min().asscalar() == 1
assert sorted(mydict2) == ['x', 'y']
assert (Y_clone == Y).min().asscalar() == 1
# Reload the saved file into a fresh model: identical outputs on new inputs ...
fresh = MLP()
fresh.load_parameters(filename)
X_new = nd.random.normal(shape=(5, 20))
assert (fresh(X_new) == net(X_new)).min().asscalar() == 1
# ... while a model that did not load them differs (so the comparison can fail).
other = MLP()
other.initialize()
assert (other(X_new) == net(X_new)).min().asscalar() == 0
# export/imports: graph + parameters reload without the Python class
assert os.path.isfile(prefix + '-symbol.json') and os.path.isfile(prefix + '-0000.params')
assert (imported(X_new) == hnet(X_new)).min().asscalar() == 1
''',
    'chapter04_gluon_basics/custom_layer.md': '''
assert abs(y.mean().asscalar()) < 1e-4
assert dense(nd.ones((3, 5))).shape == (3, 3)
assert sorted(k.split('_')[-1] for k in dense.params.keys()) == ['bias', 'weight']
assert losses[-1] < 0.5 * losses[0], losses
''',
    'chapter04_gluon_basics/use_gpu.md': '''
import mxnet as mx
if mx.context.num_gpus() == 0:
    # CPU-only (this CI image): the notebook noticed, explained and fell back.
    assert gpu_error, 'expected the mx.gpu(0) allocation to fail and be reported'
    assert ctx == mx.cpu() and all_ctx == [mx.cpu()]
else:
    assert gpu_error is None and ctx == mx.gpu(0) and all_ctx[0] == mx.gpu(0)
assert a.context == ctx and b.context == ctx and y.context == ctx
assert result.context == ctx
assert out.context == ctx and net[0].weight.data().context == ctx
assert out.shape == (4, 1)
''',
}

pytestmark = [pytest.mark.docker, pytest.mark.content]


def test_gpu_notebook_explains_cpu_fallback(results):
    """On the CPU image the GPU section must say what happened, not just silently use the CPU."""
    result = results['chapter04_gluon_basics/use_gpu.md']
    assert result['ok'], harness.describe(result)
    out = result['stdout_tail']
    assert '无法使用 mx.gpu(0)' in out and '没有 GPU' in out, out
