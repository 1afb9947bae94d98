"""Authorization secrets the OAuth function creates use the stack's KMS key when one is set."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tiktok_connector.oauth.flow import _build_flow
from tiktok_connector.oauth.settings import OAuthSettings
from tiktok_connector.oauth.store import Authorization, AuthorizationStore

TABLE = "tiktok-connector-oauth"
PREFIX = "tiktok-connector/authorizations/"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        yield {"ddb": ddb, "sm": sm, "key": key}


def _store(aws: dict[str, Any], kms_key_id: str) -> AuthorizationStore:
    return AuthorizationStore(
        table=TABLE,
        secret_prefix=PREFIX,
        secretsmanager=aws["sm"],
        dynamodb=aws["ddb"],
        kms_key_id=kms_key_id,
    )


def _authorization(version: int = 1) -> Authorization:
    return Authorization(
        authorization_id="acme",
        access_token=f"access-token-{version}",
        advertiser_ids=["7100000000000000001"],
        scope=[4],
        label="acme",
        connected_at="2026-01-01T00:00:00Z",
    )


def test_a_new_authorization_secret_is_encrypted_with_the_stack_key(aws: dict[str, Any]) -> None:
    name = _store(aws, aws["key"]).save(_authorization())
    assert aws["sm"].describe_secret(SecretId=name)["KmsKeyId"] == aws["key"]


def test_without_a_key_the_secret_uses_the_aws_managed_key(aws: dict[str, Any]) -> None:
    name = _store(aws, "").save(_authorization())
    assert "KmsKeyId" not in aws["sm"].describe_secret(SecretId=name)


def test_an_updated_secret_keeps_its_key(aws: dict[str, Any]) -> None:
    store = _store(aws, aws["key"])
    name = store.save(_authorization(1))
    store.save(_authorization(2))
    assert aws["sm"].describe_secret(SecretId=name)["KmsKeyId"] == aws["key"]
    assert store.load("acme") == _authorization(2)


def test_the_flow_passes_the_configured_key_to_the_store(aws: dict[str, Any]) -> None:
    settings = OAuthSettings(
        oauth_table=TABLE,
        app_secret_name="tiktok-connector/app",
        state_key_secret_name="tiktok-connector/oauth-state-key",
        authorizations_secret_prefix=PREFIX,
        authorizations_kms_key_arn=aws["key"],
    )
    assert _build_flow(settings, aws["ddb"], aws["sm"]).authorizations.kms_key_id == aws["key"]
