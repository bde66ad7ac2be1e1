"""Every utils name a notebook uses has a check of its own in some test_utils_*.py.

The check modules declare CHECKS = {utils name: code}; this test reads the notebooks' python
code blocks for `utils.<name>` and fails on a name no module checks. No Docker: files only.
"""
import glob
import importlib.util
import os
import re

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
CODE_BLOCK = re.compile(r'^```python\n(.*?)^```', re.S | re.M)
UTILS_NAME = re.compile(r'\butils\.([A-Za-z_]\w*)')


def checked_names():
    names = set()
    for path in sorted(glob.glob(os.path.join(HERE, 'test_utils_*.py'))):
        spec = importlib.util.spec_from_file_location('_utilscov_' + os.path.basename(path)[:-3], path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        names |= set(getattr(module, 'CHECKS', {}))
    return names


def used_names():
    used = {}
    for rel in harness.section_files():
        with open(os.path.join(harness.CONTENT, rel), encoding='utf-8') as f:
            text = f.read()
        for block in CODE_BLOCK.findall(text):
            for name in UTILS_NAME.findall(block):
                used.setdefault(name, []).append(rel)
    return used


def test_every_utils_name_used_by_a_notebook_is_checked():
    used, checked = used_names(), checked_names()
    assert used, 'found no utils.<name> in any notebook: the pattern or the layout changed'
    unchecked = {name: sorted(set(rels)) for name, rels in used.items() if name not in checked}
    assert not unchecked, ('utils names used by notebooks without a check of their own (add one '
                           'to CHECKS in tests/content/test_utils_helpers.py): %s' % unchecked)


def test_checks_name_real_utils_functions():
    # A check named after something utils.py does not define tests nothing.
    with open(os.path.join(harness.CONTENT, 'utils.py'), encoding='utf-8') as f:
        source = f.read()
    defined = set(re.findall(r'^(?:def|class) ([A-Za-z_]\w*)', source, re.M))
    defined |= set(re.findall(r'^([A-Z_][A-Z0-9_]*) =', source, re.M))
    stale = sorted(checked_names() - defined)
    assert not stale, 'checks named after names utils.py does not define: %s' % stale
