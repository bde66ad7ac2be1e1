"""Running external commands and the probe, with time limits; small text helpers."""
import json
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.path.join(HERE, "probe.py")
PROBE_MARK = "@@GLUONLAB-DOCTOR@@"


def run(cmd, timeout, env=None):
    """(returncode, combined output). 127 when the program is missing, 124 on timeout."""
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    except OSError as e:
        return 127, str(e)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        return 124, (out or b"").decode("utf-8", "replace") + "\n[timed out after %ss]" % timeout
    return p.returncode, (out or b"").decode("utf-8", "replace")


def first_line(text, limit=160):
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return line[:limit]
    return ""


def last_line(text, limit=200):
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1][:limit] if lines else ""


def probe(python, part, timeout):
    """Run probe.py `part` with the checked Python: (data or None, raw output).

    A child process, so a crashing `import mxnet` becomes a FAIL line, not a doctor crash."""
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)
    rc, out = run([python, "-B", PROBE, part], timeout, env=env)
    for line in reversed(out.splitlines()):
        if line.startswith(PROBE_MARK):
            try:
                return json.loads(line[len(PROBE_MARK):]), out
            except ValueError:
                break
    return None, "[exit %d] %s" % (rc, out)


def jupyter_python():
    """The Python that runs `jupyter lab`: the interpreter in its launcher's #! line.

    It can differ from python3 on PATH: the ngc image runs the server from /opt/venv
    (Python 3.11) while python3 is NGC's own Python with MXNet."""
    launcher = shutil.which("jupyter-lab")
    if not launcher:
        return None
    try:
        with open(launcher, "rb") as f:
            first = f.readline(300).decode("utf-8", "replace").strip()
    except OSError:
        return None
    if not first.startswith("#!"):
        return None
    interp = first[2:].strip().split()[0] if first[2:].strip() else ""
    if os.path.basename(interp) == "env" or not os.access(interp, os.X_OK):
        return None
    return interp


def detect_where():
    """'container' in a lab image, 'host' where docker is on PATH, else 'laptop'."""
    if os.path.isdir("/opt/gluonlab/content") or os.environ.get("GLUONLAB_VARIANT"):
        return "container"
    return "host" if shutil.which("docker") else "laptop"
