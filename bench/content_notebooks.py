#!/usr/bin/env python3
"""Time the tutorial notebooks in the notebook image (what CI's content tests cost).

Runs the NOTEBOOKS of tests/content/test_chapterNN_*.py (all chapters by default) in one
container, as each chapter's tests do, and prints seconds per notebook, the container's wall
time and whether it stayed within the budget (chapters 1-3's CI budget: 6 minutes on 2 cores).

  python3 bench/content_notebooks.py [--chapter 03] [--budget 360] [--image gluonlab/notebook:cpu]

Exit status: 0 within budget and every notebook passed, 1 otherwise, 2 bad usage.
"""
import argparse
import importlib.util
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(HERE), 'tests', 'content')
sys.path.insert(0, TESTS)

import harness  # noqa: E402


def chapter_modules():
    """{'03': 'test_chapter03_supervised.py', ...}"""
    return {f[len('test_chapter'):len('test_chapter') + 2]: f for f in sorted(os.listdir(TESTS))
            if f.startswith('test_chapter') and f.endswith('.py')}


def notebooks_of(chapter):
    modules = chapter_modules()
    number = chapter[len('chapter'):len('chapter') + 2] if chapter.startswith('chapter') else chapter.zfill(2)
    if number not in modules:
        raise SystemExit('no content test module for chapter %r; chapters: %s' % (chapter, sorted(modules)))
    path = os.path.join(TESTS, modules[number])
    spec = importlib.util.spec_from_file_location('bench_chapter%s' % number, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.NOTEBOOKS


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--chapter', action='append',
                        help='chapter number or folder, e.g. 03 or chapter03_supervised (repeatable; default: all)')
    parser.add_argument('--budget', type=float, default=360, help='seconds allowed (default 360)')
    parser.add_argument('--image', default=harness.IMAGE, help='image (default %(default)s)')
    args = parser.parse_args()
    chapters = args.chapter or sorted(chapter_modules())
    notebooks = {}
    for chapter in chapters:
        notebooks.update(notebooks_of(chapter))
    start = time.time()
    results = harness.run_notebooks(notebooks, image=args.image)
    wall = time.time() - start
    failed = 0
    for rel in sorted(results):
        r = results[rel]
        failed += not r['ok']
        print('%7.1f s  %-4s %s' % (r['seconds'], 'ok' if r['ok'] else 'FAIL', rel))
    within = wall <= args.budget
    print('%d notebooks (chapters %s) in %.1f s wall (container start and data generation '
          'included); budget %.0f s: %s; %d failed'
          % (len(results), ','.join(chapters), wall, args.budget, 'ok' if within else 'OVER', failed))
    return 0 if within and not failed else 1


if __name__ == '__main__':
    sys.exit(main())
