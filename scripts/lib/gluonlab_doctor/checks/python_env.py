"""python, pip, numpy: the interpreter being checked and the two packages MXNet 1.9.1 is picky about."""
import os
import shutil

from .. import parse as P
from ..registry import check
from ..system import first_line, last_line, probe, run


@check("python", group="always", provides=("python_cmd", "probe_base", "python"),
       help="Python %d.%d-%d.%d (MXNet 1.9.1 needs numpy < 1.24, which has no wheel for 3.12+)"
            % (P.PYTHON_MIN + P.PYTHON_MAX))
def python(ctx):
    a, t = ctx.args, ctx.t
    name = a.python or shutil.which("python3") or shutil.which("python")
    if a.python and os.sep not in a.python:
        name = shutil.which(a.python)
    if not name:
        return ctx.fail(t("python.missing.found"), t("python.missing.symptom"), t("python.missing.diagnosis"),
                        [t("python.missing.remedy.conda"), t("python.missing.remedy.apt")])
    ctx.facts.set("python_cmd", name)
    data, raw = probe(name, "base", a.timeout)
    if data is None:
        return ctx.fail(t("python.broken.found", python=name, error=last_line(raw)), t("python.broken.symptom"),
                        t("python.broken.diagnosis"), [t("python.broken.remedy")])
    ctx.facts.set("probe_base", data)
    py = data["python"]
    ver = tuple(py["version"])
    ctx.facts.set("python", py, public=True)
    found = "Python %s (%s)" % (P.version_tuple_str(ver), py["executable"] or name)
    verdict = P.python_supported(ver)
    if verdict == "ok":
        return ctx.passed(found)
    rem = [t("cmd.python.conda"), t("cmd.python.venv"), t("python.unsupported.remedy.image")]
    if verdict == "too-new":
        return ctx.fail(found, t("python.too_new.symptom"), t("python.too_new.diagnosis", version="%d.%d" % ver[:2]), rem)
    return ctx.fail(found, t("python.too_old.symptom"), t("python.too_old.diagnosis"), rem)


@check("pip", group="python", needs=("probe_base",), provides=("pip",),
       help="pip found, >= %d.%d, and `pip`/`pip3` on PATH install into the same Python" % P.PIP_MIN)
def pip(ctx):
    t, py, base = ctx.t, ctx.py, ctx.facts.get("probe_base")
    mine = base.get("pip", {})
    if "error" in mine:
        return ctx.fail(t("pip.no_module.found", py=py), t("pip.no_module.symptom", py=py), t("pip.no_module.diagnosis"),
                        [t("cmd.pip.ensurepip", py=py), t("pip.no_module.remedy.apt"), t("pip.no_module.remedy.conda")])
    ver = P.parse_version(mine["version"])
    problems = []
    mine_loc = os.path.realpath(mine["location"])
    for cmd in ("pip", "pip3"):
        path = shutil.which(cmd)
        if not path:
            continue
        rc, out = run([path, "--version"], ctx.args.timeout)
        info = P.parse_pip_version(out)
        if rc != 0 or not info:
            problems.append((cmd, path, None, first_line(out)))
            continue
        if os.path.realpath(info["location"]) != mine_loc:
            problems.append((cmd, path, info, None))
    ctx.facts.set("pip", mine, public=True)
    if problems:
        cmd, path, info, err = problems[0]
        bindir = os.path.dirname(base["python"]["executable"] or py)
        if info:
            found = t("pip.foreign.found", cmd=cmd, path=path, other=info["python"], location=info["location"],
                      python=base["python"]["executable"])
        else:
            found = t("pip.broken.found", cmd=cmd, error=err)
        return ctx.fail(found, t("pip.foreign.symptom", cmd=cmd), t("pip.foreign.diagnosis"),
                        [t("pip.foreign.remedy.always", py=py), t("pip.foreign.remedy.path", cmd=cmd, bindir=bindir),
                         t("pip.foreign.remedy.conda")])
    if ver and P.version_lt(ver, P.PIP_MIN):
        return ctx.fail("pip %s (%s)" % (mine["version"], py), t("pip.too_old.symptom"), t("pip.too_old.diagnosis"),
                        [t("cmd.pip.upgrade", py=py)])
    return ctx.passed(t("pip.ok.found", version=mine["version"], py=py))


@check("numpy", group="python", needs=("probe_base",),
       help="installed and < %s" % P.version_tuple_str(P.NUMPY_BELOW))
def numpy(ctx):
    t = ctx.t
    fix = t("cmd.numpy.pin", py=ctx.py, pin=P.NUMPY_PIN)
    npy = ctx.facts.get("probe_base").get("numpy", {})
    if "error" in npy:
        return ctx.fail(t("numpy.missing.found"), t("numpy.missing.symptom"), t("numpy.missing.diagnosis"), [fix])
    ver = P.parse_version(npy["version"])
    if ver and not P.version_lt(ver, P.NUMPY_BELOW):
        return ctx.fail("numpy %s" % npy["version"], t("numpy.too_new.symptom"), t("numpy.too_new.diagnosis"), [fix])
    if ver and P.version_lt(ver, P.NUMPY_MIN):
        return ctx.fail("numpy %s" % npy["version"], t("numpy.too_old.symptom"), t("numpy.too_old.diagnosis"), [fix])
    return ctx.passed("numpy %s (< 1.24)" % npy["version"])
