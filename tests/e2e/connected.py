"""An advertiser connected on a running local stack the way the OAuth function leaves it: an
authorization secret holding the token, and the advertiser index item naming that secret."""

from __future__ import annotations

import json

from tiktok_local.stack import LocalStack


def connect_advertiser(stack: LocalStack, advertiser_id: str, label: str) -> str:
    """Issue an emulator token for ``advertiser_id`` and store it as ``label``'s authorization;
    the token."""
    assert stack.emulator is not None
    token = stack.emulator.state.issue_token(advertiser_ids=[advertiser_id])
    secret = f"{stack.names['authorizations_secret_prefix']}{label}"
    stack.client("secretsmanager").create_secret(
        Name=secret,
        SecretString=json.dumps({"access_token": token, "advertiser_ids": [advertiser_id]}),
    )
    stack.client("dynamodb").put_item(
        TableName=stack.names["oauth_table"],
        Item={"pk": {"S": f"advertiser#{advertiser_id}"}, "secret_name": {"S": secret}},
    )
    return token
