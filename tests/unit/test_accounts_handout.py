"""The handout (hub/gluonlab_hub/accounts/handout.py): Jinja2 cards with autoescape, a CSV a
spreadsheet cannot run, and the template shipped in the package that the hub image installs."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import gluonlab_hub.accounts as acc
import pytest
from gluonlab_hub.accounts import handout
from gluonlab_hub.accounts.store import Account

HUB = Path(acc.__file__).parents[2]
URL = "https://lab.example.org/"


def test_cards_carry_url_username_password_and_name_in_both_languages() -> None:
    page = handout.render_handout_html(URL, [Account("ana", "abcd-efgh-jkmn", "Ana Lima"), Account("bo", "pqrs-tuvw")])
    assert page.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in page
    assert page.count('<section class="card">') == 2 and page.count("<h2>Gluon Lab</h2>") == 2
    assert page.count(f'<dd class="mono">{URL}</dd>') == 2
    for label in ("地址 / Hub URL", "用户名 / Username", "密码 / Password",
                  "请妥善保管，勿与他人共用。/ Keep this card; do not share your account."):
        assert page.count(label) == 2
    assert '<dd class="mono">ana</dd>' in page and '<dd class="mono">abcd-efgh-jkmn</dd>' in page
    assert page.count('<p class="who">') == 1 and '<p class="who">Ana Lima</p>' in page  # no empty name line
    assert "<title>Gluon Lab accounts</title>" in page and "@media print" in page


def test_every_field_is_escaped() -> None:
    hostile = '<script>alert("x")</script>'
    page = handout.render_handout_html(f"https://x.test/?a=1&b='{hostile}'", [Account("ana", f"p&{hostile}", hostile)])
    assert "<script" not in page
    assert page.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") == 3  # URL, password, name
    assert "https://x.test/?a=1&amp;b=&#39;" in page


FORMULAS = ["=HYPERLINK(\"http://evil.test\",\"x\")", "+1+1", "-2+3", "@SUM(A1:A2)", "\tcmd", "\rcmd"]


@pytest.mark.parametrize("cell", FORMULAS)
def test_cells_a_spreadsheet_would_run_get_an_apostrophe(cell: str) -> None:
    assert handout.spreadsheet_safe(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["", "ana", "Ana=Bo", "k7pm-x3qa-9fht", "https://lab.test", " =x", "'quoted"])
def test_other_cells_are_unchanged(cell: str) -> None:
    assert handout.spreadsheet_safe(cell) == cell


def test_handout_csv_is_safe_to_open_in_a_spreadsheet(tmp_path: Path) -> None:
    accounts = [Account("ana", "-chosen-password", FORMULAS[0]), Account("bo", "pqrs-tuvw-xyz2", "@Bo")]
    accounts += [Account(f"u{i}", "plain-password", name) for i, name in enumerate(FORMULAS[1:])]
    html_path, csv_path = handout.write_handout(tmp_path, URL, accounts, stamp="t")
    rows = list(csv.reader(csv_path.open(newline="")))
    assert rows[0] == ["hub_url", "username", "password", "name"]
    assert rows[1] == [URL, "ana", "'-chosen-password", "'" + FORMULAS[0]]
    assert rows[2] == [URL, "bo", "pqrs-tuvw-xyz2", "'@Bo"]
    assert [r[3] for r in rows[3:]] == ["'" + f for f in FORMULAS[1:]]
    # The cards show what the attendee types.
    page = html_path.read_text()
    assert '<dd class="mono">-chosen-password</dd>' in page and '<p class="who">@Bo</p>' in page


def test_concurrent_handouts_in_one_second_do_not_collide(tmp_path: Path) -> None:
    (tmp_path / "accounts-t.csv").write_text("left by someone\n")  # only the CSV name is taken
    first = handout.write_handout(tmp_path, URL, [Account("ana", "abcd-efgh-jkmn")], stamp="t")
    second = handout.write_handout(tmp_path, URL, [Account("bo", "pqrs-tuvw-xyz2")], stamp="t")
    assert [p.name for p in first] == ["accounts-t-2.html", "accounts-t-2.csv"]
    assert [p.name for p in second] == ["accounts-t-3.html", "accounts-t-3.csv"]
    assert not (tmp_path / "accounts-t.html").exists()  # the half-taken name was released
    assert (tmp_path / "accounts-t.csv").read_text() == "left by someone\n"


def test_template_and_entry_point_ship_in_the_package(tmp_path: Path) -> None:
    """What `pip install hub/` puts in the hub image (setuptools' build_py and egg_info, the
    steps a wheel build runs): the template travels as package data and renders from there."""
    src, lib = tmp_path / "hub", tmp_path / "lib"
    shutil.copytree(HUB, src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build", "--build-lib",
                    str(lib), "egg_info", "--egg-base", str(tmp_path)],
                   cwd=src, check=True, capture_output=True, timeout=300)
    assert (lib / "gluonlab_hub/accounts/templates/handout.html.j2").is_file()
    assert "gluonlab-accounts = gluonlab_hub.accounts.cli:main" in (
        tmp_path / "gluonlab_hub.egg-info/entry_points.txt").read_text()
    render = ("from gluonlab_hub.accounts import handout, store; import sys; "
              "sys.stdout.write(handout.__file__ + '\\n' + "
              "handout.render_handout_html('https://x.test', [store.Account('ana', 'pw-pw-pw-pw')]))")
    out = subprocess.run([sys.executable, "-c", render], env={"PYTHONPATH": str(lib)}, cwd=tmp_path,
                         check=True, capture_output=True, text=True, timeout=120).stdout
    assert out.startswith(str(lib)) and '<dd class="mono">pw-pw-pw-pw</dd>' in out
