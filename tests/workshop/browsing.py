"""What the browser tests share (test_workshop_browser, test_tutorials_browser,
test_join_browser): Debian's chromium as Playwright drives it, a Chinese page that saves a
screenshot and its HTML when a step fails, and an attendee's login on the hub's form."""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labclient import ARTIFACTS

CHROMIUM = "/usr/bin/chromium"
# No downloads, no background chatter: the lab machine has no internet.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


class Steps:
    """Runs named steps; on the first failure saves a screenshot and the page HTML."""

    def __init__(self, page):
        self.page = page
        self.current = "start"

    def __call__(self, name: str):
        self.current = name
        return self

    def save_failure(self) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        stem = ARTIFACTS / f"browser-{re.sub(r'[^a-z0-9]+', '-', self.current)}"
        try:
            self.page.screenshot(path=f"{stem}.png", full_page=True)
            Path(f"{stem}.html").write_text(self.page.content())
        except Exception as error:  # noqa: BLE001  (the page may be gone; the assertion is what matters)
            print(f"could not save the failure screenshot: {error}")


@contextmanager
def chinese_page(browser) -> Iterator[tuple]:
    """(context, page, step): a fresh browser context in zh-CN (as attendees' machines are set),
    closed at the end; a failure in the block first saves the current step's screenshot."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    step = Steps(page)
    try:
        yield context, page, step
    except BaseException:
        step.save_failure()
        raise
    finally:
        context.close()


def log_in_and_start(page, step: Steps, hub_url: str, username: str, password: str) -> None:
    """Log in on the hub's form and press Start if the hub's home page asks; JupyterLab then
    opens once the server is ready (the caller waits for the URL it expects)."""
    step("login")
    page.goto(f"{hub_url}/hub/login")
    page.fill("#username_input", username)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url(re.compile(r"/hub/(home|spawn|spawn-pending|user)|/user/"))
    step("start server")
    if "/hub/home" in page.url:
        page.click("#start")
