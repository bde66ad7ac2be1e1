"""images/notebook/rootfs/mxnet_op_cache.py on the host, against a stand-in ``mxnet`` package that
generates its operator functions the way MXNet 1.x does (source text naming a per-process handle
address, ``exec(code, None, local)``); tests/images/test_notebook_image.py runs it on the real MXNet."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

MODULE = Path(__file__).resolve().parents[2] / "images" / "notebook" / "rootfs" / "mxnet_op_cache.py"

# Like mxnet/ndarray/register.py: each op's text names its handle, an address that differs in
# every process (here id() of a fresh object), and calls the module-level name `exec`.
REGISTER = '''
_GLOBAL_SEEN = "register module globals"
OPS = ("add", "mul", "alias_of_add")
BODIES = {"add": "a + b", "mul": "a * b", "alias_of_add": "a + b"}
HANDLES = []  # in the order made


def _imperative_invoke(handle, a, b, op):
    return (handle, op, eval(BODIES[op], {}, {"a": a, "b": b}))


def _make(name):
    handle = id(object()) + len(HANDLES)
    HANDLES.append(handle)
    code = """
def %s(a, b):
    "%s: a docstring, as MXNet's are"
    _seen = _GLOBAL_SEEN
    return _imperative_invoke(%d, a, b, %r)""" % (name, name, handle, name)
    local = {}
    exec(code, None, local)
    return local[name]


for _name in OPS:
    globals()[_name] = _make(_name)
# A duplicate text (MXNet has ~200): the same name made twice.
again_add = _make("add")
'''


@pytest.fixture()
def fake_site(tmp_path):
    """A site dir with the stand-in mxnet and the cache module, and the command that runs Python there."""
    site = tmp_path / "site"
    (site / "mxnet" / "ndarray").mkdir(parents=True)
    (site / "mxnet" / "__init__.py").write_text("from . import libinfo\nfrom .ndarray import register\n")
    (site / "mxnet" / "libinfo.py").write_text('__version__ = "1.9.1"\n')
    (site / "mxnet" / "ndarray" / "__init__.py").write_text("")
    (site / "mxnet" / "ndarray" / "register.py").write_text(REGISTER)
    (site / "mxnet_op_cache.py").write_text(MODULE.read_text())

    def python(code: str, *args: str, env: dict[str, str] | None = None, installed: bool = True):
        # The .pth line, as the image's site dir runs it, then the test's code.
        prelude = "import mxnet_op_cache; mxnet_op_cache.install()\n" if installed else ""
        return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code), *args], cwd=site,
                              env={**os.environ, "PYTHONPATH": str(site), **(env or {})},
                              capture_output=True, text=True, timeout=60)

    python.site = site
    return python


def run_module(fake_site, command: str):
    return fake_site("import runpy, sys; sys.argv = ['mxnet_op_cache', %r]; "
                     "runpy.run_module('mxnet_op_cache', run_name='__main__')" % command, installed=False)


REPORT = """
import json, sys, mxnet
from mxnet.ndarray import register as r
finder = [f for f in sys.meta_path if type(f).__name__ == "OpCacheFinder"]
cache = finder[0].cache if finder else None
print(json.dumps({
    "results": [r.add(2, 3), r.mul(2, 3), r.alias_of_add(1, 1), r.again_add(4, 4)],
    "handles": r.HANDLES,
    "globals_are_the_modules": r.add.__globals__ is vars(r),
    "hits": cache.hits if cache else None, "misses": cache.misses if cache else None,
    "left": len(cache.codes) if cache else None,
    "doc": r.mul.__doc__, "filename": r.add.__code__.co_filename}))
"""


def report(fake_site, **env) -> dict:
    done = fake_site(REPORT, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_without_a_cache_file_everything_is_compiled_as_before(fake_site):
    found = report(fake_site)
    assert found["hits"] is None  # no file: the finder never takes part
    assert [result[1:] for result in found["results"]] == [["add", 5], ["mul", 6], ["alias_of_add", 2], ["add", 8]]


def test_build_then_use_gives_the_same_functions_with_this_process_handles(fake_site):
    built = run_module(fake_site, "build")
    assert built.returncode == 0, built.stderr
    assert "4 operator functions (3 distinct) of MXNet 1.9.1" in built.stdout
    found = report(fake_site)
    assert (found["hits"], found["misses"], found["left"]) == (4, 0, 0)  # every use served, then dropped
    handles = found["handles"]
    # Each function calls its operator with the handle of *this* process, not the build's.
    assert [result[0] for result in found["results"]] == handles
    assert len(set(handles)) == 4
    assert [result[1:] for result in found["results"]] == [["add", 5], ["mul", 6], ["alias_of_add", 2], ["add", 8]]
    assert found["globals_are_the_modules"]  # exec(text, None, ...) ran in the register module
    assert found["doc"] == "mul: a docstring, as MXNet's are"
    assert found["filename"] == "<string>"  # as the built-in exec names a text it compiles


def test_check_compares_every_cached_function_with_a_fresh_compile(fake_site):
    assert run_module(fake_site, "build").returncode == 0
    checked = run_module(fake_site, "check")
    assert checked.returncode == 0, checked.stderr
    assert "4 operator functions from the cache, 0 compiled, all equal to their text" in checked.stdout


def test_check_fails_when_the_cache_would_not_be_used(fake_site):
    checked = run_module(fake_site, "check")  # never built
    assert checked.returncode == 1
    assert "was not used" in checked.stderr


def test_a_changed_operator_text_misses_and_is_compiled(fake_site):
    assert run_module(fake_site, "build").returncode == 0
    register = fake_site.site / "mxnet" / "ndarray" / "register.py"
    register.write_text(register.read_text().replace('"mul": "a * b"', '"mul": "a * b * 10"'))
    found = report(fake_site)
    assert found["results"][1][1:] == ["mul", 60]  # the new text, not the cached one
    assert (found["hits"], found["misses"]) == (4, 0)  # the body lives in BODIES, not in the text...
    register.write_text(register.read_text().replace('"%s: a docstring', '"%s: another docstring'))
    found = report(fake_site)
    assert (found["hits"], found["misses"]) == (0, 4)  # ...but a changed text is never served
    assert found["doc"] == "mul: another docstring, as MXNet's are"


def test_a_cache_for_another_mxnet_version_is_ignored(fake_site):
    assert run_module(fake_site, "build").returncode == 0
    (fake_site.site / "mxnet" / "libinfo.py").write_text('__version__ = "1.9.2"\n')
    found = report(fake_site)
    assert found["hits"] is None or found["hits"] == 0
    assert [result[1:] for result in found["results"]][0] == ["add", 5]


@pytest.mark.parametrize("damage", ["truncate", "other magic", "not marshal"])
def test_a_damaged_or_foreign_cache_file_is_ignored(fake_site, damage):
    assert run_module(fake_site, "build").returncode == 0
    path = Path(fake_site("import mxnet_op_cache; print(mxnet_op_cache.cache_path())", installed=False).stdout.strip())
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "other magic":
        done = fake_site(f"""
            import marshal
            data = marshal.loads(open({str(path)!r}, "rb").read())
            data["magic"] = b"\\x00\\x00\\r\\n"
            open({str(path)!r}, "wb").write(marshal.dumps(data))""", installed=False)
        assert done.returncode == 0, done.stderr
    else:
        path.write_bytes(b"not a marshal file at all")
    found = report(fake_site)
    assert found["hits"] is None
    assert [result[1:] for result in found["results"]][1] == ["mul", 6]


def test_the_switch_turns_it_off(fake_site):
    assert run_module(fake_site, "build").returncode == 0
    found = report(fake_site, GLUONLAB_MXNET_OP_CACHE="off")
    assert found["hits"] is None


def test_installing_costs_no_import_beyond_os_and_sys(fake_site):
    # The .pth runs at every start of the kernel's Python: nothing heavy may come with it.
    done = fake_site("""
        import sys
        before = set(sys.modules)
        import mxnet_op_cache
        mxnet_op_cache.install()
        print(sorted(set(sys.modules) - before))""", installed=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.replace("'", '"')) == ["mxnet_op_cache"]


def load_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("mxnet_op_cache_under_test", MODULE)
    cache = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cache)
    return cache


def test_keyed_blanks_exactly_one_handle():
    cache = load_module()
    one = "def f():\n    return _imperative_invoke(1234, a, b)"
    other = "def f():\n    return _imperative_invoke(98765, a, b)"
    assert cache.keyed(one)[0] == cache.keyed(other)[0]
    assert cache.keyed(one)[1:] == (1234, (2, len("    return _imperative_invoke(")))
    assert cache.keyed(other)[1] == 98765
    symbol = "def g():\n    return _symbol_creator(42, None, kw)"
    assert cache.keyed(symbol)[1] == 42
    assert cache.keyed("def h(): pass")[1] is None
    twice = one + "\n_imperative_invoke(5, a, b)"
    assert cache.keyed(twice) == (cache.digest(twice), None, None)  # ambiguous: keyed whole, no replacing
    # Columns count UTF-8 bytes, as code objects do: a non-ASCII character before the handle.
    wide = 'def f():\n    x = "数"; return _imperative_invoke(1234, a, b)'
    assert cache.keyed(wide)[2] == (2, len('    x = "数"; return _imperative_invoke('.encode()))


# Texts whose handle sits where each of the location table's forms is needed: short (column
# under 80), one line (under 128), long (beyond, or a call over several lines), a docstring
# with non-ASCII text, and code after the call on the same line. (A handle on a line of its own
# is not how MXNet writes it: keyed() finds none there, and the text is keyed whole.)
TEXTS = [
    "def f(a, b):\n    return _imperative_invoke(HANDLE, a, b, None, False, False)\n",
    "def f(a, b):\n    out = None; kwargs = {}; names = ['x', 'y']; other = (a, b)\n"
    "    return _imperative_invoke(HANDLE, a, b, out, False, False) + _imperative_x(a, b, out, names, kwargs)\n",
    "def f(a, b):\n    value = a\n    return (value, value, value, value, value, value, value, value, value, "
    "value, _symbol_creator(HANDLE, a, b, value, value, value, value))\n",
    'def f(a, b):\n    r"""数组 docstring"""\n    x = "数组"; return _imperative_invoke(HANDLE, a, b)[0]\n',
]


@pytest.mark.parametrize("text", TEXTS)
def test_a_cached_function_with_another_handle_equals_a_fresh_compile(text):
    cache = load_module()
    built = text.replace("HANDLE", "12345678")
    _, handle, where = cache.keyed(built)
    assert handle == 12345678
    code = compile(built, "<string>", "exec")
    resume = cache.resume_points(code, where[0])
    assert resume[("f", 1)][0] > 0  # the function's entries before the handle's line are skipped
    for digits in cache.HANDLE_DIGITS:
        other = int("9" * digits)
        moved = cache.with_handle(code, handle, other, where, resume)
        fresh = compile(text.replace("HANDLE", str(other)), "<string>", "exec")
        assert moved == fresh, digits
        assert cache.with_handle(code, handle, other, where) == fresh, digits  # read from the start
        function = next(c for c in moved.co_consts if type(c) is type(code))
        assert list(function.co_positions()) == list(next(
            c for c in fresh.co_consts if type(c) is type(code)).co_positions())
    calls = []
    record = lambda *args: calls.append(args) or (0,)  # noqa: E731
    namespace = {}
    exec(cache.with_handle(code, handle, 777, where),
         {"_imperative_invoke": record, "_symbol_creator": record, "_imperative_x": record}, namespace)
    namespace["f"](1, 2)
    assert calls[0][:3] == (777, 1, 2)  # the operator is called with the new handle


def test_a_handle_on_a_line_of_its_own_is_not_replaced():
    cache = load_module()
    text = "def f(a, b):\n    return _imperative_invoke(\n        1234, a, b)\n"
    assert cache.keyed(text) == (cache.digest(text), None, None)
