"""Hidden checks fail an answer hard-coded to the visible examples (grader/authoring/memorize.py)."""

from __future__ import annotations

import nbformat
import pytest

from grader.authoring.memorize import Memorizer, memorizer_problems

from .conftest import COURSE

LESSON = "from authlab.course.feedback import check, check_equal, passed\n"
ANSWERS = '''def double(x):
    """Twice x."""
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION


def is_admin(role):
    """Whether the role may administer (admin, superadmin...)."""
    ### BEGIN SOLUTION
    return role.endswith("admin")
    ### END SOLUTION
'''
VISIBLE_DOUBLE = '''"""Checks that double doubles."""
check_equal(double(2), 4, what="double(2)")
check_equal(double(3), 6, what="double(3)")
passed()
'''
VISIBLE_ADMIN = '''"""Checks that only admin is an admin."""
check(is_admin("admin"), "admin is an admin")
check(not is_admin("user"), "user is not")
check(not is_admin("guest"), "guest is not")
passed()
'''


def _hidden(checks: str) -> str:
    return f"### BEGIN HIDDEN TESTS\n{checks}\n### END HIDDEN TESTS\n"


def _notebook(tmp_path, double_hidden: str, admin_hidden: str):
    """A judged source notebook: two answer functions, a test cell each with hidden checks."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["grader"] = {"judge": True}
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    answer = nbformat.v4.new_code_cell(ANSWERS)
    answer.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "ex1_answers"}
    cells = [nbformat.v4.new_code_cell(LESSON), answer]
    for grade_id, visible, hidden in (
        ("ex1_test_double", VISIBLE_DOUBLE, double_hidden),
        ("ex2_test_is_admin", VISIBLE_ADMIN, admin_hidden),
    ):
        test = nbformat.v4.new_code_cell(visible + _hidden(hidden))
        test.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": grade_id}
        test.metadata["nbgrader"]["points"] = 1
        cells.append(test)
    nb.cells = cells
    path = tmp_path / "memo.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_hidden_check_that_reuses_a_visible_input_or_a_common_answer_is_caught(tmp_path):
    """double's hidden check reuses double(3); is_admin's expects what most visible calls gave."""
    path = _notebook(
        tmp_path,
        'check_equal(double(3), 6, what="double again")',
        'check(not is_admin("root"), "root is not an admin")',
    )
    problems = {problem.cell: problem.message for problem in memorizer_problems(path)}
    assert set(problems) == {"ex1_test_double", "ex2_test_is_admin"}, problems
    assert "memorized the visible checks" in problems["ex1_test_double"]
    assert "most common" in problems["ex2_test_is_admin"]


def test_hidden_checks_on_inputs_the_visible_ones_never_use_pass_the_rule(tmp_path):
    """New inputs, with answers that neither the visible results nor a fixed guess give."""
    path = _notebook(
        tmp_path,
        'check_equal(double(-7), -14, what="double(-7)")',
        'check(is_admin("admin") and is_admin("superadmin") and not is_admin("root"), "roles")',
    )
    # is_admin's check calls the visible input "admin" too, but also new ones with either
    # answer: no fixed guess passes it.
    problems = memorizer_problems(path)
    assert problems == [], [str(p) for p in problems]


def test_a_memorizer_answers_what_the_solution_did_then_a_fixed_guess():
    memo = Memorizer(["f"])
    ns = {"f": lambda x: x * 10}

    class Step:
        grade_id = "ex1_test_f"
        source = "check(f(1) == 10)\n"
        hidden = "check(f(99) == 990)\n"

    with memo.visible(Step, ns):
        assert [ns["f"](1), ns["f"](1), ns["f"](2)] == [10, 10, 20]
    seen = []

    def run(code):
        assert code == Step.hidden
        seen.append((ns["f"](1), ns["f"](2), ns["f"](99)))
        return AssertionError("a hidden check failed")

    memo.hidden(Step, ns, run)
    assert seen == [(10, 20, 10), (10, 20, 20)]  # the most common result, then the next
    assert memo.memorized == {}
    assert ns["f"](3) == 30  # the answer is put back


@pytest.mark.notebooks
@pytest.mark.parametrize("assignment", COURSE.assignments())
def test_the_courses_hidden_checks_fail_a_memorizer_of_the_visible_ones(assignment):
    problems = [
        str(problem)
        for source in COURSE.source_notebooks(assignment)
        for problem in memorizer_problems(source)
    ]
    assert problems == []
