"""Static checks of the doctor's Python (shellcheck of every script: tests/lint)."""
import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_doctor_code_parses_as_python_36():
    """The doctor runs on old laptops: its own modules must not use syntax newer than 3.6
    (walrus, positional-only parameters, match). ast's feature_version catches those."""
    paths = sorted((REPO / "scripts" / "lib").rglob("*.py"))
    assert paths
    for path in paths:
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 6))
