"""Lets the content tests import the harness modules that sit next to them, and gives every
test_chapterNN_*.py module its notebook run (`results`) and one test per notebook (`rel`)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pytest  # noqa: E402  (after the path set-up above)

import harness  # noqa: E402


@pytest.fixture(scope="module")
def results(request):
    """The module's NOTEBOOKS (path -> check cell), all run once in one container."""
    return harness.run_notebooks(request.module.NOTEBOOKS)


def pytest_generate_tests(metafunc):
    if "rel" in metafunc.fixturenames and hasattr(metafunc.module, "NOTEBOOKS"):
        metafunc.parametrize("rel", sorted(metafunc.module.NOTEBOOKS))
