"""Chapter 6 (recurrent networks): every section executes in the notebook image and learns.

All its notebooks run in ONE container (see harness.py) on generated data with
GLUONLAB_SMALL=1. The check code of a notebook runs as an extra cell in the same kernel after
the notebook, so it sees the notebook's variables: the character RNN's perplexity must
fall well below the vocabulary size, and it must generate text.
"""
import pytest

# The two checks every notebook gets; `results` and `rel` come from conftest.py.
from harness import test_notebook_executes_and_check_passes, test_notedown_and_jupytext_agree  # noqa: F401

NOTEBOOKS = {
    'chapter06_rnn/rnn_scratch.md': '''
assert len(perplexities) == num_epochs
assert perplexities[-1] < perplexities[0], perplexities
# the untrained model is near the uniform baseline (vocab size); training must beat it clearly
assert perplexities[-1] < 0.5 * vocab_size, (perplexities[-1], vocab_size)
assert len(outputs) == 5 and outputs[0].shape == (2, vocab_size)
text = predict_rnn('the time', 20, rnn, params, init_rnn_state, num_hiddens, vocab_size,
                   ctx, idx_to_char, char_to_idx)
assert text.startswith('the time') and len(text) == 28
''',
}

pytestmark = [pytest.mark.docker, pytest.mark.content]
