"""Chapter 6 (recurrent networks): every section executes in the notebook image and learns.

All its notebooks run in ONE container (see harness.py) on generated data with
GLUONLAB_SMALL=1. The check code of a notebook runs as an extra cell in the same kernel after
the notebook, so it sees the notebook's variables. The character RNN is judged on held-out
text against n-gram baselines computed on the same split: it must beat the unigram model by a
wide margin and the trigram model too (a model that only learned letter frequencies, pairs or
triples fails). The n-gram code itself is checked against a direct count.
"""
import pytest

# The two checks every notebook gets; `results` and `rel` come from conftest.py.
from harness import test_notebook_executes_and_check_passes, test_notedown_and_jupytext_agree  # noqa: F401
from test_figures import drawn_check

NOTEBOOKS = {
    'chapter06_rnn/rnn_scratch.md': '''
import math as _math
assert len(history['valid_ppl']) == num_epochs
# the untrained model is near the uniform baseline |V|; the n-gram baselines are below it
assert ngram_ppl[1] < V and ngram_ppl[2] < ngram_ppl[1]
# learning with a margin over the stated baselines, on text the model never trained on
# (small mode on the generated text reaches about 2.1; unigram 16, bigram 7.2, trigram 3.3)
assert history['valid_ppl'][-1] < 0.3 * ngram_ppl[1], (history['valid_ppl'][-1], ngram_ppl)
assert history['valid_ppl'][-1] < ngram_ppl[3], (history['valid_ppl'][-1], ngram_ppl)
assert history['train_ppl'][-1] < history['train_ppl'][0]
# unigram perplexity recomputed directly from letter counts (alpha = 0.1)
_c = collections.Counter(train_text)
_lp = [_math.log((_c[ch] + 0.1) / (len(train_text) + 0.1 * V)) for ch in valid_text]
assert abs(_math.exp(-sum(_lp) / len(_lp)) - ngram_ppl[1]) < 1e-6
# unseen n-grams grow with n; a 1-gram table of letters covers everything here
assert unseen[1] == 0 and unseen[6] > unseen[2]
# stream batches: row i of batch k+1 continues row i of batch k
_b = list(stream_batches(list(range(50)), 2, 5))
assert _b[1][0][0, 0].asscalar() == _b[0][0][0, -1].asscalar() + 1
assert (_b[0][1] - _b[0][0]).min().asscalar() == 1
text_out = generate('the time', 20, params)
assert text_out.startswith('the time') and len(text_out) == 28
assert set(text_out) <= set(vocab)
''',
}

# every notebook also proves it drew its figures (test_figures.EXPECTED)
for _rel in NOTEBOOKS:
    NOTEBOOKS[_rel] += drawn_check(_rel)

pytestmark = [pytest.mark.docker, pytest.mark.content]
