"""Demo step: conversion events on the events queue reach the TikTok emulator, mapped as specified.

Sends four kinds of message and checks what arrives:

* a web purchase with custom flags (``TikTok.URL``, ``TikTok.Referrer``, ``TikTok.Callback``) on
  the seeded ``default`` connection → ``PlaceAnOrder`` with ``page`` and ``user.ttclid``;
* an app add-to-cart with an IDFA on a ``demo-app`` connection → ``AddToCart`` with a hashed
  ``user.idfa`` and ``app``;
* an unsupported event (a custom event nobody mapped) → dropped with a reason, never sent;
* a purchase on a ``demo-vbo`` connection whose custom mapping sends purchases as
  ``CompletePayment`` (value-based optimization) → ``CompletePayment`` with ``value``.

Each expected event must arrive exactly once; the demo fails otherwise.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from tiktok_local.resources import seed_connection

Say = Callable[[str], None]

APP_CONNECTION = "demo-app"
VBO_CONNECTION = "demo-vbo"
WAIT_S = 40.0
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class EventsDemoFailure(RuntimeError):
    """The events did not reach the emulator as expected."""


def _source_id(emulator: Any, kind: str, default: str) -> str:
    return next((sid for sid, k in emulator.config.event_sources.items() if k == kind), default)


def _batch(event: dict[str, Any], **batch: Any) -> str:
    body = {
        "schema_version": 2,
        "environment": "production",
        "mpid": 4242,
        "ip": "203.0.113.42",
        "user_identities": {"email": "demo.shopper@example.com", "customer_id": "demo-cust-1"},
        "device_info": {"http_header_user_agent": "Mozilla/5.0 (demo)"},
        "events": [event],
        **batch,
    }
    return json.dumps(body)


def _commerce(action: str, event_id: str, *, url: bool = True, **data: Any) -> dict[str, Any]:
    flags = {}
    if url:
        flags = {
            "TikTok.URL": "https://shop.example.com/checkout/complete",
            "TikTok.Referrer": "https://shop.example.com/cart",
            "TikTok.Callback": "E.C.P.demo-click-id",
        }
    return {
        "event_type": "commerce_event",
        "data": {
            "source_message_id": event_id,
            "timestamp_unixtime_ms": int(time.time() * 1000),
            "currency_code": "USD",
            "custom_flags": flags,
            "product_action": {
                "action": action,
                "total_amount": 59.0,
                "products": [{"id": 1077218, "name": "Linen Shirt", "price": 29.5, "quantity": 2}],
            },
            **data,
        },
    }


def send_sample_events(stack: Any, say: Say) -> None:
    """Send the sample events and check each reached the emulator once, mapped as expected."""
    emulator = stack.emulator
    if emulator is None:
        say("events: emulator not running, skipped")
        return
    prefix = stack.names["connections_secret_prefix"]
    pixel = _source_id(emulator, "web", "CDEMOPIXEL000000000A")
    app_id = _source_id(emulator, "app", "7200000000000000001")
    seed_connection(
        stack.client,
        prefix=prefix,
        name=APP_CONNECTION,
        value={
            "event_source_type": "app",
            "event_source_id": app_id,
            "access_token": emulator.state.issue_token(),
        },
    )
    seed_connection(
        stack.client,
        prefix=prefix,
        name=VBO_CONNECTION,
        value={
            "event_source_type": "web",
            "event_source_id": pixel,
            "access_token": emulator.state.issue_token(),
            "custom_mappings": [
                {
                    "event_type": "commerce_event",
                    "event_name": "purchase",
                    "tiktok_event": "CompletePayment",
                }
            ],
        },
    )
    run = uuid.uuid4().hex[:8]
    ids = {name: f"demo-{name}-{run}" for name in ("web", "app", "unsupported", "vbo")}
    messages = [
        ("default", _batch(_commerce("purchase", ids["web"]))),
        (
            APP_CONNECTION,
            _batch(
                _commerce("add_to_cart", ids["app"], url=False),
                device_info={"ios_advertising_id": "6D92078A-8246-4BA4-AE5B-76104861E7DC"},
                application_info={
                    "package": "com.example.store",
                    "application_name": "Example Store",
                },
            ),
        ),
        (
            "default",
            _batch(
                {
                    "event_type": "custom_event",
                    "data": {
                        "event_name": "newsletter_open",
                        "custom_event_type": "other",
                        "source_message_id": ids["unsupported"],
                        "timestamp_unixtime_ms": int(time.time() * 1000),
                    },
                }
            ),
        ),
        (VBO_CONNECTION, _batch(_commerce("purchase", ids["vbo"]))),
    ]
    sqs = stack.client("sqs")
    for connection, body in messages:
        sqs.send_message(
            QueueUrl=stack.names["events_queue_url"],
            MessageBody=body,
            MessageAttributes={"connection": {"DataType": "String", "StringValue": connection}},
        )
    say(
        f"sent {len(messages)} mParticle batches to the events queue (connections: default, {APP_CONNECTION}, {VBO_CONNECTION})"
    )

    wanted = {ids["web"], ids["app"], ids["vbo"]}
    deadline = time.monotonic() + WAIT_S
    received: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        received = [
            r
            for r in emulator.state.events
            if (r.get("event") or {}).get("event_id") in set(ids.values())
        ]
        if {r["event"]["event_id"] for r in received} >= wanted:
            break
        time.sleep(0.1)
    stack.wait_idle(WAIT_S)
    received = [
        r
        for r in emulator.state.events
        if (r.get("event") or {}).get("event_id") in set(ids.values())
    ]
    by_id: dict[str, list[dict[str, Any]]] = {}
    for record in received:
        by_id.setdefault(record["event"]["event_id"], []).append(record)

    def one(key: str) -> dict[str, Any]:
        got = by_id.get(ids[key], [])
        if len(got) != 1:
            raise EventsDemoFailure(f"{key} event arrived {len(got)} times (expected once)")
        return got[0]

    web = one("web")
    event = web["event"]
    if (web["event_source_id"], event["event"]) != (pixel, "PlaceAnOrder"):
        raise EventsDemoFailure(
            f"web purchase arrived as {event['event']} on {web['event_source_id']}"
        )
    if event.get("page", {}).get("url") != "https://shop.example.com/checkout/complete":
        raise EventsDemoFailure("web purchase lost its TikTok.URL")
    if event["user"].get("ttclid") != "E.C.P.demo-click-id" or not _SHA256.match(
        event["user"].get("email", "")
    ):
        raise EventsDemoFailure("web purchase lost its click id or hashed email")
    say(
        f"  web purchase   -> {pixel} PlaceAnOrder, value {event['properties'].get('value')} USD, page.url and ttclid set"
    )

    app = one("app")
    event = app["event"]
    if (app["event_source_id"], event["event"]) != (app_id, "AddToCart"):
        raise EventsDemoFailure(
            f"app add-to-cart arrived as {event['event']} on {app['event_source_id']}"
        )
    if (
        not _SHA256.match(event["user"].get("idfa", ""))
        or event.get("app", {}).get("app_id") != "com.example.store"
    ):
        raise EventsDemoFailure("app add-to-cart lost its hashed IDFA or app info")
    say(f"  app add-to-cart -> {app_id} AddToCart, hashed IDFA, app {event['app']['app_id']}")

    if ids["unsupported"] in by_id:
        raise EventsDemoFailure("the unsupported event was sent to TikTok")
    say("  unsupported custom event 'newsletter_open' -> dropped (unsupported_event), not sent")

    vbo = one("vbo")
    event = vbo["event"]
    if event["event"] != "CompletePayment" or event["properties"].get("value") != 59:
        raise EventsDemoFailure(f"custom-mapped purchase arrived as {event['event']}")
    say(
        f"  custom mapping purchase -> CompletePayment, value {event['properties']['value']} (value-based optimization)"
    )
