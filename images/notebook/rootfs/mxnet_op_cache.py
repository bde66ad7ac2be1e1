"""MXNet's operator functions compiled once, at image build, instead of in every kernel.

``import mxnet`` writes a Python function for each operator of libmxnet as source text and
compiles it with ``exec()``: about 2,500 functions in MXNet 1.9.1, and about half of the import's
CPU time (bench/kernel_start.py). Twenty kernels starting at once pay it twenty times, though the
text depends only on the installed libmxnet. The image build runs ``python -m mxnet_op_cache
build`` once, which imports MXNet, keeps every compiled code object and writes them with
``marshal`` (the format of .pyc files). In a kernel, ``install()`` (from a .pth file, so it runs
at interpreter start, before any user code) makes MXNet's two register modules look code up
there before compiling.

Why it cannot give wrong code: an entry is found only by the whole source text, but for one
number: the address of the operator's handle, which each process has elsewhere. That number is
blanked in the key and put back into the cached code's constants. An operator whose text differs
otherwise (another libmxnet, a custom library loaded later) misses and is compiled as before. A
file written by another bytecode version (``importlib.util.MAGIC_NUMBER``) or another MXNet
version is ignored, and nothing is written at run time. ``python -m mxnet_op_cache check``
compiles every text again and compares each code object with the cached one (the image build
and tests/images run it). ``GLUONLAB_MXNET_OP_CACHE=off`` turns the cache off
(bench/kernel_start.py compares both in one run).

How: ``exec`` is not patched for anyone. The register modules call the name ``exec`` with
``globals=None`` (their own globals); this module gives those two modules a module-level ``exec``
that looks the text up, then calls the built-in ``exec`` with the module's globals and the caller's
locals, which is what ``exec(text, None, local)`` did. Any other mxnet version that does not
call ``exec`` that way is untouched.
"""
# No annotations that need `from __future__` (NGC's kernel Python is 3.8), and only os and sys
# at module level: the .pth imports this module at every start of the kernel's
# Python (servers and scripts too), so everything else is imported when MXNet is.
import os
import sys

#: The modules whose import compiles operator functions (mxnet/ndarray/register.py and
#: mxnet/symbol/register.py; mxnet.ndarray.numpy's registration calls back into the first).
REGISTER_MODULES = ("mxnet.ndarray.register", "mxnet.symbol.register")
SWITCH_ENV = "GLUONLAB_MXNET_OP_CACHE"
_builtin_exec = exec  # the built-in, before the register modules get their own
FORMAT = "gluonlab-mxnet-op-cache-2"


def cache_path() -> str:
    """The cache beside this module, one per interpreter bytecode version."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "mxnet-op-code.%s.marshal" % sys.implementation.cache_tag)


def read_cache(path: str):
    """(mxnet version, codes as OpCodeCache keeps them) from a file this interpreter wrote, else None."""
    import importlib.util
    import marshal
    try:
        with open(path, "rb") as file:
            data = marshal.load(file)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if (not isinstance(data, dict) or data.get("format") != FORMAT
            or data.get("magic") != importlib.util.MAGIC_NUMBER or not isinstance(data.get("codes"), dict)):
        return None
    return data.get("mxnet"), data["codes"]


#: Where a generated function names its operator: the address of the operator's handle in
#: libmxnet (``_imperative_invoke(94817406433504, ...`` in ndarray/register.py, ``_symbol_creator(``
#: in symbol/register.py), which differs in every process. Entries are keyed with it blanked out.
HANDLE_CALLS = ("_imperative_invoke(", "_symbol_creator(")


def keyed(source: str):
    """(a digest of the text with its one operator handle blanked, that handle, where its digits
    start as (line, column in UTF-8 bytes, as code objects count columns)). A text with none, or
    with several, is keyed whole and has no handle to replace. (str.find, not a regular
    expression: this runs on 10 MB of text in every kernel.)"""
    for call in HANDLE_CALLS:
        at = source.find(call)
        if at < 0:
            continue
        start = at + len(call)
        end = source.find(",", start)
        if end < 0 or not source[start:end].isdigit() or source.find(call, start) >= 0:
            return digest(source), None, None
        line_start = source.rfind("\n", 0, start) + 1
        where = (source.count("\n", 0, start) + 1, len(source[line_start:start].encode()))
        return digest(source[:start] + "{handle}" + source[end:]), int(source[start:end]), where
    return digest(source), None, None


def digest(text: str) -> bytes:
    # Keys are digests, not the texts: the file and its load time are halved.
    import hashlib
    return hashlib.blake2b(text.encode(), digest_size=20).digest()


def with_handle(code, old: int, new: int, where, resume=None):
    """``code`` (and the functions in it) as compiling its text with handle ``new`` instead of
    ``old`` would give: the constant replaced and, where the number of digits differs, the columns
    after the number on its line moved (Python 3.11+ keeps columns; earlier ones only lines).
    ``resume``: where each code object's location table reaches the handle's line (resume_points),
    so the entries before it are copied, not read."""
    consts = tuple(
        new if type(const) is int and const == old
        else with_handle(const, old, new, where, resume) if type(const) is type(code)
        else const
        for const in code.co_consts)
    shift = len(str(new)) - len(str(old))
    if shift and sys.version_info >= (3, 11):
        line, column = where
        start = (resume or {}).get((code.co_name, code.co_firstlineno), (0, code.co_firstlineno))
        return code.replace(co_consts=consts, co_linetable=moved_columns(
            code.co_linetable, start, line, column + len(str(old)), shift))
    return code.replace(co_consts=consts)


def resume_points(code, line: int) -> dict:
    """{(name, first line): (offset, previous start line)} of the first location entry that ends
    on or after ``line``, for ``code`` and the functions in it (Python 3.11+; else empty)."""
    points = {}
    if sys.version_info >= (3, 11):
        for start, _, _, _, _, end_line, _, _, before in _entries(code.co_linetable, 0, code.co_firstlineno):
            if end_line is not None and end_line >= line:
                points[(code.co_name, code.co_firstlineno)] = (start, before)
                break
        for const in code.co_consts:
            if type(const) is type(code):
                points.update(resume_points(const, line))
    return points


# Python 3.11's location table (CPython's Objects/locations.md): entries of a first byte
# 1CCCCLLL (code, length - 1) and the code's payload; columns are UTF-8 byte offsets.
SHORT_FORMS = range(0, 10)   # same line; column // 8 in the code, the rest in one byte
ONE_LINE_FORMS = range(10, 13)  # line + (code - 10); start and end column bytes
NO_COLUMN, LONG_FORM, NO_LOCATION = 13, 14, 15


def _varint(table: bytes, at: int):
    value, shift = table[at] & 63, 6
    while table[at] & 64:
        at += 1
        value |= (table[at] & 63) << shift
        shift += 6
    return value, at + 1


def _svarint(table: bytes, at: int):
    value, at = _varint(table, at)
    return (-(value >> 1) if value & 1 else value >> 1), at


def _put_varint(out: bytearray, value: int):
    while value >= 64:
        out.append(64 | (value & 63))
        value >>= 6
    out.append(value)


def _put_svarint(out: bytearray, value: int):
    _put_varint(out, ((-value) << 1) | 1 if value < 0 else value << 1)


def _entries(table: bytes, at: int, current: int):
    """Each entry from byte ``at`` on (``current``: the start line before it): (offset, end offset,
    code, code units, line, end line, column, end column, the start line before it); None where
    the entry has none."""
    while at < len(table):
        first = table[at]
        code, units = (first >> 3) & 15, (first & 7) + 1
        start, previous = at, current
        at += 1
        column = end_column = end_line = None
        if code == NO_COLUMN:
            delta, at = _svarint(table, at)
            current += delta
            end_line = current
        elif code in SHORT_FORMS:
            column = code * 8 + ((table[at] >> 4) & 7)
            end_line, end_column = current, column + (table[at] & 15)
            at += 1
        elif code in ONE_LINE_FORMS:
            current += code - 10
            column, end_column, end_line = table[at], table[at + 1], current
            at += 2
        elif code == LONG_FORM:
            delta, at = _svarint(table, at)
            current += delta
            end_delta, at = _varint(table, at)
            column, at = _varint(table, at)
            end_column, at = _varint(table, at)
            column, end_column, end_line = column - 1, end_column - 1, current + end_delta
        line = None if code == NO_LOCATION else current
        yield start, at, code, units, line, end_line, column, end_column, previous


def moved_columns(table: bytes, start, line: int, after: int, shift: int) -> bytes:
    """``table`` with every column at or after byte ``after`` on ``line`` moved by ``shift``,
    read from ``start`` = (offset, the start line before it) on; each changed entry is written in
    the form CPython's compiler picks for it (the image build's ``check`` compares the result with
    a fresh compile for every digit count a handle can have)."""
    offset, current = start
    out = bytearray(table[:offset])
    for at, end, _, units, current, end_line, column, end_column, previous in _entries(table, offset, current):
        if column is None:
            out += table[at:end]
            continue
        moved = (column + shift if current == line and column >= after else column,
                 end_column + shift if end_line == line and end_column >= after else end_column)
        if moved == (column, end_column):
            out += table[at:end]
            continue
        column, end_column = moved
        line_delta = current - previous
        if end_line == current and line_delta == 0 and column < 80 and 0 <= end_column - column < 16:
            out += bytes((0x80 | (column // 8) << 3 | (units - 1), (column % 8) << 4 | (end_column - column)))
        elif end_line == current and 0 <= line_delta < 3 and column < 128 and end_column < 128:
            out += bytes((0x80 | (10 + line_delta) << 3 | (units - 1), column, end_column))
        else:
            out.append(0x80 | LONG_FORM << 3 | (units - 1))
            _put_svarint(out, line_delta)
            _put_varint(out, end_line - current)
            _put_varint(out, column + 1)
            _put_varint(out, end_column + 1)
    return bytes(out)


class OpCodeCache:
    """Code objects by blanked source text. Each is kept for as many uses as the build saw (some
    operators share a text), then dropped, so nothing of the cache stays in the kernel's memory."""

    def __init__(self, codes: dict, mxnet_version, record: bool = False):
        self.codes = codes  # {digest of the blanked text: [code, its handle, uses left, resume_points]}
        self.mxnet_version = mxnet_version
        self.record = record
        self.hits = 0
        self.misses = 0

    def compiled(self, source: str):
        key, handle, where = keyed(source)
        entry = None if self.record else self.codes.get(key)
        if entry is None:
            self.misses += 1
            # The file name builtins.exec gives a text it compiles, so tracebacks read as before.
            code = compile(source, "<string>", "exec")
            if self.record:
                resume = resume_points(code, where[0]) if where else {}
                self.codes.setdefault(key, [code, handle, 0, resume])[2] += 1
            return code
        self.hits += 1
        code, built_handle, uses, resume = entry
        if uses <= 1:
            del self.codes[key]
        else:
            entry[2] = uses - 1
        if handle is not None and handle != built_handle:
            code = with_handle(code, built_handle, handle, where, resume)
        return code

    def exec_for(self, module_globals: dict):
        """The ``exec`` a register module sees: same arguments and effect as the built-in."""
        def cached_exec(source, globals=None, locals=None, /, **kwargs):  # noqa: A002 (built-in's names)
            if isinstance(source, str) and not kwargs:
                source = self.compiled(source)
            if globals is None:
                globals = module_globals  # builtins.exec here would take *this* frame's globals
            return _builtin_exec(source, globals, locals, **kwargs)
        cached_exec.__name__ = "exec"
        return cached_exec


class _WithCachedExec:
    """The register module's own loader, which gets the cache's ``exec`` before its code runs."""

    def __init__(self, loader, cache: OpCodeCache):
        self._loader = loader
        self._cache = cache

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__dict__["exec"] = self._cache.exec_for(module.__dict__)
        self._loader.exec_module(module)

    def __getattr__(self, name):  # get_source, get_filename, ...: inspect and linecache need them
        return getattr(self._loader, name)


class OpCacheFinder:
    def __init__(self, path: str, record: bool = False):
        self.path = path
        self.record = record
        self.cache: OpCodeCache | None = None

    def _load(self):
        if self.cache is None:
            if self.record:
                self.cache = OpCodeCache({}, None, record=True)
            else:
                found = read_cache(self.path)
                if found is None:
                    return None
                self.cache = OpCodeCache(found[1], found[0])
        return self.cache

    def find_spec(self, fullname, path, target=None):
        if fullname not in REGISTER_MODULES:
            return None
        cache = self._load()
        if cache is None:
            return None
        # mxnet/__init__ has imported mxnet.libinfo (through mxnet.base) before any register module.
        mxnet_version = getattr(sys.modules.get("mxnet.libinfo"), "__version__", None)
        if not cache.record and mxnet_version != cache.mxnet_version:
            return None
        from importlib.machinery import PathFinder
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _WithCachedExec(spec.loader, cache)
        return spec


def install(path=None):
    """Put the finder first on sys.meta_path (once); it reads the cache only when MXNet is imported."""
    if os.environ.get(SWITCH_ENV, "").strip().lower() in ("off", "0", "no", "false"):
        return None
    for finder in sys.meta_path:
        if isinstance(finder, OpCacheFinder):
            return finder
    finder = OpCacheFinder(path or cache_path())
    sys.meta_path.insert(0, finder)
    return finder


def build(path: str) -> int:
    """Import MXNet, keep every operator function's code, write them to ``path`` (atomically)."""
    import importlib
    import importlib.util
    import marshal
    finder = OpCacheFinder(path, record=True)
    sys.meta_path.insert(0, finder)
    importlib.import_module("mxnet")  # the import is the point: it compiles every operator function
    cache = finder.cache
    if cache is None or not cache.codes:
        print("mxnet_op_cache: importing mxnet compiled no operator function through %s; "
              "this MXNet registers its operators another way, so no cache was written"
              % ", ".join(REGISTER_MODULES), file=sys.stderr)
        return 1
    data = {"format": FORMAT, "magic": importlib.util.MAGIC_NUMBER,
            "mxnet": sys.modules["mxnet.libinfo"].__version__, "codes": cache.codes}
    partial = path + ".partial"
    with open(partial, "wb") as file:
        marshal.dump(data, file)
    os.replace(partial, path)
    print("mxnet_op_cache: %d operator functions (%d distinct) of MXNet %s cached in %s (%.1f MB)"
          % (cache.misses, len(cache.codes), data["mxnet"], path, os.path.getsize(path) / 1e6))
    return 0


#: Handle addresses seen, in digits: a 64-bit address has at most 20.
HANDLE_DIGITS = range(1, 21)


def check(path: str) -> int:
    """Import MXNet through the cache, compiling every text as well: each code object used must
    equal the freshly compiled one (``==`` on code objects compares bytecode, constants, names and
    location tables), and so must the code for the same text with a handle of every other digit
    count, since another process's handles may be longer or shorter."""
    finder = install(path)
    if finder is None:
        print("mxnet_op_cache: %s turns the cache off" % SWITCH_ENV, file=sys.stderr)
        return 1
    differ = []
    real_compiled = OpCodeCache.compiled

    def compared(cache: OpCodeCache, source: str):
        code = real_compiled(cache, source)
        name = source.split("(", 1)[0].strip()
        if code != compile(source, "<string>", "exec"):
            differ.append(name)
        _, handle, where = keyed(source)
        if handle is not None:
            digits = str(handle)
            line_start = sum(len(line) for line in source.splitlines(True)[:where[0] - 1])
            at = source.index(digits, line_start)
            for count in HANDLE_DIGITS:
                other = int("7" * count)
                text = source[:at] + str(other) + source[at + len(digits):]
                if with_handle(code, handle, other, where) != compile(text, "<string>", "exec"):
                    differ.append("%s with a %d-digit handle" % (name, count))
        return code

    OpCodeCache.compiled = compared
    __import__("mxnet")
    cache = finder.cache
    if cache is None or cache.hits == 0:
        print("mxnet_op_cache: %s was not used (missing, or written for another MXNet or Python)" % path,
              file=sys.stderr)
        return 1
    if differ:
        print("mxnet_op_cache: %d cached functions differ from their text: %s"
              % (len(differ), ", ".join(differ[:10])), file=sys.stderr)
        return 1
    print("mxnet_op_cache: %d operator functions from the cache, %d compiled, all equal to their text "
          "with handles of %d to %d digits" % (cache.hits, cache.misses, HANDLE_DIGITS[0], HANDLE_DIGITS[-1]))
    return 0


def main(argv: list) -> int:
    commands = {"build": build, "check": check, "path": lambda path: print(path) or 0}
    if len(argv) != 1 or argv[0] not in commands:
        print("usage: python -m mxnet_op_cache build|check|path\n"
              "  build  import mxnet and write its operator functions' code to the cache\n"
              "  check  import mxnet through the cache and compare every function with its text\n"
              "  path   print where the cache is", file=sys.stderr)
        return 2
    return commands[argv[0]](cache_path())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
