"""In-memory collaborators for OAuthFlow (no sockets, no AWS)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tiktok_connector.oauth.settings import OAuthSettings
from tiktok_connector.oauth.store import Authorization
from tiktok_connector.tiktok import TikTokError, TikTokResponse

APP_ID = "7000000000000000001"
APP_SECRET = "unit-app-secret-value"
STATE_KEY = b"unit-state-key-" + b"x" * 40
TOKEN = "unit-access-token-0123456789"
ADVERTISERS = ["7100000000000000001", "7100000000000000002"]


def settings(**overrides: Any) -> OAuthSettings:
    values: dict[str, Any] = {
        "oauth_table": "t-oauth",
        "app_secret_name": "t/app",
        "state_key_secret_name": "t/oauth-state-key",
        "authorizations_secret_prefix": "t/authorizations/",
        "tiktok_auth_url": "https://tiktok.example/portal/auth",
        **overrides,
    }
    return OAuthSettings(**values)


class FakeSecrets:
    def __init__(self) -> None:
        self.refreshed = 0

    def state_key(self) -> bytes:
        return STATE_KEY

    def app_credentials(self) -> tuple[str, str]:
        return APP_ID, APP_SECRET

    def refresh(self) -> None:
        self.refreshed += 1


class FakeNonces:
    def __init__(self) -> None:
        self.items: dict[str, int] = {}

    def record(self, kind: str, nonce: str, *, expires_at: int) -> None:
        key = f"{kind}#{nonce}"
        assert key not in self.items
        self.items[key] = expires_at

    def consume(self, kind: str, nonce: str, *, now: float) -> bool:
        expires_at = self.items.get(f"{kind}#{nonce}")
        if expires_at is None or expires_at <= now:
            return False
        del self.items[f"{kind}#{nonce}"]
        return True


@dataclass
class FakeClient:
    """Answers per path: a data dict, or a TikTokError to raise."""

    answers: dict[str, dict[str, Any] | TikTokError] = field(default_factory=dict)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    clock: Callable[[], float] = lambda: 0.0

    def call(self, method: str, path: str, **kwargs: Any) -> TikTokResponse:
        self.calls.append((method, path, kwargs))
        answer = self.answers.get(path, {})
        if isinstance(answer, TikTokError):
            raise answer
        return TikTokResponse(0, "OK", "req-1", answer)

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.calls]


class FakeAuthorizations:
    def __init__(self) -> None:
        self.saved: dict[str, Authorization] = {}
        self.deleted: list[str] = []

    def save(self, authorization: Authorization) -> str:
        self.saved[authorization.authorization_id] = authorization
        return f"t/authorizations/{authorization.authorization_id}"

    def load(self, authorization_id: str) -> Authorization | None:
        return self.saved.get(authorization_id)

    def authorization_for(self, advertiser_id: str) -> str | None:
        for auth in self.saved.values():
            if advertiser_id in auth.advertiser_ids:
                return auth.authorization_id
        return None

    def delete(self, authorization: Authorization) -> None:
        self.deleted.append(authorization.authorization_id)
        self.saved.pop(authorization.authorization_id, None)
