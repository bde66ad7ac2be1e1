"""Every section notebook under content/chapter*/ must be executed by some content test.

Each tests/content/test_chapterNN_*.py declares NOTEBOOKS = {path relative to content/: check code};
a section file that no module lists (a new notebook nobody wired in) fails here.
No Docker needed: this only reads files.
"""
import glob
import importlib.util
import os
import re

import harness

HERE = os.path.dirname(os.path.abspath(__file__))


def declared_notebooks():
    declared = {}
    for path in sorted(glob.glob(os.path.join(HERE, 'test_chapter*.py'))):
        spec = importlib.util.spec_from_file_location('_coverage_' + os.path.basename(path)[:-3], path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for rel in module.NOTEBOOKS:
            declared[rel] = os.path.basename(path)
            # One module per chapter: the notebooks of chapter0N_x are in test_chapter0N_x.py.
            chapter = rel.split('/')[0]
            assert os.path.basename(path) == 'test_%s.py' % chapter, (
                '%s lists %s: move it to tests/content/test_%s.py' % (os.path.basename(path), rel, chapter))
    return declared


def test_every_section_is_executed():
    declared = declared_notebooks()
    missing = [rel for rel in harness.section_files() if rel not in declared]
    assert not missing, ('section notebooks not executed by any tests/content/test_chapter*.py '
                         '(add them to their chapter module\'s NOTEBOOKS with a check): %s' % missing)


def test_declared_notebooks_exist():
    declared = declared_notebooks()
    stale = ['%s (in %s)' % (rel, mod) for rel, mod in declared.items()
             if not os.path.isfile(os.path.join(harness.CONTENT, rel))]
    assert not stale, 'NOTEBOOKS lists files that do not exist: %s' % stale



def test_chapters_1_to_3_are_complete():
    # The sections issue 3 promises; guards against a file being renamed or dropped.
    sections = set(harness.section_files())
    expected = {
        'chapter01_preface/preface.md', 'chapter01_preface/install.md',
        'chapter01_preface/buy_gpu.md',
        'chapter02_crashcourse/introduction.md', 'chapter02_crashcourse/ndarray.md',
        'chapter02_crashcourse/autograd.md',
        'chapter03_supervised/linear_regression_scratch.md',
        'chapter03_supervised/linear_regression_gluon.md',
        'chapter03_supervised/softmax_regression_scratch.md',
        'chapter03_supervised/softmax_regression_gluon.md',
        'chapter03_supervised/mlp_scratch.md', 'chapter03_supervised/mlp_gluon.md',
        'chapter03_supervised/underfit_overfit.md',
        'chapter03_supervised/reg_scratch.md', 'chapter03_supervised/reg_gluon.md',
        'chapter03_supervised/dropout_scratch.md', 'chapter03_supervised/dropout_gluon.md',
        'chapter03_supervised/kaggle_house_prices.md',
    }
    assert not expected - sections, 'missing sections: %s' % sorted(expected - sections)


def test_readme_lists_every_section_in_order():
    # content/README.md is the table of contents attendees follow: every section must be linked.
    with open(os.path.join(harness.CONTENT, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    unlisted = [rel for rel in harness.section_files() if '](%s)' % rel not in readme]
    assert not unlisted, 'sections missing from content/README.md: %s' % unlisted


# ---- Navigation: previous / contents / next at the end of every notebook ----------------------
# Chapters whose notebooks must end with the navigation line (the chapters 4-6 helper adds its
# own chapters here once their notebooks carry it).
NAV_CHAPTERS = ('chapter01_preface', 'chapter02_crashcourse', 'chapter03_supervised',
                'chapter04_gluon_basics', 'chapter05_cnn', 'chapter06_rnn')
TOC_LINK = re.compile(r'^\d+\. \[([^\]]+)\]\((chapter[^)]+\.md)\)$', re.M)


def toc_order():
    """[(relpath, title)] in the order content/README.md lists them."""
    with open(os.path.join(harness.CONTENT, 'README.md'), encoding='utf-8') as f:
        return [(rel, title) for title, rel in TOC_LINK.findall(f.read())]


def _relative(src, dst):
    return os.path.relpath(dst, os.path.dirname(src)).replace(os.sep, '/')


def expected_nav(rel):
    """The navigation line `rel` must end with (built from the table of contents)."""
    order = toc_order()
    idx = [r for r, _ in order].index(rel)
    parts = []
    if idx > 0:
        prev, title = order[idx - 1]
        parts.append('[← 上一节 Previous：%s](%s)' % (title, _relative(rel, prev)))
    parts.append('[目录 Contents](%s)' % _relative(rel, 'README.md'))
    if idx + 1 < len(order):
        nxt, title = order[idx + 1]
        parts.append('[下一节 Next：%s →](%s)' % (title, _relative(rel, nxt)))
    return ' · '.join(parts)


def test_notebooks_end_with_previous_contents_next_links():
    wrong = []
    for rel in harness.section_files():
        if rel.split('/')[0] not in NAV_CHAPTERS:
            continue
        with open(os.path.join(harness.CONTENT, rel), encoding='utf-8') as f:
            lines = [line for line in f.read().splitlines() if line.strip()]
        if lines[-1] != expected_nav(rel):
            wrong.append('%s: last line should be\n  %s' % (rel, expected_nav(rel)))
    assert not wrong, '\n'.join(wrong)
