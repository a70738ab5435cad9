"""Friendly checks and hints."""

from __future__ import annotations

import pytest

from authlab.course.feedback import (
    CheckFailed,
    check,
    check_equal,
    check_raises,
    hint_for,
    install_hints,
    needs_answers,
    passed,
)
from authlab.errors import ExpiredTokenError


def test_check_equal_says_what_was_expected_and_found():
    with pytest.raises(CheckFailed) as info:
        check_equal(41, 42, what="6 × 7", hint="Multiply.")
    assert str(info.value) == "6 × 7: expected 42, got 41. Hint: Multiply."
    assert isinstance(info.value, AssertionError)
    check_equal("a", "a", what="same")


def test_check_shortens_huge_values():
    with pytest.raises(CheckFailed) as info:
        check_equal("x" * 1000, "y", what="token")
    assert len(str(info.value)) < 200


def test_check_raises():
    def boom():
        raise KeyError("k")

    assert isinstance(check_raises(boom, KeyError, what="lookup"), KeyError)
    with pytest.raises(CheckFailed, match="nothing was raised"):
        check_raises(lambda: 1, KeyError, what="lookup")
    with pytest.raises(CheckFailed, match="ValueError was raised"):
        check_raises(lambda: int("x"), KeyError, what="lookup")
    with pytest.raises(NotImplementedError):
        check_raises(_unanswered, KeyError, what="lookup")
    with pytest.raises(CheckFailed):
        check(False, "no")


def _unanswered():
    raise NotImplementedError()


def test_passed_is_honest_about_hidden_tests(capsys):
    passed()
    assert "More checks run when your work is graded" in capsys.readouterr().out
    passed(hidden=False)
    assert "All checks" in capsys.readouterr().out


def test_needs_answers_turns_an_unanswered_exercise_into_a_note(capsys):
    with needs_answers("exercise 2"):
        _unanswered()
    assert "answered exercise 2" in capsys.readouterr().out
    with pytest.raises(KeyError), needs_answers("exercise 2"):
        raise KeyError("a real bug still shows")


class FakeClientError(Exception):
    def __init__(self, code):
        self.response = {"Error": {"Code": code}}


class ExpiredSignatureError(Exception):
    pass


def test_hints_for_common_errors():
    assert "NotImplementedError" in hint_for(NotImplementedError())
    assert "password" in hint_for(FakeClientError("NotAuthorizedException"))
    assert "fresh token" in hint_for(ExpiredSignatureError())
    assert hint_for(ExpiredTokenError("x", claim="exp")) == ExpiredTokenError.default_hint
    assert hint_for(ConnectionRefusedError()) is not None
    assert hint_for(ZeroDivisionError()) is None


def test_install_hints_outside_ipython_does_nothing():
    assert install_hints() is False


def test_install_hints_in_an_ipython_shell():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shown = []
    shell._showtraceback = lambda etype, value, stb: shown.append(stb)
    assert install_hints(shell) is True
    result = shell.run_cell("raise NotImplementedError()")
    assert not result.success  # the cell still counts as failed (so nbgrader sees the error)
    assert "Hint" in shown[-1][-1]
    shell.run_cell("from authlab.course.feedback import check_equal; check_equal(1, 2, what='x')")
    assert shown[-1] == ["\x1b[1;31m✘ Not yet:\x1b[0m x: expected 2, got 1."]
    InteractiveShell.clear_instance()


def test_call_turns_a_crash_in_learner_code_into_one_failed_check(tmp_path):
    """What was called, what it raised, the learner's own line, the test's hint; no library."""
    import jwt as pyjwt

    from authlab.course.feedback import call

    cell = tmp_path / "ipykernel_cell_7.py"  # how ipykernel names a cell's code
    cell.write_text(
        "import jwt\n"
        "def decode_claims(token):\n"
        "    return jwt.decode(token, 'secret', algorithms=['HS256'])\n"
    )
    namespace: dict = {}
    exec(compile(cell.read_text(), str(cell), "exec"), namespace)  # noqa: S102 - a fake cell
    with pytest.raises(CheckFailed) as failed:
        call(
            namespace["decode_claims"],
            "not.a.jwt",
            what="decode_claims('not.a.jwt')",
            hint="Add '='.",
        )
    message = str(failed.value)
    assert message.startswith("decode_claims('not.a.jwt') raised DecodeError: ")
    assert (
        "(your code, line 3: return jwt.decode(token, 'secret', algorithms=['HS256']))" in message
    )
    assert message.endswith("Hint: Add '='.")
    assert "site-packages" not in message and "\n" not in message
    assert failed.value.__cause__ is None and failed.value.__suppress_context__
    assert issubclass(pyjwt.DecodeError, Exception)


def test_call_passes_results_and_unanswered_exercises_through():
    from authlab.course.feedback import call

    assert call(lambda a, *, b: a + b, 1, b=2) == 3

    def unanswered():
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        call(unanswered)
    with pytest.raises(CheckFailed, match=r"^boom\(\.\.\.\) raised ZeroDivisionError") as failed:

        def boom():
            return 1 / 0

        call(boom)
    assert "(your code, line" in str(failed.value) and "1 / 0" in str(failed.value)


def test_a_name_error_hint_names_the_cell_that_defines_the_name(tmp_path, monkeypatch):
    import nbformat

    from authlab.course.feedback import defining_cell

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("AUTHORIZERS = 'not code'"),
        nbformat.v4.new_code_cell("%matplotlib inline\nimport jwt as pyjwt\nSECRET = 'x'"),
        nbformat.v4.new_code_cell("def issue_token(user):\n    inner = 1\n    return user"),
        nbformat.v4.new_code_cell('with needs_answers("exercise 1"):\n    AUTHORIZERS = {}'),
        nbformat.v4.new_code_cell("this is not python"),
    ]
    nbformat.write(nb, tmp_path / "05-demo.ipynb")
    assert defining_cell("AUTHORIZERS", tmp_path) == 'with needs_answers("exercise 1"):'
    assert defining_cell("issue_token", tmp_path) == "def issue_token(user):"
    assert defining_cell("pyjwt", tmp_path) == "import jwt as pyjwt"
    assert defining_cell("inner", tmp_path) is None  # local to a function: not the cell's name
    assert defining_cell("nowhere", tmp_path) is None
    monkeypatch.chdir(tmp_path)
    try:
        AUTHORIZERS  # noqa: B018, F821 - the learner's NameError
    except NameError as error:
        hint = hint_for(error)
    assert hint.startswith("AUTHORIZERS is defined by the cell that begins `with needs_answers(")
    try:
        undefined_anywhere  # noqa: B018, F821
    except NameError as error:
        assert "run the cells above first" in hint_for(error)


def test_a_fresh_kernel_of_the_course_environment_has_the_hints_before_any_cell():
    """A restarted kernel gives hints at once: the extension loads at kernel start, not in a cell."""
    import sys
    from pathlib import Path

    from jupyter_client.manager import start_new_kernel

    config = Path(sys.prefix) / "etc" / "ipython" / "ipython_kernel_config.py"
    assert config.is_file(), f"{config} is missing: make test (or make lab) installs it"
    outputs: list[dict] = []
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        reply = client.execute_interactive(
            "ip = get_ipython()\n"
            "print('authlab.course.kernel' in ip.extension_manager.loaded, "
            "bool(ip.custom_exceptions))",
            timeout=60,
            output_hook=lambda msg: outputs.append(msg),
        )
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok"
    printed = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
    assert printed.strip() == "True True"


def test_call_names_another_modules_plain_error_with_its_module():
    """A learner who forgets the padding sees "binascii.Error: Incorrect padding", and the hint."""
    import base64

    from authlab.course.feedback import call

    def b64url_decode(segment):
        return base64.urlsafe_b64decode(segment)

    with pytest.raises(CheckFailed) as failed:
        call(b64url_decode, "aGk", what="b64url_decode('aGk')", hint="Add '=' until len % 4 == 0.")
    message = str(failed.value)
    assert "raised binascii.Error: Incorrect padding (your code, line" in message
    assert message.endswith("Hint: Add '=' until len % 4 == 0.")


def test_check_written_names_a_blank_written_answer(tmp_path):
    import nbformat

    from authlab.course.feedback import check_written

    nb = nbformat.v4.new_notebook()
    blank = nbformat.v4.new_markdown_cell("YOUR ANSWER HERE")
    blank.id = "ex3_explain"
    written = nbformat.v4.new_markdown_cell("Sessions live in one container's memory...")
    written.id = "ex4_explain"
    nb.cells = [blank, written]
    nbformat.write(nb, tmp_path / "01-demo.ipynb")
    with pytest.raises(CheckFailed, match="Exercise 3: your written answer is still empty"):
        check_written("ex3_explain", "Exercise 3", tmp_path)
    check_written("ex4_explain", "Exercise 4", tmp_path)  # answered: passes
    check_written("ex9_explain", "Exercise 9", tmp_path)  # no such cell here: nothing to check


def test_raises_not_implemented_reads_the_stub_never_runs_it():
    from authlab.course.feedback import raises_not_implemented

    assert raises_not_implemented("# YOUR CODE HERE\nraise NotImplementedError()")
    assert raises_not_implemented("%load_ext x\nraise NotImplementedError")
    assert not raises_not_implemented("def f():\n    raise NotImplementedError()")  # called later
    assert not raises_not_implemented("PREDICTIONS = {'a': 200}")
    assert not raises_not_implemented("this is not python")


def test_an_unanswered_prediction_says_not_answered_yet(tmp_path, monkeypatch):
    """Issue 22 item 16: the learner's hint under a value exercise left as nbgrader's stub."""
    import shutil
    from pathlib import Path

    import nbformat

    from authlab.course.feedback import awaiting_answer

    name = "05-api-gateway-jwt-authorizer"
    released = Path(__file__).resolve().parents[1] / "notebooks" / name / f"{name}.ipynb"
    shutil.copy(released, tmp_path / f"{name}.ipynb")
    monkeypatch.chdir(tmp_path)
    assert awaiting_answer("PREDICTIONS")
    assert not awaiting_answer("REQUESTS")  # a lesson's name, not an answer
    try:
        PREDICTIONS  # noqa: B018, F821 - the learner's test cell, before answering
    except NameError as error:
        hint = hint_for(error)
    assert hint.startswith("PREDICTIONS is an exercise's answer, not answered yet")
    nb = nbformat.read(tmp_path / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "ex2_predictions":
            cell.source = "PREDICTIONS = {}"
    nbformat.write(nb, tmp_path / f"{name}.ipynb")
    assert not awaiting_answer("PREDICTIONS")
    try:
        PREDICTIONS  # noqa: B018, F821 - answered, but the cell has not run
    except NameError as error:
        assert hint_for(error).startswith("PREDICTIONS is defined by the cell that begins")
