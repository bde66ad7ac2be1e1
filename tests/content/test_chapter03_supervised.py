"""Chapter 3 (supervised learning): every section executes in the notebook image and learns.

All its notebooks run in ONE container (see harness.py) on generated data with
GLUONLAB_SMALL=1. The check code of a notebook runs as an extra cell in the same kernel after
the notebook, so it sees the notebook's variables. Training notebooks must beat a stated
baseline by a margin: the majority class for the classifiers (the fake Fashion-MNIST is about
as hard as the real one, so a working small-mode model lands near 0.75-0.85, not 0.99), the
mean predictor for the regressions. Behaviour checks: scratch dropout is the identity outside
autograd.record(), weight decay shrinks the weights and leaves the bias alone.
"""
import pytest

# The two checks every notebook gets; `results` and `rel` come from conftest.py.
from harness import test_notebook_executes_and_check_passes, test_notedown_and_jupytext_agree  # noqa: F401
from test_figures import drawn_check

# MAJORITY: accuracy of always answering the most frequent test class (about 0.11).
MAJORITY = '''
import numpy as np
_test_labels = np.concatenate([_y.asnumpy() for _, _y in test_iter]).astype(int)
MAJORITY = np.bincount(_test_labels).max() / len(_test_labels)
assert MAJORITY < 0.2, MAJORITY
'''


def beats_majority(margin, history='history'):
    return MAJORITY + '''
assert {h}['test_acc'][-1] > MAJORITY + {m}, ({h}['test_acc'], MAJORITY)
assert {h}['loss'][-1] < 0.5 * {h}['loss'][0], {h}['loss']
'''.format(h=history, m=margin)


NOTEBOOKS = {
    'chapter03_supervised/linear_regression_scratch.md': '''
mean_predictor = ((labels - labels.mean()) ** 2).mean().asscalar() / 2
assert losses[-1] < 0.001 * mean_predictor, (losses, mean_predictor)
assert losses[-1] < 2 * 0.05 ** 2 / 2, losses  # down to the noise floor
assert (w.reshape((-1,)) - nd.array(true_w)).abs().max().asscalar() < 0.02, w
assert abs(b.asscalar() - true_b) < 0.02, b
assert curves['lr=0.003'][-1] > 5 * curves['lr=0.03'][-1], curves  # too small a step is slow
''',
    'chapter03_supervised/linear_regression_gluon.md': '''
mean_predictor = ((labels - labels.mean()) ** 2).mean().asscalar() / 2
assert losses[-1] < 0.001 * mean_predictor, (losses, mean_predictor)
assert (net.weight.data().reshape((-1,)) - nd.array(true_w)).abs().max().asscalar() < 0.02
assert abs(net.bias.data().asscalar() - true_b) < 0.02
''',
    'chapter03_supervised/softmax_regression_scratch.md': beats_majority(0.5) + '''
assert history['test_acc'][-1] < 0.95, history  # the fake data keep a realistic difficulty
assert abs(X_prob.sum(axis=1) - 1).max().asscalar() < 1e-6
assert X_prob[1, 0].asscalar() == 1.0  # a score of 1000 does not overflow
X0, y0 = train_set[0]
assert X0.shape == (1, 28, 28) and X0.dtype == np.float32 and X0.max().asscalar() <= 1.0
assert len(train_set) == n_train and X.shape[1:] == (1, 28, 28)
''',
    'chapter03_supervised/softmax_regression_gluon.md': beats_majority(0.5) + '''
assert history['test_acc'][-1] < 0.95, history
assert all(np.isfinite(fused)) and not all(np.isfinite(naive))
assert abs(fused[-1] - 3 * scales[-1]) < 1e-2 * 3 * scales[-1], fused
''',
    'chapter03_supervised/mlp_scratch.md': beats_majority(0.55),
    'chapter03_supervised/mlp_gluon.md': beats_majority(0.55) + '''
assert net[0].weight.shape == (256, 784)
assert final_train[0] < max(final_train[1:]), final_train  # 8 hidden units are a bottleneck
''',
    'chapter03_supervised/underfit_overfit.md': '''
mean_predictor = float(np.mean((y_test - y_train.mean()) ** 2))
assert normal_test[-1] < 0.25 * mean_predictor, (normal_test[-1], mean_predictor)
assert under_train[-1] > 2 * normal_train[-1], (under_train[-1], normal_train[-1])   # underfits
assert over_test[-1] > 5 * over_train[-1] and over_test[-1] > 5 * normal_test[-1]     # overfits
# capacity curve: training error never rises with the degree, test error is U-shaped
assert all(b <= a + 1e-9 for a, b in zip(cap_train, cap_train[1:])), cap_train
assert 2 <= best_degree <= 8 and cap_test[-1] > 2 * min(cap_test), (best_degree, cap_test)
# more data: lower test error and a smaller gap
assert size_test[-1] < 0.5 * size_test[0], size_test
assert size_test[-1] - size_train[-1] < 0.2 * (size_test[0] - size_train[0])
''',
    'chapter03_supervised/reg_scratch.md': '''
assert train_ls_0[-1] < 0.1 * mean_baseline and test_ls_0[-1] > 10 * mean_baseline  # overfits
assert test_ls_3[-1] < 0.9 * mean_baseline, (test_ls_3[-1], mean_baseline)  # decay generalises
assert norm_3 < 0.2 * norm_0
assert all(b < a for a, b in zip(sweep_norm, sweep_norm[1:])), sweep_norm  # larger lambda, smaller w
assert l2_penalty(nd.ones((2, 1))).asscalar() == 1
''',
    'chapter03_supervised/reg_gluon.md': '''
mean_baseline = ((test_y - train_y.mean()) ** 2).mean().asscalar() / 2
assert train_ls_0[-1] < 0.1 * mean_baseline and test_ls_0[-1] > 10 * mean_baseline
assert test_ls_3[-1] < 0.9 * mean_baseline, (test_ls_3[-1], mean_baseline)
assert abs(net_3.bias.data().asscalar() - 0.4) < 0.15  # wd_mult = 0: the bias is not decayed
assert net_3.weight.data().norm().asscalar() < 0.2 * net_0.weight.data().norm().asscalar()
''',
    'chapter03_supervised/dropout_scratch.md': beats_majority(0.5) + '''
Xc = next(iter(test_iter))[0]
# identity outside record(): the same numbers as the network without dropout, every time
reference = make_net(params, use_dropout=False)(Xc)
assert (net(Xc) == reference).min().asscalar() == 1 and (net(Xc) == net(Xc)).min().asscalar() == 1
with autograd.record():
    assert (net(Xc) != net(Xc)).sum().asscalar() > 0  # training mode drops at random
assert (dropout(X, 0) == X).min().asscalar() == 1 and dropout(X, 1).abs().sum().asscalar() == 0
kept = dropout(nd.ones((1000, 100)), 0.5)
assert 0.45 < (kept > 0).mean().asscalar() < 0.55 and set(kept.asnumpy().ravel()) <= {0.0, 2.0}
assert abs(dropout(nd.ones((1000, 100)), 0.3).mean().asscalar() - 1) < 0.02  # expectation kept
try:
    dropout(X, 1.5)
except ValueError:
    pass
else:
    raise AssertionError('drop_prob=1.5 accepted')
assert ensemble_acc >= single_acc - 0.01 and abs(full_acc - ensemble_acc) < 0.05
assert gap_plain > gap_dropout - 0.01, (gap_plain, gap_dropout)
''',
    'chapter03_supervised/dropout_gluon.md': beats_majority(0.5) + '''
assert train_mode_diff > 0 and predict_mode_diff == 0
assert sum(isinstance(b, nn.Dropout) for b in net) == 2 and len(plain_net) == 3
''',
    'chapter03_supervised/kaggle_house_prices.md': '''
import os
assert train_data.shape[1] == 81 and test_data.shape[1] == 80
assert len(fold_curves) == k
for train_curve, valid_curve in fold_curves:  # every fold learns far beyond the mean predictor
    assert train_curve[-1] < 0.6 * baseline_rmse, train_curve
assert valid_l < 0.7 * baseline_rmse, (valid_l, baseline_rmse)
assert scores[best][1] == min(s[1] for s in scores.values())  # chosen by validation error
# statistics come from the training rows only (no leakage from the test set)
assert np.allclose(final_prep['mean'].values, train_data[final_prep['numeric']].mean().values)
assert 'SalePrice' not in final_prep['numeric'] and 'Id' not in final_prep['numeric']
sub = pd.read_csv('submission.csv')
assert list(sub.columns) == ['Id', 'SalePrice'] and len(sub) == len(test_data)
assert sub.SalePrice.notna().all() and (sub.Id.values == test_data.Id.values).all()
assert 0.5 < sub.SalePrice.median() / train_data.SalePrice.median() < 2
''',
}
for _rel in NOTEBOOKS:
    NOTEBOOKS[_rel] += drawn_check(_rel)

pytestmark = [pytest.mark.docker, pytest.mark.content]
