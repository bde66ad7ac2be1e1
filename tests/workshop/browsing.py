"""What the browser tests share (test_workshop_browser, test_tutorials_browser,
test_join_browser): Debian's chromium as Playwright drives it, a Chinese page that saves a
screenshot and its HTML when a step fails, and an attendee's login on the hub's form."""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labclient import ARTIFACTS
from playwright.sync_api import TimeoutError as PlaywrightTimeout

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


VISIBLE_NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
# A code cell's prompt once it is queued ("[*]") or ran ("[3]"); "[ ]" before.
QUEUED_OR_RAN = r"\[(\*|\d+)\]"


def run_all_cells(page, panel, *, attempts: int = 3) -> None:
    """Run every cell of the visible notebook *panel* from the Run menu, as a learner does, and
    return once its first code cell is queued or ran. Lab enables "Run all" only while this
    notebook is the current one of both the shell and the notebook tracker, and a click on the
    disabled item does nothing; once a full suite's run clicked it and nothing was queued for
    5 minutes (a learner would see a menu that did not react and open it again). So: give the
    notebook focus, open the menu, click the item when it is enabled, and open the menu again,
    up to *attempts* times, while nothing was queued within 30 s; then fail saying so."""
    first_prompt = f"{VISIBLE_NOTEBOOK} .jp-CodeCell .jp-InputPrompt"
    seen = []
    for _ in range(attempts):
        panel.locator(".jp-Cell").first.click()
        page.locator(".lm-MenuBar-itemLabel", has_text="运行").first.click()
        item = page.locator(".lm-Menu-item", has_text="运行所有单元格").first
        item.wait_for()
        if "lm-mod-disabled" in (item.get_attribute("class") or ""):
            seen.append("menu item disabled")
            page.keyboard.press("Escape")
            page.wait_for_timeout(2_000)
            continue
        item.click()
        try:
            page.wait_for_function(
                "([sel, pattern]) => { const p = document.querySelector(sel);"
                " return p !== null && new RegExp(pattern).test(p.textContent); }",
                arg=[first_prompt, QUEUED_OR_RAN], timeout=30_000)
            return
        except PlaywrightTimeout:
            seen.append("clicked, nothing queued within 30 s")
    raise AssertionError(f'"运行所有单元格 / Run all" ran nothing after {attempts} tries: {seen}')
