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
