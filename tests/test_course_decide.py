"""Issue 22 item 14 for notebooks 01 to 03: each has a graded exercise where the learner decides,
the evidence it rests on says what the graded answer says, and each notebook closes with a table
of what the learner decided."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import datetime

import nbformat
import pytest

from authlab.data import data_path

from .conftest import COURSE

HIDDEN = "### BEGIN HIDDEN TESTS"


def cells(assignment: str) -> dict[str, nbformat.NotebookNode]:
    """The source notebook's cells by id."""
    notebook = nbformat.read(COURSE.source_notebook(assignment), as_version=4)
    return {str(cell.id): cell for cell in notebook.cells}


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def diagnose(entry: dict, key: bytes) -> int:
    """The one thing wrong with a logged request, as an index into 02's DIAGNOSIS_OPTIONS,
    found here without the notebook's code."""
    scheme, _, token = entry["authorization"].partition(" ")
    parts = token.split(".")
    if len(parts) != 3:
        return 3
    header, claims = json.loads(_b64(parts[0])), json.loads(_b64(parts[1]))
    wrong = []
    if scheme != "Bearer":
        wrong.append(4)
    if header.get("alg") != "HS256":
        wrong.append(1)
    else:
        expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _b64(parts[2])):
            wrong.append(0)
    if claims["exp"] <= datetime.fromisoformat(entry["at"].replace("Z", "+00:00")).timestamp():
        wrong.append(2)
    assert len(wrong) == 1, (entry["letter"], wrong)  # each request has exactly one defect
    return wrong[0]


def test_02_the_graded_diagnoses_are_what_the_log_shows():
    log = json.loads(data_path("notes-service-log.json").read_text(encoding="utf-8"))
    key = _b64(log["secret_b64url"])
    truth = {entry["letter"]: diagnose(entry, key) for entry in log["log"]}
    hidden = cells("02-jwt-anatomy")["ex3_test_diagnose"].source.split(HIDDEN)[1]
    graded = json.loads(re.search(r"(\{\"A\": \d.*?\})", hidden, re.S).group(1))
    assert graded == truth
    assert len(set(truth.values())) == 5  # every diagnosis is used: no single guess passes
    visible = cells("02-jwt-anatomy")["ex3_test_diagnose"].source.split(HIDDEN)[0]
    assert not re.search(r'"[A-G]": \d', visible)  # the visible check shows no diagnosis


@pytest.mark.parametrize(
    ("assignment", "draft", "answer"),
    [
        ("01-sessions-vs-tokens", "ex2-draft", "ex2_authenticate"),
        ("03-breaking-jwts", "ex2-draft", "ex2_strict_verify"),
    ],
)
def test_a_repair_exercise_shows_its_evidence_and_names_no_fix(assignment, draft, answer):
    nb = cells(assignment)
    order = list(nb)
    assert order.index(draft) < order.index(answer)  # the evidence comes before the answer
    assert "needs_answers(" in nb[draft].source  # it runs on the learner's earlier answers
    heading = nb[order[order.index(draft) - 1]].source if assignment.startswith("01") else ""
    for test_id in [i for i in order if i.startswith(answer.split("_")[0] + "_test")]:
        hints = re.findall(r"hint=((?:\s*f?\"[^\"]*\")+)", nb[test_id].source.split(HIDDEN)[0])
        for hint in hints:  # a hint says what went wrong, not which call or argument fixes it
            assert not re.search(r"algorithms=|InvalidTokenError|catch |options=", hint), hint
    assert "InvalidTokenError" not in heading and "algorithms=" not in heading


@pytest.mark.parametrize(
    "assignment", ["01-sessions-vs-tokens", "02-jwt-anatomy", "03-breaking-jwts"]
)
def test_the_notebook_closes_with_what_the_learner_decided(assignment):
    nb = cells(assignment)
    headings = {
        int(m.group(1)): int(m.group(2))
        for cell in nb.values()
        if cell.cell_type == "markdown"
        for m in re.finditer(r"^## Exercise (\d+): .*\((\d+) points?\)$", cell.source, re.M)
    }
    rows = {
        int(m.group(1)): int(m.group(2))
        for m in re.finditer(r"^\| (\d+) \| [^|\n]+ \| (\d+) \|$", nb["decisions"].source, re.M)
    }
    assert rows == headings
