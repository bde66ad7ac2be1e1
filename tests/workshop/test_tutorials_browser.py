"""The learner's first screen in a real browser (Playwright, Debian's chromium, as
test_workshop_browser): an attendee logs in and lands on the tutorials' table of contents
(README "First screen"), in a Chinese Lab whose kernel names MXNet; opens the table of contents
again from the "Gluon 教程 / Tutorials" menu, follows a link to a section and that section's
"下一节 / Next" link, runs the next notebook and sees its figures render: the diagram in its
markdown and the plot in its outputs. The file browser lists each tutorial once (no .md).
On failure a screenshot and the page's HTML go to test-artifacts/browser-*."""
from __future__ import annotations

import re
import uuid

import pytest
from browsing import VISIBLE_NOTEBOOK, chinese_page, log_in_and_start, run_all_cells
from labclient import LabStack

pytestmark = [pytest.mark.docker, pytest.mark.integration]

USER, PASSWORD = "learner01", "gluon-" + uuid.uuid4().hex[:10]
# The path the course takes: a section linked from the table of contents, then its Next link.
SECTION, NEXT = "chapter02_crashcourse/ndarray.ipynb", "chapter02_crashcourse/autograd.ipynb"


@pytest.fixture(scope="module")
def stack(create_attendees):
    with LabStack(instance=f"glws-tut-{uuid.uuid4().hex[:8]}").running(log_name="browser-tutorials-hub.log") as lab:
        create_attendees(lab, [(USER, PASSWORD)])
        yield lab


def wait_for_notebook(page, path: str):
    """The visible notebook panel once the tab for *path* is current and its kernel is idle."""
    name = path.rsplit("/", 1)[-1]
    page.locator(".lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel", has_text=name).first.wait_for()
    panel = page.locator(VISIBLE_NOTEBOOK).first
    panel.locator(".jp-Notebook-cell").first.wait_for()
    return panel


def click_link(panel, target: str) -> None:
    """Click the rendered markdown link to *target* (Lab opens it in a tab). Lab rewrites a
    relative href to the file's full URL (with an _xsrf query), so the match is "contains"."""
    link = panel.locator(f".jp-RenderedMarkdown a[href*='{target}']").first
    link.scroll_into_view_if_needed()
    link.click()


def test_learner_starts_at_the_table_of_contents_and_runs_a_notebook_with_figures(stack, browser):
    api = f"{stack.url}/user/{USER}/api"
    with chinese_page(browser) as (context, page, step):
        log_in_and_start(page, step, stack.url, USER, PASSWORD)

        step("first screen is the table of contents")
        page.wait_for_url(re.compile(rf"/user/{USER}/lab/tree/tutorials/README\.ipynb"), timeout=180_000)
        page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
        wait_for_notebook(page, "README.ipynb")

        step("ui in chinese")
        labels = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
        assert "文件" in labels and "运行" in labels, f"menu bar is not Chinese: {labels}"

        step("kernel named for what it is")
        specs = context.request.get(f"{api}/kernelspecs").json()
        assert specs["kernelspecs"]["python3"]["spec"]["display_name"].startswith("MXNet 1.9.1 · CPU"), specs

        step("one entry per tutorial")
        listing = context.request.get(f"{api}/contents/tutorials/chapter02_crashcourse").json()["content"]
        names = sorted(item["name"] for item in listing)
        assert "ndarray.ipynb" in names and not [n for n in names if n.endswith(".md")], names

        step("table of contents from the menu")
        page.locator(".lm-MenuBar-itemLabel", has_text="Gluon 教程").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="目录 / Table of contents").first.click()
        toc = wait_for_notebook(page, "README.ipynb")
        toc.locator(".jp-RenderedMarkdown a[href*='.ipynb']").first.wait_for()  # rendered
        assert toc.locator(".jp-RenderedMarkdown a[href*='.ipynb']").count() >= 20
        md_links = toc.locator(".jp-RenderedMarkdown a").evaluate_all(
            "links => links.map(a => a.getAttribute('href')).filter(h => /\\.md([?#]|$)/.test(h))")
        assert md_links == [], f"the contents still link .md files: {md_links[:3]}"

        step("follow a link to a section")
        click_link(toc, SECTION)
        section = wait_for_notebook(page, SECTION)

        step("follow its next link")
        click_link(section, NEXT.rsplit("/", 1)[-1])
        notebook = wait_for_notebook(page, NEXT)
        page.locator(f"{VISIBLE_NOTEBOOK} .jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(
            timeout=120_000)

        step("diagram in the markdown renders")
        # The diagram is an <img> that loaded (naturalWidth > 0 only once the SVG was fetched and decoded).
        page.wait_for_function(
            """sel => [...document.querySelectorAll(sel + ' .jp-RenderedMarkdown img')]
                        .some(img => img.complete && img.naturalWidth > 0)""",
            arg=VISIBLE_NOTEBOOK, timeout=30_000)

        step("run all cells")
        # "Run all" acts on the notebook that has focus: run_all_cells gives it to the one just
        # opened by the link (in the stack the previous notebook could still be the current one).
        run_all_cells(page, notebook)
        page.wait_for_function(
            """sel => {
                const prompts = [...document.querySelectorAll(sel + ' .jp-CodeCell .jp-InputPrompt')];
                return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            }""",
            arg=VISIBLE_NOTEBOOK, timeout=300_000)
        errors = notebook.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
        assert errors.count() == 0, f"error cell(s): {errors.all_inner_texts()[:2]}"

        step("plot in the outputs renders")
        page.wait_for_function(
            """sel => [...document.querySelectorAll(sel + ' .jp-OutputArea-output img, ' + sel + ' .jp-OutputArea-output svg')]
                        .some(el => el.tagName.toLowerCase() === 'svg' ? el.getBoundingClientRect().width > 0
                                                                       : el.complete && el.naturalWidth > 0)""",
            arg=VISIBLE_NOTEBOOK, timeout=30_000)
