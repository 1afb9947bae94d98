"""Connect tickets: who may open ``/connect``.

The ``/connect`` route is public (an advertiser admin opens it in a browser), so it only proceeds
with a ticket made by someone holding AWS credentials for the stack (``make connect-link``): a
signed value (purpose ``ticket``, see :mod:`.state`) whose nonce is recorded in the OAuth table
(``ticket#<nonce>``, TTL). ``/connect`` consumes the nonce, so a link works once and until it
expires. The optional label in the ticket names the authorization it will create.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from tiktok_connector.oauth.errors import TicketRejectedError
from tiktok_connector.oauth.state import (
    PURPOSE_TICKET,
    SignatureError,
    SignedClaims,
    new_nonce,
    sign,
    valid_label,
    verify,
)
from tiktok_connector.oauth.store import TICKET_KIND, NonceStore

DEFAULT_TICKET_TTL_SECONDS = 24 * 3600
_START_AGAIN = "Ask the connector's operator for a new connect link (make connect-link)."


def issue_ticket(
    *,
    key: bytes,
    nonces: NonceStore,
    label: str = "",
    ttl_seconds: int = DEFAULT_TICKET_TTL_SECONDS,
    now: float | None = None,
) -> str:
    """Record a fresh ticket nonce and return the signed ticket."""
    if label and not valid_label(label):
        raise ValueError(
            "label: letters, digits, '_', '.', '-' only, at most 64, no leading symbol"
        )
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    expires_at = int(time.time() if now is None else now) + ttl_seconds
    claims = SignedClaims(PURPOSE_TICKET, new_nonce(), label, expires_at)
    nonces.record(TICKET_KIND, claims.nonce, expires_at=expires_at)
    return sign(claims, key)


def redeem_ticket(
    ticket: str | None, *, key: bytes, nonces: NonceStore, now: float
) -> SignedClaims:
    """Verify and consume a ticket; raises :class:`TicketRejectedError` (HTTP 403) otherwise."""
    try:
        claims = verify(ticket, key, purpose=PURPOSE_TICKET)
    except SignatureError as exc:
        message = (
            "This page needs a connect link."
            if exc.reason == "missing"
            else "This connect link is not valid."
        )
        raise TicketRejectedError(
            message, reason=f"ticket_{exc.reason}", hint=_START_AGAIN
        ) from None
    if claims.expired(now):
        raise TicketRejectedError(
            "This connect link has expired.", reason="ticket_expired", hint=_START_AGAIN
        )
    if not nonces.consume(TICKET_KIND, claims.nonce, now=now):
        raise TicketRejectedError(
            "This connect link was already used.", reason="ticket_replayed", hint=_START_AGAIN
        )
    return claims


def connect_url(api_url: str, ticket: str) -> str:
    """The link to hand out: ``<api_url>/connect?ticket=...``."""
    return f"{api_url.rstrip('/')}/connect?{urlencode({'ticket': ticket})}"
