"""Figures in the tutorials: diagrams drawn by content/figures/draw_*.py, plots drawn by code.

EXPECTED lists every notebook of the chapters in CHAPTERS with its minimum number of
  diagrams: markdown images ![...](../figures/<name>.svg) whose file exists, and
  plots:    call sites in its python blocks that draw a matplotlib figure (utils.plot_curves,
            utils.show_images, utils.fit without plot=False, history.plot(), plt.<draw>);
            a call inside a function that runs twice counts once here.
The chapter modules append `drawn_check(rel)` to a notebook's check cell, so the plots are
also counted where they are really made: in the executed notebook (matplotlib figures open).
No Docker here: the diagrams' scripts only need the standard library.
"""
import glob
import os
import re
import subprocess
import sys

import pytest

import harness

FIGURES = os.path.join(harness.CONTENT, 'figures')
# Chapters whose notebooks must all be listed in EXPECTED (the chapters 4-6 helper adds its own).
CHAPTERS = ('chapter01_preface', 'chapter02_crashcourse', 'chapter03_supervised',
            'chapter04_gluon_basics', 'chapter05_cnn', 'chapter06_rnn')

EXPECTED = {
    'chapter01_preface/preface.md': (1, 0),
    'chapter01_preface/install.md': (1, 0),
    'chapter01_preface/buy_gpu.md': (1, 0),
    'chapter02_crashcourse/introduction.md': (3, 1),
    'chapter02_crashcourse/ndarray.md': (1, 0),
    'chapter02_crashcourse/autograd.md': (1, 1),
    'chapter03_supervised/linear_regression_scratch.md': (1, 2),
    'chapter03_supervised/linear_regression_gluon.md': (1, 1),
    'chapter03_supervised/softmax_regression_scratch.md': (1, 3),
    'chapter03_supervised/softmax_regression_gluon.md': (0, 2),
    'chapter03_supervised/mlp_scratch.md': (1, 2),
    'chapter03_supervised/mlp_gluon.md': (0, 2),
    'chapter03_supervised/underfit_overfit.md': (2, 3),
    'chapter03_supervised/reg_scratch.md': (1, 2),
    'chapter03_supervised/reg_gluon.md': (0, 1),
    'chapter03_supervised/dropout_scratch.md': (1, 2),
    'chapter03_supervised/dropout_gluon.md': (0, 2),
    'chapter03_supervised/kaggle_house_prices.md': (1, 3),
    # chapters 4-6: (diagrams, matplotlib figures the executed notebook really opens)
    'chapter04_gluon_basics/model_construction.md': (1, 0),
    'chapter04_gluon_basics/parameters.md': (1, 0),
    'chapter04_gluon_basics/serialization.md': (1, 0),
    'chapter04_gluon_basics/custom_layer.md': (1, 1),
    'chapter04_gluon_basics/use_gpu.md': (1, 0),
    'chapter05_cnn/conv_scratch.md': (2, 3),
    'chapter05_cnn/conv_gluon.md': (1, 1),
    'chapter05_cnn/batch_norm_scratch.md': (1, 1),
    'chapter05_cnn/batch_norm_gluon.md': (1, 1),
    'chapter05_cnn/alexnet.md': (1, 2),
    'chapter05_cnn/vgg.md': (1, 1),
    'chapter06_rnn/rnn_scratch.md': (1, 2),
}

IMAGE = re.compile(r'!\[[^\]]*\]\(\.\./figures/([^)\s]+)\)')
CODE_BLOCK = re.compile(r'^```python\n(.*?)^```', re.S | re.M)
DRAWING = re.compile(r'utils\.(?:plot_curves|show_images)\(|\.plot\(|'
                     r'plt\.(?:plot|scatter|bar|hist|imshow|subplots|figure)\(')
FIT_CALL = re.compile(r'utils\.fit\(')


def _read(rel):
    with open(os.path.join(harness.CONTENT, rel), encoding='utf-8') as f:
        return f.read()


def diagrams_in(rel):
    return [name for name in IMAGE.findall(_read(rel)) if os.path.isfile(os.path.join(FIGURES, name))]


def plots_in(rel):
    count = 0
    for block in CODE_BLOCK.findall(_read(rel)):
        count += len(DRAWING.findall(block))
        for m in FIT_CALL.finditer(block):
            # the call's text: up to the parenthesis that closes it
            depth, end = 0, m.end() - 1
            for end in range(m.end() - 1, len(block)):
                depth += {'(': 1, ')': -1}.get(block[end], 0)
                if depth == 0:
                    break
            count += 'plot=False' not in block[m.start():end]
    return count


def drawn_check(rel):
    """Check-cell code: the executed notebook really made its plots (figures still open)."""
    plots = EXPECTED[rel][1]
    return ('\nimport matplotlib.pyplot as _plt\n'
            'assert len(_plt.get_fignums()) >= %d, "%s drew %%d figures, expected %d" '
            '%% len(_plt.get_fignums())\n' % (plots, rel, plots))


def test_every_notebook_of_these_chapters_is_listed():
    missing = [rel for rel in harness.section_files()
               if rel.split('/')[0] in CHAPTERS and rel not in EXPECTED]
    assert not missing, 'add these notebooks to EXPECTED in tests/content/test_figures.py: %s' % missing


@pytest.mark.parametrize('rel', sorted(EXPECTED))
def test_notebook_has_its_figures(rel):
    want_diagrams, want_plots = EXPECTED[rel]
    broken = [n for n in IMAGE.findall(_read(rel)) if not os.path.isfile(os.path.join(FIGURES, n))]
    assert not broken, '%s shows figures that do not exist in content/figures: %s' % (rel, broken)
    assert len(diagrams_in(rel)) >= want_diagrams, (rel, diagrams_in(rel))
    assert plots_in(rel) >= want_plots, '%s draws %d plots, expected at least %d' % (
        rel, plots_in(rel), want_plots)


def test_diagrams_are_what_their_scripts_draw(tmp_path):
    # Every committed .svg is regenerated byte for byte by a draw_*.py script: nobody edits a
    # figure by hand, and a changed script is committed with its output.
    scripts = sorted(glob.glob(os.path.join(FIGURES, 'draw_*.py')))
    assert scripts, 'no draw_*.py in content/figures'
    for script in scripts:
        proc = subprocess.run([sys.executable, script, '--out', str(tmp_path)],
                              capture_output=True, text=True, cwd=FIGURES)
        assert proc.returncode == 0, '%s failed:\n%s' % (script, proc.stderr)
    drawn = sorted(os.listdir(tmp_path))
    committed = sorted(os.path.basename(p) for p in glob.glob(os.path.join(FIGURES, '*.svg')))
    assert drawn == committed, ('figures without a script, or not committed: %s'
                                % sorted(set(drawn) ^ set(committed)))
    stale = [n for n in drawn if (tmp_path / n).read_bytes()
             != open(os.path.join(FIGURES, n), 'rb').read()]
    assert not stale, 'rerun the draw_*.py scripts and commit: %s differ' % stale


def test_every_diagram_is_shown_somewhere():
    shown = {name for rel in harness.section_files() for name in IMAGE.findall(_read(rel))}
    unused = sorted(os.path.basename(p) for p in glob.glob(os.path.join(FIGURES, '*.svg'))
                    if os.path.basename(p) not in shown)
    assert not unused, 'diagrams no notebook shows: %s' % unused
