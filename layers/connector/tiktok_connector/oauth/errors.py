"""Typed outcomes of the OAuth routes; the handler maps each to an HTML page or a JSON answer.

Messages are written for the person in front of the browser and never contain a token, an app
secret or an authorization code.
"""

from __future__ import annotations


class OAuthError(Exception):
    """A request the OAuth function refuses; ``status`` is the HTTP status to answer with."""

    status = 400
    title = "Connection failed"

    def __init__(self, message: str, *, reason: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.hint = hint


class TicketRejectedError(OAuthError):
    """``/connect`` without a valid, unexpired, unused connect ticket."""

    status = 403
    title = "Connect link not valid"


class StateRejectedError(OAuthError):
    """The callback's ``state`` is missing, forged, expired or already used."""

    status = 400
    title = "Authorization not accepted"


class AuthorizationDeniedError(OAuthError):
    """TikTok came back without an authorization code (the advertiser cancelled)."""

    status = 400
    title = "Authorization cancelled"


class TikTokRefusedError(OAuthError):
    """TikTok refused the token exchange (expired code, wrong app credentials, ...)."""

    status = 502
    title = "TikTok refused the connection"

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        hint: str = "",
        status: int = 502,
        code: int = 0,
        request_id: str = "",
    ) -> None:
        super().__init__(message, reason=reason, hint=hint)
        self.status = status
        self.code = code
        self.request_id = request_id


class TikTokUnavailableError(OAuthError):
    """TikTok could not be reached or answered with a server error."""

    status = 503
    title = "TikTok is not reachable"


class ConfigurationError(OAuthError):
    """The stack's secrets are missing or malformed (an operator must fix them)."""

    status = 500
    title = "Connector not configured"


class DisconnectError(OAuthError):
    """A disconnect request that cannot be carried out."""

    title = "Disconnect failed"

    def __init__(self, message: str, *, reason: str, status: int = 400) -> None:
        super().__init__(message, reason=reason)
        self.status = status
