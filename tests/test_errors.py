"""The exception tree: codes, statuses and messages a learner can act on."""

from __future__ import annotations

import inspect

import pytest

from authlab import errors
from authlab.errors import (
    AccessDeniedError,
    AuthLabError,
    ClaimError,
    ExpiredTokenError,
    ScopeError,
    TokenError,
    http_status,
)

CLASSES = [
    obj for _, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, AuthLabError)
]


def test_every_class_has_its_own_stable_code():
    codes = [cls.code for cls in CLASSES]
    assert len(codes) == len(set(codes)), sorted(codes)


def test_every_public_class_is_exported():
    assert {cls.__name__ for cls in CLASSES} <= set(errors.__all__)


@pytest.mark.parametrize(
    "cls",
    [c for c in CLASSES if c not in (AuthLabError, TokenError, AccessDeniedError, ClaimError)],
)
def test_leaf_classes_carry_a_hint(cls):
    assert cls.default_hint, f"{cls.__name__} should tell a learner what to do next"


def test_status_is_decided_in_one_place():
    assert http_status(ExpiredTokenError("expired", claim="exp")) == 401
    assert http_status(ScopeError("no scope")) == 403
    assert http_status(AuthLabError("broken")) == 500
    assert http_status(KeyError("x")) == 500


def test_claim_errors_say_which_claim_and_how():
    error = ExpiredTokenError("The token expired.", claim="exp", expected="> 100", actual=90)
    assert isinstance(error, ClaimError) and isinstance(error, TokenError)
    assert error.to_dict() == {
        "code": "expired",
        "message": "The token expired.",
        "hint": ExpiredTokenError.default_hint,
        "claim": "exp",
        "expected": "> 100",
        "actual": 90,
    }
    assert str(error).startswith("The token expired. Hint: ")


def test_a_hint_can_be_replaced_or_dropped():
    assert str(AuthLabError("plain")) == "plain"
    assert str(ScopeError("no", hint="ask for admin")) == "no Hint: ask for admin"
