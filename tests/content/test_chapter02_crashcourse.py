"""Chapter 2 (crash course): every section executes in the notebook image.

All its notebooks run in ONE container (see harness.py) on generated data with
GLUONLAB_SMALL=1. The check code of a notebook runs as an extra cell in the same kernel after
the notebook, so it sees the notebook's variables: NDArray and autograd results must be
exact, the introduction's toy model must learn.
"""
import pytest

# The two checks every notebook gets; `results` and `rel` come from conftest.py.
from harness import test_notebook_executes_and_check_passes, test_notedown_and_jupytext_agree  # noqa: F401

NOTEBOOKS = {
    'chapter02_crashcourse/introduction.md': '''
assert losses[-1] < 0.9 * losses[0], losses
assert len(answers) == 100 and answers[14] in ('15', 'fizz', 'buzz', 'fizzbuzz')
assert all(fizzbuzz_rule(i) == ref for i, ref in [(3, 'fizz'), (10, 'buzz'), (30, 'fizzbuzz'), (7, '7')])
''',
    'chapter02_crashcourse/ndarray.md': '''
assert X.shape == (3, 4) and Z.shape == (3, 4)
assert (Z == X + Y).min().asscalar() == 1
assert D.asnumpy().sum() == 6
''',
    'chapter02_crashcourse/autograd.md': '''
assert (x.grad == 4 * x * head_gradient).min().asscalar() == 1
assert (a.grad == c / a).min().asscalar() == 1
''',
}

pytestmark = [pytest.mark.docker, pytest.mark.content]
