#!/usr/bin/env python3
"""Name the image's kernel for what it is, e.g. "MXNet 1.9.1 · CPU (Python 3.11)".

The launcher and the notebook's kernel picker show the kernelspec's display name; "Python 3
(ipykernel)" tells a learner nothing about which MXNet runs or whether it has a GPU. The name is
read from the kernel's own interpreter (argv[0] of kernel.json: /opt/venv's Python, or the NGC
variant's system Python), without importing MXNet (the distribution's metadata is enough).

Usage: name-kernel.py KERNEL_JSON VARIANT
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

# The kernel interpreter prints the MXNet distribution's version and its own Python version.
PROBE = (
    "import importlib.metadata as m, sys\n"
    "v = sorted(d.version for d in m.distributions() if (d.metadata['Name'] or '').lower().startswith('mxnet'))\n"
    "print((v[0] if v else '') + '|%d.%d' % sys.version_info[:2])\n"
)


def display_name(mxnet: str, python: str, variant: str) -> str:
    device = "CPU" if variant == "cpu" else f"GPU {variant}"
    return f"MXNet {mxnet} · {device} (Python {python})"


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] in ("-h", "--help"):
        print(__doc__.strip().splitlines()[-1])
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    path, variant = Path(argv[0]), argv[1]
    spec = json.loads(path.read_text(encoding="utf-8"))
    interpreter = spec["argv"][0]
    # jupyter_client starts a bare "python"/"python3" kernel with the server's own interpreter
    # (this script runs in it); an absolute argv[0] (the NGC kernel Python) is used as it is.
    if interpreter in ("python", f"python{sys.version_info[0]}", f"python{sys.version_info[0]}.{sys.version_info[1]}"):
        interpreter = sys.executable
    interpreter = shutil.which(interpreter) or interpreter
    out = subprocess.run([interpreter, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120)
    mxnet, _, python = out.stdout.strip().partition("|")
    if not mxnet:
        print(f"name-kernel: {interpreter} has no MXNet distribution installed; the kernel cannot be named", file=sys.stderr)
        return 1
    spec["display_name"] = display_name(mxnet, python, variant)
    path.write_text(json.dumps(spec, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"name-kernel: {path}: {spec['display_name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
