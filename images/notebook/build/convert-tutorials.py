#!/usr/bin/env python3
"""Turn the notedown-style markdown tutorials into the notebooks attendees see, at image build.

Why: JupyterLab 4 cannot make jupytext's viewer the default for .md (the Document Manager applies
`defaultViewers` before jupytext registers its factory: "Document viewer Jupytext Notebook not
found"), and a tutorial shown twice (.md and .ipynb) confuses a learner whose edits to one never
reach the other. So the image ships one document per tutorial, the .ipynb: each .md (the table
of contents README.md and every chapter*/*.md) is converted with notedown (as the book did:
only ```python blocks become code cells), its relative links to other tutorials are rewritten
from .md to .ipynb, and with --drop-sources the .md is removed from the image's content folder
(the repository keeps the .md as the source; content_sync copies the folder into ~/tutorials).

The notebooks name the image's own kernel: kernelspec name "python3" and the display name from
the installed kernel.json (--kernel-json), so the launcher and the notebook agree.

Usage: convert-tutorials.py CONTENT_DIR [--kernel-json PATH] [--drop-sources]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

DEFAULT_KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

# A markdown link or image target: "](target)" or "](target "title")". Only relative targets
# that end in .md (optionally with #anchor) are tutorials; URLs with a scheme are left alone.
LINK = re.compile(r"\]\((?P<target>[^)\s]+?)(?P<rest>(?:\s+\"[^\"]*\")?\))")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def tutorial_sources(content: Path) -> list[Path]:
    """The markdown files that become notebooks: the table of contents and every chapter section."""
    readme = content / "README.md"
    return ([readme] if readme.is_file() else []) + sorted(content.glob("chapter*/*.md"))


def rewrite_links(text: str, source: Path, converted: set[Path]) -> str:
    """*text* with each relative link to a converted tutorial pointing at its .ipynb instead.

    A link to a .md that is not converted (say a report) stays as it is, so no link is broken.
    """
    def replace(match: re.Match) -> str:
        target = match.group("target")
        path, sep, anchor = target.partition("#")
        if SCHEME.match(path) or not path.endswith(".md") or path.startswith("/"):
            return match.group(0)
        resolved = (source.parent / path).resolve()
        if resolved not in converted:
            return match.group(0)
        return f"]({path[:-3]}.ipynb{sep}{anchor}{match.group('rest')}"

    return LINK.sub(replace, text)


def kernelspec_from(kernel_json: Path | None) -> dict:
    """The notebook metadata for the image's kernel (name python3, its display name)."""
    if kernel_json is None:
        return dict(DEFAULT_KERNELSPEC)
    try:
        spec = json.loads(kernel_json.read_text(encoding="utf-8"))
        display = spec["display_name"]
    except (OSError, ValueError, KeyError) as error:
        raise SystemExit(f"convert-tutorials: cannot read the kernel's display name from {kernel_json}: {error}")
    return {"name": kernel_json.parent.name, "display_name": display, "language": spec.get("language", "python")}


def convert(content: Path, kernelspec: dict, drop_sources: bool) -> int:
    import nbformat  # the image's Jupyter env; imported here so the link logic has no deps
    import notedown

    reader = notedown.MarkdownReader(match="python")
    sources = tutorial_sources(content)
    converted = {md.resolve() for md in sources}
    for md in sources:
        notebook = reader.reads(md.read_text(encoding="utf-8"))
        for number, cell in enumerate(notebook.cells):
            # Stable ids (nbformat makes random ones): the same tutorial converts to the same
            # bytes, so the content version (a hash of the tree) changes only with the content.
            cell["id"] = f"cell-{number}"
            if cell.cell_type == "markdown":
                cell.source = rewrite_links(cell.source, md, converted)
        notebook.metadata["kernelspec"] = kernelspec
        notebook.metadata["language_info"] = {"name": "python"}
        nbformat.validate(notebook)
        nbformat.write(notebook, md.with_suffix(".ipynb"))
    if drop_sources:
        for md in sources:
            md.unlink()
    return len(sources)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("content", type=Path)
    parser.add_argument("--kernel-json", type=Path, help="the installed kernel.json whose display name notebooks carry")
    parser.add_argument("--drop-sources", action="store_true", help="remove each .md once its .ipynb is written")
    args = parser.parse_args(argv)
    count = convert(args.content, kernelspec_from(args.kernel_json), args.drop_sources)
    print(f"convert-tutorials: {count} notebooks written" + (" (markdown sources removed)" if args.drop_sources else ""))
    return 0 if count else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
