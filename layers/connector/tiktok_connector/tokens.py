"""Where the other functions find an advertiser's access token.

The OAuth function (the only writer) stores each authorization in its own secret
(``<AUTHORIZATIONS_SECRET_PREFIX><authorization_id>``, JSON with ``access_token``) and indexes every
advertiser id it reaches in the OAuth table (item ``pk = advertiser#<id>``, attribute
``secret_name``). Readers go through :class:`TokenStore`: Powertools' parameter providers cache both
look-ups for ``max_age`` seconds, and ``refresh=True`` refetches once after TikTok rejected a token
(40105), so a re-authorization is picked up without waiting for the cache to expire.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import DynamoDBProvider, SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

INDEX_PREFIX = "advertiser#"


class TokenNotFoundError(LookupError):
    """No authorization reaches this advertiser (connect it first)."""

    def __init__(self, advertiser_id: str, reason: str) -> None:
        self.advertiser_id = advertiser_id
        super().__init__(f"no TikTok authorization for advertiser {advertiser_id}: {reason}")


class TokenStore:
    """Look up access tokens by advertiser id (cached, refetchable)."""

    def __init__(
        self,
        *,
        oauth_table: str,
        secrets_client: Any,
        dynamodb_resource: Any,
        max_age: int = 300,
    ) -> None:
        self._index = DynamoDBProvider(
            oauth_table, key_attr="pk", value_attr="secret_name", boto3_client=dynamodb_resource
        )
        self._secrets = SecretsProvider(boto3_client=secrets_client)
        self._max_age = max_age

    def token_for(self, advertiser_id: str, *, refresh: bool = False) -> str:
        """The access token that reaches ``advertiser_id``.

        Raises :class:`TokenNotFoundError` when no authorization covers it.
        """
        try:
            secret_name = self._index.get(
                INDEX_PREFIX + advertiser_id, max_age=self._max_age, force_fetch=refresh
            )
        except GetParameterError:
            raise TokenNotFoundError(advertiser_id, "not connected") from None
        if not isinstance(secret_name, str) or not secret_name:
            raise TokenNotFoundError(advertiser_id, "not connected")
        try:
            secret = self._secrets.get(
                secret_name, max_age=self._max_age, transform="json", force_fetch=refresh
            )
        except GetParameterError:
            raise TokenNotFoundError(advertiser_id, "authorization secret unreadable") from None
        token = secret.get("access_token") if isinstance(secret, dict) else None
        if not isinstance(token, str) or not token:
            raise TokenNotFoundError(advertiser_id, "authorization secret has no access_token")
        return token
