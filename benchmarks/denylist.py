"""What a jti denylist lookup adds to each request, against the stateless check alone.

Baseline (measured in the same run): verifying a 15-minute RS256 access token with
``authlab.tokens.verify.verify_token``. Then the same verification plus one strongly
consistent DynamoDB ``GetItem`` on the local moto server (``authlab.cloud.denylist``).
Prints the median per request and the ratio. On AWS the lookup is a network round
trip to DynamoDB instead of a loopback call, so read the ratio as a lower bound.

    .venv/bin/python benchmarks/denylist.py
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from authlab.clock import FrozenClock  # noqa: E402
from authlab.cloud.aws import MotoServer  # noqa: E402
from authlab.cloud.denylist import DenylistTable, time_calls  # noqa: E402
from authlab.cloud.idp import OidcIssuer  # noqa: E402
from authlab.cloud.refresh import TokenService  # noqa: E402
from authlab.tokens.jwks import KeySet  # noqa: E402
from authlab.tokens.verify import verify_token  # noqa: E402

REQUESTS = 300


def main() -> int:
    clock = FrozenClock(1_764_057_600)
    issuer = OidcIssuer("https://bench.example", clock=clock)
    service = TokenService(issuer, clock=clock)
    keys = KeySet.from_jwks(issuer.jwks())
    token = service.sign_in("alice").access_token

    def stateless(_: object) -> dict:
        return verify_token(
            token,
            keys,
            issuer=issuer.issuer,
            client_id=service.client_id,
            token_use="access",
            clock=clock,
        )

    with MotoServer() as aws:
        table = DenylistTable(aws.client("dynamodb")).create()

        def with_lookup(_: object) -> bool:
            claims = stateless(_)
            return table.get(claims["jti"]) is not None

        for func in (stateless, with_lookup):  # warm up
            time_calls(func, range(20))
        base = statistics.median(time_calls(stateless, range(REQUESTS))) * 1000
        looked = statistics.median(time_calls(with_lookup, range(REQUESTS))) * 1000
    print(f"{'check':<34} {'median ms':>10} {'× baseline':>11}")
    print(f"{'stateless verify (baseline)':<34} {base:10.3f} {1:11.1f}")
    print(f"{'verify + denylist GetItem (moto)':<34} {looked:10.3f} {looked / base:11.1f}")
    print(f"the lookup adds {looked - base:.3f} ms per request ({REQUESTS} requests each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
