"""The doctor's check registry (scripts/lib/gluonlab_doctor): declarations, messages, --help,
skipping on missing facts, and what adding a check takes."""
import ast
import inspect
import json
import re
import shutil
import string
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LIB = REPO / "scripts" / "lib"
PKG = LIB / "gluonlab_doctor"
DOCTOR = REPO / "scripts" / "doctor.sh"
sys.path.insert(0, str(LIB))
from gluonlab_doctor import cli, messages  # noqa: E402
from gluonlab_doctor.registry import (GROUP_BY_NAME, GROUPS, INITIAL_FACTS, REGISTRY, Context,  # noqa: E402
                                      Facts, Registry, check, run_checks)
from gluonlab_doctor.report import Report  # noqa: E402

CHECKS = REGISTRY.checks


def fields(template):
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def test_every_check_is_registered_once_in_a_known_group_with_help():
    names = [c.name for c in CHECKS]
    assert len(names) == len(set(names)) == 20
    assert names[0] == "python"
    for c in CHECKS:
        assert c.group in GROUP_BY_NAME, c.name
        assert c.help.strip(), c.name
    # Every group holds a check; every check module's functions are all registered.
    assert {g.name for g in GROUPS} == {c.group for c in CHECKS}
    registered = {c.func for c in CHECKS}
    for mod in (PKG / "checks").glob("*.py"):
        tree = ast.parse(mod.read_text())
        decorated = [f.name for f in tree.body if isinstance(f, ast.FunctionDef) and f.decorator_list]
        for name in decorated:
            assert any(fn.__name__ == name and fn.__module__.endswith(mod.stem) for fn in registered), (mod, name)


def test_every_message_is_in_every_language_with_the_same_fields():
    assert messages.LANGS == ("zh", "en")
    assert not set(messages.MESSAGES) & set(messages.PLAIN)
    for key, texts in messages.MESSAGES.items():
        assert isinstance(texts, tuple) and len(texts) == len(messages.LANGS), key
        assert all(t.strip() for t in texts), key
        assert fields(texts[0]) == fields(texts[1]), key
        assert texts[0] != texts[1], "%s is the same in every language: it belongs in PLAIN" % key
    # Chinese texts are Chinese (attendee-facing), except ones that are only terms and commands.
    latin_only = [k for k, (zh, _) in messages.MESSAGES.items() if not re.search(r"[\u4e00-\u9fff]", zh)]
    assert latin_only == [], latin_only


def test_every_check_that_can_be_skipped_has_its_reason_in_every_language():
    for c in CHECKS:
        if c.needs or "not_applicable" in inspect.getsource(c.func):
            assert "skip." + c.name in messages.MESSAGES, c.name
    for g in GROUPS:
        if g.gate:
            assert "skip.group." + g.name in messages.MESSAGES, g.name
    for lang in messages.LANGS:
        m = messages.Messages(lang)
        for c in CHECKS:
            if c.needs:
                assert m.text("skip." + c.name)


def message_keys_in(path):
    """Keys a module looks up: the literal first argument of t(...) / ctx.t(...) / .text(...),
    and the strings in the values of its module-level *_CAUSES tables (cause -> message keys)."""
    tree = ast.parse(path.read_text())
    keys = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name in ("t", "text") and isinstance(node.args[0].value, str):
                keys.add(node.args[0].value)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(tg, ast.Name) and tg.id.endswith("_CAUSES")
                                                for tg in node.targets):
            for value in node.value.values:
                keys |= {n.value for n in ast.walk(value) if isinstance(n, ast.Constant)}
    return keys


def test_message_keys_used_by_the_code_exist_and_every_message_is_used():
    catalogue = set(messages.MESSAGES) | set(messages.PLAIN)
    used = set()
    for path in PKG.rglob("*.py"):
        keys = message_keys_in(path)
        assert keys <= catalogue, "%s uses message keys messages.py lacks: %s" % (path.name, keys - catalogue)
        used |= keys
    assert "cmd.gpu.modprobe" in used and "report.summary" in used  # the scan sees tables and calls
    dynamic = {"skip." + c.name for c in CHECKS} | {"skip.group." + g.name for g in GROUPS} | {"skip.option"}
    unused = catalogue - used - dynamic
    assert unused == set(), unused


def test_every_needed_fact_is_provided_by_an_earlier_check():
    provided = {f: "command line" for f in INITIAL_FACTS}
    for c in CHECKS:
        for f in c.needs + c.uses:
            assert f in provided, "%s needs %r, which no earlier check provides" % (c.name, f)
        for f in c.provides:
            assert f not in provided, "%s and %s both provide %r" % (c.name, provided[f], f)
            provided[f] = c.name


def help_output():
    out = subprocess.run(["bash", str(DOCTOR), "--help"], capture_output=True, text=True, check=True).stdout
    return out


def test_help_lists_exactly_the_registered_checks_and_skip_groups():
    out = help_output()
    section = out.split("Checks (", 1)[1].split("\nOptions:", 1)[0]
    listed = re.findall(r"^  (\S+)  ?", section, re.M)
    assert listed == [c.name for c in CHECKS]
    skip = " ".join(out.split("--skip GROUPS", 1)[1].split("-h, --help", 1)[0].split())
    groups = re.findall(r"(\w+) \(([^)]*)\)", skip)
    assert [g for g, _ in groups] == [g.name for g in GROUPS if g.skippable]
    for g, members in groups:
        if g in GROUP_BY_NAME:
            assert members.split(", ") == [c.name for c in REGISTRY.in_group(g)], g
    assert "the python check itself always runs" in skip
    # The choices argparse accepts are the same groups.
    proc = subprocess.run(["bash", str(DOCTOR), "--skip", "gpu,nope"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown group(s) nope; choose from python,conda,mxnet,gpu,jupyter,host" in proc.stderr


# -- the runner with a registry of its own --------------------------------------------------


class Args(object):
    pass


def run_registry(reg, monkeypatch, extra_messages):
    for key, texts in extra_messages.items():
        monkeypatch.setitem(messages.MESSAGES, key, texts)
    facts = Facts()
    facts.set("where", "laptop", public=True)
    facts.set("host_enabled", False)
    facts.set("hub_url", None)
    msg = messages.Messages("en")
    return run_checks(reg, Context(Args(), facts, msg), Report(msg), set())


def test_a_check_whose_fact_is_missing_is_skipped_with_its_reason(monkeypatch):
    reg = Registry()
    called = []

    @check("first", group="python", provides=("found_it",), registry=reg, help="x")
    def first(ctx):
        called.append("first")
        return ctx.fail("nothing found")  # and no fact: the next check cannot run

    @check("second", group="python", needs=("found_it",), registry=reg, help="x")
    def second(ctx):
        called.append("second")
        return ctx.passed("unreachable")

    @check("third", group="python", registry=reg, help="x")
    def third(ctx):
        called.append("third")
        ctx.not_applicable()

    @check("hosty", group="host", registry=reg, help="x")
    def hosty(ctx):
        called.append("hosty")
        return ctx.passed("unreachable")

    report = run_registry(reg, monkeypatch, {"skip.second": ("需要 found_it", "needs found_it"),
                                             "skip.third": ("此处不适用", "not applicable here")})
    assert called == ["first", "third"]
    assert [(c["name"], c["status"]) for c in report.checks] == [("first", "FAIL")]
    assert report.skipped == [{"name": "second", "why": "needs found_it"},
                              {"name": "third", "why": "not applicable here"},
                              {"name": "hosty", "why": "host checks are off here (where=laptop; use --host)"}]
    assert report.exit_code() == 1


def test_a_check_may_touch_only_the_facts_it_declares(monkeypatch):
    reg = Registry()

    @check("sneaky", group="python", registry=reg, help="x")
    def sneaky(ctx):
        ctx.facts.set("undeclared", 1)

    with pytest.raises(AssertionError, match="check sneaky sets fact 'undeclared'"):
        run_registry(reg, monkeypatch, {})

    reg = Registry()

    @check("peeker", group="python", registry=reg, help="x")
    def peeker(ctx):
        ctx.facts.get("gpus")

    with pytest.raises(AssertionError, match="check peeker reads fact 'gpus'"):
        run_registry(reg, monkeypatch, {})


def test_registering_a_name_twice_or_an_unknown_group_is_refused():
    reg = Registry()
    check("a", group="gpu", registry=reg)(lambda ctx: None)
    with pytest.raises(ValueError, match="registered twice"):
        check("a", group="gpu", registry=reg)(lambda ctx: None)
    with pytest.raises(ValueError, match="unknown group"):
        check("b", group="gpus", registry=reg)(lambda ctx: None)


def test_a_missing_python_skips_what_needs_it_without_crashing(tmp_path):
    """End to end: --python names an interpreter that cannot run the probe."""
    proc = subprocess.run(["bash", str(DOCTOR), "--lang", "en", "--json", "--no-host", "--skip", "gpu",
                           "--python", "/bin/false"], capture_output=True, text=True, cwd=str(tmp_path))
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["checks"][0]["name"] == "python" and report["checks"][0]["status"] == "FAIL"
    assert report["checks"][0]["found"].startswith("/bin/false cannot run the probe: [exit 1]")
    skipped = {s["name"]: s["why"] for s in report["skipped"]}
    for name in ("pip", "numpy", "mxnet", "jupyter"):
        assert skipped[name] == "no usable python", name
    assert skipped["mxnet-compute"] == "mxnet does not import, or is older than --min-mxnet"
    assert skipped["gpu"] == "--skip gpu"
    assert set(skipped) | {c["name"] for c in report["checks"]} == {c.name for c in CHECKS}
    zh = subprocess.run(["bash", str(DOCTOR), "--json", "--no-host", "--python", "/bin/false"],
                        capture_output=True, text=True, cwd=str(tmp_path))
    assert {s["name"]: s["why"] for s in json.loads(zh.stdout)["skipped"]}["pip"] == "没有可用的 python"


# -- adding a check -------------------------------------------------------------------------

NEW_CHECK = '''

@check("docker-compose", group="host", needs=("docker_cmd",), help="(hosts) `docker compose` is installed")
def docker_compose(ctx):
    rc, out = run([ctx.facts.get("docker_cmd"), "compose", "version"], ctx.args.timeout)
    if rc != 0:
        return ctx.fail(last_line(out), None, ctx.t("docker_compose.missing.diagnosis"), [ctx.t("cmd.docker.install_compose")])
    return ctx.passed(ctx.t("docker_compose.ok.found", version=out.strip()))
'''
NEW_MESSAGES = {
    "MESSAGES = {": 'MESSAGES = {\n    "skip.docker-compose": ("Docker 引擎无法访问", "the Docker engine is not reachable"),\n'
                    '    "docker_compose.missing.diagnosis": ("没有安装 compose 插件", "the compose plugin is not installed"),\n'
                    '    "docker_compose.ok.found": ("compose 可用: {version}", "compose works: {version}"),\n',
    "PLAIN = {": 'PLAIN = {\n    "cmd.docker.install_compose": "sudo apt-get install docker-compose-plugin",\n',
}


def test_adding_a_check_is_one_module_edit_plus_its_messages(tmp_path):
    """A copy of scripts/ gets a new host check by editing exactly checks/host.py and
    messages.py; it then runs, prints and appears in --help, --skip and the JSON report."""
    copy = tmp_path / "scripts"
    shutil.copytree(str(REPO / "scripts"), str(copy), ignore=shutil.ignore_patterns("__pycache__"))
    host = copy / "lib" / "gluonlab_doctor" / "checks" / "host.py"
    host.write_text(host.read_text() + NEW_CHECK)
    msgs = copy / "lib" / "gluonlab_doctor" / "messages.py"
    text = msgs.read_text()
    for anchor, replacement in NEW_MESSAGES.items():
        assert text.count(anchor) == 1
        text = text.replace(anchor, replacement)
    msgs.write_text(text)
    changed = sorted(str(p.relative_to(copy)) for p in copy.rglob("*")
                     if p.is_file() and p.read_bytes() != (REPO / "scripts" / p.relative_to(copy)).read_bytes())
    assert changed == ["lib/gluonlab_doctor/checks/host.py", "lib/gluonlab_doctor/messages.py"]

    doctor = copy / "doctor.sh"
    helptext = subprocess.run(["bash", str(doctor), "--help"], capture_output=True, text=True, check=True).stdout
    assert "  docker-compose  (hosts) `docker compose` is installed" in helptext
    assert "host (docker, docker-gpus, disk, docker-runtime, netguard, docker-compose)" in " ".join(helptext.split())
    # With the host checks off the new check is skipped like its group, with the group's reason.
    proc = subprocess.run(["bash", str(doctor), "--lang", "en", "--json", "--where", "laptop", "--skip",
                           "python,conda,mxnet,gpu,jupyter"], capture_output=True, text=True, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    skipped = {s["name"]: s["why"] for s in json.loads(proc.stdout)["skipped"]}
    assert skipped["docker-compose"] == "host checks are off here (where=laptop; use --host)"
    # With --host and no docker on PATH: docker FAILs, so the new check is skipped for want of docker_cmd.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("bash", "dirname", "python3"):
        (bindir / tool).symlink_to(shutil.which(tool, path="/usr/bin:/bin"))
    proc = subprocess.run([str(bindir / "bash"), str(doctor), "--lang", "en", "--json", "--host", "--skip",
                           "python,conda,mxnet,gpu,jupyter"], capture_output=True, text=True, cwd=str(tmp_path),
                          env={"PATH": str(bindir)})
    report = json.loads(proc.stdout)
    assert [c["name"] for c in report["checks"]] == ["python", "docker"]
    assert {s["name"]: s["why"] for s in report["skipped"]}["docker-compose"] == "the Docker engine is not reachable"


def test_cli_skip_choices_are_the_registry_groups():
    assert cli.SKIPPABLE == ("python", "conda", "mxnet", "gpu", "jupyter", "host")
