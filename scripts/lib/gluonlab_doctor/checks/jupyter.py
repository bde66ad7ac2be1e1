"""jupyter and jupyter-md: the packages the lab's markdown notebooks need, in the Python that
runs `jupyter lab` (which need not be python3 on PATH)."""
from ..registry import check
from ..system import jupyter_python, last_line, probe

MODULES = ("jupyterlab", "jupytext", "notedown")


@check("jupyter", group="jupyter", needs=("probe_base",), provides=("jupyter_python", "jupyter_md"),
       help="jupyterlab, jupytext, notedown installed")
def jupyter(ctx):
    t = ctx.t
    py = jupyter_python() or ctx.py
    data, raw = probe(py, "jupyter", max(ctx.args.timeout, 60))
    if data is None:
        return ctx.fail(t("jupyter.crash.found", error=last_line(raw)), None, None, [t("cmd.jupyter.reinstall", py=py)])
    ctx.facts.set("jupyter_python", py)
    if "md_jupytext_cells" in data or "md_jupytext_error" in data:
        ctx.facts.set("jupyter_md", data)
    # "No module named 'notedown'" = not installed; any other error = installed but broken.
    missing = [m for m in MODULES if "No module named '%s'" % m in data[m].get("error", "")]
    broken = [m for m in MODULES if "error" in data[m] and m not in missing]
    have = ", ".join("%s %s" % (m, data[m]["version"]) for m in MODULES if "version" in data[m])
    also = ("; " + have) if have else ""
    status = ctx.fail if ctx.facts.get("where") == "container" else ctx.warn
    if broken:
        m = broken[0]
        err = last_line(data[m]["error"])
        if "pkg_resources" in err:
            diag, rem = t("jupyter.pkg_resources", module=m), t("cmd.jupyter.setuptools", py=py)
        else:
            diag, rem = t("jupyter.broken", module=m), t("cmd.jupyter.reinstall_one", py=py, module=m)
        return status("import %s: %s%s" % (m, err, also), t("jupyter.broken.symptom", module=m), diag, [rem])
    if missing:
        return status(t("jupyter.missing.found", missing=", ".join(missing), also=also), t("jupyter.missing.symptom"),
                      t("jupyter.missing.diagnosis", py=py), [t("cmd.jupyter.install", py=py)])
    where = "" if py == ctx.py else t("jupyter.server_python", py=py)
    return ctx.passed(have + where)


@check("jupyter-md", group="jupyter", needs=("jupyter_md", "jupyter_python"), help="a markdown (.md) notebook opens with jupytext")
def jupyter_md(ctx):
    t, data = ctx.t, ctx.facts.get("jupyter_md")
    py = ctx.facts.get("jupyter_python")
    if data.get("md_jupytext_cells") == 2:
        return ctx.passed(t("jupyter_md.ok.found") + (t("jupyter_md.notedown_too") if data.get("md_notedown_cells") else ""))
    return ctx.fail(data.get("md_jupytext_error") or "cells=%r" % data.get("md_jupytext_cells"), t("jupyter_md.symptom"),
                    t("jupyter_md.diagnosis"), [t("cmd.jupyter.reinstall_one", py=py, module="jupytext")])
