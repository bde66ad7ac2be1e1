#!/opt/venv/bin/python3
"""Run the Jupyter server with Python's garbage collector held back while it starts.

    start-jupyter-server.py singleuser [OPTIONS]   # jupyterhub-singleuser (under JupyterHub)
    start-jupyter-server.py lab [OPTIONS]          # jupyter lab (standalone)

Why: a server start imports ~1,000 modules (JupyterHub's singleuser chain, Jupyter Server,
JupyterLab, the extensions) and builds ~150,000-250,000 objects that live as long as the
server. CPython's collector runs every 700 new objects and keeps re-scanning them: about 0.1 of
a 0.75 core-s start in this image (bench/README.md). At a workshop's start 20 servers start on
two cores, so that is time every attendee waits.

How: the collector is off until the server's event loop runs (the server is listening), then
the objects made so far are frozen (`gc.freeze()`: never scanned again, which also makes every
later collection cheaper) and it is on again, with Python's usual thresholds. Should the event
loop never run the callback, a timer turns it on after GC_FALLBACK_S anyway. The moment is
logged (image tests check the line).
"""
import gc

gc.disable()  # first: everything below, and all the server's imports, run without collections

import sys  # noqa: E402
import threading  # noqa: E402

#: Seconds after which the collector is on again even if the event loop never said so.
GC_FALLBACK_S = 120
SERVERS = {
    # mode: (program name it reports, module, function): the console scripts' entry points
    "singleuser": ("jupyterhub-singleuser", "jupyterhub.singleuser", "main"),
    "lab": ("jupyter-lab", "jupyterlab.labapp", "main"),
}
_switch = threading.Lock()


def collector_on(reason: str) -> None:
    with _switch:
        if gc.isenabled():
            return
        gc.freeze()
        gc.enable()
    print(f"start-jupyter-server: garbage collector on ({reason}); {gc.get_freeze_count()} objects "
          "from the start frozen", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in SERVERS:
        gc.enable()
        print(f"usage: {argv[0]} {{{'|'.join(SERVERS)}}} [server options]\n{__doc__.splitlines()[0]}",
              file=sys.stderr)
        return 0 if len(argv) > 1 and argv[1] in ("-h", "--help") else 2
    program, module, function = SERVERS[argv[1]]

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
