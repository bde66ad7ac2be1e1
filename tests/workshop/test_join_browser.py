"""A walk-in attendee in a real browser (Playwright, Debian's chromium, as test_workshop_browser):
an admin's announcement shown on the login page, the login page's "加入工作坊 / Join" link, a wrong code refused on the same page with the typed
username kept, then the right code, a username and a password, and the attendee lands in their
JupyterLab. On failure a screenshot and the page's HTML go to test-artifacts/join-*."""
from __future__ import annotations

import re
import uuid

import pytest
from browsing import chinese_page
from labclient import HubClient, LabStack

pytestmark = [pytest.mark.docker, pytest.mark.integration]

CODE, USER, PASSWORD = "room-" + uuid.uuid4().hex[:6], "walkin", "walk-in-" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def stack():
    with LabStack(instance=f"glws-join-{uuid.uuid4().hex[:8]}").running(log_name="join-browser-hub.log") as lab:
        opened = lab.compose("exec", "-T", "hub", "gluonlab-accounts", "enrol", "open", "--seats", "2",
                             "--minutes", "30", "--code", CODE, check=False, timeout=120)
        assert opened.returncode == 0, opened.stderr
        yield lab


def test_a_walk_in_joins_from_the_login_page_and_lands_in_the_lab(stack, browser):
    with chinese_page(browser) as (context, page, step):
        step("announcement banner")
        admin = HubClient(stack.url)
        assert admin.login("admin", stack.admin_password).status_code == 302
        form = admin.session.get(f"{stack.url}/services/announcement/", timeout=60).text
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form).group(1)
        admin.session.post(f"{stack.url}/services/announcement/update", timeout=60,
                           data={"announcement": "欢迎 / Welcome, room 7", "_xsrf": xsrf}).raise_for_status()
        page.goto(f"{stack.url}/hub/login")
        banner = page.locator("#gluonlab-announcement")
        banner.wait_for(state="visible")
        assert "欢迎 / Welcome, room 7" in banner.inner_text() and "通知 / Announcement" in banner.inner_text()

        step("join link")
        page.get_by_text("加入工作坊 / Join").click()
        page.wait_for_url(re.compile(r"/hub/join$"))
        assert "加入工作坊 / Join the workshop" in page.locator("h1").inner_text()

        step("wrong code")
        page.fill("#code_input", "not-the-code")
        page.fill("#username_input", USER)
        page.fill("#password_input", PASSWORD)
        page.fill("#password_confirmation_input", PASSWORD)
        page.click("#join_submit")
        error = page.locator("#join-error")
        error.wait_for()
        assert "加入码错误" in error.inner_text() and "not valid" in error.inner_text()
        assert page.input_value("#username_input") == USER

        step("join")
        page.fill("#code_input", CODE.upper())
        page.fill("#password_input", PASSWORD)
        page.fill("#password_confirmation_input", PASSWORD)
        page.click("#join_submit")
        page.wait_for_url(re.compile(rf"/user/{USER}/lab"), timeout=180_000)
        page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
        labels = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
        assert "文件" in labels, f"menu bar is not Chinese: {labels}"
