"""Signed, expiring values: the OAuth ``state`` and the connect ticket share one format.

``v1.<payload>.<signature>``: ``payload`` is base64url (no padding) of compact JSON
``{"p": purpose, "n": nonce, "l": label, "e": expires_at}``; ``signature`` is base64url of
HMAC-SHA256 over ``v1.<payload>`` with the stack's state key. The purpose is inside the signed
bytes, so a connect ticket can never be replayed as a state (or the reverse). Signatures are
compared in constant time. Single use is not decided here: the nonce is recorded in the OAuth table
when the value is issued and consumed with a conditional delete (see :mod:`.store`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from typing import NamedTuple

VERSION = "v1"
PURPOSE_STATE = "state"
PURPOSE_TICKET = "ticket"
# Labels become part of a Secrets Manager name: keep them to a safe, short alphabet.
LABEL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_SIGNED_LENGTH = 1024


class SignatureError(ValueError):
    """The value is malformed or its signature does not match (``reason``: missing/forged)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignedClaims(NamedTuple):
    """What a state or ticket carries."""

    purpose: str
    nonce: str
    label: str
    expires_at: int

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


def valid_label(label: str) -> bool:
    """True when ``label`` may name an authorization (letters, digits, ``_.-``; ≤ 64)."""
    return LABEL_PATTERN.fullmatch(label) is not None


def new_nonce() -> str:
    """A fresh random nonce (128 bits, URL-safe)."""
    return secrets.token_urlsafe(16)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, signed_part: str) -> bytes:
    return hmac.new(key, signed_part.encode("ascii"), hashlib.sha256).digest()


def sign(claims: SignedClaims, key: bytes) -> str:
    """The signed text form of ``claims``."""
    payload = json.dumps(
        {"p": claims.purpose, "n": claims.nonce, "l": claims.label, "e": claims.expires_at},
        separators=(",", ":"),
        sort_keys=True,
    )
    signed_part = f"{VERSION}.{_b64(payload.encode('utf-8'))}"
    return f"{signed_part}.{_b64(_mac(key, signed_part))}"


def verify(value: str | None, key: bytes, *, purpose: str) -> SignedClaims:
    """Check the signature and purpose of ``value`` and return its claims (expiry not checked).

    Raises :class:`SignatureError` with reason ``missing`` (absent or empty) or ``forged``
    (malformed, bad signature, other purpose).
    """
    if not value:
        raise SignatureError("missing")
    if len(value) > MAX_SIGNED_LENGTH or value.count(".") != 2:
        raise SignatureError("forged")
    version, payload_part, signature_part = value.split(".")
    if version != VERSION:
        raise SignatureError("forged")
    try:
        signature = _unb64(signature_part)
    except (binascii.Error, ValueError):
        raise SignatureError("forged") from None
    expected = _mac(key, f"{version}.{payload_part}")
    # Canonical encoding only: unused trailing base64 bits would let one signature have many texts.
    if _b64(signature) != signature_part or not hmac.compare_digest(signature, expected):
        raise SignatureError("forged")
    try:
        fields = json.loads(_unb64(payload_part))
    except (binascii.Error, ValueError):
        raise SignatureError("forged") from None
    claims = _claims(fields)
    if claims is None or claims.purpose != purpose:
        raise SignatureError("forged")
    return claims


def _claims(fields: object) -> SignedClaims | None:
    if not isinstance(fields, dict):
        return None
    purpose, nonce, label, expires_at = (fields.get(k) for k in ("p", "n", "l", "e"))
    if not (
        isinstance(purpose, str)
        and isinstance(nonce, str)
        and nonce
        and isinstance(label, str)
        and isinstance(expires_at, int)
        and not isinstance(expires_at, bool)
    ):
        return None
    return SignedClaims(purpose, nonce, label, expires_at)
