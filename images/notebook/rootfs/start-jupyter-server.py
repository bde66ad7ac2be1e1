#!/opt/venv/bin/python3
"""Run the Jupyter server with Python's garbage collector held back while it starts, and the
Hub's database modules, which the single-user server imports but never uses, not loaded.

    start-jupyter-server.py singleuser [OPTIONS]   # jupyterhub-singleuser (under JupyterHub)
    start-jupyter-server.py lab [OPTIONS]          # jupyter lab (standalone)

Why: a server start imports ~1,000 modules (JupyterHub's singleuser chain, Jupyter Server,
JupyterLab, the extensions) and builds ~150,000-250,000 objects that live as long as the
server. CPython's collector runs every 700 new objects and keeps re-scanning them, a measured
share of every start (bench/README.md, "What was changed, and why"). At a workshop's start 20
servers start on two cores, so that is time every attendee waits.

How: the collector is off until the server's event loop runs (the server is listening), then
the objects made so far are frozen (`gc.freeze()`: never scanned again, which also makes every
later collection cheaper) and it is on again, with Python's usual thresholds. Should the event
loop never run the callback, a timer turns it on after GC_FALLBACK_S anyway. The moment is
logged (image tests check the line).

Deferred modules: jupyterhub-singleuser imports jupyterhub.scopes (for its token checks), which
imports the Hub's ORM and roles modules at the top, for functions only the Hub calls; the ORM
imports SQLAlchemy and Alembic. DEFERRED_MODULES become lazy modules (importlib.util.LazyLoader):
the import statement returns at once and the module runs the first time one of its attributes
is used, exactly as if it were imported then. With the image's patch to jupyterhub.log, .utils
and .scopes (images/notebook/patches/), which imported the rest of that chain, the single-user
server's imports cost about a third less (bench/README.md): SQLAlchemy, Alembic and the ORM do
not load.
Only plain modules are deferred: a lazy package (SQLAlchemy itself) gets its submodules imported
twice on Python 3.11 when the first use is a submodule import, which breaks it. A first use is
logged, so a JupyterHub upgrade that needs them in the single-user server shows in its log;
integration tests check that a whole attendee session needs none. (Python 3.11's LazyLoader is
not safe against two threads using a module first at the same moment: these would be used, if
ever, from the server's event loop.)
"""
import gc

gc.disable()  # first: everything below, and all the server's imports, run without collections

import importlib.abc  # noqa: E402
import importlib.machinery  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402

#: Seconds after which the collector is on again even if the event loop never said so.
GC_FALLBACK_S = 120
SERVERS = {
    # mode: (program name it reports, module, function): the console scripts' entry points
    "singleuser": ("jupyterhub-singleuser", "jupyterhub.singleuser", "main"),
    "lab": ("jupyter-lab", "jupyterlab.labapp", "main"),
}
#: Imported by the single-user server, used only by the Hub: loaded on first use (see above).
DEFERRED_MODULES = frozenset({"jupyterhub.orm", "jupyterhub.roles"})
_switch = threading.Lock()
_deferred: set[str] = set()  # deferred modules imported (lazily) so far
_used: set[str] = set()  # the ones of them that ran (were used)


class _RunOnFirstUse(importlib.abc.Loader):
    """The module's own loader, run when LazyLoader first needs the module; says so."""

    def __init__(self, loader: importlib.abc.Loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        _used.add(module.__name__)
        print(f"start-jupyter-server: deferred module {module.__name__} loaded on first use",
              file=sys.stderr, flush=True)
        module.__loader__ = module.__spec__.loader = self.loader
        self.loader.exec_module(module)


class DeferredImports(importlib.abc.MetaPathFinder):
    """Finds DEFERRED_MODULES where Python would, and hands them out as lazy modules."""

    def find_spec(self, name, path, target=None):
        if name not in DEFERRED_MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None  # not installed: the usual ImportError, from the usual place
        spec.loader = importlib.util.LazyLoader(_RunOnFirstUse(spec.loader))
        _deferred.add(name)
        return spec


def not_loaded() -> list[str]:
    """The deferred modules imported so far that were never used (so never ran)."""
    return sorted(_deferred - _used)


def collector_on(reason: str) -> None:
    with _switch:
        if gc.isenabled():
            return
        gc.freeze()
        gc.enable()
    print(f"start-jupyter-server: garbage collector on ({reason}); {gc.get_freeze_count()} objects "
          "from the start frozen", file=sys.stderr, flush=True)
    unused = ", ".join(not_loaded()) or "none"
    print(f"start-jupyter-server: deferred modules not loaded: {unused}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in SERVERS:
        gc.enable()
        print(f"usage: {argv[0]} {{{'|'.join(SERVERS)}}} [server options]\n{__doc__.splitlines()[0]}",
              file=sys.stderr)
        return 0 if len(argv) > 1 and argv[1] in ("-h", "--help") else 2
    program, module, function = SERVERS[argv[1]]
    sys.meta_path.insert(0, DeferredImports())

    from tornado.ioloop import IOLoop  # the loop Jupyter Server runs on (IOLoop.current())

    IOLoop.current().add_callback(collector_on, "the server's event loop runs")
    fallback = threading.Timer(GC_FALLBACK_S, collector_on, (f"after {GC_FALLBACK_S} s",))
    fallback.daemon = True
    fallback.start()

    server_main = getattr(__import__(module, fromlist=[function]), function)
    sys.argv = [program, *argv[2:]]
    return server_main()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
