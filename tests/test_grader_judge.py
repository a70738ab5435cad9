"""The judge: graded tests run outside the learner's kernel, which only ever sends back data.

The batch (tests/fixtures/cheats.py) grades cheats beside honest samples; the unit tests
below it check how the judge reads what a kernel sends.
"""

from __future__ import annotations

import base64
import json
import pickle
import re

import nbformat
import pytest

from grader.authoring.lint import lint_course
from grader.autograde import autograde
from grader.judge.link import JudgeError, KernelLink, RemoteObject
from grader.judge.probe import encode
from grader.judge.script import JudgeScript, judge_script
from grader.judge.wire import (
    MAX_ITEMS,
    MAX_SET_ITEMS,
    RemoteRaised,
    ReplyStopped,
    decode,
    rebuild_exception,
)
from grader.records.feedback import write_feedback

from .conftest import COURSE
from .fixtures.cheats import COST, GATEWAY, build
from .test_grader_hostile import _host_ip, _Listeners

_HIDDEN_BLOCK = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.DOTALL)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """``(rows by "student/assignment", expected scores, work folder, what a listener of the
    test on the machine's own address heard)``, graded once."""
    submissions = tmp_path_factory.mktemp("cheats")
    ip = _host_ip()
    listeners = _Listeners(ip)
    home = (ip, listeners.tcp.getsockname()[1]) if ip else None
    expected = build(COURSE, submissions, home)
    work = tmp_path_factory.mktemp("cheats-work")
    try:
        rows = autograde(COURSE, submissions, workdir=work, jobs=2, timeout=20)
    finally:
        listeners.close()
    rows = {f"{r.student_id}/{r.assignment}": r for r in rows}
    return rows, expected, work, {"heard": list(listeners.heard), "host_ip": ip}


def _hidden_lines(assignment: str) -> list[str]:
    """The distinctive lines of an assignment's hidden tests."""
    source = COURSE.source_notebook(assignment).read_text(encoding="utf-8")
    nb = nbformat.reads(source, as_version=4)
    lines = []
    for cell in nb.cells:
        for block in _HIDDEN_BLOCK.findall(cell.source):
            lines += [line.strip() for line in block.splitlines() if len(line.strip()) > 30]
    return lines


@pytest.mark.notebooks
def test_cheats_score_only_what_they_answer_and_honest_grades_hold(batch):
    rows, expected, *_ = batch
    got = {key: (rows[key].status, rows[key].score) for key in expected}
    assert got == {key: ("graded", score) for key, score in expected.items()}


@pytest.mark.notebooks
def test_no_hidden_test_reaches_the_kernel_the_notebook_or_the_feedback(batch):
    rows, expected, work, _ = batch
    pages = write_feedback(work)
    assert pages
    texts = {str(page): page.read_text(encoding="utf-8") for page in pages}
    for path in (work / "autograded").glob("*/*/*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        texts[str(path)] = json.dumps([cell.get("outputs", []) for cell in nb.cells])
    for assignment in {key.split("/")[1] for key in expected}:
        hidden = _hidden_lines(assignment)
        assert hidden
        for where, text in texts.items():
            if f"/{assignment}" not in where:
                continue
            assert "BEGIN HIDDEN" not in text, where
            leaked = [line for line in hidden if line in text]
            assert not leaked, (where, leaked[:3])
    spy_page = next(t for w, t in texts.items() if "/spy/" in w and w.endswith(".html"))
    assert "SPY [" not in spy_page  # what the answer printed during the tests is never shown
    quiz_page = next(t for w, t in texts.items() if "/wrong-quiz/" in w and w.endswith(".html"))
    for answer in ("DBGEAFC", "1: 401", "&#x27;q1&#x27;: 2", "'q1': 2"):
        assert answer not in quiz_page  # a failed hidden check never shows the right answer
    assert "a hidden check failed (the order of the events)" in quiz_page
    exfil = [t for w, t in texts.items() if "/exfiltrates/" in w]
    hidden_inputs = ("'carol'", "1234567890")  # what only a hidden check passes it
    assert exfil and not any(i in t for i in hidden_inputs for t in exfil)  # nor what it said


def _feedback_outputs(work, student: str, assignment: str) -> str:
    nb = nbformat.read(
        work / "autograded" / student / assignment / f"{assignment}.ipynb", as_version=4
    )
    return json.dumps([cell.get("outputs", []) for cell in nb.cells])


@pytest.mark.notebooks
def test_round_2_item_1_the_judge_fetches_nothing_and_lends_no_stop(batch):
    """05's configure_api adds an authorizer whose issuer is http://127.0.0.1@<this machine's
    address>:<a listener's port> and asks the grader's gateway to reload; it also asks the
    grader's objects to reset, rotate and withdraw. Nothing reaches the listener, the
    grader's objects refuse what is not theirs to lend, and the answers still count."""
    rows, _, work, around = batch
    assert around["heard"] == []
    row = rows[f"calls-home/{GATEWAY}"]
    assert (row.status, row.score) == ("graded", 5.0)
    said = _feedback_outputs(work, "calls-home", GATEWAY)
    scan = "{'aws.reset': 'N', 'partner.rotate': 'N', 'partner.withdraw': 'N'}"  # not lent
    assert f"count_saved(...) raised ValueError: SCAN {scan}" in said


@pytest.mark.notebooks
def test_round_2_item_2_no_test_cells_value_reaches_the_kernel(batch):
    """An answer raises, in a visible check, whatever the kernel holds of names that test
    cells (visible and hidden) set: 09's hidden inputs and visible result, 05's
    expected statuses and the right predictions. The kernel was given none of them."""
    from authlab.course.pricing import load_prices

    rows, _, work, _ = batch
    assert rows[f"reads-hidden-values/{COST}"].score == 0.0
    said = _feedback_outputs(work, "reads-hidden-values", COST)
    assert (
        "audit(AUDIT_CASE, book) raised ValueError: SCAN None LEAK {'big': 'absent', 'small': 'absent'"
        in said
    )
    hidden_value = load_prices().lambda_cost(400_000_000, 1024, 10.2).total
    assert repr(hidden_value) not in said and "500000000" not in said
    said = _feedback_outputs(work, "calls-home", GATEWAY)
    assert "LEAK {'answered': 'absent', 'expected': 'absent', 'bob': 'absent'}" in said
    assert "'answered': {" not in said and "'expected': {" not in said
    pages = [p for p in write_feedback(work) if "/reads-hidden-values/" in str(p)]
    assert pages and all(repr(hidden_value) not in p.read_text() for p in pages)


@pytest.mark.notebooks
def test_a_failed_check_names_the_judges_reason(batch):
    _, _, work, _ = batch
    nb = nbformat.read(
        work
        / "autograded"
        / "raise-after-ok"
        / "01-sessions-vs-tokens"
        / "01-sessions-vs-tokens.ipynb",
        as_version=4,
    )
    test = next(c for c in nb.cells if c.get("id") == "ex1_test_issue_token")
    assert test.outputs[-1].output_type == "error"
    assert "RuntimeError: after ok" in test.outputs[-1].evalue


def test_every_notebook_with_graded_tests_is_judged():
    graded = {
        path.parent.name
        for path in COURSE.source_dir.glob("*/*.ipynb")
        if any(
            c.metadata.get("nbgrader", {}).get("grade") and c.metadata["nbgrader"].get("points")
            for c in nbformat.read(path, as_version=4).cells
        )
    }
    judged = {
        path.parent.name
        for path in COURSE.source_dir.glob("*/*.ipynb")
        if (nbformat.read(path, as_version=4).metadata.get("grader") or {}).get("judge")
    }
    assert len(graded) == 10 and graded <= judged
    assert not [p for p in lint_course(COURSE) if "judge" in p.message]


def test_the_script_binds_the_names_an_answer_defines():
    nb = nbformat.read(COURSE.source_notebook("02-jwt-anatomy"), as_version=4)
    script = judge_script(nb)
    assert script.answer_names[:3] == ["b64url_encode", "b64url_decode", "read_token"]
    assert all("### BEGIN SOLUTION" not in s.source for s in script.steps if s.kind == "lesson")
    assert JudgeScript.from_dict(json.loads(json.dumps(script.to_dict()))) == script
    assert [t.grade_id for t in script.tests][:2] == ["ex1_test_base64url", "ex1_test_read_token"]


def test_an_unanswered_prediction_is_not_answered_yet_never_renamed():
    """Issue 22 item 16: a value answer left as nbgrader's stub is "not answered yet"."""
    from grader.authoring.samples import fill_answers
    from grader.judge.execute import unanswered_names
    from grader.judge.script import _message

    name = "05-api-gateway-jwt-authorizer"
    source, student = COURSE.source_notebook(name), COURSE.student_notebook(name)
    script = judge_script(nbformat.read(source, as_version=4))
    blank = nbformat.read(student, as_version=4)
    assert "PREDICTIONS" in unanswered_names(script, blank)
    assert "configure_api" not in unanswered_names(script, blank)  # a function: called, raises
    answered = fill_answers(source, student, lambda grade_id: True)
    assert unanswered_names(script, answered) == []
    answers = set(script.answer_names)
    missing = NameError("name 'PREDICTIONS' is not defined", name="PREDICTIONS")
    said = _message(missing, answers, unanswered=frozenset(unanswered_names(script, blank)))
    assert said.startswith("not answered yet") and "renamed" not in said
    assert "renamed" in _message(missing, answers)  # answered, yet gone: it was renamed
    script.unanswered = ["PREDICTIONS"]
    assert JudgeScript.from_dict(json.loads(json.dumps(script.to_dict()))) == script


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        3,
        -2.5,
        "é",
        b"\x00\xff",
        (1, [2, {"a": b"x"}]),
        {1: "one", "$x": 2},
        {1, 2},
        float("inf"),
    ],
)
def test_data_survives_the_round_trip(value):
    assert decode(json.loads(json.dumps(encode(value)))) == value


@pytest.mark.parametrize(
    "data",
    [
        {"$pickle": "gASVAAAAAA=="},
        {"$bytes": "not base64!"},
        {"$bytes": "AA==", "other": 1},
        {"$map": [[[1], 2]]},
        {"$float": "1e999"},
        float("nan"),
        json.loads("[" * 40 + "]" * 40),
    ],
)
def test_anything_else_is_refused(data):
    with pytest.raises(ValueError):
        decode(data)


def _colliding(count: int) -> list[int]:
    """``count`` distinct ints with one hash (Python hashes ints modulo 2**61 - 1)."""
    return [k * (2**61 - 1) + 7 for k in range(count)]


def _b64(number: int) -> str:
    data = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_round_2_item_3_replies_that_would_take_minutes_to_read_are_refused():
    import random

    sizes = random.Random(3)
    with pytest.raises(ReplyStopped, match="set or map of 60,000 members"):
        decode(json.loads(json.dumps({"$set": _colliding(60_000)})))
    with pytest.raises(ReplyStopped, match="set or map"):
        decode({"$map": [[k, 1] for k in _colliding(MAX_SET_ITEMS + 1)]})
    with pytest.raises(ReplyStopped, match="more than"):
        decode([[0] * 1000] * (MAX_ITEMS // 1000 + 1))
    modulus = sizes.getrandbits(16_384) | (1 << 16_383) | 1
    private = {"kty": "RSA", "n": _b64(modulus), "e": "AQAB", "d": _b64(modulus // 3)}
    with pytest.raises(ReplyStopped, match="private fields \\(d\\)"):
        decode({"$jwk": private})
    with pytest.raises(ReplyStopped, match="RSA key over 4096 bits"):
        decode({"$jwk": {"kty": "RSA", "n": _b64(modulus), "e": "AQAB"}})
    with pytest.raises(ReplyStopped, match="time limit"):  # a deadline already past
        decode({"$set": list(range(5000))}, deadline=0.0)
    assert decode({"$set": _colliding(200)}) == set(_colliding(200))  # small ones still read


def test_a_public_key_still_comes_back_as_a_key():
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    assert decode(json.loads(json.dumps(encode(key)))).public_numbers() == key.public_numbers()


def test_an_object_the_judge_cannot_read_is_named():
    with pytest.raises(TypeError, match="socket"):
        encode(__import__("socket").socket())


def test_a_learners_exception_is_rebuilt_as_the_class_the_test_expects():
    from authlab.errors import ClaimError, TokenError

    exc = rebuild_exception(
        {
            "types": ["__main__:MyClaimError", "authlab.errors:ClaimError", "builtins:Exception"],
            "message": "sub is empty",
            "attrs": {"claim": "sub", "_secret": "x", "message": "sub is empty", "hint": ""},
            "where": "line 3: raise MyClaimError(...)",
        }
    )
    assert isinstance(exc, ClaimError) and isinstance(exc, TokenError)
    assert isinstance(exc, RemoteRaised) and type(exc).__name__ == "MyClaimError"
    assert exc.claim == "sub" and not hasattr(exc, "_secret")
    assert str(exc) == "sub is empty" and "line 3" in exc.learner_where


@pytest.mark.parametrize(
    "types",
    [
        ["builtins:SystemExit"],
        ["builtins:KeyboardInterrupt"],
        ["os:system"],
        ["some_module_never_imported:Boom"],
    ],
)
def test_a_learner_cannot_raise_what_would_stop_the_judge(types):
    exc = rebuild_exception({"types": types, "message": "stop"})
    assert isinstance(exc, Exception) and isinstance(exc, RemoteRaised)
    assert "some_module_never_imported" not in __import__("sys").modules


def test_arguments_that_cannot_reach_the_kernel_are_a_clear_test_bug():
    link = KernelLink.__new__(KernelLink)  # no kernel: the arguments never get that far
    link.lend_types, link.lent, link._lent_refs = frozenset(), {}, {}

    with pytest.raises(JudgeError, match="bug in the test"):
        RemoteObject(link, {"name": "issue_token"}, "issue_token")(lambda: 1)


def test_an_aws_client_is_lent_never_copied():
    import boto3

    link = KernelLink.__new__(KernelLink)
    link.lend_types, link.lent, link._lent_refs = frozenset({"Fleet"}), {}, {}
    client = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    packed = link.pack({"client": client, "n": 1})
    assert link.lent == {0: client}
    assert b"aws_secret_access_key" not in __import__("base64").b64decode(packed)


def test_lint_names_a_test_the_judge_could_not_run(tmp_path):
    from grader.authoring.lint import judge_problems

    nb = nbformat.v4.new_notebook(metadata={"grader": {"judge": True}})
    lesson = nbformat.v4.new_code_cell("%matplotlib inline\nimport json\nLIMIT = 3")
    answer = nbformat.v4.new_code_cell("def f(x):\n    return x")
    answer.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "ex1_f"}
    test = nbformat.v4.new_code_cell(
        '"""Checks f."""\nassert f(LIMIT) == json.loads("3")\nseen_only_in_kernel'
    )
    test.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "grade_id": "ex1_test_f",
        "points": 1,
    }
    nb.cells = [lesson, answer, test]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    problems = judge_problems(path)
    assert [p.cell for p in problems] == [test.id]
    assert "seen_only_in_kernel" in problems[0].message and "LIMIT" not in problems[0].message
    nb.metadata["grader"].pop("judge")
    nbformat.write(nb, path)
    assert "must run in the judge" in judge_problems(path)[0].message


def test_the_judge_skips_a_figure_only_lesson_and_lint_holds_it_to_drawing(tmp_path):
    """A lesson tagged figure-only is not in the judge's script. Lint refuses the tag on an
    answer or a test, and a tagged cell that binds a name a judged cell names (before or
    after it, in a function's body or a string), runs a magic but %matplotlib, deletes, sets
    an attribute or an item, or declares a global."""
    from grader.authoring.lint import judge_problems
    from grader.judge.script import FIGURE_ONLY

    nb = nbformat.v4.new_notebook(metadata={"grader": {"judge": True}})
    lesson = nbformat.v4.new_code_cell(
        "LIMIT = 3\nseries = [1, 2]\n\ndef check():\n    return keys"
    )
    figure = nbformat.v4.new_code_cell(
        "%matplotlib inline\nimport matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n"
        "ax.plot(series)\nplt.show()"
    )
    figure.metadata["tags"] = [FIGURE_ONLY]
    later = nbformat.v4.new_code_cell('print(series, "fig" in globals())')
    test = nbformat.v4.new_code_cell('"""Checks LIMIT."""\nassert LIMIT == 3 and check() is None')
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "ex1_t", "points": 1}
    nb.cells = [lesson, figure, later, test]
    path = tmp_path / "nb.ipynb"

    def said(source: str) -> list[str]:
        figure.source = source
        nbformat.write(nb, path)
        return [p.message.split(":")[0] for p in judge_problems(path) if p.cell == figure.id]

    assert said(figure.source) == ["binds fig, which a cell the judge runs also names"]
    nbformat.write(nb, path)
    script = judge_script(nbformat.read(path, as_version=4))
    assert [s.source for s in script.steps if s.kind == "lesson"] == [lesson.source, later.source]
    later.source = "print(series)"
    assert said(figure.source) == []  # draws, and binds only plt, fig and ax
    assert said("keys = sorted(series)\nax = keys") == [
        "binds keys, which a cell the judge runs also names"  # check() reads it when called
    ]
    assert said("LIMIT = 4") == ["binds LIMIT, which a cell the judge runs also names"]
    assert said("%%capture out\nseries.append(3)") == ["runs '%%capture'"]
    assert said("series[0] = 9") == ["sets series[0] (line 1)"]
    assert said("plt.rcParams = {}") == ["sets plt.rcParams (line 1)"]
    assert said("del series") == [
        "deletes (line 1)",
        "binds series, which a cell the judge runs also names",
    ]
    assert said("def f():\n    global LIMIT\n    LIMIT = 5") == [
        "declares LIMIT (line 2)",
        "binds LIMIT, which a cell the judge runs also names",
    ]
    figure.source = "fig = 1"
    figure.metadata["tags"] = []
    test.metadata["tags"] = [FIGURE_ONLY]
    nbformat.write(nb, path)
    assert [p.message for p in judge_problems(path)] == [
        f"only a lesson cell can be tagged {FIGURE_ONLY!r}: the judge runs answers and tests"
    ]


def test_every_figure_only_cell_of_the_course_draws_and_binds_nothing_the_judge_reads():
    from grader.judge.script import FIGURE_ONLY

    tagged = [
        (path.parent.name, cell.id)
        for path in sorted(COURSE.source_dir.glob("*/*.ipynb"))
        for cell in nbformat.read(path, as_version=4).cells
        if FIGURE_ONLY in cell.metadata.get("tags", [])
    ]
    assert tagged == [("08-token-lifecycle", "timeline-figure")]
    assert not [p for p in lint_course(COURSE) if FIGURE_ONLY in p.message]
    script = judge_script(nbformat.read(COURSE.source_notebook("08-token-lifecycle"), as_version=4))
    assert not [s for s in script.steps if "matplotlib" in s.source + s.hidden]


def test_a_kernel_reaches_only_the_methods_and_data_of_what_the_judge_lends():
    import boto3

    link = KernelLink.__new__(KernelLink)
    link.lend_types, link.lent, link._lent_refs, link.classes = frozenset(), {}, {}, {}
    client = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    ref = link.lend(client)

    def ask(**question):
        return json.loads(link._answer({"ref": ref, **question}))

    def refusal(reply) -> str:
        """The error the kernel would raise for ``reply`` ("" if it is an answer)."""
        if reply.get("raises"):
            return repr(pickle.loads(base64.b64decode(reply["pickled"])))
        return str(reply.get("raised", ""))

    assert not refusal(ask(op="getattr", name="list_buckets"))  # a method: lent in its turn
    for other in ("_endpoint", "__class__", "_request_signer", "meta", "get_paginator", "close"):
        assert "not lent to your code" in refusal(ask(op="getattr", name=other))
    assert "only the methods" in refusal(ask(op="call", args=[], kwargs={}))  # not a method


def test_only_what_a_test_hands_an_answer_is_lent_and_only_its_listed_methods():
    from authlab.cloud.idp import OidcIssuer

    link = KernelLink.__new__(KernelLink)
    link.lend_types, link.lent, link._lent_refs, link.classes = frozenset(), {}, {}, {}
    issuer = OidcIssuer("https://issuer.example")
    assert link.may_lend(issuer) and not link.may_lend(issuer.sign)
    ref = link.lend(issuer)

    def ask(name: str):
        reply = json.loads(link._answer({"ref": ref, "op": "getattr", "name": name}))
        return pickle.loads(base64.b64decode(reply["pickled"])), reply.get("raises", False)

    for method in ("rotate", "withdraw", "stop", "start", "add_route", "private_key"):
        refused, raises = ask(method)
        assert raises and "not lent to your code" in str(refused)
    assert ask("issuer") == ("https://issuer.example", False)

    class Server:  # a course object with no list: never lent, whatever its module
        __module__ = "authlab.cloud.gateway.server"

        def stop(self) -> None:
            """Would stop the judge's server."""

    assert not link.may_lend(Server()) and not link.may_lend(Server().stop)
