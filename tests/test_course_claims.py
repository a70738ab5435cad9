"""Sentences of notebooks 03, 07 and 09 that a test can hold to their sources and to the code."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from .conftest import ROOT


def cell(assignment: str, cell_id: str) -> str:
    """The source of one cell of a solution notebook."""
    path = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    (found,) = [c for c in json.loads(path.read_text())["cells"] if c["id"] == cell_id]
    return "".join(found["source"])


def test_03_confusion_tells_what_cve_2022_29217_was():
    """Issue 22 item 8: the advisory is about public-key formats missing from a blocklist
    (OpenSSH keys for EdDSA); refusing PEM keys predates it."""
    text = cell("03-breaking-jwts", "confusion")
    assert "GHSA-ffqj-6fqr-9h24" in text and "ssh-ed25519" in text and "blocklist" in text
    assert "now refuses a PEM key" not in text


@pytest.mark.parametrize("kind", ["pem", "openssh"])
def test_pyjwt_refuses_public_keys_as_hmac_secrets(kind):
    """What 03's confusion-pyjwt cell shows, with the PyJWT the course locks."""
    if kind == "pem":
        public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        secret = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        public = ed25519.Ed25519PrivateKey.generate().public_key()
        secret = public.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
    with pytest.raises(jwt.InvalidKeyError):
        jwt.encode({"role": "admin"}, secret, algorithm="HS256")


def test_00_tour_says_what_is_wrong_when_the_learner_breaks_the_answer():
    """Issue 22 item 16: the tour asks for a learner's mistake (6 + 7) and the hint names it,
    rather than "Multiplication, not addition" for a changed expected value."""
    from authlab.course.feedback import CheckFailed

    source = cell("00-start-here", "feedback-tour")
    assert "6 + 7" in cell("00-start-here", "failing-check")
    exec(compile(source, "feedback-tour", "exec"), {})  # passes as released
    with pytest.raises(CheckFailed) as failed:
        exec(compile(source.replace("6 * 7", "6 + 7"), "feedback-tour", "exec"), {})
    shown = str(failed.value)
    assert "13" in shown and "42" in shown and "operator" in shown


def test_01_exercise_2_calls_the_learners_functions_before_the_fleet():
    """Issue 22 item 16: an unanswered or failing issue_token/authenticate is reported by
    call() with its hint, not by a traceback through the fleet's frames."""
    source = cell("01-sessions-vs-tokens", "ex2_test_any_container")
    first_fleet = source.index("Fleet(")
    assert -1 < source.index("call(\n    issue_token") < first_fleet
    assert -1 < source.index("call(\n    authenticate") < first_fleet
