"""A real browser at the workshop: Playwright drives Debian's chromium through the compose stack.

An attendee logs in on the hub's login form, starts their server from the hub's home page,
lands in JupyterLab (UI in Chinese), sees an idle-GPU notice pop up as the hub's gpu-usage
service sends it, opens the first tutorial from the file browser (a
Markdown file that jupytext opens as a notebook), runs all cells, checks that outputs appeared
and no cell raised, opens a terminal, and logs out. On failure a screenshot and the page's
HTML go to test-artifacts/browser-*.
"""
from __future__ import annotations

import re
import sys
import uuid
from pathlib import Path

import pytest
from browsing import chinese_page, log_in_and_start, run_all_cells
from labclient import LabStack

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hub"))  # gluonlab_hub, as tests/unit does
from gluonlab_hub.gpu_usage import LAB_NOTICE_API, lab_notice  # noqa: E402

pytestmark = [pytest.mark.docker, pytest.mark.integration]

# The course's own table of contents names the first tutorial: the first notebook link in it.
TOC_LINK = re.compile(r"\]\(([\w./-]+\.ipynb)\)")
USER, PASSWORD = "attendee01", "gluon-" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def stack(create_attendees):
    with LabStack(instance=f"glws-browser-{uuid.uuid4().hex[:8]}").running(log_name="browser-hub.log") as lab:
        create_attendees(lab, [(USER, PASSWORD)])
        yield lab


def test_attendee_works_through_the_first_tutorial_in_a_real_browser(stack, browser):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with chinese_page(browser) as (context, page, step):
        log_in_and_start(page, step, stack.url, USER, PASSWORD)
        # spawn-pending redirects to JupyterLab once the server is ready.
        page.wait_for_url(re.compile(rf"/user/{USER}/lab"), timeout=180_000)

        step("jupyterlab ready")
        page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
        menubar = page.locator("#jp-menu-panel, .lm-MenuBar").first
        menubar.wait_for()

        step("ui in chinese")
        labels = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
        assert "文件" in labels and "运行" in labels, f"menu bar is not Chinese: {labels}"

        step("idle GPU notice pops up in Lab")
        # What the hub's gpu-usage service sends before it stops an idle GPU server
        # (jupyterlab-notifications-extension): the open Lab must draw it as a toast, not only
        # queue it. The browser's own cookies authenticate, its _xsrf cookie is the CSRF token.
        notice = f"GPU idle notice {uuid.uuid4().hex[:8]} / 你的 GPU 空闲"
        xsrf = [c["value"] for c in context.cookies() if c["name"] == "_xsrf" and USER in c.get("path", "")]
        assert xsrf, f"the user's server set no _xsrf cookie: {context.cookies()}"
        sent = context.request.post(f"{stack.url}/user/{USER}/{LAB_NOTICE_API}", data=lab_notice(notice),
                                    headers={"X-XSRFToken": xsrf[0]})
        assert sent.ok, f"the Lab's notification API refused the notice: {sent.status} {sent.text()[:300]}"
        page.get_by_text(notice).first.wait_for(timeout=60_000)

        step("open first tutorial")
        # The image ships each tutorial once, as a notebook (README "First screen").
        toc = context.request.get(f"{stack.url}/user/{USER}/api/contents/tutorials/README.ipynb?type=notebook")
        assert toc.ok, f"no tutorials/README.ipynb in the home directory: {toc.status}"
        first = TOC_LINK.search("\n".join(cell["source"] for cell in toc.json()["content"]["cells"]))
        assert first, "tutorials/README.ipynb links no tutorial"
        *folders, notebook = first.group(1).split("/")
        browser_panel = page.locator(".jp-DirListing-content")
        # The first screen opened the table of contents, which moved the file browser into
        # tutorials/: start from the home folder, as an attendee clicking the home icon does.
        # Each step waits for the folder it asked for to be the file browser's own (its last
        # breadcrumb), not merely named somewhere: the listing re-renders as the first screen's
        # move settles, and a double-click can land while it does (seen once in CI: the browser
        # entered the folder while Playwright still waited to finish the double-click).
        def in_folder(name: str) -> bool:
            return page.evaluate("""(name) => {
                const crumbs = [...document.querySelectorAll('.jp-BreadCrumbs-item')].map(c => c.textContent.trim());
                return name === '' ? crumbs.length === 0 : crumbs[crumbs.length - 1] === name;
            }""", name)

        def open_folder(name: str) -> None:
            item = browser_panel.locator(".jp-DirListing-item", has=page.locator(f"text='{name}'")).first
            for _attempt in range(3):
                if in_folder(name):
                    return
                try:
                    item.dblclick(timeout=20_000)
                except PlaywrightTimeout:
                    pass  # checked below: the listing may have moved on under the click
                try:
                    page.wait_for_function("""(name) => {
                        const crumbs = [...document.querySelectorAll('.jp-BreadCrumbs-item')];
                        return crumbs.length > 0 && crumbs[crumbs.length - 1].textContent.trim() === name;
                    }""", arg=name, timeout=20_000)
                    return
                except PlaywrightTimeout:
                    continue
            raise AssertionError(f"the file browser did not open the folder {name!r}")

        page.locator(".jp-BreadCrumbs-home").first.click()
        page.wait_for_function("() => document.querySelectorAll('.jp-BreadCrumbs-item').length === 0")
        for name in ("tutorials", *folders):
            open_folder(name)
        # Attendees double-click the notebook the image converted from the tutorial's markdown.
        browser_panel.locator(".jp-DirListing-item", has=page.locator(f"text='{notebook}'")).first.dblclick()
        panel = page.locator(".jp-NotebookPanel:visible").first
        panel.wait_for()
        # A Markdown notebook names no kernel: accept the default one if Lab asks.
        try:
            page.locator(".jp-Dialog .jp-mod-accept").click(timeout=10_000)
        except PlaywrightTimeout:
            print("no kernel dialog: the notebook names its kernel")
        page.locator(".jp-NotebookPanel:visible .jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(
            timeout=120_000)

        step("run all cells")
        run_all_cells(page, panel)
        code_cells = panel.locator(".jp-CodeCell")
        count = code_cells.count()
        assert count >= 1, "the tutorial shows no code cells"
        # Every code cell got an execution number (no "[ ]" or "[*]" left).
        page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')];
                return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            }""",
            timeout=180_000,
        )
        outputs = panel.locator(".jp-OutputArea-output")
        assert outputs.count() >= 1, "running the tutorial produced no output"
        errors = panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error'], "
                               ".jp-OutputArea-output:has-text('Traceback (most recent call last)')")
        assert errors.count() == 0, f"error cell(s): {errors.all_inner_texts()[:2]}"

        step("open terminal")
        page.locator(".lm-MenuBar-itemLabel", has_text="文件").first.click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^新建")).first.hover()
        page.locator(".lm-Menu-itemLabel", has_text="终端").first.click()
        page.locator(".jp-Terminal").first.wait_for()
        terminals = context.request.get(f"{stack.url}/user/{USER}/api/terminals")
        assert terminals.ok and len(terminals.json()) >= 1, terminals.text()

        step("server never loaded the hub's database modules")
        # A browser session (OAuth login, notebook, kernel, terminal) in the single-user server
        # without the Hub's ORM and roles (deferred by start-jupyter-server.py).
        server_log = "".join(c.logs().decode() for c in stack.user_containers()
                             if c.labels.get("gluonlab.user") == USER)
        assert "deferred modules not loaded: jupyterhub.orm, jupyterhub.roles" in server_log, server_log[-2000:]
        assert "loaded on first use" not in server_log, server_log[-2000:]

        step("log out")
        page.locator(".lm-MenuBar-itemLabel", has_text="文件").first.click()
        # JupyterHub's "Log Out" item (command hub:logout), whatever the translation says.
        page.locator("li.lm-Menu-item[data-command='hub:logout']:visible").first.click()
        page.wait_for_url(re.compile(r"/hub/(login|logout)"))
        # Logged out for real: the hub's API no longer knows this browser.
        assert context.request.get(f"{stack.url}/hub/api/user").status == 403
