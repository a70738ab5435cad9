"""Requests per second through the local API Gateway vs the same handler called directly.

One run measures, on this machine:

- the baseline: the handler called as a Python function with a ready event;
- ``gateway.handle``: routing, the JWT authorizer (RS256 signature, claims) and the
  event, without sockets;
- HTTP: a ``requests.Session`` (keep-alive) calling the gateway on 127.0.0.1 with a
  valid Cognito access token, and with a forged one (rejected before the handler).

Ratios are against the baseline of the same run.

    .venv/bin/python benchmarks/gateway.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from authlab.cloud.aws import MotoServer  # noqa: E402
from authlab.cloud.cognito import create_demo_pool, session_tokens  # noqa: E402
from authlab.cloud.gateway import Gateway  # noqa: E402
from authlab.cloud.gateway.events import LambdaContext  # noqa: E402
from authlab.cloud.localhttp import HttpRequest  # noqa: E402


def handler(event: dict, context: object) -> dict:
    """The backend: a small JSON answer built from the caller's claims."""
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    return {"statusCode": 200, "body": json.dumps({"user": claims.get("username", "")})}


def rate(func: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``func`` over about ``seconds``."""
    func()  # warm up (key fetch, connection)
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(20):
            func()
        count += 20
    return count / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    with MotoServer() as aws:
        cognito, apigw = aws.client("cognito-idp"), aws.client("apigatewayv2")
        pool = create_demo_pool(cognito, endpoint_url=aws.endpoint_url)
        api = apigw.create_api(Name="bench", ProtocolType="HTTP")["ApiId"]
        authorizer = apigw.create_authorizer(
            ApiId=api,
            Name="cognito",
            AuthorizerType="JWT",
            IdentitySource=["$request.header.Authorization"],
            JwtConfiguration={"Issuer": pool.issuer, "Audience": [pool.client_id]},
        )["AuthorizerId"]
        integration = apigw.create_integration(
            ApiId=api,
            IntegrationType="AWS_PROXY",
            IntegrationUri="arn:aws:lambda:us-east-1:123456789012:function:notes",
            PayloadFormatVersion="2.0",
        )["IntegrationId"]
        apigw.create_route(
            ApiId=api,
            RouteKey="GET /notes",
            AuthorizationType="JWT",
            AuthorizerId=authorizer,
            Target=f"integrations/{integration}",
        )
        token = session_tokens(cognito, pool, "alice")["AccessToken"]
        forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
        with Gateway(
            api, apigw=apigw, handlers={"notes": handler}, jwks_urls={pool.issuer: pool.jwks_url}
        ) as gateway:
            bearer = {"Authorization": f"Bearer {token}"}
            session = requests.Session()
            url = gateway.url + "/notes"
            assert session.get(url, headers=bearer, timeout=5).status_code == 200
            assert session.get(url, headers={"Authorization": forged}, timeout=5).status_code == 401
            request = HttpRequest("GET", "/notes", headers=list(bearer.items()))
            # the event the handler receives, captured once for the baseline
            captured: list[dict] = []
            gateway.register("notes", lambda event, context: captured.append(event) or {})
            gateway.handle(request)
            gateway.register("notes", handler)
            event, context = captured[0], LambdaContext("notes", "arn:aws:lambda:::function:notes")

            results = [
                (
                    "handler called directly (baseline)",
                    rate(lambda: handler(event, context), args.seconds),
                ),
                (
                    "gateway.handle, valid token (no sockets)",
                    rate(lambda: gateway.handle(request), args.seconds),
                ),
                (
                    "HTTP via gateway, valid token",
                    rate(lambda: session.get(url, headers=bearer, timeout=5), args.seconds),
                ),
                (
                    "HTTP via gateway, forged token (401)",
                    rate(
                        lambda: session.get(url, headers={"Authorization": forged}, timeout=5),
                        args.seconds,
                    ),
                ),
            ]
    baseline = results[0][1]
    print(f"{'path':<44} {'requests/s':>12} {'baseline / this':>16}")
    for name, value in results:
        print(f"{name:<44} {value:12,.0f} {baseline / value:16,.1f}")
    http_valid = results[2][1]
    print(
        f"\nThrough the local gateway over HTTP a valid request costs {baseline / http_valid:,.0f}x "
        "the direct call; the handler's own work is a small part of each request."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
