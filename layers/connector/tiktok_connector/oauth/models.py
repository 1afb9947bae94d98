"""What the OAuth routes take and give back: the disconnect request, the connect and disconnect
results (never a token)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tiktok_connector.oauth.errors import DisconnectError


@dataclass(frozen=True)
class ConnectResult:
    """What the success page shows (no token)."""

    authorization_id: str
    secret_name: str
    advertiser_ids: list[str]
    advertiser_names: dict[str, str]
    scope: list[int]
    warnings: list[str] = field(default_factory=list)


class DisconnectRequest(BaseModel):
    """The body of ``POST /disconnect``: name the authorization, or an advertiser it reaches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    authorization_id: str | None = Field(default=None, min_length=1, max_length=64)
    advertiser_id: str | None = Field(default=None, min_length=1, max_length=32)

    @classmethod
    def parse(cls, body: str | None) -> DisconnectRequest:
        """Validate the raw body; :class:`DisconnectError` (400) when it is not acceptable."""
        try:
            return cls.model_validate_json(body or "{}")
        except ValidationError:
            raise DisconnectError(
                'The body must be {"authorization_id": "..."} or {"advertiser_id": "..."}.',
                reason="bad_request",
            ) from None


class DisconnectResult(NamedTuple):
    authorization_id: str
    advertiser_ids: list[str]
    revoked: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "authorization_id": self.authorization_id,
            "advertiser_ids": self.advertiser_ids,
            "revoked": self.revoked,
        }
