"""Chapter 5 (convolutional networks): every section executes in the notebook image and learns.

All its notebooks run in ONE container (see harness.py) on generated data with
GLUONLAB_SMALL=1. The check code of a notebook runs as an extra cell in the same kernel after
the notebook, so it sees the notebook's variables: training notebooks must show learning
(loss falls, accuracy above the 0.1 chance level of 10 classes).
"""
import pytest

# The two checks every notebook gets; `results` and `rel` come from conftest.py.
from harness import test_notebook_executes_and_check_passes, test_notedown_and_jupytext_agree  # noqa: F401

# Shared by the Fashion-MNIST classifiers: `history` comes from utils.train.
LEARNS = '''
assert len(history['loss']) == num_epochs
assert history['loss'][-1] < history['loss'][0], history['loss']
assert history['train_acc'][-1] > 0.3, history['train_acc']
assert history['test_acc'][-1] > 0.3, history['test_acc']
'''

NOTEBOOKS = {
    'chapter05_cnn/conv_scratch.md': LEARNS + '''
assert corr2d(nd.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]]), nd.array([[0, 1], [2, 3]])).asnumpy().tolist() == [[19, 25], [37, 43]]
assert (K_learned.reshape((2,)) - nd.array([1, -1])).abs().max().asscalar() < 0.3, K_learned
assert same.shape == (1, 1, 8, 8) and strided.shape == (1, 1, 4, 4)
''',
    'chapter05_cnn/conv_gluon.md': LEARNS,
    'chapter05_cnn/batch_norm_scratch.md': LEARNS + '''
assert Y.mean(axis=(0, 2, 3)).abs().max().asscalar() < 1e-4
assert abs(((Y - Y.mean(axis=(0, 2, 3), keepdims=True)) ** 2).mean().asscalar() - 1) < 1e-2
# the moving statistics were updated during training (they start at 0 and 1)
assert net[1].moving_mean.abs().sum().asscalar() > 0
''',
    'chapter05_cnn/batch_norm_gluon.md': LEARNS + '''
assert (train_mode - predict_mode).abs().max().asscalar() > 1e-3
assert (alone - predict_mode[:1]).abs().max().asscalar() < 1e-4
''',
    'chapter05_cnn/alexnet.md': LEARNS + '''
import utils
assert resize == (68 if utils.SMALL else 96)
''',
    'chapter05_cnn/vgg.md': LEARNS + '''
assert X.shape == (1, 10)
assert len([b for b in net if b.name.startswith('sequential')]) == 5
assert sum(n for n, _ in conv_arch) == 8, 'VGG-11: 8 conv layers'
''',
}

pytestmark = [pytest.mark.docker, pytest.mark.content]
