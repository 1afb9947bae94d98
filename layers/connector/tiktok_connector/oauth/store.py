"""Where OAuth keeps its state: nonces in the OAuth table, authorizations in Secrets Manager.

* :class:`NonceStore` — ``state#<nonce>`` and ``ticket#<nonce>`` items with TTL ``expires_at``;
  a nonce is consumed with a conditional delete, so each state or ticket works once.
* :class:`AuthorizationStore` — one secret ``<prefix><authorization_id>`` per authorization (JSON:
  ``access_token, advertiser_ids, scope, label, authorization_id, connected_at, advertiser_names``)
  and one index item ``advertiser#<id>`` → ``secret_name`` per advertiser it reaches, which is what
  :class:`tiktok_connector.tokens.TokenStore` reads.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

# Same as tiktok_connector.tokens.INDEX_PREFIX (the reader); not imported from there because that
# module pulls in boto3 at import time (cold start). A unit test keeps the two equal.
INDEX_PREFIX = "advertiser#"
STATE_KIND = "state"
TICKET_KIND = "ticket"


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class NonceStore:
    """Single-use nonces with an expiry, in the OAuth table (pk ``<kind>#<nonce>``)."""

    def __init__(self, table: str, *, dynamodb: Any) -> None:
        self.table = table
        self.dynamodb = dynamodb

    def record(self, kind: str, nonce: str, *, expires_at: int) -> None:
        """Remember a freshly issued nonce until ``expires_at`` (epoch seconds; also the TTL)."""
        self.dynamodb.put_item(
            TableName=self.table,
            Item={"pk": {"S": f"{kind}#{nonce}"}, "expires_at": {"N": str(expires_at)}},
            ConditionExpression="attribute_not_exists(pk)",
        )

    def consume(self, kind: str, nonce: str, *, now: float) -> bool:
        """Delete the nonce if it exists and has not expired; False when it was used or unknown."""
        try:
            self.dynamodb.delete_item(
                TableName=self.table,
                Key={"pk": {"S": f"{kind}#{nonce}"}},
                # DynamoDB's TTL sweeper is lazy: an expired item may still be there.
                ConditionExpression="attribute_exists(pk) AND expires_at > :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
        except ClientError as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True


@dataclass(frozen=True)
class Authorization:
    """One OAuth authorization as stored in its secret. ``repr`` never shows the token."""

    authorization_id: str
    access_token: str = field(repr=False)
    advertiser_ids: list[str]
    scope: list[int]
    label: str
    connected_at: str
    advertiser_names: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Authorization:
        raw = json.loads(text)
        return cls(
            authorization_id=str(raw["authorization_id"]),
            access_token=str(raw["access_token"]),
            advertiser_ids=[str(a) for a in raw.get("advertiser_ids") or []],
            scope=[int(s) for s in raw.get("scope") or []],
            label=str(raw.get("label") or ""),
            connected_at=str(raw.get("connected_at") or ""),
            advertiser_names={
                str(k): str(v) for k, v in (raw.get("advertiser_names") or {}).items()
            },
        )


class AuthorizationStore:
    """Authorization secrets plus the advertiser → secret index (the only writer of both)."""

    def __init__(
        self,
        *,
        table: str,
        secret_prefix: str,
        secretsmanager: Any,
        dynamodb: Any,
        recovery_window_days: int = 7,
        kms_key_id: str = "",
    ) -> None:
        self.table = table
        self.secret_prefix = secret_prefix
        self.secretsmanager = secretsmanager
        self.dynamodb = dynamodb
        self.recovery_window_days = recovery_window_days
        # The stack's customer-managed key (template parameter KmsKeyArn); "" = aws/secretsmanager.
        self.kms_key_id = kms_key_id

    def secret_name(self, authorization_id: str) -> str:
        return f"{self.secret_prefix}{authorization_id}"

    def load(self, authorization_id: str) -> Authorization | None:
        """The stored authorization, or None (never stored, or deleted / pending deletion)."""
        try:
            value = self.secretsmanager.get_secret_value(
                SecretId=self.secret_name(authorization_id)
            )
        except ClientError as exc:
            if _error_code(exc) in ("ResourceNotFoundException", "InvalidRequestException"):
                return None
            raise
        return Authorization.from_json(value["SecretString"])

    def authorization_for(self, advertiser_id: str) -> str | None:
        """The authorization id whose secret the index names for ``advertiser_id``."""
        item = self.dynamodb.get_item(
            TableName=self.table,
            Key={"pk": {"S": INDEX_PREFIX + advertiser_id}},
            ConsistentRead=True,
        ).get("Item")
        if not item or "secret_name" not in item:
            return None
        name = item["secret_name"]["S"]
        if not name.startswith(self.secret_prefix):
            return None
        return str(name[len(self.secret_prefix) :])

    def save(self, authorization: Authorization) -> str:
        """Create or update the secret (a new version), then index every advertiser; returns the name.

        Advertisers the previous version reached but this one does not lose their index items
        (only if they still point at this secret).
        """
        name = self.secret_name(authorization.authorization_id)
        previous = self.load(authorization.authorization_id)
        self._write_secret(name, authorization.to_json())
        for advertiser_id in authorization.advertiser_ids:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": INDEX_PREFIX + advertiser_id},
                    "secret_name": {"S": name},
                    "authorization_id": {"S": authorization.authorization_id},
                    "updated_at": {"S": authorization.connected_at},
                },
            )
        if previous is not None:
            gone = set(previous.advertiser_ids) - set(authorization.advertiser_ids)
            self._unindex(sorted(gone), name)
        return name

    def delete(self, authorization: Authorization) -> None:
        """Remove the index items, then the secret (recovery window from settings; 0 = now)."""
        name = self.secret_name(authorization.authorization_id)
        self._unindex(authorization.advertiser_ids, name)
        kwargs: dict[str, Any] = (
            {"RecoveryWindowInDays": self.recovery_window_days}
            if self.recovery_window_days
            else {"ForceDeleteWithoutRecovery": True}
        )
        try:
            self.secretsmanager.delete_secret(SecretId=name, **kwargs)
        except ClientError as exc:
            if _error_code(exc) != "ResourceNotFoundException":
                raise

    def _write_secret(self, name: str, value: str) -> None:
        # Only a new secret takes the key: an existing one keeps the key it was created with.
        key: dict[str, str] = {"KmsKeyId": self.kms_key_id} if self.kms_key_id else {}
        try:
            self.secretsmanager.create_secret(
                Name=name,
                SecretString=value,
                Description="TikTok advertiser authorization (written by the OAuth function)",
                **key,
            )
            return
        except ClientError as exc:
            if _error_code(exc) not in ("ResourceExistsException", "InvalidRequestException"):
                raise
        if "DeletedDate" in self.secretsmanager.describe_secret(SecretId=name):
            # Scheduled for deletion by an earlier disconnect: bring it back, then update it.
            self.secretsmanager.restore_secret(SecretId=name)
        self.secretsmanager.put_secret_value(SecretId=name, SecretString=value)

    def _unindex(self, advertiser_ids: list[str], name: str) -> None:
        for advertiser_id in advertiser_ids:
            try:
                self.dynamodb.delete_item(
                    TableName=self.table,
                    Key={"pk": {"S": INDEX_PREFIX + advertiser_id}},
                    # Another authorization may have taken this advertiser over since.
                    ConditionExpression="secret_name = :name",
                    ExpressionAttributeValues={":name": {"S": name}},
                )
            except ClientError as exc:
                if _error_code(exc) != "ConditionalCheckFailedException":
                    raise
