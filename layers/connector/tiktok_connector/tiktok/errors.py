"""Typed TikTok errors: callers decide retry-or-report on the type, never on message text.

* :class:`RetryableTikTokError` — throttling (EN-04), TikTok-side faults (EN-06), HTTP 5xx,
  timeouts and dropped connections.
* :class:`TokenRejectedError` — the access token is missing, expired, revoked or wrong (EN-05):
  refetch it once (:func:`~tiktok_connector.tiktok.retry.with_token_refetch`), then give up.
* :class:`PermanentTikTokError` — everything else (parameters, permissions, files, hashes).

Errors carry TikTok's ``code``, ``message``, ``request_id`` and the API path — never the token.
"""

from __future__ import annotations

from typing import Any

from tiktok_connector.tiktok.codes import (
    HTTP_ERROR_CODE,
    NETWORK_ERROR_CODE,
    THROTTLE_CODES,
    TOKEN_CODES,
    is_retryable_code,
)


class TikTokError(Exception):
    """A TikTok call failed. ``str()`` is safe to log: it never contains the access token."""

    def __init__(
        self, code: int, message: str, *, request_id: str = "", path: str = "", http_status: int = 0
    ) -> None:
        self.code = code
        self.message = message
        self.request_id = request_id
        self.path = path
        self.http_status = http_status
        super().__init__(
            f"TikTok {path} failed: code {code}: {message} (request_id {request_id or '-'})"
        )

    def as_report(self) -> dict[str, Any]:
        """The ``error`` object reports use: ``{code, message, request_id}``."""
        return {"code": self.code, "message": self.message, "request_id": self.request_id}


class RetryableTikTokError(TikTokError):
    """Worth trying again later (throttling, TikTok or network fault)."""

    @property
    def throttled(self) -> bool:
        """TikTok refused the call for its rate (contract EN-04)."""
        return self.code in THROTTLE_CODES

    @property
    def answer_lost(self) -> bool:
        """No TikTok answer arrived (dropped connection, timeout, HTTP 5xx): the call may have
        taken effect at TikTok all the same."""
        return self.code in (NETWORK_ERROR_CODE, HTTP_ERROR_CODE)


class TokenRejectedError(TikTokError):
    """The access token was refused; refetch it once, then report the connection as broken."""


class PermanentTikTokError(TikTokError):
    """Retrying the same request cannot succeed."""


def error_for(
    code: int, message: str, *, request_id: str = "", path: str = "", http_status: int = 0
) -> TikTokError:
    """Build the typed error for a TikTok body ``code``."""
    kind: type[TikTokError]
    if code in TOKEN_CODES:
        kind = TokenRejectedError
    elif is_retryable_code(code):
        kind = RetryableTikTokError
    else:
        kind = PermanentTikTokError
    return kind(code, message, request_id=request_id, path=path, http_status=http_status)
