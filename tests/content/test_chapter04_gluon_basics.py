"""Chapter 4 (Gluon basics): every section executes in the notebook image and behaves.

All its notebooks run in ONE container (see harness.py) on generated data with
GLUONLAB_SMALL=1. The check code of a notebook runs as an extra cell in the same kernel after
the notebook, so it sees the notebook's variables. The checks exercise the objects the
notebook built (new inputs, a training step, a reload) instead of restating its printed text.
The image is the CPU build: the GPU notebook's checks prove the no-GPU path there and the GPU
path wherever a GPU is visible.
"""
import pytest

import harness
# The two checks every notebook gets; `results` and `rel` come from conftest.py.
from harness import test_notebook_executes_and_check_passes, test_notedown_and_jupytext_agree  # noqa: F401
from test_figures import drawn_check

NOTEBOOKS = {
    'chapter04_gluon_basics/model_construction.md': '''
from mxnet import autograd as _ag, gluon as _gl, nd as _nd
# name_scope: parameters of scoped children carry the model's prefix, the unscoped one does not
assert all(k.startswith(model.prefix) for k in model.collect_params().keys()), model.prefix
scoped = [k for k in half_names if k.startswith(half.prefix)]
assert len(scoped) == 2 and len(half_names) == 4, half_names
assert all(k.startswith('ranker_') for k in named_names), named_names
# Chain registers its children: 3 Dense layers -> 6 parameters, all initialised and trained
assert len(chain.collect_params().keys()) == 6
assert len(forgetful.collect_params().keys()) == 0
x_new = _nd.random.normal(shape=(7, 12))
assert chain(x_new).shape == (7, 3)
# Chain applies its steps in order: same result as calling them by hand
steps = list(chain._children.values())
by_hand = steps[2](steps[1](steps[0](x_new)))
assert (chain(x_new) - by_hand).abs().max().asscalar() == 0
# Rescaler: L2 bound holds for any input, the constant is not trained, the shared layer is
y_big = rescaler(x_new * 100)
assert rescaler.halvings > 0
assert mix_change == 0 and proj_change > 0, (mix_change, proj_change)
assert rescaler.mix.grad_req == 'null'
assert y.shape == (4, 5)
# prefixes are fixed at creation: blocks made outside stacked's scope keep their own names
assert not any(k.startswith(stacked.prefix) for k in stacked_names), stacked_names
assert sum(k.startswith('featurethenscore') for k in stacked_names) == 8, stacked_names
''',
    'chapter04_gluon_basics/parameters.md': '''
import numpy as _np
vals = _np.unique(_np.abs(net[0].weight.data().asnumpy()))
assert len(vals) == 2 and vals[0] == 0 and abs(vals[1] - 0.3) < 1e-6, vals
frac = (net[0].weight.data() != 0).mean().asscalar()
assert 0.12 < frac < 0.28, frac   # density 0.2 on 384 weights: 4 sigma is about 0.08
assert tied[1].weight is tied[2].weight and tied[1].weight is not tied[0].weight
assert abs(shared_grad - 2 * w_value * 2.0) < 1e-5, (shared_grad, w_value)
# deferred initialisation: nothing at initialize(), one call per weight at the first forward
assert calls_after_initialize == []
assert sorted(s for _, s in calls_after_forward) == [(3, 32), (32, 12)], calls_after_forward
assert lazy.weight.shape == (4, 0)
assert eager.weight.data().shape == (4, 12)
assert list(weights_only.keys()) == [k for k in net.collect_params().keys() if k.endswith('weight')]
''',
    'chapter04_gluon_basics/serialization.md': '''
import os
from mxnet import nd as _nd
assert (x2 == x).min().asscalar() == 1 and (y2 == y).min().asscalar() == 1
assert sorted(named_back) == ['x', 'y']
# Reload the saved file into a fresh model: identical outputs on new inputs ...
fresh = Scorer()
fresh.load_parameters(params_file)
X_new = _nd.random.normal(shape=(5, 10))
assert (fresh(X_new) == scorer(X_new)).min().asscalar() == 1
# ... while a model that did not load them differs (so the comparison can fail).
other = Scorer()
other.initialize()
assert (other(X_new) == scorer(X_new)).min().asscalar() == 0
assert load_error and 'extra' in load_error, load_error
assert os.path.isfile(export_prefix + '-symbol.json')
assert os.path.isfile(export_prefix + '-0000.params')
assert (imported(X_new) - hybrid(X_new)).abs().max().asscalar() < 1e-6
assert len([f for f in os.listdir(save_dir) if f.startswith('scorer-epoch')]) == 3
''',
    'chapter04_gluon_basics/custom_layer.md': '''
from mxnet import nd as _nd
z = standardize(_nd.random.normal(loc=4, scale=3, shape=(5, 9)))
assert z.mean(axis=1).abs().max().asscalar() < 1e-4
assert ((z ** 2).mean(axis=1) - 1).abs().max().asscalar() < 1e-3
assert abs(scale.data().asscalar() - 3) < 0.05, scale.data()
assert loose_found == 0 and len(tight.collect_params().keys()) == 1
assert sum(p.data().size for p in low.collect_params().values()) == 2 * (40 + 30) + 30
# learning with a margin over the mean predictor (MSE = label variance); noise floor is 0.01
assert losses[-1] < 0.05 * baseline_mse, (losses[-1], baseline_mse)
''',
    'chapter04_gluon_basics/use_gpu.md': '''
import mxnet as mx
if mx.context.num_gpus() == 0:
    # CPU-only (this CI image): the notebook noticed, explained and fell back.
    assert gpu_error, 'expected the mx.gpu(0) allocation to fail and be reported'
    assert ctx == mx.cpu() and all_ctx == [mx.cpu()]
    assert mixed_error is None and set(timings) == {'cpu'}
else:
    assert gpu_error is None and ctx == mx.gpu(0) and all_ctx[0] == mx.gpu(0)
    assert mixed_error, 'CPU + GPU arrays must fail'
    assert set(timings) == {'cpu', 'gpu'}
# the cross-device parameter error is real on every machine
assert param_error and 'initialized on' in param_error, param_error
assert a.context == ctx and b.context == ctx and result.context == ctx
assert out.context == ctx and net[0].weight.data().context == ctx
assert timings['cpu'] > 0
''',
}

# every notebook also proves it drew its figures (test_figures.EXPECTED)
for _rel in NOTEBOOKS:
    NOTEBOOKS[_rel] += drawn_check(_rel)

pytestmark = [pytest.mark.docker, pytest.mark.content]


def test_gpu_notebook_explains_cpu_fallback(results):
    """On the CPU image the GPU section must say what happened, not just silently use the CPU."""
    result = results['chapter04_gluon_basics/use_gpu.md']
    assert result['ok'], harness.describe(result)
    out = result['stdout_tail']
    assert '无法使用 mx.gpu(0)' in out and '没有 GPU' in out, out
