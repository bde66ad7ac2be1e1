"""Chapter 1 (preface): every section executes in the notebook image.

All its notebooks run in ONE container (see harness.py) on generated data with
GLUONLAB_SMALL=1. The check code of a notebook runs as an extra cell in the same kernel after
the notebook, so it sees the notebook's variables: the versions the lab pins, the data root,
the GPU sizing arithmetic.
"""
import pytest

# The two checks every notebook gets; `results` and `rel` come from conftest.py.
from harness import test_notebook_executes_and_check_passes, test_notedown_and_jupytext_agree  # noqa: F401
from test_figures import drawn_check

NOTEBOOKS = {
    'chapter01_preface/preface.md': '''
assert mx.__version__ == '1.9.1' and np.__version__ == '1.23.5'
assert device in (mx.cpu(), mx.gpu(0)) and y.asscalar() == 12
assert utils.SMALL is True  # the harness runs the small mode
''',
    'chapter01_preface/install.md': '''
import os
assert mx.__version__ == '1.9.1'
# the data root the install chapter describes is the one the harness set
assert datasets.data_root() == os.environ['GLUONLAB_DATA_DIR']
''',
    'chapter01_preface/buy_gpu.md': '''
assert mlp_params == 203530
assert abs(param_memory_mb(resnet50_params, 'adam') - 390.625) < 1e-6
''',
}
for _rel in NOTEBOOKS:
    NOTEBOOKS[_rel] += drawn_check(_rel)

pytestmark = [pytest.mark.docker, pytest.mark.content]
