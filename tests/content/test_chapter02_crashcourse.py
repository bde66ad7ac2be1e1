"""Chapter 2 (crash course): every section executes in the notebook image.

All its notebooks run in ONE container (see harness.py) on generated data with
GLUONLAB_SMALL=1. The check code of a notebook runs as an extra cell in the same kernel after
the notebook, so it sees the notebook's variables: NDArray and autograd results must be
exact, the introduction's classifier must beat guessing by a wide margin on words it never saw.
"""
import pytest

# The two checks every notebook gets; `results` and `rel` come from conftest.py.
from harness import test_notebook_executes_and_check_passes, test_notedown_and_jupytext_agree  # noqa: F401
from test_figures import drawn_check

NOTEBOOKS = {
    'chapter02_crashcourse/introduction.md': '''
# Baseline: always answering the larger class of the held-out words.
share = y_test.mean().asscalar()
baseline_error = min(share, 1 - share)
assert baseline_error > 0.35  # the two classes are about balanced
assert test_errors[-1] < baseline_error - 0.25, (test_errors[-1], baseline_error)
assert train_errors[-1] <= test_errors[-1] + 0.05, (train_errors[-1], test_errors[-1])
assert losses[-1] < 0.6 * losses[0], losses
assert not set(w for w, _ in test_words) & set(w for w, _ in train_words)  # held out for real
''',
    'chapter02_crashcourse/ndarray.md': '''
assert temps.shape == (3, 7) and grid.shape == (3, 4)
assert abs(fahrenheit[2, 4].asscalar() - (28 * 9 / 5 + 32)) < 1e-4
assert warm.sum(axis=1).asnumpy().tolist() == [0, 3, 7]
assert two_weeks.shape == (3, 14) and four_cities.shape == (4, 7)
assert table.shape == (3, 4) and table[2, 3].asscalar() == 23
assert fixed[0, 6].asscalar() == 7 and temps[0, 6].asscalar() == 5  # the copy, not temps
assert total[0, 0].asscalar() == 6  # written in place twice: 3 + 3
''',
    'chapter02_crashcourse/autograd.md': '''
assert (w.grad - by_hand_w).abs().asscalar() < 1e-4 and (b.grad - by_hand_b).abs().asscalar() < 1e-4
assert (xs.grad - derivative).abs().max().asscalar() < 1e-4
assert k == 4 and (a.grad - expected).abs().max().asscalar() < 1e-7
assert x.grad.asscalar() == 4  # detach(): u counts as a constant
''',
}
for _rel in NOTEBOOKS:
    NOTEBOOKS[_rel] += drawn_check(_rel)

pytestmark = [pytest.mark.docker, pytest.mark.content]
