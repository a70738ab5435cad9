"""JupyterLab as learners and instructors meet it: Run All, diagrams, tokens, Validate, formgrader.

Each test drives the real JupyterLab of ``make lab`` (the venv's, with nbgrader's extensions and the
course's settings) in headless Chromium, on a throwaway copy of the course, and saves screenshots
to ``build/e2e/lab-*.png``.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pytest
import requests

from ..conftest import COURSE, ROOT
from .conftest import Lab

pytestmark = pytest.mark.e2e

# Whatever student notebooks exist when the tests run: other notebooks are still being written.
STUDENT_NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").iterdir() if p.is_dir())
JWT_ANATOMY = "02-jwt-anatomy"
EXPECTED_ERRORS = ("NotImplementedError", "NameError", "CheckFailed")
"""What an unanswered exercise may raise: the stub, a name its answer would define, or a test's
check saying the exercise is not answered yet (test cells only: see ``exercise_ids``)."""

CELLS = ".jp-NotebookPanel .jp-Notebook .jp-Cell"
BUSY_OR_QUEUED = """() => {
    const prompts = [...document.querySelectorAll('.jp-NotebookPanel .jp-InputPrompt')];
    const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
    return !prompts.some(p => p.textContent.includes('*'))
        && (!indicator || indicator.dataset.status === 'idle');
}"""
# An HTML output showing a JWT whose parts are drawn in at least three colours.
COLOURED_TOKEN = r"""() => {
    for (const out of document.querySelectorAll('.jp-OutputArea-output')) {
        const text = out.textContent.replace(/\s/g, '');
        if (!/eyJ[\w-]+\.[\w-]+\.[\w-]*/.test(text)) continue;
        const colours = new Set();
        for (const el of out.querySelectorAll('span, code, b, strong, font')) {
            if (/[\w-]{4,}/.test(el.textContent)) colours.add(getComputedStyle(el).color);
        }
        if (colours.size >= 3) return true;
    }
    return false;
}"""


def notebook_path(assignment: str) -> str:
    return f"notebooks/{assignment}/{assignment}.ipynb"


def fresh_notebook(lab: Lab, assignment: str) -> Path:
    """Put the committed student notebook back into the lab's course copy; return its path."""
    target = lab.root / notebook_path(assignment)
    shutil.copy(ROOT / notebook_path(assignment), target)
    return target


def shutdown_kernels(lab: Lab) -> None:
    """Stop every kernel session, so the next notebook starts from a fresh kernel."""
    api = f"{lab.url}/api/sessions"
    headers = {"Authorization": f"token {lab.token}"}
    for session in requests.get(api, headers=headers, timeout=10).json():
        requests.delete(f"{api}/{session['id']}", headers=headers, timeout=30)


def open_notebook(page, lab: Lab, assignment: str) -> Path:
    """Open a fresh copy of ``assignment``'s student notebook and wait for its kernel."""
    shutdown_kernels(lab)
    path = fresh_notebook(lab, assignment)
    cell_count = len(nbformat.read(path, as_version=4).cells)
    page.goto(lab.open(notebook_path(assignment)))
    page.wait_for_function(
        f"() => document.querySelectorAll('{CELLS}').length === {cell_count}", timeout=60_000
    )
    page.get_by_text(re.compile(r"\| Idle$")).first.wait_for(timeout=60_000)
    page.wait_for_function(BUSY_OR_QUEUED)
    return path


def run_menu(page, item: str) -> None:
    """Run > ``item`` in the menu bar, then wait until no cell is queued or running."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.get_by_role("menuitem", name=item, exact=True).click()
    page.wait_for_function(BUSY_OR_QUEUED, timeout=180_000)


def save(page, path: Path) -> nbformat.NotebookNode:
    """Ctrl+S, wait until the tab is clean, and read back what JupyterLab wrote."""
    page.locator(".jp-NotebookPanel").first.press("Escape")
    page.keyboard.press("Control+s")
    page.wait_for_function(
        "() => !document.querySelector('.lm-DockPanel-tabBar .lm-TabBar-tab.jp-mod-dirty')"
    )
    time.sleep(0.5)  # the file is renamed into place just after the model reports clean
    return nbformat.read(path, as_version=4)


def select_cell(page, index: int) -> None:
    """Click cell ``index``'s prompt area: selects it in command mode, as a person would.

    Off-screen cells are laid out lazily (content-visibility), so the page can shift under the
    pointer: click again until JupyterLab marks that very cell active.
    """
    cell = page.locator(CELLS).nth(index)
    for _ in range(10):
        cell.scroll_into_view_if_needed()
        page.wait_for_timeout(200)  # let lazily laid-out neighbours settle
        cell.locator(".jp-InputPrompt").first.click()
        if "jp-mod-active" in (cell.get_attribute("class") or ""):
            return
    raise AssertionError(f"could not select cell {index}")


def errors_of(nb: nbformat.NotebookNode) -> dict[int, str]:
    """Cell index -> "ExceptionName: message" of each cell whose output is an error."""
    return {
        i: f"{out.ename}: {out.evalue}"[:200]
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    }


def exercise_ids(nb: nbformat.NotebookNode) -> set[str]:
    """Ids of the answer and test cells: the only cells allowed to fail unanswered."""
    ids = set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("solution") or meta.get("grade")):
            ids.add(str(cell.id))
    return ids


def run_all_like_a_learner(page, path: Path) -> nbformat.NotebookNode:
    """Run All; when an exercise stops the run, go on from the next cell (Run Selected and Below).

    JupyterLab stops a run at the first error, as a learner sees it; an unanswered exercise fails by
    design, so the learner carries on below it. Returns the saved notebook with every output.
    """
    run_menu(page, "Run All Cells")
    nb = save(page, path)
    for _ in range(len(nb.cells)):
        errors = errors_of(nb)
        unexpected = {
            nb.cells[i].id: name
            for i, name in errors.items()
            if str(nb.cells[i].id) not in exercise_ids(nb)
            or name.split(":")[0] not in EXPECTED_ERRORS
        }
        assert not unexpected, f"{path.name}: unexpected errors {unexpected}"
        last = max(errors, default=-1)
        pending = [
            i
            for i, cell in enumerate(nb.cells)
            if i > last and cell.cell_type == "code" and cell.execution_count is None
        ]
        if not pending:
            return nb
        select_cell(page, last + 1)
        run_menu(page, "Run Selected Cell and All Below")
        nb = save(page, path)
    raise AssertionError(f"{path.name}: Run All never reached the last cell")


def test_lab_starts_without_news_or_update_notices(page, lab, screenshot_dir):
    """JupyterLab opens with the course's settings: no news announcements, no toast waiting."""
    page.goto(lab.open())
    page.locator(".jp-LabShell").wait_for()
    config = page.evaluate("JSON.parse(document.getElementById('jupyter-config-data').textContent)")
    assert "@jupyterlab/apputils-extension:announcements" in config.get("disabledExtensions", [])
    page.locator(".jp-DirListing-item").first.wait_for()
    time.sleep(2)  # the announcements plugin, were it on, asks about news within a second
    assert page.locator(".Toastify__toast").count() == 0
    page.screenshot(path=screenshot_dir / "lab-00-start.png")


@pytest.mark.parametrize("assignment", STUDENT_NOTEBOOKS)
def test_run_all_shows_no_unexpected_error(page, lab, screenshot_dir, assignment):
    """Run All on the blank student notebook: only unanswered exercises fail, everything else runs."""
    path = open_notebook(page, lab, assignment)
    nb = run_all_like_a_learner(page, path)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code), "some code cells never ran"
    # The DOM shows what the file says: as many error outputs as failing exercise cells.
    shown = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert shown.count() >= len(errors_of(nb))
    errors = errors_of(nb)
    if errors:
        select_cell(page, min(errors))
    page.screenshot(path=screenshot_dir / f"lab-{assignment}-run-all.png")


def test_mermaid_diagram_renders(page, lab, screenshot_dir):
    """A mermaid block in a markdown cell is drawn as a diagram (an SVG), not shown as code."""
    open_notebook(page, lab, "01-sessions-vs-tokens")
    # JupyterLab draws the diagram as an SVG image (a data: URL) inside .jp-RenderedMermaid.
    diagram = page.locator(".jp-RenderedMermaid img[src^='data:image/svg+xml']").first
    diagram.wait_for(timeout=60_000)
    diagram.scroll_into_view_if_needed()
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=diagram.element_handle()
    )
    box = diagram.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 100, box
    svg = unquote(diagram.get_attribute("src") or "")
    assert "Load balancer" in svg and "Container A" in svg, (
        "not the sequence diagram of notebook 01"
    )
    page.screenshot(path=screenshot_dir / "lab-01-mermaid.png")


def test_jwt_anatomy_shows_a_coloured_token(page, lab, screenshot_dir):
    """On 02, after Run All, a token is drawn with its header, payload and signature in colour."""
    if JWT_ANATOMY not in STUDENT_NOTEBOOKS:
        pytest.skip(f"notebooks/{JWT_ANATOMY} does not exist yet (being written for issue 5)")
    path = open_notebook(page, lab, JWT_ANATOMY)
    run_all_like_a_learner(page, path)
    assert page.evaluate(COLOURED_TOKEN), "no output shows a JWT in three colours"
    page.locator(
        ".jp-OutputArea-output", has_text=re.compile(r"eyJ")
    ).first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # let JupyterLab draw the cells it scrolled to
    page.screenshot(path=screenshot_dir / f"lab-{JWT_ANATOMY}-coloured-token.png")


# ---- Validate: nbgrader's toolbar button, on notebook 01 -------------------------------------

VALIDATE_NB = "01-sessions-vs-tokens"
SOLUTION = {
    str(cell.id): cell.source
    for cell in nbformat.read(COURSE.source_notebook(VALIDATE_NB), as_version=4).cells
}
EX1_TEST_DOCSTRING = "Checks that issue_token's token is one PyJWT verifies"


def type_answer(page, nb: nbformat.NotebookNode, cell_id: str, source: str) -> None:
    """Replace answer cell ``cell_id``'s content with ``source`` through its editor, as typed."""
    index = next(i for i, cell in enumerate(nb.cells) if cell.id == cell_id)
    cell = page.locator(CELLS).nth(index)
    cell.scroll_into_view_if_needed()
    if nb.cells[index].cell_type == "markdown":
        cell.locator(".jp-MarkdownOutput").dblclick()  # a written answer: open it for editing
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(source)  # pasted as a whole: no auto-indent or bracket closing
    if nb.cells[index].cell_type == "markdown":
        page.keyboard.press("Control+Enter")  # render it again
    page.keyboard.press("Escape")


def validate(page) -> str:
    """Press Validate and return the text of nbgrader's result dialog once it has the result."""
    page.locator(".jp-NotebookPanel-toolbar").get_by_role("button", name="Validate").click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=60_000)
    page.wait_for_function(
        "() => /Success!|failed|passed|Error/.test(document.querySelector('.jp-Dialog')?.innerText || '')",
        timeout=180_000,
    )
    return dialog.inner_text()


def close_dialog(page) -> None:
    page.locator(".jp-Dialog").get_by_role("button").last.click()
    page.locator(".jp-Dialog").wait_for(state="detached")


def test_validate_right_answer_passes_its_test(page, lab, screenshot_dir):
    """ex1 answered right: Validate no longer lists ex1's test; every answer right: Success!."""
    path = open_notebook(page, lab, VALIDATE_NB)
    nb = nbformat.read(path, as_version=4)
    type_answer(page, nb, "ex1_issue_token", SOLUTION["ex1_issue_token"])
    text = validate(page)
    assert EX1_TEST_DOCSTRING not in text, "ex1's test still fails with the right answer"
    assert "failed" in text  # exercise 2 is still unanswered
    page.screenshot(path=screenshot_dir / "lab-01-validate-ex1-right.png")
    close_dialog(page)

    for cell in nb.cells:  # every answer, code and written
        if cell.metadata.get("nbgrader", {}).get("solution"):
            type_answer(page, nb, cell.id, SOLUTION[cell.id])
    text = validate(page)
    assert "Success! Your notebook passes all the tests." in text, text[:2000]
    page.screenshot(path=screenshot_dir / "lab-01-validate-success.png")
    close_dialog(page)


def test_validate_wrong_answer_shows_the_hint(page, lab, screenshot_dir):
    """A token that lives 60 s instead of TOKEN_LIFETIME fails ex1's test, with its hint."""
    path = open_notebook(page, lab, VALIDATE_NB)
    nb = nbformat.read(path, as_version=4)
    wrong = SOLUTION["ex1_issue_token"].replace("issued_at + TOKEN_LIFETIME", "issued_at + 60")
    assert wrong != SOLUTION["ex1_issue_token"]
    type_answer(page, nb, "ex1_issue_token", wrong)
    text = validate(page)
    assert EX1_TEST_DOCSTRING in text, text[:2000]
    assert "PyJWT refused a token that should still be valid." in text
    # The hint appears twice: in the test's source and, last, in the failure it raised.
    hint = page.locator(".jp-Dialog").get_by_text("PyJWT refused a token that should").last
    hint.scroll_into_view_if_needed()
    page.screenshot(path=screenshot_dir / "lab-01-validate-wrong-hint.png")
    close_dialog(page)


def test_formgrader_lists_the_course_assignments(page, lab, screenshot_dir):
    """Nbgrader > Formgrader shows every assignment of the course (one per solutions/ folder)."""
    page.goto(lab.open())
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    page.get_by_role("menuitem", name="Formgrader", exact=True).click()
    frame = page.frame_locator("iframe").first
    frame.get_by_text("Manage Assignments").first.wait_for()
    course = sorted(p.name for p in (lab.root / "solutions").iterdir() if p.is_dir())
    assert course[:2] == ["00-start-here", "01-sessions-vs-tokens"]
    for assignment in course:
        frame.locator("#main-table td.name a", has_text=assignment).wait_for(timeout=60_000)
    page.screenshot(path=screenshot_dir / "lab-formgrader.png")
