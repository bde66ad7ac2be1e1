"""Controlled environments for running the real scripts/doctor.sh.

A scenario is a temp dir with:
  bin/     stub executables first on PATH: nvidia-smi replaying the real H100 capture in
           tests/fixtures/gpu-host-h100 (or a variant derived from it), conda, a foreign pip
  venv     a real venv (session-wide) second on PATH: the python3/pip the doctor checks
  sysbin/  links to the few system tools the stubs need (bash, sed, ...), nothing else, so
           no host conda/docker/nvidia-smi leaks in
  site/    on PYTHONPATH: test doubles of numpy / mxnet that report a configured version and
           build. They prove the doctor's decisions given what mxnet reports; the real
           mxnet path is covered by the in-image test (test_doctor_image.py).
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCTOR = REPO / "scripts" / "doctor.sh"
FIXTURES = REPO / "tests" / "fixtures" / "gpu-host-h100"
SYS_TOOLS = ("bash", "sh", "env", "cat", "sed", "head", "tail", "dirname", "basename", "grep")
LINE_RE = re.compile(r"^(PASS|WARN|FAIL)  (\S+)\s+(.*)$")

REPLAY = r"""#!/usr/bin/env bash
# Stub nvidia-smi: prints the recorded output whose "$ nvidia-smi ..." header matches the
# arguments exactly, and exits with the recorded status. Unrecorded calls fail loudly.
dir="$(dirname "$0")/smi-replay"
want="\$ nvidia-smi${*:+ $*}"
for f in "$dir"/*.txt; do
  if [[ "$(head -n 1 "$f")" == "$want" ]]; then
    code="$(tail -n 1 "$f" | sed -n 's/^\[exit \([0-9]*\)\]$/\1/p')"
    sed '1d;$d' "$f"
    exit "${code:-0}"
  fi
done
echo "stub nvidia-smi: no recorded output for: $*" >&2
exit 2
"""

FAKE_MXNET = r'''"""Test double of mxnet (NOT the real library): reports what fake.json says."""
import json as _json
import os as _os

_C = _json.load(open(_os.path.join(_os.path.dirname(__file__), "fake.json")))
if _C.get("import_error"):
    raise ImportError(_C["import_error"])
__version__ = _C["version"]


class _Arr(object):
    def __init__(self, n, v):
        self.n, self.v = n, v

    def __mul__(self, k):
        return _Arr(self.n, self.v * k)

    def __add__(self, k):
        return _Arr(self.n, self.v + k)

    def sum(self):
        return _Arr(1, self.n * self.v)

    def asscalar(self):
        return self.v


def _size(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def gpu(i=0):
    return ("gpu", i)


def cpu(i=0):
    return ("cpu", i)


class nd(object):
    @staticmethod
    def ones(shape, ctx=None):
        return _Arr(_size(shape), 1.0)

    @staticmethod
    def zeros(shape, ctx=None):
        if ctx and ctx[0] == "gpu" and _C.get("gpu_error"):
            raise RuntimeError(_C["gpu_error"])
        return _Arr(_size(shape), 0.0)


class _Features(dict):
    def is_enabled(self, name):
        return name in _C["features"]


class runtime(object):
    @staticmethod
    def Features():
        return _Features((k, True) for k in _C["features"])


class context(object):
    @staticmethod
    def num_gpus():
        return _C.get("num_gpus", 0)
'''


def smi_variant(text, variant):
    """Derive fixture variants from the real capture by editing version/model fields only."""
    if variant == "h100":
        return text
    if variant == "v100-driver-440":
        # An older host: V100 with the CUDA 10.2-era driver 440.118.02.
        return (text.replace("580.159.04", "440.118.02").replace("CUDA Version: 13.0", "CUDA Version: 10.2")
                .replace("NVIDIA H100 80GB HBM3", "Tesla V100-SXM2-16GB").replace("81559", "16160"))
    raise ValueError(variant)


class Result(object):
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.lines = {}
        for line in self.out.splitlines():
            m = LINE_RE.match(line)
            if m:
                self.lines[m.group(2)] = (m.group(1), m.group(3))

    def status(self, name):
        return self.lines.get(name, (None, None))[0]

    def found(self, name):
        return self.lines.get(name, (None, None))[1]

    def block(self, name):
        """The check's line plus its indented symptom/diagnosis/remedy lines."""
        out, grab = [], False
        for line in self.out.splitlines():
            m = LINE_RE.match(line)
            if m:
                grab = m.group(2) == name
            elif not line.startswith("      "):
                grab = False
            if grab:
                out.append(line)
        return "\n".join(out)

    def __repr__(self):
        return "rc=%s\n%s\n%s" % (self.rc, self.out, self.err)


class Scenario(object):
    def __init__(self, root, venv):
        self.root = root
        self.venv = venv
        self.bin = root / "bin"
        self.sysbin = root / "sysbin"
        self.site = root / "site"
        self.home = root / "home"
        for d in (self.bin, self.sysbin, self.site, self.home):
            d.mkdir()
        for tool in SYS_TOOLS:
            path = shutil.which(tool, path="/usr/bin:/bin")
            (self.sysbin / tool).symlink_to(path)
        self.extra_env = {}
        self.extra_path = []

    @property
    def python(self):
        return str(self.venv / "bin" / "python3")

    @property
    def python_version(self):
        return subprocess.run([self.python, "-c", "import platform; print(platform.python_version())"],
                              capture_output=True, text=True, check=True).stdout.strip()

    def _script(self, path, body):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        path.chmod(0o755)

    def nvidia_smi(self, variant="h100"):
        replay = self.bin / "smi-replay"
        replay.mkdir()
        for f in FIXTURES.glob("*.txt"):
            (replay / f.name).write_text(smi_variant(f.read_text(), variant))
        self._script(self.bin / "nvidia-smi", REPLAY)

    def nvidia_smi_failing(self, message, code):
        self._script(self.bin / "nvidia-smi", "#!/usr/bin/env bash\ncat <<'T'\n%s\nT\nexit %d\n" % (message, code))

    def conda(self, version="24.11.3", envs=(), where=None):
        """A conda stub answering --version and env list --json like conda does."""
        target = where or (self.bin / "conda")
        listing = json.dumps({"envs": [str(e) for e in envs]}, indent=2)
        self._script(target, "#!/usr/bin/env bash\ncase \"$1 $2\" in\n"
                             "  '--version '*) echo 'conda %s' ;;\n"
                             "  'env list') cat <<'J'\n%s\nJ\n ;;\n"
                             "  *) echo \"stub conda: unsupported: $*\" >&2; exit 2 ;;\nesac\n" % (version, listing))

    def foreign_pip(self):
        """`pip`/`pip3` of another interpreter, printing what Ubuntu 22.04's pip prints."""
        for name in ("pip", "pip3"):
            self._script(self.bin / name, "#!/usr/bin/env bash\n"
                         "echo 'pip 22.0.2 from /usr/lib/python3/dist-packages/pip (python 3.10)'\n")

    def numpy(self, version="1.23.5"):
        d = self.site / "numpy"
        d.mkdir()
        (d / "__init__.py").write_text('"""Test double of numpy."""\n__version__ = %r\n' % version)

    def mxnet(self, version="1.9.1", dist="mxnet", features=("CPU_SSE", "OPENMP", "MKLDNN"), num_gpus=0,
              gpu_error=None, import_error=None):
        d = self.site / "mxnet"
        d.mkdir()
        (d / "__init__.py").write_text(FAKE_MXNET)
        (d / "fake.json").write_text(json.dumps({"version": version, "features": list(features),
                                                 "num_gpus": num_gpus, "gpu_error": gpu_error,
                                                 "import_error": import_error}))
        info = self.site / ("%s-%s.dist-info" % (dist.replace("-", "_"), version))
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (dist, version))

    def run(self, *args, lang="en"):
        env = {"PATH": os.pathsep.join([str(self.bin)] + self.extra_path + [str(self.venv / "bin"), str(self.sysbin)]),
               "HOME": str(self.home), "PYTHONPATH": str(self.site), "LANG": "C.UTF-8",
               "PYTHONDONTWRITEBYTECODE": "1"}
        env.update(self.extra_env)
        proc = subprocess.run(["/bin/bash", str(DOCTOR), "--lang", lang] + list(args),
                              env=env, cwd=str(self.root), capture_output=True, text=True, timeout=240)
        return Result(proc)


@pytest.fixture(scope="session")
def scenario_venv(tmp_path_factory):
    """A real, empty venv (with pip): the interpreter the doctor diagnoses."""
    d = tmp_path_factory.mktemp("doctor-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(d)], check=True)
    return d


@pytest.fixture
def scenario(tmp_path, scenario_venv):
    return Scenario(tmp_path, scenario_venv)
