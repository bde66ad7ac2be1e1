"""The image's first-screen build steps without Docker: link rewriting in convert-tutorials.py
(the learner sees only .ipynb, so links between tutorials must point at notebooks) and the kernel
name from name-kernel.py. The full notedown conversion runs in tests/images."""
from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "images" / "notebook" / "build"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), BUILD / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


convert = load("convert-tutorials")
name_kernel = load("name-kernel")


@pytest.fixture
def content(tmp_path: Path) -> Path:
    (tmp_path / "chapter01").mkdir()
    (tmp_path / "chapter02").mkdir()
    for rel in ("README.md", "chapter01/a.md", "chapter01/b.md", "chapter02/c.md"):
        (tmp_path / rel).write_text("# x\n")
    return tmp_path


def converted(content: Path) -> set[Path]:
    return {p.resolve() for p in convert.tutorial_sources(content)}


def test_sources_are_the_table_of_contents_and_every_section(content: Path) -> None:
    names = [p.relative_to(content).as_posix() for p in convert.tutorial_sources(content)]
    assert names == ["README.md", "chapter01/a.md", "chapter01/b.md", "chapter02/c.md"]


def test_links_to_tutorials_point_at_their_notebooks(content: Path) -> None:
    text = ("[← 上一节 Previous](a.md) · [目录 Contents](../README.md) · "
            "[下一节 Next](../chapter02/c.md#first-part \"title\")")
    out = convert.rewrite_links(text, content / "chapter01" / "b.md", converted(content))
    assert out == ("[← 上一节 Previous](a.ipynb) · [目录 Contents](../README.ipynb) · "
                   "[下一节 Next](../chapter02/c.ipynb#first-part \"title\")")


def test_other_links_are_left_alone(content: Path) -> None:
    text = ("[web](https://example.org/page.md) [missing](nothere.md) [fig](../figures/net.svg) "
            "![图](../figures/dropout.svg) [abs](/opt/x.md) [code](utils.py)")
    assert convert.rewrite_links(text, content / "chapter01" / "a.md", converted(content)) == text


def test_the_shipped_tutorials_links_all_resolve_after_rewriting() -> None:
    """Every relative .md link in the course points at a tutorial that becomes a notebook, so
    after rewriting no notebook links a .md the learner cannot see."""
    content = REPO / "content"
    sources = convert.tutorial_sources(content)
    assert len(sources) >= 20
    targets = converted(content)
    left = []
    for md in sources:
        out = convert.rewrite_links(md.read_text(encoding="utf-8"), md, targets)
        left += [f"{md.name}: {m}" for m in re.findall(r"\]\(([^)#\s:]+\.md)", out)]
    assert left == []


def test_kernelspec_comes_from_the_installed_kernel(tmp_path: Path) -> None:
    kernel = tmp_path / "python3" / "kernel.json"
    kernel.parent.mkdir()
    kernel.write_text(json.dumps({"argv": ["python"], "display_name": "MXNet 1.9.1 · CPU (Python 3.11)",
                                  "language": "python"}))
    assert convert.kernelspec_from(kernel) == {"name": "python3", "display_name": "MXNet 1.9.1 · CPU (Python 3.11)",
                                               "language": "python"}
    kernel.write_text("{}")
    with pytest.raises(SystemExit, match="display name"):
        convert.kernelspec_from(kernel)


def test_kernel_display_name_says_mxnet_version_and_device() -> None:
    assert name_kernel.display_name("1.9.1", "3.11", "cpu") == "MXNet 1.9.1 · CPU (Python 3.11)"
    assert name_kernel.display_name("1.5.0", "3.11", "cu80") == "MXNet 1.5.0 · GPU cu80 (Python 3.11)"


def test_name_kernel_refuses_an_interpreter_without_mxnet(tmp_path: Path, capsys) -> None:
    kernel = tmp_path / "kernel.json"
    kernel.write_text(json.dumps({"argv": [sys.executable], "display_name": "Python 3 (ipykernel)"}))
    assert name_kernel.main([str(kernel), "cpu"]) == 1
    assert "no MXNet" in capsys.readouterr().err
    assert json.loads(kernel.read_text())["display_name"] == "Python 3 (ipykernel)"  # untouched


def test_name_kernel_reads_mxnet_from_the_kernels_own_interpreter(tmp_path: Path) -> None:
    """argv[0] names the kernel's interpreter; here one whose path holds an mxnet 1.9.1 dist."""
    site = tmp_path / "site"
    (site / "mxnet-1.9.1.dist-info").mkdir(parents=True)
    (site / "mxnet-1.9.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: mxnet\nVersion: 1.9.1\n")
    interpreter = tmp_path / "kernel-python"
    interpreter.write_text(f"#!/bin/sh\nPYTHONPATH={site} exec {sys.executable} \"$@\"\n")
    interpreter.chmod(0o755)
    kernel = tmp_path / "kernel.json"
    kernel.write_text(json.dumps({"argv": [str(interpreter), "-m", "ipykernel_launcher"], "display_name": "x",
                                  "language": "python"}))
    assert name_kernel.main([str(kernel), "cpu"]) == 0
    py = "%d.%d" % sys.version_info[:2]
    assert json.loads(kernel.read_text())["display_name"] == f"MXNet 1.9.1 · CPU (Python {py})"
