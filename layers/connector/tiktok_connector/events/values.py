"""Loosely typed input values read the way TikTok wants them — numbers, flags, URLs, currencies,
regions — and :class:`MappingNotes`, the count of what could not be used (never a value)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers

from tiktok_connector.events.catalog import HTTP_URL, REGION_ALIASES, SUPPORTED_CURRENCIES


@dataclass
class MappingNotes:
    """What mapping could not use in one message, counted by ``field:reason`` (never a value).

    ``phone:invalid_phone`` a phone number that cannot be read (``phone_region`` says which region
    it was read with), ``email:invalid_email``, ``currency:unsupported_currency`` (the event went
    without ``currency`` and ``value``), …
    """

    counts: Counter[str] = field(default_factory=Counter)
    phone_region: str | None = None

    def add(self, field_name: str, reason: str) -> None:
        self.counts[f"{field_name}:{reason}"] += 1


def supported_currency(props: dict[str, Any], notes: MappingNotes | None) -> None:
    """Upper-case ``props["currency"]``; drop it and ``value`` when TikTok does not list it."""
    currency = props.get("currency")
    if currency is None:
        return
    code = str(currency).strip().upper()
    if code in SUPPORTED_CURRENCIES:
        props["currency"] = code
        return
    # contract: EV-13 — the event goes without the money fields rather than sink its request.
    props.pop("currency", None)
    props.pop("value", None)
    if notes is not None:
        notes.add("currency", "unsupported_currency")


def region_of_country(value: Any) -> str | None:
    """The phone region a ``$Country`` attribute names (``DE``, ``gb``, ``UK``), else None."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    code = REGION_ALIASES.get(code, code)
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


def is_http_url(value: object) -> bool:
    """True for an absolute ``http://`` or ``https://`` URL with a host."""
    if not isinstance(value, str):
        return False
    return HTTP_URL(value) is not None


def event_label(event_type: str, name: str | None) -> str:
    """A short, log-safe label for an input event (its type and name, truncated)."""
    return f"{event_type}:{(name or '')[:64]}"


def as_number(value: Any) -> float | int | None:
    """A JSON number from a number or numeric string; ``None`` when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number: float | int = value
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    if isinstance(number, float):
        if number != number or number in (float("inf"), float("-inf")):
            return None
        if number.is_integer() and abs(number) < 2**53:
            return int(number)
    return number


def as_text(value: Any) -> str | None:
    """A non-empty string, or ``None`` (flags and identities of other types are ignored)."""
    return value if isinstance(value, str) and value else None


def as_bool(value: Any) -> bool | None:
    """A flag from a bool or ``"true"`` / ``"false"`` (any case); ``None`` otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _decimal(value: float) -> Decimal:
    # str() gives the shortest repr, so 19.99 stays 19.99 (not its binary expansion).
    return Decimal(str(value))


def order_value(total_amount: float | None, products: Iterable[Any]) -> float | int | None:
    """``total_amount``, or the sum of price × quantity when every product has both (DESIGN §3.7)."""
    if total_amount is not None:
        return as_number(total_amount)
    items = list(products)
    if not items or any(p.price is None or p.quantity is None for p in items):
        return None
    try:
        total = sum((_decimal(p.price) * _decimal(p.quantity) for p in items), Decimal(0))
    except InvalidOperation:
        return None
    return as_number(float(total))
