"""The local AWS: a moto server on 127.0.0.1 and clients pointed at it."""

from __future__ import annotations

import time

import pytest

import authlab
from authlab.cloud import aws as aws_module
from authlab.errors import AwsUnavailableError


def test_server_listens_on_loopback_and_serves_cognito(aws):
    assert aws.endpoint_url.startswith("http://127.0.0.1:")
    cognito = aws.client("cognito-idp")
    cognito.create_user_pool(PoolName="p")
    assert [p["Name"] for p in cognito.list_user_pools(MaxResults=5)["UserPools"]] == ["p"]
    assert aws.client("dynamodb").list_tables()["TableNames"] == []
    assert aws.client("apigatewayv2").get_apis()["Items"] == []


def test_reset_wipes_state(aws):
    cognito = aws.client("cognito-idp")
    cognito.create_user_pool(PoolName="p")
    aws.reset()
    assert cognito.list_user_pools(MaxResults=5)["UserPools"] == []


def test_clients_use_dummy_credentials_and_the_region(aws):
    client = aws.client("cognito-idp", region="eu-west-1")
    assert client.meta.region_name == "eu-west-1"
    assert client._request_signer._credentials.access_key == "testing"


def test_a_stopped_server_says_how_to_recover():
    server = authlab.MotoServer().start()
    server.stop()
    server.stop()  # twice is fine
    with pytest.raises(AwsUnavailableError, match="not running"):
        _ = server.endpoint_url


def test_start_moto_shares_one_server_per_process(monkeypatch):
    monkeypatch.delenv("AUTHLAB_AWS", raising=False)
    try:
        first = authlab.start_moto()
        assert authlab.start_moto() is first
        assert authlab.current_server() is first
        assert authlab.client("cognito-idp").meta.endpoint_url == first.endpoint_url
    finally:
        authlab.stop_moto()
    with pytest.raises(AwsUnavailableError, match="start_moto"):
        authlab.current_server()


def test_real_aws_switch_uses_plain_boto3(monkeypatch):
    monkeypatch.setenv("AUTHLAB_AWS", "real")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert authlab.real_aws()
    assert authlab.start_moto() is None
    client = aws_module.client("cognito-idp")
    assert client.meta.endpoint_url == "https://cognito-idp.eu-central-1.amazonaws.com"


def test_an_action_moto_lacks_is_one_sentence_and_one_hint(moto_server, caplog):
    """A learner calling RevokeToken sees one line from the local AWS and one hint, no traceback."""
    import logging

    from botocore.exceptions import ClientError

    from authlab.course.feedback import hint_for

    cognito = moto_server.client("cognito-idp")

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "werkzeug"]

    with caplog.at_level(logging.ERROR, logger="werkzeug"):
        with pytest.raises(ClientError) as error:
            cognito.revoke_token(Token="a-refresh-token", ClientId="a-client")
        # werkzeug logs the error after it has sent the 500: wait for the server thread's line.
        waited = 0
        while not lines() and waited < 500:
            time.sleep(0.02)
            waited += 1
    assert lines() == [
        "local AWS (moto): The revoke_token action has not been implemented: "
        "AWS has it, this stand-in does not."
    ]  # once, whatever boto3's retries
    assert not any(r.exc_info for r in caplog.records if r.name == "werkzeug")
    assert "does not implement it" in hint_for(error.value) and "RevokeToken" in hint_for(
        error.value
    )
