"""mParticle batches built with mParticle's own Python SDK (PyPI ``mparticle``), serialized to the
JSON the SDK sends (``ApiClient.sanitize_for_serialization``): ``user_identities.customerid``
without an underscore, integer ``event_id`` and ``mpid``, float quantities, consent objects,
session and screen events — what a real mParticle client puts on the events queue."""

from __future__ import annotations

import json
from typing import Any

import mparticle
from mparticle import ApiClient

T_MS = 1_700_000_000_000
URL = "https://shop.example/checkout"


def to_json(batch: mparticle.Batch) -> str:
    """The batch as the SDK serializes it."""
    return json.dumps(ApiClient.sanitize_for_serialization(batch))


def identities(**values: str) -> mparticle.UserIdentities:
    """``UserIdentities`` with the SDK's own attribute names (``customerid``, ``other_id_2``…)."""
    ui = mparticle.UserIdentities()
    for name, value in values.items():
        setattr(ui, name, value)
    return ui


def purchase(
    i: int = 1,
    *,
    action: str = "purchase",
    url: str | None = URL,
    currency: str | None = None,
    quantity: float = 2.0,
    price: float = 19.99,
) -> mparticle.CommerceEvent:
    """A commerce event: integer ``event_id``, float ``quantity``, ``TikTok.URL`` flag."""
    product = mparticle.Product(id=f"sku-{i}", name="Shoe", price=price, quantity=quantity)
    event = mparticle.CommerceEvent(
        mparticle.ProductAction(action, total_amount=price * quantity, products=[product])
    )
    event.timestamp_unixtime_ms = T_MS + i
    event.event_id = 6004677780660780000 + i
    if currency is not None:
        event.currency_code = currency
    if url is not None:
        event.custom_flags = {"TikTok.URL": url}
    return event


def custom(name: str, i: int = 0) -> mparticle.AppEvent:
    event = mparticle.AppEvent(name, "other")
    event.timestamp_unixtime_ms = T_MS + i
    event.custom_flags = {"TikTok.URL": URL}
    return event


def screen(name: str, i: int = 0) -> mparticle.ScreenViewEvent:
    event = mparticle.ScreenViewEvent(screen_name=name)
    event.timestamp_unixtime_ms = T_MS + i
    return event


def session_start(i: int = 0) -> mparticle.SessionStartEvent:
    event = mparticle.SessionStartEvent()
    event.timestamp_unixtime_ms = T_MS + i
    return event


def ccpa(opted_out: bool) -> mparticle.ConsentState:
    state = mparticle.ConsentState()
    state.ccpa = {
        "data_sale_opt_out": mparticle.CCPAConsentState(
            "ccpa-doc", opted_out, T_MS, "checkout", "hw-1"
        )
    }
    state.gdpr = {
        "marketing": mparticle.GDPRConsentState("gdpr-doc", True, T_MS, "checkout", "hw-1")
    }
    return state


def batch(
    events: list[Any],
    *,
    user_identities: mparticle.UserIdentities | None = None,
    user_attributes: dict[str, Any] | None = None,
    consent: mparticle.ConsentState | None = None,
    ip: str | None = "203.0.113.9",
    application_info: mparticle.ApplicationInformation | None = None,
    device_info: mparticle.DeviceInformation | None = None,
    mpid: int = 8675309123456789,
) -> str:
    """A serialized SDK batch of ``events`` (identities default to an e-mail and a customer id)."""
    b = mparticle.Batch()
    b.environment = "production"
    b.events = events
    b.user_identities = user_identities or identities(
        email="Jane.Doe@Example.com", customerid="cust-42"
    )
    if user_attributes is not None:
        b.user_attributes = user_attributes
    if consent is not None:
        b.consent_state = consent
    if ip is not None:
        b.ip = ip
    if application_info is not None:
        b.application_info = application_info
    if device_info is not None:
        b.device_info = device_info
    b.mpid = mpid
    return to_json(b)
