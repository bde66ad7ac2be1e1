"""Runs inside the Python being checked and prints what it finds as one JSON line.

system.probe() starts this file as a script with the *user's* interpreter, one part per
process, so a crashing import (a segfault in libmxnet, a missing libcuda) cannot take the
doctor down. It imports nothing from the package: the checked Python may be any version.
Syntax stays Python 2.7-compatible so that even a far too old Python gets a clear report.
"""
from __future__ import print_function

import json
import os
import sys
import traceback

MARK = "@@GLUONLAB-DOCTOR@@"

# A two-cell notebook in the markdown format of the tutorials in content/ (```python fences).
SAMPLE_MD = u"""# Sample

Text.

```python
x = 1 + 1
```
"""


def _err():
    return "".join(traceback.format_exception_only(*sys.exc_info()[:2])).strip()


def _dists():
    """Installed distributions whose name starts with mxnet (mxnet, mxnet-cu117, ...)."""
    found = {}
    try:
        from importlib import metadata  # Python 3.8+
        for d in metadata.distributions():
            name = (d.metadata["Name"] or "")
            if name.lower().startswith("mxnet"):
                found[name] = d.version
        return found
    except ImportError:
        pass
    for entry in sys.path:  # older Pythons: read *.dist-info / *.egg-info names
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for n in names:
            if n.lower().startswith("mxnet") and n.endswith((".dist-info", ".egg-info")):
                stem = n.rsplit(".", 1)[0]
                if "-" in stem:
                    dist, ver = stem.split("-", 1)
                    found[dist.replace("_", "-")] = ver
    return found


def probe_base():
    import platform
    out = {
        "python": {
            "version": list(sys.version_info[:3]),
            "executable": sys.executable,
            "prefix": sys.prefix,
            "base_prefix": getattr(sys, "base_prefix", sys.prefix),
            "machine": platform.machine(),
            "system": platform.system(),
        },
        "conda_prefix": os.environ.get("CONDA_PREFIX"),
    }
    try:
        import pip
        out["pip"] = {"version": pip.__version__,
                      "location": os.path.dirname(os.path.abspath(pip.__file__))}
    except Exception:
        out["pip"] = {"error": _err()}
    try:
        import numpy
        out["numpy"] = {"version": numpy.__version__, "file": getattr(numpy, "__file__", None)}
    except Exception:
        out["numpy"] = {"error": _err()}
    out["dists"] = _dists()
    return out


def probe_mxnet():
    out = {}
    try:
        import mxnet as mx
    except BaseException:
        out["import_error"] = _err()
        out["traceback"] = traceback.format_exc()[-2000:]
        return out
    out["version"] = getattr(mx, "__version__", None)
    out["file"] = getattr(mx, "__file__", None)
    try:
        feats = mx.runtime.Features()
        out["features"] = sorted(k for k in feats.keys() if feats.is_enabled(k))
    except Exception:
        out["features_error"] = _err()
    try:
        out["num_gpus"] = mx.context.num_gpus()
    except Exception:
        out["num_gpus_error"] = _err()
    try:
        total = (mx.nd.ones((2, 3)) * 2).sum().asscalar()
        out["cpu_compute"] = float(total)
    except Exception:
        out["cpu_compute_error"] = _err()
    if "CUDA" in out.get("features", []):
        try:
            z = mx.nd.zeros((2, 2), ctx=mx.gpu(0))
            out["gpu_compute"] = float((z + 1).sum().asscalar())
        except Exception:
            out["gpu_compute_error"] = _err()
    return out


def probe_jupyter():
    out = {}
    for mod in ("jupyterlab", "jupytext", "notedown", "notebook"):
        try:
            m = __import__(mod)
            out[mod] = {"version": getattr(m, "__version__", "?")}
        except Exception:
            out[mod] = {"error": _err()}
    if "version" in out["jupytext"]:
        try:
            import jupytext
            nb = jupytext.reads(SAMPLE_MD, fmt="md")
            out["md_jupytext_cells"] = len(nb.cells)
        except Exception:
            out["md_jupytext_error"] = _err()
    if "version" in out["notedown"]:
        try:
            import notedown
            nb = notedown.MarkdownReader().reads(SAMPLE_MD)
            out["md_notedown_cells"] = len(nb.cells)
        except Exception:
            out["md_notedown_error"] = _err()
    return out


def main(argv):
    part = argv[1] if len(argv) > 1 else "base"
    fn = {"base": probe_base, "mxnet": probe_mxnet, "jupyter": probe_jupyter}[part]
    result = fn()
    sys.stdout.flush()
    print(MARK + json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
