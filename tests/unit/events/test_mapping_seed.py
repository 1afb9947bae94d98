"""Every row of the seed's mapping tables (``seeds/mparticle-tiktok-events.txt``) as an input batch
and the exact TikTok request body it must produce (Events 2.0 landing per DESIGN §3.7).

Each case deep-merges a patch into a minimal web purchase batch and a patch into the expected event;
the whole request body is compared, so a stray or missing field fails the row.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.unit.events.support import APP_ID, TOKEN, FakeTikTok, connection, make_forwarder, message

T_MS = 1_700_000_000_123
T_S = 1_700_000_000
URL = "https://demo.mywebsite.com/purchase"
DELETE = object()


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is DELETE:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def web_batch(
    batch: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    event_type: str = "commerce_event",
) -> dict[str, Any]:
    event_data = merge(
        {
            "timestamp_unixtime_ms": T_MS,
            "custom_flags": {"TikTok.URL": URL},
            "product_action": {"action": "purchase"},
        },
        data or {},
    )
    return merge({"events": [{"event_type": event_type, "data": event_data}]}, batch or {})


BASE_WEB_EVENT: dict[str, Any] = {
    "event": "PlaceAnOrder",
    "event_time": T_S,
    "user": {},
    "properties": {},
    "page": {"url": URL},
    "limited_data_use": False,
}
BASE_APP_EVENT: dict[str, Any] = {
    "event": "PlaceAnOrder",
    "event_time": T_S,
    "user": {},
    "properties": {},
    "app": {"app_id": "com.demo.shop"},
    "limited_data_use": False,
}


@dataclass
class Case:
    row: str
    batch: dict[str, Any]
    expected: dict[str, Any]
    conn: dict[str, Any] = field(default_factory=dict)


def web(
    row: str,
    expected_patch: dict[str, Any],
    *,
    batch: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    event_type: str = "commerce_event",
    conn: dict[str, Any] | None = None,
) -> Case:
    return Case(
        row, web_batch(batch, data, event_type), merge(BASE_WEB_EVENT, expected_patch), conn or {}
    )


def app(row: str, expected_patch: dict[str, Any], *, batch: dict[str, Any] | None = None) -> Case:
    base = web_batch({"application_info": {"package": "com.demo.shop"}})
    return Case(
        row,
        merge(base, batch or {}),
        merge(BASE_APP_EVENT, expected_patch),
        {"event_source_type": "app", "event_source_id": APP_ID},
    )


PRODUCT = {"id": "sku-1", "name": "Shirt", "category": "apparel", "price": 25, "quantity": 2}
FULL_PRODUCT_PROPS = {
    "currency": "USD",
    "value": 50,
    "contents": [
        {
            "content_id": "sku-1",
            "content_name": "Shirt",
            "content_category": "apparel",
            "price": 25,
            "quantity": 2,
        }
    ],
    "content_type": "product",
    "description": "Summer sale",
}


def property_list_case(tiktok_event: str, properties: dict[str, Any]) -> Case:
    """Seed "additional properties supported for each respective event", via a custom mapping."""
    return web(
        f"properties of {tiktok_event}",
        {"event": tiktok_event, "properties": properties},
        data={
            "currency_code": "USD",
            "product_action": {"action": "purchase", "total_amount": 50, "products": [PRODUCT]},
            "custom_attributes": {"desc": "Summer sale", "term": "red shirts"},
        },
        conn={
            "custom_mappings": [
                {
                    "event_type": "commerce_event",
                    "event_name": "purchase",
                    "tiktok_event": tiktok_event,
                    "attribute_mappings": {"desc": "description", "term": "query"},
                }
            ]
        },
    )


CASES: list[Case] = [
    # --- "included for all outgoing events"
    web(
        "event.name -> event (a custom event through a custom mapping)",
        {"event": "CompleteRegistration"},
        data={"event_name": "signed_up", "product_action": DELETE},
        event_type="custom_event",
        conn={
            "custom_mappings": [
                {
                    "event_type": "custom_event",
                    "event_name": "signed_up",
                    "tiktok_event": "CompleteRegistration",
                }
            ]
        },
    ),
    web(
        "event.source_message_id -> event_id",
        {"event_id": "msg-7f3a"},
        data={"source_message_id": "msg-7f3a", "event_id": 42},
    ),
    web(
        "event_id fallback (mParticle's numeric id, exact)",
        {"event_id": "-9223372036854775807"},
        data={"event_id": -9223372036854775807},
    ),
    web(
        "event.timestamp_unixtime_ms -> event_time seconds",
        {"event_time": 1455236520},
        data={"timestamp_unixtime_ms": 1455236520490},
    ),
    web("ip -> user.ip", {"user": {"ip": "203.0.113.9"}}, batch={"ip": "203.0.113.9"}),
    web(
        "device_info.http_header_user_agent -> user.user_agent",
        {"user": {"user_agent": "Mozilla/5.0 (X11)"}},
        batch={"device_info": {"http_header_user_agent": "Mozilla/5.0 (X11)"}},
    ),
    # --- custom flags
    web(
        "TikTok.URL -> page.url (http)",
        {"page": {"url": "http://demo.mywebsite.com/p?x=1"}},
        data={"custom_flags": {"TikTok.URL": "http://demo.mywebsite.com/p?x=1"}},
    ),
    web(
        "TikTok.Referrer -> page.referrer",
        {"page": {"referrer": "http://demo.mywebsite.com"}},
        data={"custom_flags": {"TikTok.Referrer": "http://demo.mywebsite.com"}},
    ),
    web(
        "TikTok.Callback -> user.ttclid",
        {"user": {"ttclid": "E.C.P.v3fQ2RHacdksKfofPmlyuStIIHJ4Af1tKYxF9zz2c2PLx1Oaw15oHpcfl5AH"}},
        data={
            "custom_flags": {
                "TikTok.Callback": [
                    "E.C.P.v3fQ2RHacdksKfofPmlyuStIIHJ4Af1tKYxF9zz2c2PLx1Oaw15oHpcfl5AH"
                ]
            }
        },
    ),
    # --- user attributes (web)
    web(
        "$FirstName -> user.first_name (hashed)",
        {"user": {"first_name": sha("ada")}},
        batch={"user_attributes": {"$FirstName": "  Ada "}},
    ),
    web(
        "$LastName -> user.last_name (hashed)",
        {"user": {"last_name": sha("lovelace")}},
        batch={"user_attributes": {"$LastName": "Love Lace"}},
    ),
    web(
        "$City -> user.city (normalized)",
        {"user": {"city": "newyork"}},
        batch={"user_attributes": {"$City": "New York"}},
    ),
    web(
        "$State -> user.state (normalized)",
        {"user": {"state": "ny"}},
        batch={"user_attributes": {"$State": "N.Y."}},
    ),
    web(
        "$Country -> user.country (normalized)",
        {"user": {"country": "us"}},
        batch={"user_attributes": {"$Country": "US"}},
    ),
    web(
        "$Zip -> user.zip_code (hashed)",
        {"user": {"zip_code": sha("100014356")}},
        batch={"user_attributes": {"$Zip": "10001-4356"}},
    ),
    web(
        "campaignId -> ad.campaign_id",
        {"ad": {"campaign_id": "1800"}},
        batch={"user_attributes": {"campaignId": "1800"}},
    ),
    web("adId -> ad.ad_id", {"ad": {"ad_id": "1801"}}, batch={"user_attributes": {"adId": "1801"}}),
    web(
        "creativeId -> ad.creative_id",
        {"ad": {"creative_id": "1802"}},
        batch={"user_attributes": {"creativeId": "1802"}},
    ),
    web(
        "isRetargeting -> ad.is_retargeting",
        {"ad": {"is_retargeting": True}},
        batch={"user_attributes": {"isRetargeting": "true"}},
    ),
    web(
        "attributed -> ad.attributed",
        {"ad": {"attributed": False}},
        batch={"user_attributes": {"attributed": False}},
    ),
    web(
        "attributionType -> ad.attribution_type",
        {"ad": {"attribution_type": "click"}},
        batch={"user_attributes": {"attributionType": "click"}},
    ),
    web(
        "attributionProvider -> ad.attribution_provider",
        {"ad": {"attribution_provider": "tiktok"}},
        batch={"user_attributes": {"attributionProvider": "tiktok"}},
    ),
    # --- partner identity
    web(
        "partner_identities.tiktok_cookie_id -> user.ttp",
        {"user": {"ttp": "2Xk9-ttp-cookie"}},
        batch={"partner_identities": {"tiktok_cookie_id": "2Xk9-ttp-cookie"}},
    ),
    # --- application info (app connections)
    app("application_info.package -> app.app_id", {}),
    app(
        "application_info.application_name -> app.app_name",
        {"app": {"app_name": "Demo Shop"}},
        batch={"application_info": {"application_name": "Demo Shop"}},
    ),
    app(
        "application_info.application_version -> app.app_version",
        {"app": {"app_version": "4.2.0"}},
        batch={"application_info": {"application_version": "4.2.0"}},
    ),
    # --- event mappings
    web(
        "add_to_cart -> AddToCart",
        {"event": "AddToCart"},
        data={"product_action": {"action": "add_to_cart"}},
    ),
    web(
        "add_to_wishlist -> AddToWishlist",
        {"event": "AddToWishlist"},
        data={"product_action": {"action": "add_to_wishlist"}},
    ),
    web(
        "purchase -> PlaceAnOrder",
        {"event": "PlaceAnOrder"},
        data={"product_action": {"action": "purchase"}},
    ),
    web(
        "checkout -> InitiateCheckout",
        {"event": "InitiateCheckout"},
        data={"product_action": {"action": "checkout"}},
    ),
    web(
        "view_detail -> ViewContent",
        {"event": "ViewContent"},
        data={"product_action": {"action": "view_detail"}},
    ),
    # --- commerce and product information
    web(
        "currency_code -> properties.currency",
        {"properties": {"currency": "USD"}},
        data={"currency_code": "USD"},
    ),
    web(
        "product_action.total_amount -> properties.value",
        {"properties": {"value": 100}},
        data={"product_action": {"total_amount": 100}},
    ),
    web(
        "products[x].price -> contents[x].price",
        {"properties": {"contents": [{"price": 25.5}], "content_type": "product"}},
        data={"product_action": {"products": [{"price": 25.5}]}},
    ),
    web(
        "products[x].quantity -> contents[x].quantity",
        {"properties": {"contents": [{"quantity": 4}], "content_type": "product"}},
        data={"product_action": {"products": [{"quantity": 4}]}},
    ),
    web(
        "products[x].id -> contents[x].content_id (always a string)",
        {
            "properties": {
                "contents": [{"content_id": "1077218"}, {"content_id": "sku-9"}],
                "content_type": "product",
            }
        },
        data={"product_action": {"products": [{"id": 1077218}, {"id": "sku-9"}]}},
    ),
    web(
        "products[x].category -> contents[x].content_category",
        {"properties": {"contents": [{"content_category": "apparel"}], "content_type": "product"}},
        data={"product_action": {"products": [{"category": "apparel"}]}},
    ),
    web(
        "products[x].name -> contents[x].content_name",
        {"properties": {"contents": [{"content_name": "Shirt"}], "content_type": "product"}},
        data={"product_action": {"products": [{"name": "Shirt"}]}},
    ),
    web(
        "value is the sum of price x quantity when total_amount is absent",
        {
            "properties": {
                "value": 59.97,
                "contents": [{"price": 19.99, "quantity": 3}],
                "content_type": "product",
            }
        },
        data={"product_action": {"products": [{"price": 19.99, "quantity": 3}]}},
    ),
    web(
        "no value when a product lacks price or quantity",
        {
            "properties": {
                "contents": [{"price": 19.99, "quantity": 3}, {"price": 5}],
                "content_type": "product",
            }
        },
        data={"product_action": {"products": [{"price": 19.99, "quantity": 3}, {"price": 5}]}},
    ),
    # --- per-event property lists (every event also supports description)
    property_list_case("AddPaymentInfo", FULL_PRODUCT_PROPS),
    property_list_case("AddToCart", FULL_PRODUCT_PROPS),
    property_list_case("AddToWishlist", FULL_PRODUCT_PROPS),
    property_list_case("ClickButton", {"description": "Summer sale"}),
    property_list_case("CompletePayment", FULL_PRODUCT_PROPS),
    property_list_case("Contact", {"description": "Summer sale"}),
    property_list_case("Download", {"description": "Summer sale"}),
    property_list_case("InitiateCheckout", FULL_PRODUCT_PROPS),
    property_list_case("PlaceAnOrder", FULL_PRODUCT_PROPS),
    property_list_case("Search", {"description": "Summer sale", "search_string": "red shirts"}),
    property_list_case("Subscribe", {"currency": "USD", "value": 50, "description": "Summer sale"}),
    property_list_case("ViewContent", FULL_PRODUCT_PROPS),
]


@pytest.mark.parametrize("case", CASES, ids=[c.row for c in CASES])
def test_seed_row_produces_exact_request_body(case: Case, fake: FakeTikTok) -> None:
    settings = connection(**case.conn)
    forwarder = make_forwarder(fake, {"default": settings})

    result = forwarder.forward([message(json.dumps(case.batch))])

    assert result.failed == set()
    assert sum(result.dropped.values()) == 0
    assert len(fake.requests) == 1
    sent = fake.requests[0]
    assert (sent.method, sent.path, sent.token) == ("POST", "event/track", TOKEN)
    assert sent.body == {
        "event_source": settings.event_source,
        "event_source_id": settings.event_source_id,
        "data": [case.expected],
    }


def test_every_seed_table_row_has_a_case() -> None:
    """The seed's rows: 5 + 3 + 13 + 1 + 3 + 5 + 7 + 12 property lists; each is covered above."""
    rows = {c.row.split(" ")[0] for c in CASES}
    for name in (
        "event.name", "event.source_message_id", "event.timestamp_unixtime_ms", "ip",
        "device_info.http_header_user_agent", "TikTok.URL", "TikTok.Referrer", "TikTok.Callback",
        "$FirstName", "$LastName", "$City", "$State", "$Country", "$Zip", "campaignId", "adId",
        "creativeId", "isRetargeting", "attributed", "attributionType", "attributionProvider",
        "partner_identities.tiktok_cookie_id", "application_info.package",
        "application_info.application_name", "application_info.application_version",
        "add_to_cart", "add_to_wishlist", "purchase", "checkout", "view_detail", "currency_code",
        "product_action.total_amount", "products[x].price", "products[x].quantity",
        "products[x].id", "products[x].category", "products[x].name",
    ):  # fmt: skip
        assert name in rows, name
    listed = {
        c.row.removeprefix("properties of ") for c in CASES if c.row.startswith("properties of")
    }
    assert listed == {
        "AddPaymentInfo", "AddToCart", "AddToWishlist", "ClickButton", "CompletePayment", "Contact",
        "Download", "InitiateCheckout", "PlaceAnOrder", "Search", "Subscribe", "ViewContent",
    }  # fmt: skip
