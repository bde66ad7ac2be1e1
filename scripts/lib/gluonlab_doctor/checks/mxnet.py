"""mxnet and mxnet-compute: the import (in a child process), its version and build, a CPU op."""
import os

from .. import parse as P
from ..registry import check
from ..system import first_line, last_line, probe

# What import failures mean, by parse.classify_import_error's cause key: (diagnosis, remedy)
# message keys; "{dists}" in a remedy is the installed mxnet distributions.
IMPORT_CAUSES = {
    "no-cuda-driver": ("mxnet.import.no_cuda_driver", ("cmd.pip.uninstall", "cmd.mxnet.install",
                                                       "mxnet.import.no_cuda_driver.remedy")),
    "cuda-libs": ("mxnet.import.cuda_libs", ("cmd.mxnet.reinstall",)),
    "system-libs": ("mxnet.import.system_libs", ("cmd.apt.libgomp",)),
    "numpy-too-new": ("mxnet.import.numpy_too_new", ("cmd.numpy.pin",)),
    "numpy-missing": ("mxnet.import.numpy_missing", ("cmd.numpy.pin",)),
    "other": ("mxnet.import.other", ("cmd.mxnet.reinstall",)),
}


def install_line(ctx):
    """The pip command that installs the right MXNet wheel on this machine."""
    return ctx.t("cmd.mxnet.install", py=ctx.py)


@check("mxnet", group="mxnet", needs=("probe_base",),
       provides=("mxnet_dists", "mxnet_probe", "mxnet_build", "mxnet_cuda", "mxnet_archs", "mxnet_usable", "mxnet"),
       help="importable, version >= --min-mxnet, which build (CPU / CUDA n.m)")
def mxnet(ctx):
    t, py, facts = ctx.t, ctx.py, ctx.facts
    data, raw = probe(py, "mxnet", max(ctx.args.timeout, 120))
    dists = facts.get("probe_base").get("dists", {})
    facts.set("mxnet_dists", dists, public=True)
    first_dist = sorted(dists)[0] if dists else "mxnet"
    if data is None:
        return ctx.fail(t("mxnet.crash.found", error=last_line(raw)), t("mxnet.crash.symptom"), t("mxnet.crash.diagnosis"),
                        [t("cmd.mxnet.reinstall_no_deps", py=py, wheel=first_dist)])
    if "import_error" in data:
        return import_failed(ctx, data, dists)
    facts.set("mxnet_probe", data)
    ver = data.get("version") or "?"
    feats = data.get("features", [])
    cuda_build = "CUDA" in feats
    wheel = sorted(dists)[0] if dists else None
    cuda_dists = [d for d in dists if P.wheel_cuda(d)]
    if cuda_dists:
        wheel = cuda_dists[0]
    wheel_cuda = None
    if cuda_build:
        wheel_cuda = P.wheel_cuda(wheel) or P.parse_cuda_env(os.environ.get("CUDA_VERSION"))
        build = "CUDA %s" % (P.version_tuple_str(wheel_cuda) if wheel_cuda else "?")
        if "CUDNN" in feats:
            build += " + cuDNN"
        if wheel_cuda:
            facts.set("mxnet_cuda", wheel_cuda)
        archs = P.WHEEL_ARCHS.get(tuple(wheel_cuda or ())) if P.wheel_cuda(wheel or "") else None
        if archs is not None:  # a pip wheel; NGC's own build has kernels for the GPUs of its CUDA
            facts.set("mxnet_archs", (archs, P.WHEEL_PTX.get(tuple(wheel_cuda))))
    else:
        build = "CPU"
    facts.set("mxnet_build", {"wheel": wheel, "cuda_build": cuda_build})
    facts.set("mxnet", {"version": ver, "build": build, "wheel": wheel, "features": feats}, public=True)
    found = "mxnet %s, %s (%s)" % (ver, build, wheel or t("mxnet.not_pip"))
    pv = P.parse_version(ver)
    wheel_l = (wheel or "").lower()
    legacy = P.LEGACY_LAST.get(wheel_l)
    min_mx = ctx.args.min_mxnet
    too_old = pv and P.version_lt(pv, P.parse_version(min_mx))
    if too_old and wheel_l == P.LAB_LEGACY_WHEEL and tuple(pv[:3]) == legacy:
        facts.set("mxnet_usable", True)
        return ctx.warn(found, t("mxnet.legacy.symptom"), t("mxnet.legacy.diagnosis", wheel=wheel, version=ver, min=min_mx),
                        [t("mxnet.remedy.cu117", py=py, wheel=wheel)])
    if too_old:
        wheel = wheel or "mxnet"
        rem = [t("cmd.mxnet.upgrade", py=py, wheel=wheel)]
        diag = t("mxnet.too_old.diagnosis", min=min_mx)
        if legacy:
            diag += t("mxnet.too_old.family", wheel=wheel, last=P.version_tuple_str(legacy))
            rem = [t("cmd.pip.uninstall", py=py, dists=wheel),
                   t("mxnet.too_old.remedy.choose", py=py, install=install_line(ctx))]
        return ctx.fail(found, t("mxnet.too_old.symptom"), diag, rem)
    facts.set("mxnet_usable", True)
    if len(dists) > 1:
        names = " ".join(sorted(dists))
        return ctx.warn(found + t("mxnet.several.found", dists=", ".join(sorted(dists))), t("mxnet.several.symptom"),
                        t("mxnet.several.diagnosis"),
                        [t("cmd.pip.uninstall", py=py, dists=names), t("mxnet.several.remedy", install=install_line(ctx))])
    return ctx.passed(found)


def import_failed(ctx, data, dists):
    t, py = ctx.t, ctx.py
    err = data["import_error"]
    cause = P.classify_import_error(data.get("traceback", "") + "\n" + err)
    found = "import mxnet: %s" % first_line(err)
    if cause == "missing":
        base = ctx.facts.get("probe_base")["python"]
        sysname, machine = base.get("system"), base.get("machine")
        rem = [install_line(ctx), t("mxnet.missing.remedy.cu117", py=py), t("mxnet.missing.remedy.hopper")]
        diag = t("mxnet.missing.diagnosis", py=py)
        if sysname == "Darwin" and machine == "arm64":
            diag += t("mxnet.missing.apple")
            rem = [t("mxnet.missing.apple.remedy")]
        elif sysname == "Windows":
            diag += t("mxnet.missing.windows")
            rem = [t("mxnet.missing.windows.remedy")]
        else:
            diag += t("mxnet.missing.wheels")
        return ctx.fail(found, t("mxnet.missing.symptom"), diag, rem)
    names = " ".join(sorted(dists))
    diag_key, rem_keys = IMPORT_CAUSES.get(cause, IMPORT_CAUSES["other"])
    kw = {"py": py, "dists": names or "mxnet", "wheel": sorted(dists)[0] if dists else "mxnet", "pin": P.NUMPY_PIN}
    return ctx.fail(found, t("mxnet.import.symptom"),
                    t(diag_key, dists=", ".join(sorted(dists)) or "mxnet-cu*"), [t(k, **kw) for k in rem_keys])


@check("mxnet-compute", group="mxnet", needs=("mxnet_usable", "mxnet_probe", "mxnet_build"),
       help="a tiny NDArray computation on the CPU")
def mxnet_compute(ctx):
    t, data = ctx.t, ctx.facts.get("mxnet_probe")
    if data.get("cpu_compute") == 12.0:
        return ctx.passed(t("mxnet_compute.ok.found"))
    wheel = ctx.facts.get("mxnet_build")["wheel"] or "mxnet"
    return ctx.fail(data.get("cpu_compute_error") or "sum = %r" % data.get("cpu_compute"), t("mxnet_compute.symptom"),
                    t("mxnet_compute.diagnosis"), [t("cmd.mxnet.reinstall", py=ctx.py, wheel=wheel)])
