"""Command line: options, the generated --help, and the exit codes
(0 no FAIL, 1 at least one FAIL, 2 the doctor itself could not run)."""
import argparse
import os
import sys
import textwrap

from . import checks  # noqa: F401 (registers every check)
from . import parse as P
from .messages import LANGS, Messages
from .registry import GROUPS, REGISTRY, Context, DoctorError, Facts, run_checks
from .report import Report
from .system import detect_where

MIN_MXNET_DEFAULT = "1.9.1"
DEFAULT_GPU_IMAGE = "gluonlab/notebook:cpu"
SKIPPABLE = tuple(g.name for g in GROUPS if g.skippable)

USAGE = """\
Usage: scripts/doctor.sh [options]
       (in a lab container: bash /opt/gluonlab/scripts/doctor.sh)

Self-check for Gluon Lab installs. Each check prints one line:
  PASS|WARN|FAIL  <check>  <what was found>
and, for WARN/FAIL, the symptom, the diagnosis and the remedy (commands to run).
Messages are in Chinese with the English terms kept; --lang en gives English.

Checks (those that do not apply are left out, and listed under "skipped" in --json):
{checks}

Options:
  --lang zh|en        report language (default zh, or $GLUONLAB_DOCTOR_LANG)
  --json              print a JSON report instead of text (same exit codes)
  --python PATH       the Python to check (default: python3 on PATH, else python)
  --env-file FILE     conda environment file (default: ./environment.yml if present)
  --min-mxnet VER     lowest acceptable MXNet version (default {min_mxnet})
  --host | --no-host  force the host checks on/off (default: on where docker is on PATH,
                      off inside a lab container)
  --hub-url URL       also check that JupyterHub answers at URL (http:// or https://)
  --gpu-image IMAGE   local image for the `docker run --gpus all` test
                      (default {gpu_image}; naming one also runs the test without GPUs)
  --min-free-gb N     free disk needed for the images (default 30)
  --timeout SEC       time limit per external command (default 60)
  --where auto|laptop|host|container   override where the doctor thinks it runs
{skip}
  -h, --help          this help

Exit status: 0 no FAIL (WARNs allowed), 1 at least one FAIL, 2 the doctor could not run
(bad option, no Python >= 3.6 to run it, internal error).
Needs a Python >= 3.6 on PATH to run; the Python it checks may be older or broken."""


def help_text():
    """--help, with the checks and the --skip groups taken from the registry."""
    rows = []
    for chk in REGISTRY.checks:
        first, _, rest = chk.help.partition("\n")
        rows.append("  %s %s" % (chk.name.ljust(12), first) if len(chk.name) < 13 else "  %s  %s" % (chk.name, first))
        rows.extend(" " * 15 + line for line in rest.splitlines())
    groups = ", ".join("%s (%s)" % (g, ", ".join(c.name for c in REGISTRY.in_group(g))) for g in SKIPPABLE)
    always = ", ".join("the %s check" % c.name for c in REGISTRY.in_group("always"))
    skip = textwrap.fill("comma list of groups to leave out: %s (%s itself always runs)" % (groups, always),
                         width=94, initial_indent="  --skip GROUPS       ", subsequent_indent=" " * 22,
                         break_on_hyphens=False)
    return USAGE.format(checks="\n".join(rows), min_mxnet=MIN_MXNET_DEFAULT, gpu_image=DEFAULT_GPU_IMAGE, skip=skip)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="doctor.sh", add_help=False)
    p.add_argument("--lang", choices=LANGS, default=os.environ.get("GLUONLAB_DOCTOR_LANG", "zh"))
    p.add_argument("--json", action="store_true")
    p.add_argument("--python")
    p.add_argument("--env-file")
    p.add_argument("--min-mxnet", default=MIN_MXNET_DEFAULT)
    p.add_argument("--host", dest="host", action="store_true", default=None)
    p.add_argument("--no-host", dest="host", action="store_false")
    p.add_argument("--hub-url")
    p.add_argument("--gpu-image")
    p.add_argument("--min-free-gb", type=int, default=30)
    p.add_argument("--timeout", type=int, default=60)
    p.add_argument("--where", choices=("auto", "laptop", "host", "container"), default="auto")
    p.add_argument("--skip", default="")
    a = p.parse_args(argv)
    if a.lang not in LANGS:  # from $GLUONLAB_DOCTOR_LANG: argparse checks only the command line
        p.error("GLUONLAB_DOCTOR_LANG: invalid choice: %r (choose from %s)" % (a.lang, ", ".join(LANGS)))
    a.skip = [s for s in a.skip.split(",") if s]
    bad = [s for s in a.skip if s not in SKIPPABLE]
    if bad:
        p.error("--skip: unknown group(s) %s; choose from %s" % (",".join(bad), ",".join(SKIPPABLE)))
    if P.parse_version(a.min_mxnet) is None:
        p.error("--min-mxnet: %r is not a version like 1.9.1" % a.min_mxnet)
    if a.hub_url and not a.hub_url.startswith(("http://", "https://")):
        p.error("--hub-url must start with http:// or https:// (got %r)" % a.hub_url)
    if a.timeout < 1:
        p.error("--timeout must be >= 1 second")
    a.gpu_image_given = a.gpu_image is not None
    a.gpu_image = a.gpu_image or DEFAULT_GPU_IMAGE
    return a


def initial_facts(args):
    """The facts every check may rely on: where the doctor runs and which groups apply."""
    facts = Facts()
    where = detect_where() if args.where == "auto" else args.where
    facts.set("where", where, public=True)
    facts.set("host_enabled", args.host if args.host is not None else where == "host")
    facts.set("hub_url", args.hub_url)
    return facts


def main(argv):
    if "-h" in argv or "--help" in argv:
        print(help_text())
        return 0
    args = parse_args(argv)  # argparse exits with code 2 on bad options
    msg = Messages(args.lang)
    ctx = Context(args, initial_facts(args), msg)
    try:
        report = run_checks(REGISTRY, ctx, Report(msg), set(args.skip))
    except DoctorError as e:
        sys.stderr.write("doctor: %s\n" % e)
        return 2
    report.facts = ctx.facts.public()
    print(report.json() if args.json else report.text())
    return report.exit_code()


def entry(argv):
    """main() with the exit codes for what is not the user's install's fault."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        return 2
    except BrokenPipeError:  # `doctor.sh | head`: the reader left, nothing to report
        return 0
    except Exception:  # a doctor bug must not look like a FAIL of the user's install (exit 1)
        import traceback
        traceback.print_exc()
        sys.stderr.write("doctor: internal error (exit 2); please report the traceback above\n")
        return 2
