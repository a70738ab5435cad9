"""What the course teaches about JWTs: reading, trusting, showing and breaking them.

- :mod:`~authlab.tokens.jws`: a compact JWS read strictly, before any key is involved
- :mod:`~authlab.tokens.jwks`: trusted keys (a JWKS), each bound to its algorithms
- :mod:`~authlab.tokens.verify`: the strict reference verifier
- :mod:`~authlab.tokens.display`: a token coloured by part, in HTML or a terminal
- :mod:`~authlab.tokens.forge` and :mod:`~authlab.tokens.attacks`: the attack gallery
- :mod:`~authlab.tokens.cli`: ``python -m authlab decode|verify``

This room stands on the ground floor only (``errors``, ``clock``, ``data``).
"""

from .display import show_token
from .jwks import KeySet, make_jwks, public_jwk
from .jws import decode_unverified
from .verify import Verifier, verify_token

__all__ = [
    "KeySet",
    "Verifier",
    "decode_unverified",
    "make_jwks",
    "public_jwk",
    "show_token",
    "verify_token",
]
