"""Notebooks 04, 05 and 08 (edition 3, issue 22): what their text says agrees with their cells,
and no visible check or run cell shows another exercise's answer before it is committed."""

from __future__ import annotations

import re

import nbformat
import pytest

from .conftest import COURSE

HIDDEN = "### BEGIN HIDDEN TESTS"


def cells(assignment: str) -> dict[str, nbformat.NotebookNode]:
    """The source notebook's cells by id."""
    notebook = nbformat.read(COURSE.source_notebook(assignment), as_version=4)
    return {str(cell.id): cell for cell in notebook.cells}


def visible(source: str) -> str:
    """What a learner sees of a cell: everything before its hidden tests."""
    return source.split(HIDDEN)[0]


def test_05_amplify_steps_say_the_id_token_gets_403_as_exercise_1_expects():
    nb = cells("05-api-gateway-jwt-authorizer")
    hidden = nb["ex1_test_configure_api"].source
    assert re.search(r'\("GET", "/notes", bob\["IdToken"\]\): 403', hidden)
    text = nb["signin-amplify-steps"].source
    assert "both pass `GET /notes`" not in text
    assert "403 to the ID token" in text


def hints(source: str) -> list[str]:
    """The hint strings of a test cell's checks (adjacent literals joined)."""
    found = []
    for match in re.finditer(r"hint=((?:\s*(?:f?\"[^\"]*\"|f?'[^']*'))+)", source):
        found.append("".join(re.findall(r"[\"']([^\"']*)[\"']", match.group(1))))
    return found


@pytest.mark.parametrize(
    ("assignment", "cell_id", "giveaways"),
    [
        (
            "04-managed-identity",
            "ex2_test_verifies_id_and_access_tokens",
            ("token_use=", "audience=", "client_id=", "issuer=", "not audience"),
        ),
        ("05-api-gateway-jwt-authorizer", "ex1_test_configure_api", ("scope", "Scopes")),
    ],
)
def test_hints_say_what_went_wrong_not_which_argument_fixes_it(assignment, cell_id, giveaways):
    found = hints(visible(cells(assignment)[cell_id].source))
    assert found, "the cell's checks have hints"
    for hint in found:
        assert not any(word in hint for word in giveaways), hint


def test_05_exercise_1_presents_the_reserved_scope_as_the_local_stand_in():
    nb = cells("05-api-gateway-jwt-authorizer")
    assert "notes/read" in nb["ex1-heading"].source
    assert "workaround" in nb["ex1-heading"].source
    assert 'Identifier="notes"' in nb["resource-server"].source
    solution = nb["ex1_configure_api"].source
    assert 'AuthorizationScopes=["aws.cognito.signin.user.admin"]' in solution
    assert "notes/read" in solution  # the comment names the production scope


def test_a_token_error_in_a_check_shows_its_hint_once():
    """Item 16: an AudienceError raised in a learner's function: message and hint, hint once."""
    from authlab.course.feedback import CheckFailed, call
    from authlab.errors import AudienceError

    def verify(token):
        raise AudienceError("aud is 'other-app', not this app.", claim="aud")

    with pytest.raises(CheckFailed) as failed:
        call(verify, "t", what="verify_id_token(...)")
    assert str(failed.value).count("Hint:") == 1
    assert "aud is 'other-app'" in str(failed.value)
