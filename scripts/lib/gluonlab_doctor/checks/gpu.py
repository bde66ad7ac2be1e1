"""gpu, gpu-driver, gpu-arch, gpu-mxnet: nvidia-smi, then whether the installed MXNet fits it.

The gpu check also reports MIG (from `nvidia-smi -L`): which GPUs are split into MIG devices and,
inside a lab server, the GPU or MIG slice the hub gave it (GLUONLAB_GPU_DESCRIPTION). Nothing is
added where no GPU is in MIG mode and the hub gave no slice.
"""
import os
import re
import shutil

from .. import parse as P
from ..registry import check
from ..system import first_line, last_line, run
from .mxnet import install_line

# nvidia-smi failures by parse.classify_smi_failure's cause key: diagnosis key, remedy keys.
SMI_CAUSES = {
    "version-mismatch": ("gpu.smi.version_mismatch", ("gpu.smi.version_mismatch.remedy",)),
    "no-driver": ("gpu.smi.no_driver", ("cmd.gpu.modprobe", "gpu.smi.no_driver.remedy")),
    "no-devices": ("gpu.smi.no_devices", ("gpu.smi.no_devices.remedy",)),
    "permissions": ("gpu.smi.permissions", ("cmd.gpu.ls_dev", "gpu.smi.permissions.remedy")),
    "other": ("gpu.smi.other", ("cmd.gpu.smi_q",)),
}


# `nvidia-smi -L`: "GPU 0: <name> (UUID: GPU-...)", and under a GPU in MIG mode
# "  MIG 1g.10gb     Device  0: (UUID: MIG-...)".
LIST_GPU = re.compile(r"^GPU (\d+): .+ \(UUID: (GPU-[0-9a-fA-F-]+)\)$")
LIST_MIG = re.compile(r"^\s+MIG (\S+)\s+Device\s+(\d+): \(UUID: (MIG-[0-9a-fA-F-]+)\)$")


def parse_mig_list(text):
    """{GPU index: [(MIG profile, MIG UUID), ...]} for the GPUs with MIG devices in `nvidia-smi -L`
    output; None when a line is neither a GPU nor a MIG line (an unknown format: say nothing)."""
    found, current = {}, None
    for line in text.splitlines():
        if not line.strip():
            continue
        gpu, mig = LIST_GPU.match(line.rstrip()), LIST_MIG.match(line.rstrip())
        if gpu:
            current = int(gpu.group(1))
        elif mig and current is not None:
            found.setdefault(current, []).append((mig.group(1), mig.group(3)))
        else:
            return None
    return found


def mig_summary(ctx, smi):
    """The MIG sentence for the gpu check's line, or "" (no MIG here, or -L unreadable)."""
    rc, out = run([smi, "-L"], ctx.args.timeout)
    migs = parse_mig_list(out) if rc == 0 else None
    given = os.environ.get("GLUONLAB_GPU_DESCRIPTION", "")
    parts = []
    for index in sorted(migs or {}):
        devices = migs[index]
        profiles = sorted(set(p for p, _ in devices))
        counts = ", ".join("%s x%d" % (p, sum(1 for q, _ in devices if q == p)) for p in profiles)
        parts.append(ctx.t("gpu.mig.found", index=index, count=len(devices), profiles=counts))
    if given.startswith("MIG ") or (migs and ctx.facts.get("where") == "container"):
        parts.append(ctx.t("gpu.mig.server", slice=given or "?"))
    return ("; " + "; ".join(parts)) if parts else ""


def no_gpu_remedy(ctx):
    if ctx.facts.get("where") == "container":
        return [ctx.t("gpu.no_gpu.remedy.container")]
    return [ctx.t("gpu.no_gpu.remedy")]


@check("gpu", group="gpu", uses=("mxnet_build",), provides=("gpus", "driver_cuda", "driver"),
       help="nvidia-smi works; GPUs (index, name, memory, architecture), driver, CUDA.\n"
            "No GPU is a WARN (\"no GPU\"), not a FAIL, unless a GPU build of mxnet is installed")
def gpu(ctx):
    t, timeout = ctx.t, ctx.args.timeout
    build = ctx.facts.get("mxnet_build") or {"wheel": None, "cuda_build": False}  # --skip mxnet: unknown
    smi = shutil.which("nvidia-smi")
    if not smi:
        if build["cuda_build"]:
            return ctx.fail(t("gpu.no_smi_gpu_build.found", wheel=build["wheel"]), t("gpu.no_smi_gpu_build.symptom"),
                            t("gpu.no_smi_gpu_build.diagnosis"),
                            [t("cmd.mxnet.to_cpu", py=ctx.py, wheel=build["wheel"], install=install_line(ctx))]
                            + no_gpu_remedy(ctx))
        return ctx.warn(t("gpu.no_smi.found"), t("gpu.no_smi.symptom"), t("gpu.no_smi.diagnosis"), no_gpu_remedy(ctx))
    rc, out = run([smi, "--query-gpu=" + ",".join(P.QUERY_FIELDS), "--format=csv,noheader,nounits"], timeout)
    if rc != 0:
        diag, rem = SMI_CAUSES.get(P.classify_smi_failure(out, rc), SMI_CAUSES["other"])
        return ctx.fail("nvidia-smi: %s [exit %d]" % (first_line(out), rc), t("gpu.smi.symptom"), t(diag),
                        [t(k) for k in rem])
    try:
        rows = P.parse_query_gpu(out)
    except ValueError as e:
        return ctx.fail(str(e), None, t("gpu.smi.unparsable"), [t("gpu.smi.unparsable.remedy")])
    if not rows:
        return ctx.warn(t("gpu.none_listed.found"), None, t("gpu.none_listed.diagnosis"), no_gpu_remedy(ctx))
    rc2, banner = run([smi], timeout)
    b = P.parse_smi_banner(banner) if rc2 == 0 else None
    rc3, cc_out = run([smi, "--query-gpu=compute_cap", "--format=csv,noheader"], timeout)
    ccs = [P.parse_compute_cap(line) for line in cc_out.splitlines()] if rc3 == 0 else []
    for i, row in enumerate(rows):
        cc = ccs[i] if i < len(ccs) and ccs[i] else P.compute_capability_from_name(row["name"])
        row["compute_capability"] = cc
    ctx.facts.set("gpus", rows, public=True)
    ctx.facts.set("driver_cuda", b["cuda_version"] if b else None, public=True)
    ctx.facts.set("driver", P.parse_version(rows[0]["driver_version"]))
    desc = "; ".join("%s %s, %s MiB, sm_%s" % (r["index"], r["name"], r["memory.total"], r["compute_capability"] or "?")
                     for r in rows)
    return ctx.passed(t("gpu.ok.found", count=len(rows), gpus=desc, driver=rows[0]["driver_version"],
                        cuda=b["cuda_version"] if b else "?") + mig_summary(ctx, smi))


@check("gpu-driver", group="gpu", needs=("gpus", "driver", "mxnet_cuda", "mxnet_build"),
       help="the driver supports the CUDA version of the installed mxnet-cuXXX wheel")
def gpu_driver(ctx):
    t, py, facts = ctx.t, ctx.py, ctx.facts
    wheel_cuda, driver = facts.get("mxnet_cuda"), facts.get("driver")
    wheel = facts.get("mxnet_build")["wheel"]
    verdict, need = P.driver_supports(wheel_cuda, driver)
    cu = P.version_tuple_str(wheel_cuda)
    drv = facts.get("gpus")[0]["driver_version"]
    need_s = P.driver_str(need) if need else "?"
    found = t("gpu_driver.found", driver=drv, wheel=wheel, cuda=cu, need=need_s)
    upgrade = t("gpu_driver.remedy.upgrade", need=need_s)
    if verdict == "ok":
        return ctx.passed(found)
    if verdict == "minor-compat":
        return ctx.warn(found, t("gpu_driver.minor_compat.symptom"), t("gpu_driver.minor_compat.diagnosis"), [upgrade])
    if verdict == "too-old":
        alt = [c for c in ((11, 7), (11, 2)) if P.driver_supports(c, driver)[0] == "ok"]
        if alt:
            other = t("gpu_driver.remedy.other_wheel", py=py, wheel=wheel, other="mxnet-cu%d%d" % alt[0])
        else:
            other = t("gpu_driver.remedy.cpu", py=py, wheel=wheel, install=install_line(ctx))
        max_cuda = P.version_tuple_str(P.driver_max_cuda(driver) or (0,))
        return ctx.fail(found, t("gpu_driver.too_old.symptom"),
                        t("gpu_driver.too_old.diagnosis", driver=drv, max=max_cuda, cuda=cu), [upgrade, other])
    return ctx.warn(found, None, t("gpu_driver.unknown.diagnosis"), [upgrade])


@check("gpu-arch", group="gpu", needs=("gpus", "mxnet_archs", "mxnet_build"),
       help="the GPU architecture is compiled into that wheel (Hopper + cu117 -> WARN: ngc variant)")
def gpu_arch(ctx):
    t = ctx.t
    archs, ptx = ctx.facts.get("mxnet_archs")
    wheel = ctx.facts.get("mxnet_build")["wheel"]
    arch_s = ",".join("sm_%d" % a for a in archs) + (" + PTX compute_%d" % ptx if ptx else "")
    worst = None
    for g in ctx.facts.get("gpus"):
        cc = g["compute_capability"]
        verdict = P.arch_supported(cc, archs, ptx)
        if verdict != "yes" and worst is None:
            worst = (g, cc, verdict)
    if worst is None:
        return ctx.passed(t("gpu_arch.ok.found", wheel=wheel, archs=arch_s))
    g, cc, verdict = worst
    kw = {"arch": P.arch_name(cc), "cc": cc, "wheel": wheel}
    found = "%s (%s, sm_%s): %s %s %s" % (g["name"], P.arch_name(cc), cc or "?", wheel, t("gpu_arch.has_only"), arch_s)
    if cc is None:
        return ctx.warn(found, None, t("gpu_arch.unknown_cc.diagnosis"), [t("cmd.gpu.query_cc")])
    if verdict == "ptx":
        return ctx.warn(found, t("gpu_arch.ptx.symptom"), t("gpu_arch.ptx.diagnosis", **kw),
                        [t("gpu_arch.ptx.remedy.cu117"), t("gpu_arch.ptx.remedy.hopper")])
    if cc > max(archs):
        return ctx.warn(found, t("gpu_arch.newer.symptom"), t("gpu_arch.newer.diagnosis", **kw), [t("hint.ngc")])
    return ctx.fail(found, t("gpu_arch.older.symptom"), t("gpu_arch.older.diagnosis", **kw),
                    [t("hint.cu80"), t("gpu_arch.older.remedy.cpu", install=install_line(ctx))])


@check("gpu-mxnet", group="gpu", needs=("gpus", "mxnet_probe", "mxnet_build"),
       help="mx.nd.zeros(ctx=mx.gpu(0)) works (or: a GPU is idle because mxnet is the CPU build)")
def gpu_mxnet(ctx):
    t, facts = ctx.t, ctx.facts
    mx, build = facts.get("mxnet_probe"), facts.get("mxnet_build")
    if not build["cuda_build"]:
        cc = max(g["compute_capability"] or 0 for g in facts.get("gpus"))
        if cc >= 90:
            rem = [t("hint.ngc")]
        elif 0 < cc < 50:
            rem = [t("hint.cu80")]
        else:
            rem = [t("cmd.mxnet.to_cu117", py=ctx.py, wheel=build["wheel"] or "mxnet")]
        return ctx.warn(t("gpu_mxnet.cpu_build.found"), t("gpu_mxnet.cpu_build.symptom"),
                        t("gpu_mxnet.cpu_build.diagnosis"), rem)
    if "gpu_compute" in mx:
        return ctx.passed(t("gpu_mxnet.ok.found", num_gpus=mx.get("num_gpus")))
    err = mx.get("gpu_compute_error", "?")
    if "no kernel image" in err:
        diag, rem = t("gpu_mxnet.no_kernel"), [t("hint.ngc")]
    elif "insufficient" in err:
        diag, rem = t("gpu_mxnet.driver_old"), [t("gpu_mxnet.driver_old.remedy")]
    else:
        diag, rem = t("gpu_mxnet.no_gpu"), [t("cmd.gpu.visible_devices"), t("cmd.docker.run_gpus")]
    return ctx.fail("mx.nd.zeros(ctx=mx.gpu(0)): %s" % last_line(err), t("gpu_mxnet.symptom"), diag, rem)
