"""Chapter 3 (supervised learning): every section executes in the notebook image and learns.

All its notebooks run in ONE container (see harness.py) on generated data with
GLUONLAB_SMALL=1. The check code of a notebook runs as an extra cell in the same kernel after
the notebook, so it sees the notebook's variables: training notebooks must show learning
(final loss below the first, accuracy above chance), not just finish.
"""
import pytest

# The two checks every notebook gets; `results` and `rel` come from conftest.py.
from harness import test_notebook_executes_and_check_passes, test_notedown_and_jupytext_agree  # noqa: F401

# Classification notebooks: 10 classes, so chance is 0.1; the generated data are learnable
# enough that a working model is far above it after the few small-mode epochs.
LEARNS_TO_CLASSIFY = '''
assert history['loss'][-1] < 0.8 * history['loss'][0], history
assert history['test_acc'][-1] > 0.5, history
'''
# Two hidden layers with dropout and a 0.01-scale init start slowly on 2000 samples: the
# accuracy bar is lower (3x chance), the loss must still fall clearly.
LEARNS_WITH_DROPOUT = '''
assert history['loss'][-1] < 0.8 * history['loss'][0], history
assert history['test_acc'][-1] > 0.3, history
'''

NOTEBOOKS = {
    'chapter03_supervised/linear_regression_scratch.md': '''
assert losses[-1] < losses[0] and losses[-1] < 0.01, losses
assert (w.reshape((-1,)) - true_w).abs().max().asscalar() < 0.05, w
assert abs(b.asscalar() - true_b) < 0.05, b
''',
    'chapter03_supervised/linear_regression_gluon.md': '''
assert losses[-1] < losses[0] and losses[-1] < 0.01, losses
assert abs(dense.weight.data()[0, 0].asscalar() - true_w[0]) < 0.05
assert abs(dense.bias.data().asscalar() - true_b) < 0.05
''',
    'chapter03_supervised/softmax_regression_scratch.md': LEARNS_TO_CLASSIFY + '''
assert abs(X_prob.sum(axis=1) - 1).max().asscalar() < 1e-5
''',
    'chapter03_supervised/softmax_regression_gluon.md': LEARNS_TO_CLASSIFY,
    'chapter03_supervised/mlp_scratch.md': LEARNS_TO_CLASSIFY,
    'chapter03_supervised/mlp_gluon.md': LEARNS_TO_CLASSIFY + '''
assert net[0].weight.shape == (256, 784)
''',
    'chapter03_supervised/underfit_overfit.md': '''
# normal fit learns; a line cannot fit the cubic; 2 samples fit well but generalise badly
assert normal_train[-1] < normal_train[0] and normal_test[-1] < normal_test[0]
assert under_train[-1] > 2 * normal_train[-1], (under_train[-1], normal_train[-1])
assert over_test[-1] > 2 * over_train[-1], (over_train[-1], over_test[-1])
''',
    'chapter03_supervised/reg_scratch.md': '''
assert train_ls_0[-1] < train_ls_0[0] and test_ls_0[-1] > 10 * train_ls_0[-1]  # overfits
assert test_ls_5[-1] < test_ls_0[-1], (test_ls_5[-1], test_ls_0[-1])  # decay helps
assert l2_penalty(nd.ones((2, 1))).asscalar() == 1
''',
    'chapter03_supervised/reg_gluon.md': '''
assert train_ls_0[-1] < train_ls_0[0] and test_ls_0[-1] > 10 * train_ls_0[-1]  # overfits
assert test_ls_5[-1] < test_ls_0[-1], (test_ls_5[-1], test_ls_0[-1])  # decay helps
''',
    'chapter03_supervised/dropout_scratch.md': LEARNS_WITH_DROPOUT + '''
assert (dropout(X, 0) == X).min().asscalar() == 1
assert dropout(X, 1).abs().sum().asscalar() == 0
kept = dropout(nd.ones((1000, 100)), 0.5)
assert 0.4 < (kept > 0).mean().asscalar() < 0.6 and set(kept.asnumpy().ravel()) <= {0.0, 2.0}
''',
    'chapter03_supervised/dropout_gluon.md': LEARNS_WITH_DROPOUT + '''
assert train_mode_diff > 0 and predict_mode_diff == 0
''',
    'chapter03_supervised/kaggle_house_prices.md': '''
import os, numpy as np
assert train_data.shape[1] == 81 and test_data.shape[1] == 80
assert len(fold_curves) == k
for train_ls, valid_ls in fold_curves:  # every fold learns
    assert train_ls[-1] < 0.5 * train_ls[0], train_ls
# Better than always predicting the mean log price (the std of the log labels).
baseline = float(np.log(train_data.SalePrice).std())
assert valid_l < baseline, (valid_l, baseline)
sub = pd.read_csv('submission.csv')
assert list(sub.columns) == ['Id', 'SalePrice'] and len(sub) == len(test_data)
assert sub.SalePrice.notna().all() and (sub.Id.values == test_data.Id.values).all()
''',
}

pytestmark = [pytest.mark.docker, pytest.mark.content]
