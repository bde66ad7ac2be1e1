#!/usr/bin/env python3
"""Time the tutorial notebooks in the notebook image (what CI's content tests cost).

Runs the NOTEBOOKS of tests/content/test_part<N>.py (all parts by default) in one container,
exactly as the tests do, and prints seconds per notebook, the container's wall time and
whether it stayed within the budget (part 1's CI budget: 6 minutes on 2 cores).

  python3 bench/content_notebooks.py [--part 1] [--budget 360] [--image gluonlab/notebook:cpu]

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


def notebooks_of(part):
    path = os.path.join(TESTS, 'test_part%s.py' % part)
    if not os.path.isfile(path):
        raise SystemExit('no %s: which parts exist? %s' % (
            path, sorted(f for f in os.listdir(TESTS) if f.startswith('test_part'))))
    spec = importlib.util.spec_from_file_location('bench_part%s' % part, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.NOTEBOOKS


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--part', action='append', help='part number (repeatable; default: all)')
    parser.add_argument('--budget', type=float, default=360, help='seconds allowed (default 360)')
    parser.add_argument('--image', default=harness.IMAGE, help='image (default %(default)s)')
    args = parser.parse_args()
    parts = args.part or sorted(f[len('test_part'):-3] for f in os.listdir(TESTS)
                                if f.startswith('test_part') and f.endswith('.py'))
    notebooks = {}
    for part in parts:
        notebooks.update(notebooks_of(part))
    start = time.time()
    results = harness.run_notebooks(notebooks, image=args.image)
    wall = time.time() - start
    failed = 0
    for rel in sorted(results):
        r = results[rel]
        failed += not r['ok']
        print('%7.1f s  %-4s %s' % (r['seconds'], 'ok' if r['ok'] else 'FAIL', rel))
    within = wall <= args.budget
    print('%d notebooks (parts %s) in %.1f s wall (container start and data generation '
          'included); budget %.0f s: %s; %d failed'
          % (len(results), ','.join(parts), wall, args.budget, 'ok' if within else 'OVER', failed))
    return 0 if within and not failed else 1


if __name__ == '__main__':
    sys.exit(main())
