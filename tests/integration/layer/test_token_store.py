"""TokenStore reads the advertiser index and the authorization secret, caches, and refetches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tiktok_connector.tokens import TokenNotFoundError, TokenStore

TABLE = "tiktok-connector-oauth"
SECRET = "tiktok-connector/authorizations/acme"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with mock_aws():
        ddb = boto3.resource("dynamodb", region_name="us-east-1")
        table = ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        yield {"table": table, "sm": sm, "ddb": ddb}


def store(aws: dict[str, Any], max_age: int = 300) -> TokenStore:
    return TokenStore(
        oauth_table=TABLE, secrets_client=aws["sm"], dynamodb_resource=aws["ddb"], max_age=max_age
    )


def connect(aws: dict[str, Any], advertiser: str, token: str) -> None:
    aws["table"].put_item(Item={"pk": f"advertiser#{advertiser}", "secret_name": SECRET})
    payload = json.dumps({"access_token": token, "advertiser_ids": [advertiser]})
    try:
        aws["sm"].create_secret(Name=SECRET, SecretString=payload)
    except aws["sm"].exceptions.ResourceExistsException:
        aws["sm"].put_secret_value(SecretId=SECRET, SecretString=payload)


def test_token_for_connected_advertiser(aws: dict[str, Any]) -> None:
    connect(aws, "7100000000000000001", "tok-1")
    assert store(aws).token_for("7100000000000000001") == "tok-1"


def test_unknown_advertiser_raises_not_found(aws: dict[str, Any]) -> None:
    with pytest.raises(TokenNotFoundError) as info:
        store(aws).token_for("7199999999999999999")
    assert "7199999999999999999" in str(info.value)


def test_cached_until_refresh_requested(aws: dict[str, Any]) -> None:
    connect(aws, "7100000000000000001", "tok-old")
    tokens = store(aws)
    assert tokens.token_for("7100000000000000001") == "tok-old"
    connect(aws, "7100000000000000001", "tok-new")  # re-authorization
    assert tokens.token_for("7100000000000000001") == "tok-old"  # still cached
    assert tokens.token_for("7100000000000000001", refresh=True) == "tok-new"


def test_secret_without_token_is_not_found(aws: dict[str, Any]) -> None:
    aws["table"].put_item(Item={"pk": "advertiser#7100000000000000002", "secret_name": SECRET})
    aws["sm"].create_secret(Name=SECRET, SecretString=json.dumps({"advertiser_ids": []}))
    with pytest.raises(TokenNotFoundError):
        store(aws).token_for("7100000000000000002")
