"""conda and conda-env: conda itself (not needed in a lab container), then the lab's environment."""
import json
import os
import shutil

from .. import parse as P
from ..messages import TUNA_CONDA, TUNA_PYPI
from ..registry import DoctorError, check
from ..system import first_line, run

HERE = os.path.dirname(os.path.abspath(__file__))
# scripts/lib/gluonlab_doctor/checks -> the checkout (or /opt/gluonlab in an image)
LAB_ENV_FILE = os.path.normpath(os.path.join(HERE, "..", "..", "..", "..", "content", "environment.yml"))
CONDA_DIRS = ("~/miniconda3", "~/anaconda3", "~/miniforge3", "~/mambaforge", "/opt/conda",
              "/opt/miniconda3", "/opt/anaconda3")


def env_file(ctx):
    """(path, explicit): --env-file, ./environment.yml, or the lab's own file next to the
    scripts (content/environment.yml in a checkout or image). Only an explicit or local
    file means "this user follows the conda route"; the lab's file is just the reference."""
    given = ctx.args.env_file
    if given:
        if not os.path.isfile(given):
            raise DoctorError(ctx.t("error.env_file", path=given))
        return given, True
    for c in ("environment.yml", "environment.yaml"):
        if os.path.isfile(c):
            return c, True
    if os.path.isfile(LAB_ENV_FILE):
        return LAB_ENV_FILE, False
    return None, False


@check("conda", group="conda", provides=("conda_cmd", "env_file"),
       help="conda on PATH and its version; not needed (PASS) inside a lab container;\n"
            "WARN when absent elsewhere (pip works without it); FAIL when it is installed\n"
            "but not on PATH, or when ./environment.yml or --env-file asks for it")
def conda(ctx):
    t = ctx.t
    conda_cmd = shutil.which("conda")
    path, explicit = env_file(ctx)
    if conda_cmd:
        rc, out = run([conda_cmd, "--version"], ctx.args.timeout)
        ver = P.parse_conda_version(out)
        if rc != 0 or not ver:
            return ctx.fail(t("conda.broken.found", error=first_line(out)), t("conda.broken.symptom"),
                            t("conda.broken.diagnosis"), [t("conda.broken.remedy")])
        ctx.facts.set("conda_cmd", conda_cmd)
        if path:
            ctx.facts.set("env_file", path)
        return ctx.passed("conda %s (%s)" % (ver, conda_cmd))
    if ctx.facts.get("where") == "container":
        return ctx.passed(t("conda.container.found"))
    installed = [os.path.expanduser(d) for d in CONDA_DIRS
                 if os.path.isfile(os.path.join(os.path.expanduser(d), "bin", "conda"))]
    if installed:
        d = installed[0]
        return ctx.fail(t("conda.off_path.found", dir=d), t("conda.missing.symptom"), t("conda.off_path.diagnosis"),
                        [t("conda.off_path.remedy.init", dir=d), t("conda.off_path.remedy.source", dir=d)])
    install = [t("conda.missing.remedy.install"), t("conda.missing.remedy.init")]
    if path and explicit:
        return ctx.fail(t("conda.needed.found", path=path), t("conda.missing.symptom"), t("conda.needed.diagnosis"),
                        install)
    return ctx.warn(t("conda.missing.found"), t("conda.missing.symptom"), t("conda.missing.diagnosis"), install)


@check("conda-env", group="conda", needs=("conda_cmd", "env_file"),
       help="(with conda) the environment of --env-file, ./environment.yml or else the lab's\n"
            "content/environment.yml exists, is complete (has python) and is active")
def conda_env(ctx):
    t = ctx.t
    path = ctx.facts.get("env_file")
    with open(path) as f:
        name = P.parse_env_file_name(f.read())
    if not name:
        return ctx.warn(t("conda_env.no_name.found", path=path), None, t("conda_env.no_name.diagnosis"),
                        [t("conda_env.no_name.remedy", path=path)])
    rc, out = run([ctx.facts.get("conda_cmd"), "env", "list", "--json"], ctx.args.timeout)
    try:
        envs = json.loads(out[out.index("{"):])["envs"]
    except (ValueError, KeyError):
        return ctx.fail(t("conda_env.list_fails.found", error=first_line(out)), None,
                        t("conda_env.list_fails.diagnosis"), [t("conda_env.list_fails.remedy")])
    match = [e for e in envs if os.path.basename(e.rstrip("/")) == name]
    create = [t("cmd.conda_env.create", path=path)]
    mirrors = [t("conda_env.remedy.conda_mirror", url=TUNA_CONDA), t("conda_env.remedy.pip_mirror", url=TUNA_PYPI)]
    if not match:
        return ctx.fail(t("conda_env.missing.found", name=name, path=path), t("cmd.conda_env.not_found", name=name),
                        t("conda_env.missing.diagnosis"), create + mirrors)
    prefix = match[0]
    if not (os.path.exists(os.path.join(prefix, "bin", "python")) or
            os.path.exists(os.path.join(prefix, "python.exe"))):
        return ctx.fail(t("conda_env.half.found", name=name, prefix=prefix), t("conda_env.half.symptom"),
                        t("conda_env.half.diagnosis"), [t("conda_env.half.remedy", name=name, prefix=prefix)] + create + mirrors)
    active = os.environ.get("CONDA_DEFAULT_ENV")
    if active != name:
        return ctx.warn(t("conda_env.inactive.found", name=name, active=active or "none"),
                        t("conda_env.inactive.symptom"), t("conda_env.inactive.diagnosis", name=name),
                        [t("cmd.conda_env.activate", name=name)])
    return ctx.passed(t("conda_env.ok.found", name=name, prefix=prefix))
