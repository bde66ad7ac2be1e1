"""Tutorials part 1 (chapters 1-3): every section executes in the notebook image and learns.

All notebooks below run in ONE container (see harness.py) on generated data with
GLUONLAB_SMALL=1. The check code of a notebook runs as an extra cell in the same kernel after
the notebook, so it sees the notebook's variables: training notebooks must show learning
(final loss below the first, accuracy above chance), not just finish.
"""
import pytest

import harness

NOTEBOOKS = {
    'chapter02_crashcourse/ndarray.md': '''
assert X.shape == (3, 4) and Z.shape == (3, 4)
assert (Z == X + Y).min().asscalar() == 1
assert D.asnumpy().sum() == 6
''',
}

pytestmark = [pytest.mark.docker, pytest.mark.content]


@pytest.fixture(scope='module')
def results():
    return harness.run_notebooks(NOTEBOOKS)


@pytest.mark.parametrize('rel', sorted(NOTEBOOKS))
def test_notebook_executes_and_check_passes(results, rel):
    result = results[rel]
    assert result['ok'], harness.describe(result)


@pytest.mark.parametrize('rel', sorted(NOTEBOOKS))
def test_notedown_and_jupytext_agree(results, rel):
    conv = results[rel]['conversion']
    assert conv['ipynb_valid'], rel + ': notedown output is not a valid notebook'
    assert conv['jupytext_same_cells'], (
        rel + ': jupytext sees different code cells than notedown; put code only in ```python '
        'blocks and shell commands in ```shell or ```text blocks')
    assert conv['roundtrip_same_cells'], rel + ': .ipynb -> jupytext md -> notebook changed the code'
