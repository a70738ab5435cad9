"""Every notebook of the course: runs, fails only where it should, and is in sync with its source."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbgrader.validator import Validator

from grader.authoring.lint import lint_course
from grader.authoring.release import release
from grader.authoring.run import error_cells, run_notebook

from .conftest import COURSE

ASSIGNMENTS = COURSE.assignments()


def _exercise_cells(path) -> tuple[set[str], set[str]]:
    """(test cell ids, answer cell ids) of a notebook."""
    tests, answers = set(), set()
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("grade") and not meta.get("solution"):
            tests.add(str(cell.id))
        elif meta.get("solution"):
            answers.add(str(cell.id))
    return tests, answers


def test_course_has_the_start_notebooks():
    assert ASSIGNMENTS[:2] == ["00-start-here", "01-sessions-vs-tokens"]


@pytest.mark.notebooks
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_runs_top_to_bottom_without_error(assignment):
    """The source (solutions and hidden tests included) runs with no error at all."""
    run = run_notebook(COURSE.source_notebook(assignment), allow_errors=True)
    assert error_cells(run.notebook) == {}


@pytest.mark.notebooks
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_notebook_fails_only_in_its_test_cells(assignment):
    """Unanswered, every test cell fails, and nothing but exercise cells fails.

    An answer cell that assigns a value (not a function) raises nbgrader's
    ``NotImplementedError`` stub itself, and its test then meets a ``NameError``, or a
    check that says the exercise is not answered yet (``CheckFailed``). Only test cells
    may fail a check.
    """
    path = COURSE.student_notebook(assignment)
    run = run_notebook(path, allow_errors=True)
    errors = error_cells(run.notebook)
    tests, answers = _exercise_cells(path)
    assert tests <= set(errors), f"test cells that pass unanswered: {tests - set(errors)}"
    assert set(errors) <= tests | answers, (
        f"lesson cells that fail: {set(errors) - tests - answers}"
    )
    for cell_id, error in errors.items():
        allowed = ("NotImplementedError", "NameError") + (
            ("CheckFailed",) if cell_id in tests else ()
        )
        assert error.startswith(allowed), (cell_id, error)


@pytest.mark.notebooks
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_student_notebook_fails_every_test_nbgrader_validate_invert(assignment):
    """``nbgrader validate --invert``: no test cell passes on the blank notebook.

    Except the 0-point checks that a written answer is not blank: nbgrader's invert mode counts
    every 0-point cell as passed (0 == 0), while plain Validate, the learner's button, reports
    them as failed when they raise, which is what they are for (checked just below).
    """
    path = COURSE.student_notebook(assignment)
    results = Validator(invert=True).validate(str(path))
    passed = [
        cell["source"]
        for cell in results.get("passed", [])
        if "check_written(" not in cell["source"]
    ]
    assert passed == [] and set(results) <= {"passed"}, results
    written = [
        cell
        for cell in nbformat.read(path, as_version=4).cells
        if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution")
    ]
    if written:
        failed = Validator().validate(str(path)).get("failed", [])
        named = [cell["source"] for cell in failed if "check_written(" in cell["source"]]
        assert len(named) == len(written), (len(named), len(written))
        assert all(
            "your written answer is still empty" in cell["error"]
            for cell in failed
            if "check_written(" in cell["source"]
        )


def test_student_notebooks_equal_a_fresh_release(tmp_path):
    """notebooks/ is exactly what ``python -m grader release`` generates from solutions/."""
    release(COURSE, release_dir=tmp_path, db_url=f"sqlite:///{tmp_path / 'gradebook.db'}")
    for assignment in ASSIGNMENTS:
        fresh = json.loads((tmp_path / assignment / f"{assignment}.ipynb").read_text())
        committed = json.loads(COURSE.student_notebook(assignment).read_text())
        assert committed == fresh, f"notebooks/{assignment} is stale: run python -m grader release"
    released = sorted(p.name for p in COURSE.release_dir.iterdir() if p.is_dir())
    assert released == ASSIGNMENTS


def test_every_notebook_follows_the_house_rules():
    problems = lint_course(COURSE)
    assert problems == [], "\n".join(map(str, problems))


@pytest.mark.notebooks
def test_running_05_exercise_1_twice_gives_the_same_routes(tmp_path):
    """A learner who runs the configure cell again after a first try ends with one API, not two."""
    import shutil

    from nbclient import NotebookClient

    source = COURSE.source_notebook("05-api-gateway-jwt-authorizer")
    shutil.copytree(source.parent, tmp_path / "05")
    path = tmp_path / "05" / source.name
    nb = nbformat.read(path, as_version=4)
    ids = [cell.get("id") for cell in nb.cells]
    probe = nbformat.v4.new_code_cell(
        'print(sorted(r["RouteKey"] for r in apigw.get_routes(ApiId=api_id)["Items"]))'
    )
    nb.cells.append(probe)
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    with client.setup_kernel():
        for index in range(ids.index("configure") + 1):
            client.execute_cell(nb.cells[index], index)
        client.execute_cell(nb.cells[ids.index("configure")], ids.index("configure"))  # again
        test = ids.index("ex1_test_configure_api")
        client.execute_cell(nb.cells[test], test)  # raises if the second run broke the API
        client.execute_cell(probe, len(nb.cells) - 1)
    printed = "".join(out.get("text", "") for out in probe.outputs)
    assert printed.strip() == "['GET /health', 'GET /notes', 'POST /notes']", printed
