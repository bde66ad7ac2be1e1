"""Workshop tests: attendees created the way an admin creates them (gluonlab-accounts in the
hub container), so logins go through NativeAuthenticator's real password check."""
from __future__ import annotations

import csv
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from browsing import CHROMIUM, CHROMIUM_ARGS
from labclient import LabStack


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, driven by Playwright (the browser tests)."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium (scripts/setup-docker-host.sh does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


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
