"""Static checks of the doctor and tunnel scripts."""
import ast
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = [REPO / "scripts" / "doctor.sh", REPO / "scripts" / "tunnel.sh"]


def test_shellcheck_clean():
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck missing: scripts/setup-docker-host.sh installs it"
    proc = subprocess.run([shellcheck, "--severity=style"] + [str(s) for s in SCRIPTS],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_doctor_code_parses_as_python_36():
    """The doctor runs on old laptops: its own modules must not use syntax newer than 3.6
    (walrus, positional-only parameters, match). ast's feature_version catches those."""
    paths = sorted((REPO / "scripts" / "lib").rglob("*.py"))
    assert paths
    for path in paths:
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 6))
