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
    assert "moto cannot" in nb["ex1-heading"].source
    # why the reserved scope is only a workaround: said after the learner's answer, not before
    assert "aws.cognito.signin.user.admin" not in nb["ex1-heading"].source
    assert "workaround" in nb["why-statuses"].source
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


FIGURE = re.compile(r"\b(?:about|roughly|around|~)\s*\d+(?:\.\d+)?\s*(?:ms|milliseconds?)\b")


@pytest.mark.parametrize(
    "assignment",
    ["04-managed-identity", "05-api-gateway-jwt-authorizer", "08-token-lifecycle"],
)
def test_no_measured_figure_is_written_into_markdown(assignment):
    """Item 3: timings come from cells that measure them, never from prose."""
    for cell_id, cell in cells(assignment).items():
        if cell.cell_type == "markdown":
            assert not FIGURE.search(cell.source), (cell_id, FIGURE.search(cell.source))


def test_08_faq_names_rows_that_exist_and_prints_the_measured_lookup():
    nb = cells("08-token-lifecycle")
    rows = set(re.findall(r'"(\w+)": \{"replay_at_gateway"', nb["ex3_still_works"].source))
    named = set(re.findall(r"the `(\w+)` row", nb["chapter-faq"].source))
    assert named and named <= rows
    assert "{extra" in nb["chapter-faq-figure"].source


def test_05_token_storage_does_not_call_memory_safe_and_places_the_mini_project():
    text = cells("05-api-gateway-jwt-authorizer")["token-storage"].source
    assert "only while the page is open" not in text
    assert "Acquisition and Extraction of New Tokens" in text
    assert "Where the mini project stands" in text


def test_05_no_visible_check_or_run_cell_shows_a_prediction_before_it_is_committed():
    """Item 12: before ex2_predictions, nothing visible sends exercise 2's requests; after it, a
    cell that does waits for PREDICTIONS."""
    order = list(cells("05-api-gateway-jwt-authorizer").items())
    ids = [cell_id for cell_id, _ in order]
    committed = ids.index("ex2_predictions")
    for position, (cell_id, cell) in enumerate(order):
        if cell.cell_type != "code":
            continue
        seen = visible(cell.source)
        if position < committed:
            calls = seen.replace("def probe_status(", "").replace("return probe(", "")
            assert "probe_status(" not in calls and "[0]" not in calls.split("def probe(")[-1], (
                cell_id
            )
            assert "requests.get(gateway.url" not in seen, cell_id
        elif "send(" in seen or "requests.get(gateway.url" in seen:
            if cell_id in ("burst",) or cell_id.startswith("ex"):
                continue
            assert '"PREDICTIONS" not in globals()' in seen, cell_id


def test_08_exercise_3_visible_check_reveals_no_row():
    seen = visible(cells("08-token-lifecycle")["ex3_test_still_works"].source)
    assert '"replay_at_gateway": True' not in seen and '"replay_at_gateway": False' not in seen


def test_rotation_is_taught_in_08_and_on_the_amplify_page():
    nb08 = cells("08-token-lifecycle")
    assert "get_tokens_from_refresh_token" in nb08["rotation-demo"].source
    assert "rotation=True" in nb08["rotation-demo"].source
    assert "RFC 9700" in nb08["rotation-intro"].source
    amplify = cells("05-api-gateway-jwt-authorizer")["signin-amplify-steps"].source
    assert "GetTokensFromRefreshToken" in amplify and "rotation" in amplify


def test_08_puts_the_denylist_in_a_lambda_authorizer_and_measures_the_cache_window():
    nb = cells("08-token-lifecycle")
    everything = "\n".join(cell.source for cell in nb.values())
    assert "is_revoked=" not in everything  # no revocation hook on a JWT authorizer
    setup = nb["gateway-setup"].source
    assert 'AuthorizerType="REQUEST"' in setup and "AuthorizerResultTtlInSeconds=ttl" in setup
    assert 'invocations["denylist-authorizer"]' in nb["measure"].source
    assert "window" in nb["cache-window"].source


def test_04_exercise_4_asks_for_a_diagnosis_from_evidence_run_in_a_cell():
    nb = cells("04-managed-identity")
    assert "Diagnose" in nb["ex4-heading"].source
    evidence = nb["ex4-evidence"].source
    assert "teammate_verify" in evidence and 'needs_answers("exercise 1")' in evidence
    assert "initiate_auth" not in evidence  # the evidence does not show exercise 1's call
