"""Connect, callback and disconnect: the OAuth function's logic (the handler only maps HTTP).

* :meth:`OAuthFlow.connect` — redeem the connect ticket, record a state nonce, and return TikTok's
  consent URL (``app_id``, ``state``, ``redirect_uri``).
* :meth:`OAuthFlow.callback` — validate ``state`` before anything else (missing, forged, expired,
  replayed → :class:`StateRejectedError`, the ``auth_code`` untouched), exchange the code, look up
  advertiser names, store the authorization and its advertiser index, and report scope gaps.
* :meth:`OAuthFlow.disconnect` — revoke the token at TikTok, then remove the index and the secret.

Tokens, the app secret and authorization codes never reach logs, exceptions or pages.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from tiktok_connector import aws
from tiktok_connector.oauth.errors import (
    AuthorizationDeniedError,
    DisconnectError,
    StateRejectedError,
    TicketRejectedError,
    TikTokRefusedError,
    TikTokUnavailableError,
)
from tiktok_connector.oauth.models import ConnectResult, DisconnectRequest, DisconnectResult
from tiktok_connector.oauth.scopes import scope_warnings
from tiktok_connector.oauth.secrets import StackSecrets
from tiktok_connector.oauth.settings import OAuthSettings, oauth_settings
from tiktok_connector.oauth.state import (
    PURPOSE_STATE,
    SignatureError,
    SignedClaims,
    new_nonce,
    sign,
    valid_label,
    verify,
)
from tiktok_connector.oauth.store import STATE_KIND, Authorization, AuthorizationStore, NonceStore
from tiktok_connector.oauth.tickets import redeem_ticket
from tiktok_connector.observability import logger
from tiktok_connector.tiktok import (
    Code,
    PermanentTikTokError,
    RetryableTikTokError,
    RetryPolicy,
    TikTokClient,
    TikTokError,
    TokenRejectedError,
)

__all__ = ["DisconnectRequest", "OAuthFlow", "default_flow"]

# One browser round trip must fit the Lambda timeout (15 s): few, short retries.
OAUTH_RETRY = RetryPolicy(max_attempts=3, base_delay=0.2, max_delay=1.0, deadline_margin=0.5)
CALL_BUDGET_SECONDS = 8.0

_NEW_LINK = "Start again from a new connect link (ask the connector's operator: make connect-link)."


def authorization_id_for(label: str, advertiser_ids: list[str]) -> str:
    """The label when given, else a stable digest of the sorted advertiser ids."""
    if label:
        return label
    digest = hashlib.sha256(",".join(sorted(advertiser_ids)).encode("utf-8")).hexdigest()
    return f"adv-{digest[:20]}"


class OAuthFlow:
    """The OAuth routes' logic, with every collaborator passed in."""

    def __init__(
        self,
        *,
        settings: OAuthSettings,
        secrets: StackSecrets,
        client: TikTokClient,
        nonces: NonceStore,
        authorizations: AuthorizationStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.secrets = secrets
        self.client = client
        self.nonces = nonces
        self.authorizations = authorizations
        self.clock = clock

    # ------------------------------------------------------------------ connect
    def redirect_uri(self, domain_name: str) -> str:
        """The callback URL: from settings, else ``https://<request domain>/oauth/callback``."""
        if self.settings.oauth_redirect_uri:
            return self.settings.oauth_redirect_uri
        return f"https://{domain_name}/oauth/callback"

    def connect(self, *, ticket: str | None, label: str | None, domain_name: str) -> str:
        """Redeem the ticket and return the URL of TikTok's consent page (with a fresh state)."""
        now = self.clock()
        key = self.secrets.state_key()
        # Configuration first: a stack without app credentials must not burn the ticket.
        app_id, _ = self.secrets.app_credentials()
        claims = redeem_ticket(ticket, key=key, nonces=self.nonces, now=now)
        chosen = claims.label
        if label and label != claims.label:
            # The ticket's label wins: the holder of a labelled link cannot pick another name.
            if claims.label or not valid_label(label):
                raise TicketRejectedError(
                    "The label in this link is not valid.", reason="label_invalid", hint=_NEW_LINK
                )
            chosen = label
        expires_at = int(now) + self.settings.state_ttl_seconds
        state_claims = SignedClaims(PURPOSE_STATE, new_nonce(), chosen, expires_at)
        self.nonces.record(STATE_KIND, state_claims.nonce, expires_at=expires_at)
        query = urlencode(
            {
                "app_id": app_id,
                "state": sign(state_claims, key),
                "redirect_uri": self.redirect_uri(domain_name),
            }
        )
        logger.info("consent started", extra={"label": chosen or None})
        return f"{self.settings.tiktok_auth_url}?{query}"

    # ------------------------------------------------------------------ callback
    def _redeem_state(self, state: str | None) -> SignedClaims:
        now = self.clock()
        try:
            claims = verify(state, self.secrets.state_key(), purpose=PURPOSE_STATE)
        except SignatureError as exc:
            message = {
                "missing": "The answer from TikTok carries no state, so it cannot be trusted.",
                "forged": "The state in this answer was not issued by this connector.",
            }[exc.reason]
            raise StateRejectedError(
                message, reason=f"state_{exc.reason}", hint=_NEW_LINK
            ) from None
        if claims.expired(now):
            raise StateRejectedError(
                "This authorization took too long and its state has expired.",
                reason="state_expired",
                hint=_NEW_LINK,
            )
        if not self.nonces.consume(STATE_KIND, claims.nonce, now=now):
            raise StateRejectedError(
                "This authorization answer was already used.",
                reason="state_replayed",
                hint=_NEW_LINK,
            )
        return claims

    def callback(self, params: Mapping[str, str]) -> ConnectResult:
        """Validate the state, exchange the code, store the authorization (see the module doc)."""
        claims = self._redeem_state(params.get("state"))
        auth_code = params.get("auth_code") or params.get("code")
        if not auth_code:
            raise AuthorizationDeniedError(
                "TikTok did not send an authorization code: the authorization was cancelled.",
                reason="no_auth_code",
                hint=_NEW_LINK,
            )
        app_id, app_secret = self.secrets.app_credentials()
        token_data = self._call(
            "POST",
            "oauth2/access_token",
            json={"app_id": app_id, "secret": app_secret, "auth_code": auth_code},
        )
        access_token = token_data.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise TikTokRefusedError(
                "TikTok's answer carried no access token.",
                reason="no_access_token",
                hint=_NEW_LINK,
            )
        scope = [
            int(s)
            for s in token_data.get("scope") or []
            if (isinstance(s, int) and not isinstance(s, bool))
            or (isinstance(s, str) and s.isdigit())
        ]
        advertiser_ids = [str(a) for a in token_data.get("advertiser_ids") or []]
        names = self._advertiser_names(app_id, app_secret, access_token)
        if not advertiser_ids:
            advertiser_ids = list(names)
        if not advertiser_ids:
            raise TikTokRefusedError(
                "The authorization reaches no advertiser account.",
                reason="no_advertisers",
                hint="Connect again and select at least one advertiser account.",
            )
        authorization = Authorization(
            authorization_id=authorization_id_for(claims.label, advertiser_ids),
            access_token=access_token,
            advertiser_ids=advertiser_ids,
            scope=scope,
            label=claims.label,
            connected_at=datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="seconds"),
            advertiser_names={a: names[a] for a in advertiser_ids if names.get(a)},
        )
        secret_name = self.authorizations.save(authorization)
        warnings = scope_warnings(scope)
        logger.info(
            "authorization stored",
            extra={
                "authorization_id": authorization.authorization_id,
                "advertiser_ids": advertiser_ids,
                "scope": scope,
                "scope_warnings": len(warnings),
            },
        )
        return ConnectResult(
            authorization_id=authorization.authorization_id,
            secret_name=secret_name,
            advertiser_ids=advertiser_ids,
            advertiser_names=dict(authorization.advertiser_names),
            scope=scope,
            warnings=warnings,
        )

    def _advertiser_names(self, app_id: str, app_secret: str, access_token: str) -> dict[str, str]:
        """advertiser id → name from ``/oauth2/advertiser/get/``; {} when TikTok cannot say."""
        try:
            response = self.client.call(
                "GET",
                "oauth2/advertiser/get",
                access_token=access_token,
                params={"app_id": app_id, "secret": app_secret},
                deadline=self.client.clock() + CALL_BUDGET_SECONDS / 2,
            )
        except TikTokError as exc:
            # Names are a courtesy; the ids from the token exchange are what matters.
            logger.warning(
                "advertiser names unavailable",
                extra={"tiktok_code": exc.code, "request_id": exc.request_id},
            )
            return {}
        names: dict[str, str] = {}
        for entry in response.data.get("list") or []:
            if isinstance(entry, dict) and entry.get("advertiser_id") is not None:
                names[str(entry["advertiser_id"])] = str(entry.get("advertiser_name") or "")
        return names

    def _call(self, method: str, path: str, *, json: dict[str, Any]) -> dict[str, Any]:
        """A call for the token exchange or revocation, with TikTok errors made actionable."""
        try:
            return self.client.call(
                method, path, json=json, deadline=self.client.clock() + CALL_BUDGET_SECONDS
            ).data
        except RetryableTikTokError as exc:
            logger.warning(
                "TikTok unavailable",
                extra={"path": path, "tiktok_code": exc.code, "request_id": exc.request_id},
            )
            raise TikTokUnavailableError(
                "TikTok could not be reached or answered with a server error.",
                reason="tiktok_unavailable",
                hint="Try again in a few minutes from a new connect link.",
            ) from None
        except (PermanentTikTokError, TokenRejectedError) as exc:
            logger.warning(
                "TikTok refused",
                extra={"path": path, "tiktok_code": exc.code, "request_id": exc.request_id},
            )
            raise self._refusal(exc) from None

    def _refusal(self, exc: TikTokError) -> TikTokRefusedError:
        if exc.code in (Code.AUTH_CODE_INVALID, Code.AUTH_TIMESTAMP_EXPIRED):  # contract: OA-03
            return TikTokRefusedError(
                "TikTok says this authorization code has expired or was already used.",
                reason="auth_code_invalid",
                hint=_NEW_LINK,
                status=400,
                code=exc.code,
                request_id=exc.request_id,
            )
        if exc.code == Code.BAD_APP_CREDENTIALS:  # contract: OA-05
            self.secrets.refresh()
            return TikTokRefusedError(
                "TikTok rejected the connector's app credentials (app id and secret do not match).",
                reason="app_credentials_rejected",
                hint=(
                    f"Check the app id and secret in the secret {self.settings.app_secret_name} "
                    "against the TikTok developer app, then start again from a new connect link."
                ),
                status=502,
                code=exc.code,
                request_id=exc.request_id,
            )
        return TikTokRefusedError(
            f"TikTok refused the request (code {exc.code}).",
            reason="tiktok_refused",
            hint="Start again from a new connect link; quote the request id if it happens again.",
            status=502,
            code=exc.code,
            request_id=exc.request_id,
        )

    # ------------------------------------------------------------------ disconnect
    def disconnect(
        self, *, authorization_id: str | None = None, advertiser_id: str | None = None
    ) -> DisconnectResult:
        """Revoke the authorization's token at TikTok, then delete its index items and secret."""
        if not authorization_id and advertiser_id:
            authorization_id = self.authorizations.authorization_for(advertiser_id)
            if authorization_id is None:
                raise DisconnectError(
                    "No authorization reaches this advertiser.", reason="not_found", status=404
                )
        if not authorization_id or not valid_label(authorization_id):
            raise DisconnectError(
                "Name an authorization_id or an advertiser_id.", reason="bad_request"
            )
        authorization = self.authorizations.load(authorization_id)
        if authorization is None:
            raise DisconnectError("No such authorization.", reason="not_found", status=404)
        app_id, app_secret = self.secrets.app_credentials()
        revoked = True
        try:
            self.client.call(
                "POST",
                "oauth2/revoke_token",
                json={
                    "app_id": app_id,
                    "secret": app_secret,
                    "access_token": authorization.access_token,
                },
                deadline=self.client.clock() + CALL_BUDGET_SECONDS,
            )
        except TokenRejectedError:
            # Already revoked or cancelled by the advertiser: nothing left to revoke.
            revoked = False
        except RetryableTikTokError as exc:
            logger.warning(
                "revoke failed", extra={"tiktok_code": exc.code, "request_id": exc.request_id}
            )
            # Keep the secret: forgetting a token TikTok still honours would leave it live.
            raise DisconnectError(
                "TikTok could not be reached; nothing was removed. Try again later.",
                reason="tiktok_unavailable",
                status=503,
            ) from None
        except PermanentTikTokError as exc:
            logger.warning(
                "revoke refused", extra={"tiktok_code": exc.code, "request_id": exc.request_id}
            )
            raise DisconnectError(
                f"TikTok refused the revocation (code {exc.code}); nothing was removed.",
                reason="tiktok_refused",
                status=502,
            ) from None
        self.authorizations.delete(authorization)
        logger.info(
            "authorization removed",
            extra={"authorization_id": authorization_id, "revoked_at_tiktok": revoked},
        )
        return DisconnectResult(authorization_id, list(authorization.advertiser_ids), revoked)


def oauth_client(base_url: str) -> TikTokClient:
    """The TikTok client the OAuth routes use (short retries: a person is waiting)."""
    return TikTokClient(base_url, retry=OAUTH_RETRY, timeout=(3.0, 6.0))


_BUILD_LOCK = threading.Lock()


def default_flow() -> OAuthFlow:
    """The process-wide flow for the current environment and the layer's cached AWS clients.

    Rebuilt whenever the settings or the clients change (``reset_settings``/``reset_clients``),
    so the secret cache survives warm invocations but never outlives its environment.
    """
    with _BUILD_LOCK:  # overlapping first invocations (local stack threads) build one
        return _build_flow(oauth_settings(), aws.dynamodb(), aws.secretsmanager())


@lru_cache(maxsize=1)
def _build_flow(settings: OAuthSettings, dynamodb: Any, secretsmanager: Any) -> OAuthFlow:
    # Imported here: the parameters package pulls in boto3, which the cold start can do without.
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return OAuthFlow(
        settings=settings,
        secrets=StackSecrets(settings, SecretsProvider(boto3_client=secretsmanager)),
        client=oauth_client(settings.tiktok_api_base_url),
        nonces=NonceStore(settings.oauth_table, dynamodb=dynamodb),
        authorizations=AuthorizationStore(
            table=settings.oauth_table,
            secret_prefix=settings.authorizations_secret_prefix,
            secretsmanager=secretsmanager,
            dynamodb=dynamodb,
            recovery_window_days=settings.authorization_recovery_window_days,
            kms_key_id=settings.authorizations_kms_key_arn,
        ),
    )
