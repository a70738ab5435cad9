"""Checks that teach, seen in JupyterLab: a raising answer meets its hint, a fresh kernel has hints,
and Run All in 05 leaves the sign-in page served.

Screenshots go to ``build/e2e/hints-*.png``.
"""

from __future__ import annotations

import re

import nbformat
import pytest
import requests

from .test_lab import (
    CELLS,
    VALIDATE_NB,
    open_notebook,
    run_all_like_a_learner,
    run_menu,
    save,
    select_cell,
    type_answer,
)

pytestmark = pytest.mark.e2e

# issue_token written as many learners first write it: it forgets that now may be None.
RAISING_ANSWER = '''def issue_token(username: str, role: str, secret: str, now: float | None = None) -> str:
    """A signed HS256 JWT saying who the user is, valid for TOKEN_LIFETIME seconds."""
    issued_at = int(now)
    claims = {"sub": username, "role": role, "iat": issued_at, "exp": issued_at + TOKEN_LIFETIME}
    return jwt.encode(claims, secret, algorithm="HS256")
'''


def output_text(nb: nbformat.NotebookNode, cell_id: str) -> str:
    """Everything cell ``cell_id`` showed: streams, results and an error's traceback lines."""
    cell = next(c for c in nb.cells if c.id == cell_id)
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts += out.get("traceback", [])
        parts.append(str(out.get("data", {}).get("text/plain", "")))
    return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(parts))


def test_a_raising_answer_shows_its_hint_not_a_library_traceback(page, lab, screenshot_dir):
    path = open_notebook(page, lab, VALIDATE_NB)
    nb = nbformat.read(path, as_version=4)
    type_answer(page, nb, "ex1_issue_token", RAISING_ANSWER)
    run_menu(page, "Run All Cells")  # stops at the failing test, as a learner sees it
    shown = output_text(save(page, path), "ex1_test_issue_token")
    assert "✘ Not yet:" in shown, shown
    assert "issue_token('alice', 'user', secret) raised TypeError" in shown, shown
    assert "(your code, line 3: issued_at = int(now))" in shown, shown
    assert "Hint: With no now given, use the current time, time.time()." in shown, shown
    assert "Traceback" not in shown and "site-packages" not in shown, shown
    index = next(i for i, c in enumerate(nb.cells) if c.id == "ex1_test_issue_token")
    select_cell(page, index)
    output = page.locator(CELLS).nth(index).locator(".jp-OutputArea-output").first
    output.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # let JupyterLab draw the cells it scrolled to
    page.screenshot(path=screenshot_dir / "hints-01-raising-answer.png")


def test_a_fresh_kernel_gives_hints_before_any_cell_ran(page, lab, screenshot_dir):
    """Open 01 in a new kernel and run only exercise 2's test: the hint names the cell to run."""
    path = open_notebook(page, lab, VALIDATE_NB)  # every kernel is shut down first
    nb = nbformat.read(path, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if c.id == "ex2_test_any_container")
    select_cell(page, index)
    page.keyboard.press("Control+Enter")  # run this cell only
    page.locator(CELLS).nth(index).locator(".jp-OutputArea-output").first.wait_for()
    shown = output_text(save(page, path), "ex2_test_any_container")
    assert "NameError" in shown, shown
    page.wait_for_timeout(500)
    # The check calls the learner's functions first, so the first missing name is the secret's.
    assert (
        "💡 Hint: load_secret is defined by the cell that begins `os.environ.setdefault(" in shown
    ), shown
    page.screenshot(path=screenshot_dir / "hints-01-fresh-kernel.png")


def test_run_all_in_05_leaves_the_sign_in_page_served(page, lab, screenshot_dir):
    path = open_notebook(page, lab, "05-api-gateway-jwt-authorizer")
    nb = run_all_like_a_learner(page, path)
    cleanup = output_text(nb, "cleanup")
    assert "keep running until the kernel shuts down" in cleanup, cleanup
    link = next(
        out["data"]["text/html"]
        for cell in nb.cells
        if cell.id == "signin-link"
        for out in cell.outputs
        if "text/html" in out.get("data", {})
    )
    href = re.search(r'href="([^"]+)"', link).group(1).replace("&amp;", "&")
    assert "/_static/" in href, href
    assert requests.get(href, timeout=10).status_code == 200  # still served after Run All
    select_cell(page, next(i for i, c in enumerate(nb.cells) if c.id == "cleanup"))
    page.wait_for_timeout(500)
    page.screenshot(path=screenshot_dir / "hints-05-run-all.png")
