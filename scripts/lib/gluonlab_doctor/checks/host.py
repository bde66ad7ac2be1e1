"""docker, docker-gpus, disk, docker-runtime, netguard: what a GPU host needs to run the lab (--host, or
where docker is)."""
import json
import os
import shutil

from .. import parse as P
from ..messages import TOOLKIT_FIX
from ..registry import check
from ..system import last_line, run

DOCKER_CAUSES = {
    "permission": ("docker.permission", ("cmd.docker.usermod", "docker.permission.remedy")),
    "daemon-down": ("docker.daemon_down", ("cmd.docker.start", "cmd.docker.journal")),
    "other": ("docker.other", ("cmd.docker.info",)),
}
SMI_IN_CONTAINER = "if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi -L; else echo NO-NVIDIA-SMI; fi"


@check("docker", group="host", provides=("docker_cmd",), help="(hosts) the Docker engine answers")
def docker(ctx):
    t = ctx.t
    cmd = shutil.which("docker")
    if not cmd:
        return ctx.fail(t("docker.missing.found"), t("docker.missing.symptom"), t("docker.missing.diagnosis"),
                        [t("cmd.docker.install"), t("docker.missing.remedy.ansible")])
    rc, out = run([cmd, "version", "--format", "{{.Server.Version}}"], ctx.args.timeout)
    if rc != 0 or not out.strip() or "Cannot connect" in out:
        diag, rem = DOCKER_CAUSES.get(P.classify_docker_error(out), DOCKER_CAUSES["other"])
        return ctx.fail("docker version: %s" % last_line(out), t("docker.fails.symptom"), t(diag), [t(k) for k in rem])
    ctx.facts.set("docker_cmd", cmd)
    return ctx.passed(t("docker.ok.found", version=out.strip().splitlines()[-1]))


@check("docker-gpus", group="host", needs=("docker_cmd",), uses=("gpus",),
       help="(hosts with GPUs, or --gpu-image) `docker run --gpus all` gives the container GPUs")
def docker_gpus(ctx):
    t, a = ctx.t, ctx.args
    if not (ctx.facts.get("gpus") or a.gpu_image_given):
        ctx.not_applicable()
    image = a.gpu_image
    rc, out = run([ctx.facts.get("docker_cmd"), "run", "--rm", "--gpus", "all", "--network", "none", "--entrypoint", "",
                   image, "sh", "-c", SMI_IN_CONTAINER], max(a.timeout, 120))
    if rc == 0:
        listed = P.parse_smi_list(out)
        if listed:
            return ctx.passed(t("docker_gpus.ok.found", count=len(listed)))
        return ctx.warn(t("docker_gpus.no_driver.found", image=image), t("docker_gpus.no_driver.symptom"),
                        t("docker_gpus.no_driver.diagnosis"), list(TOOLKIT_FIX))
    if P.classify_docker_error(out) == "no-image":
        return ctx.warn(t("docker_gpus.no_image.found", image=image), None, t("docker_gpus.no_image.diagnosis"),
                        [t("docker_gpus.no_image.remedy")])
    return ctx.fail("docker run --gpus all: %s" % last_line(out), t("docker_gpus.fails.symptom"),
                    t("docker_gpus.fails.diagnosis"), list(TOOLKIT_FIX))


@check("disk", group="host", needs=("docker_cmd",), help="(hosts) free space where Docker keeps images")
def disk(ctx):
    t, need = ctx.t, ctx.args.min_free_gb
    rc, out = run([ctx.facts.get("docker_cmd"), "info", "--format", "{{.DockerRootDir}}"], ctx.args.timeout)
    path = out.strip().splitlines()[-1] if rc == 0 and out.strip() else "/var/lib/docker"
    probe_path = path
    while not os.path.exists(probe_path) and probe_path not in ("/", ""):
        probe_path = os.path.dirname(probe_path)
    free_gb = shutil.disk_usage(probe_path or "/").free / 2 ** 30
    found = t("disk.found", path=path, free=free_gb, need=need)
    if free_gb < need:
        return ctx.fail(found, t("disk.full.symptom"), t("disk.full.diagnosis"),
                        [t("cmd.docker.image_prune"), t("cmd.docker.builder_prune"), t("disk.full.remedy.move")])
    return ctx.passed(found)


@check("docker-runtime", group="host", needs=("docker_cmd",),
       help="(hosts) Docker's default runtime is not nvidia (else CPU-only containers may see every GPU)")
def docker_runtime(ctx):
    t = ctx.t
    rc, out = run([ctx.facts.get("docker_cmd"), "info", "--format", "{{.DefaultRuntime}}"], ctx.args.timeout)
    runtime = last_line(out) if rc == 0 else ""
    if not runtime:
        return ctx.warn(t("docker_runtime.unknown.found", output=last_line(out)), None,
                        t("docker_runtime.nvidia.diagnosis"), [t("cmd.docker.info")])
    if runtime == "nvidia":
        # The hub gives its CPU-only servers NVIDIA_VISIBLE_DEVICES=void; any other container
        # started from a CUDA image (NVIDIA_VISIBLE_DEVICES=all) gets every GPU.
        return ctx.warn(t("docker_runtime.nvidia.found"), t("docker_runtime.nvidia.symptom"),
                        t("docker_runtime.nvidia.diagnosis"), [t("docker_runtime.nvidia.remedy"), t("cmd.docker.restart")])
    return ctx.passed(t("docker_runtime.ok.found", runtime=runtime))


# The netguard's own code reads the rules (the backend Docker uses, the lab network's bridge and
# the hub's address): run in the hub image, on the host network, with NET_ADMIN to read them.
NETGUARD_IMAGE = "gluonlab/hub:latest"


@check("netguard", group="host", needs=("docker_cmd",),
       help="(hosts running a lab) the netguard's firewall rules keep attendees apart and away from the host")
def netguard(ctx):
    t = ctx.t
    instance = os.environ.get("GLUONLAB_INSTANCE") or "gluonlab"
    rc, out = run([ctx.facts.get("docker_cmd"), "run", "--rm", "--pull", "never", "--network", "host",
                   "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW",
                   "-v", "/var/run/docker.sock:/var/run/docker.sock", "-e", "GLUONLAB_INSTANCE=" + instance,
                   NETGUARD_IMAGE, "python3", "-m", "gluonlab_hub.netguard", "--status"], max(ctx.args.timeout, 60))
    state = None
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            state = json.loads(line)
            break
    remedy = [t("cmd.netguard.up"), t("cmd.netguard.logs")]
    if state is None:
        if "No such image" in out or "Unable to find image" in out:
            return ctx.warn(t("netguard.no_image.found", image=NETGUARD_IMAGE), None, t("netguard.no_image.diagnosis"),
                            [t("cmd.netguard.build")])
        return ctx.fail(t("netguard.error.found", error=last_line(out)), t("netguard.missing.symptom"),
                        t("netguard.error.diagnosis"), remedy)
    if not state["exists"]:
        ctx.not_applicable()  # no lab of this name on this host
    fields = dict(network=state["network"], bridge=state["bridge"])
    if state["rules"] == "isolated":
        return ctx.passed(t("netguard.ok.found", **fields))
    if state["rules"] == "isolated-no-internet":
        return ctx.passed(t("netguard.ok_offline.found", **fields))
    if state["rules"] == "open":
        return ctx.warn(t("netguard.open.found", **fields), t("netguard.open.symptom"), t("netguard.open.diagnosis"),
                        [t("netguard.open.remedy")] + remedy)
    found = t("netguard.stale.found", **fields) if state["rules"] == "stale" else t("netguard.missing.found", **fields)
    return ctx.fail(found, t("netguard.missing.symptom"), t("netguard.missing.diagnosis"), remedy)
