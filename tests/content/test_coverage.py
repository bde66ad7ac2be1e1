"""Every section notebook under content/chapter*/ must be executed by some content test.

Each tests/content/test_part*.py declares NOTEBOOKS = {path relative to content/: check code};
a section file that no module lists (a new notebook nobody wired in) fails here.
No Docker needed: this only reads files.
"""
import glob
import importlib.util
import os

import harness

HERE = os.path.dirname(os.path.abspath(__file__))


def declared_notebooks():
    declared = {}
    for path in sorted(glob.glob(os.path.join(HERE, 'test_part*.py'))):
        spec = importlib.util.spec_from_file_location('_coverage_' + os.path.basename(path)[:-3], path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for rel in module.NOTEBOOKS:
            declared[rel] = os.path.basename(path)
    return declared


def test_every_section_is_executed():
    declared = declared_notebooks()
    missing = [rel for rel in harness.section_files() if rel not in declared]
    assert not missing, ('section notebooks not executed by any tests/content/test_part*.py '
                         '(add them to its NOTEBOOKS with a check): %s' % missing)


def test_declared_notebooks_exist():
    declared = declared_notebooks()
    stale = ['%s (in %s)' % (rel, mod) for rel, mod in declared.items()
             if not os.path.isfile(os.path.join(harness.CONTENT, rel))]
    assert not stale, 'NOTEBOOKS lists files that do not exist: %s' % stale

