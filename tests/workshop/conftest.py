"""Workshop tests: attendees created the way an admin creates them (gluonlab-accounts in the
hub container), so logins go through NativeAuthenticator's real password check."""
from __future__ import annotations

import csv
import io
import subprocess

import pytest
from labclient import LabStack


@pytest.fixture(scope="session")
def create_attendees():
    return _create_attendees


def _create_attendees(lab: LabStack, accounts: list[tuple[str, str]]) -> None:
    """Create *accounts* [(username, password)] with `gluonlab-accounts create --csv`."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["username", "password"])
    writer.writerows(accounts)
    subprocess.run(["docker", "exec", "-i", f"{lab.instance}-hub-1", "sh", "-c", "cat > /tmp/attendees.csv"],
                   input=text.getvalue(), text=True, check=True, timeout=60)
    result = lab.compose("exec", "-T", "hub", "gluonlab-accounts", "create", "--csv", "/tmp/attendees.csv",
                         "--hub-url", lab.url, "--out", "/tmp/handout", check=False, timeout=120)
    assert result.returncode == 0, f"gluonlab-accounts failed:\n{result.stdout}\n{result.stderr}"
