"""The strict verifier's cost per RS256 token against a bare ``jwt.decode``, same key, same run.

Both verify the same Cognito-like ID token with the same RSA-2048 public key: the
baseline is PyJWT's ``jwt.decode(token, key, algorithms=["RS256"], audience=...,
issuer=...)``; ours is :class:`authlab.tokens.verify.Verifier` (configuration built once) and
:func:`authlab.tokens.verify.verify_token` (configuration rebuilt per call), both with a warm
key set (a URL key set already fetched once behaves the same: a dict lookup).
Goal: at most 1.3 times the bare decode.

    .venv/bin/python benchmarks/verify.py
"""

from __future__ import annotations

import statistics
import time
import timeit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from authlab.clock import SYSTEM_CLOCK
from authlab.tokens.jwks import KeySet, make_jwks
from authlab.tokens.verify import Verifier, verify_token

GOAL = 1.3
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Bench"
AUDIENCE = "bench-client"


def per_call(func, number: int, repeat: int) -> float:
    """Best-of-``repeat`` median-free estimate: the minimum mean time per call, in µs."""
    return min(timeit.repeat(func, number=number, repeat=repeat)) / number * 1e6


def main() -> int:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key()
    now = int(time.time())
    claims = {"sub": "u", "iss": ISSUER, "aud": AUDIENCE, "token_use": "id",
              "iat": now, "exp": now + 3600, "cognito:username": "alice"}  # fmt: skip
    token = jwt.encode(claims, private, "RS256", headers={"kid": "k1"})
    keys = KeySet.from_jwks(make_jwks(public, "k1"))
    verifier = Verifier(keys, issuer=ISSUER, audience=AUDIENCE, token_use="id")

    def bare() -> object:
        return jwt.decode(token, public, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)

    def ours() -> object:
        return verifier.verify(token)

    def ours_function() -> object:
        return verify_token(token, keys, issuer=ISSUER, audience=AUDIENCE, token_use="id",
                            clock=SYSTEM_CLOCK)  # fmt: skip

    assert bare() == ours() == ours_function()
    number, repeat = 2000, 7
    rounds = []
    for _ in range(3):  # interleave, so a noisy neighbour hurts both sides alike
        rounds.append((per_call(bare, number, repeat), per_call(ours, number, repeat),
                       per_call(ours_function, number, repeat)))  # fmt: skip
    base = statistics.median(r[0] for r in rounds)
    mine = statistics.median(r[1] for r in rounds)
    mine_fn = statistics.median(r[2] for r in rounds)
    print(f"{'RS256 ID token, warm key set':<40} {'µs/token':>9} {'× bare':>7}")
    print(f"{'jwt.decode (baseline)':<40} {base:9.1f} {1:7.2f}")
    print(f"{'Verifier.verify':<40} {mine:9.1f} {mine / base:7.2f}")
    print(f"{'verify_token (config per call)':<40} {mine_fn:9.1f} {mine_fn / base:7.2f}")
    ok = mine / base <= GOAL
    print(f"goal: Verifier.verify <= {GOAL} x bare decode: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
