#!/usr/bin/env python3
"""Convert the notedown-style markdown tutorials to .ipynb next to each .md, at image build.

Why: JupyterLab 4 cannot make jupytext's viewer the default for .md (the Document Manager applies
`defaultViewers` before jupytext registers its factory: "Document viewer Jupytext Notebook not
found"), so a double-click on a .md opens the text editor. Attendees double-click the .ipynb
instead; the .md stays the source (Open With -> Notebook also works, through jupytext).
notedown converts, as the book did: only ```python blocks become code cells.

Usage: convert-tutorials.py CONTENT_DIR
"""
import sys
from pathlib import Path

import nbformat
import notedown

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def main(content_dir: str) -> int:
    reader = notedown.MarkdownReader(match="python")
    converted = 0
    for md in sorted(Path(content_dir).glob("chapter*/*.md")):
        notebook = reader.reads(md.read_text(encoding="utf-8"))
        notebook.metadata["kernelspec"] = KERNELSPEC
        notebook.metadata["language_info"] = {"name": "python"}
        nbformat.validate(notebook)
        nbformat.write(notebook, md.with_suffix(".ipynb"))
        converted += 1
    print(f"convert-tutorials: {converted} notebooks written")
    return 0 if converted else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
