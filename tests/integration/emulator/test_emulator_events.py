"""Events API 2.0 (/event/track/) and legacy /pixel/batch/ (reference §5)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tiktok_local.emulator import EmulatorServer

from .support import ADV2, APP_SOURCE, CRM_SET, OFFLINE_SET, PIXEL, Api, sha256

TRACK = "/event/track/"
PIXEL_BATCH = "/pixel/batch/"
PIXEL_TRACK = "/pixel/track/"
NOW = 1_760_000_000


def web_event(i: int = 0, **overrides: Any) -> dict[str, Any]:
    event = {
        "event": "PlaceAnOrder",
        "event_time": NOW + i,
        "event_id": f"order-{i}",
        "user": {
            "email": [sha256(f"u{i}@example.com")],
            "phone": sha256("+15551234567"),
            "external_id": [sha256(f"user-{i}")],
            "ip": "203.0.113.7",
            "user_agent": "Mozilla/5.0",
            "ttp": "ttp-cookie",
        },
        "page": {"url": "https://shop.example/checkout?x=1", "referrer": "https://shop.example/"},
        "properties": {
            "contents": [{"content_id": "sku-1", "price": 9.5, "quantity": 2}],
            "content_type": "product",
            "currency": "USD",
            "value": 19.0,
        },
        "limited_data_use": False,
    }
    event.update(overrides)
    return event


def track(source: str = "web", source_id: str = PIXEL, data: Any = None, **extra: Any) -> dict:
    return {
        "event_source": source,
        "event_source_id": source_id,
        "data": [web_event()] if data is None else data,
        **extra,
    }


def with_change(path: str, value: Any) -> dict[str, Any]:
    """A valid web event with one field (dotted path) set or, for ``...``, removed."""
    event = copy.deepcopy(web_event())
    *parents, leaf = path.split(".")
    target = event
    for key in parents:
        target = target[key]
    if value is Ellipsis:
        target.pop(leaf)
    else:
        target[leaf] = value
    return event


# ---------------------------------------------------------------- accepted and recorded
def test_web_events_accepted_and_recorded(emu: EmulatorServer, api: Api):
    events = [web_event(i) for i in range(3)]
    body = api.post(TRACK, track(data=events, test_event_code="TEST123", partner_name="Acme"))
    assert body["code"] == 0
    assert body["message"] == "OK"
    recorded = emu.state.events
    assert [r["event"] for r in recorded] == events
    assert {r["endpoint"] for r in recorded} == {"event/track"}
    assert {r["event_source_id"] for r in recorded} == {PIXEL}
    assert {r["test_event_code"] for r in recorded} == {"TEST123"}


def test_dedup_view_on_source_event_and_event_id(emu: EmulatorServer, api: Api):
    api.post(TRACK, track(data=[web_event(1), web_event(2)]))
    api.post(TRACK, track(data=[web_event(1)]))  # a retry delivers order-1 again
    api.post(TRACK, track(data=[web_event(3, event="AddToCart", event_id="order-1")]))
    assert emu.state.event_count() == 4
    assert emu.state.unique_event_ids() == {
        (PIXEL, "PlaceAnOrder", "order-1"),
        (PIXEL, "PlaceAnOrder", "order-2"),
        (PIXEL, "AddToCart", "order-1"),
    }
    assert emu.state.unique_event_count() == 3


def test_app_event_with_app_id_and_mobile_ids(emu: EmulatorServer, api: Api):
    event = {
        "event": "InstallApp",
        "event_time": NOW,
        "event_id": "e1",
        "app": {"app_id": "com.example.app", "app_name": "Example"},
        "user": {"idfa": sha256("idfa"), "gaid": "6D92078A-8246-4BA4-AE5B-76104861E7DC"},
        "ad": {"callback": "cb", "is_retargeting": False},
    }
    body = api.post(TRACK, track("app", APP_SOURCE, [event]))
    assert body["code"] == 0
    assert emu.state.events[0]["event_source"] == "app"


def test_offline_standard_event_and_crm_event_with_lead(emu: EmulatorServer, api: Api):
    offline = {"event": "CompletePayment", "event_time": NOW, "user": {"email": sha256("a")}}
    crm = {"event": "LeadQualified", "event_time": NOW, "lead": {"lead_id": "L-1"}}
    assert api.post(TRACK, track("offline", OFFLINE_SET, [offline]))["code"] == 0
    assert api.post(TRACK, track("crm", CRM_SET, [crm]))["code"] == 0
    assert emu.state.event_count() == 2


def test_a_batch_of_exactly_1000_is_accepted(emu: EmulatorServer, api: Api):
    assert api.post(TRACK, track(data=[web_event(i) for i in range(1000)]))["code"] == 0
    assert emu.state.event_count() == 1000


# ---------------------------------------------------------------- batch limits
@pytest.mark.parametrize("size", [0, 1001])
def test_zero_or_more_than_1000_events_40061_whole_request(emu: EmulatorServer, api: Api, size):
    body = api.post(TRACK, track(data=[web_event(i) for i in range(size)]))
    assert body["code"] == 40061
    assert body["data"] == {}
    assert emu.state.event_count() == 0


# ---------------------------------------------------------------- per-event rules (40002 / 40062)
PARAM_ERRORS = {
    "event_time float": ("event_time", NOW + 0.5),
    "event_time string": ("event_time", str(NOW)),
    "event_time milliseconds": ("event_time", NOW * 1000),
    "event_time missing": ("event_time", ...),
    "event empty": ("event", ""),
    "event not a string": ("event", 7),
    "event_id number": ("event_id", 12345),
    "content_id number": ("properties.contents", [{"content_id": 123, "price": 1.0}]),
    "value string": ("properties.value", "19.00"),
    "currency lower-case": ("properties.currency", "usd"),
    "limited_data_use string": ("limited_data_use", "false"),
    "page.url missing": ("page.url", ...),
    "page missing": ("page", ...),
    "page.url not http": ("page.url", "ftp://shop.example/"),
    "page.url relative": ("page.url", "/checkout"),
    "ip number": ("user.ip", 2130706433),
    "user_agent list": ("user.user_agent", ["Mozilla"]),
    "idfa on web": ("user.idfa", sha256("idfa")),
    "gaid on web": ("user.gaid", "6d92078a-8246-4ba4-ae5b-76104861e7dc"),
    "app on web": ("app", {"app_id": "1"}),
    "unknown event field": ("timestamp", "2025-01-01T00:00:00Z"),
    "unknown user field": ("user.phone_number", sha256("+1555")),
    "email number": ("user.email", 42),
}


@pytest.mark.parametrize("case", sorted(PARAM_ERRORS))
def test_invalid_event_rejects_whole_request_40002_with_index(
    emu: EmulatorServer, api: Api, case: str
):
    path, value = PARAM_ERRORS[case]
    body = api.post(TRACK, track(data=[web_event(0), with_change(path, value)]))
    assert body["code"] == 40002
    assert "data[1]" in body["message"]
    assert emu.state.event_count() == 0


RAW_PII = {
    "raw email": ("user.email", "alice@example.com"),
    "raw email in list": ("user.email", [sha256("ok"), "alice@example.com"]),
    "raw phone": ("user.phone", "+15551234567"),
    "raw external_id": ("user.external_id", "user_123"),
    "upper-case hash": ("user.email", sha256("x").upper()),
    "raw first_name": ("user.first_name", "alice"),
    "raw zip": ("user.zip_code", "10001"),
}


@pytest.mark.parametrize("case", sorted(RAW_PII))
def test_unhashed_pii_40062(emu: EmulatorServer, api: Api, case: str):
    path, value = RAW_PII[case]
    body = api.post(TRACK, track(data=[with_change(path, value)]))
    assert body["code"] == 40062
    assert "data[0]" in body["message"]
    assert "alice" not in body["message"]
    assert emu.state.event_count() == 0


def test_app_event_needs_app_id_40002(api: Api):
    event = {"event": "InstallApp", "event_time": NOW, "app": {"app_name": "x"}}
    assert api.post(TRACK, track("app", APP_SOURCE, [event]))["code"] == 40002
    no_app = {"event": "InstallApp", "event_time": NOW}
    assert api.post(TRACK, track("app", APP_SOURCE, [no_app]))["code"] == 40002


def test_app_mobile_id_neither_uuid_nor_hash_40062(api: Api):
    event = {
        "event": "InstallApp",
        "event_time": NOW,
        "app": {"app_id": "1"},
        "user": {"idfa": "abc"},
    }
    assert api.post(TRACK, track("app", APP_SOURCE, [event]))["code"] == 40062


def test_offline_custom_event_40002(api: Api):
    event = {"event": "MyCustomThing", "event_time": NOW}
    assert api.post(TRACK, track("offline", OFFLINE_SET, [event]))["code"] == 40002


def test_crm_event_without_lead_40002(api: Api):
    event = {"event": "LeadQualified", "event_time": NOW}
    assert api.post(TRACK, track("crm", CRM_SET, [event]))["code"] == 40002


# ---------------------------------------------------------------- request-level rules
@pytest.mark.parametrize(
    ("source", "source_id"),
    [("web", "CUNKNOWNPIXEL"), ("app", PIXEL), ("pixel", PIXEL), ("WEB", PIXEL)],
)
def test_event_source_must_be_registered_and_of_that_type_40002(api: Api, source, source_id):
    assert api.post(TRACK, track(source, source_id))["code"] == 40002


def test_unknown_top_level_field_40002(api: Api):
    assert api.post(TRACK, track(pixel_code=PIXEL))["code"] == 40002


def test_test_event_code_inside_data_is_an_unknown_field_40002(api: Api):
    assert api.post(TRACK, track(data=[web_event(test_event_code="T")]))["code"] == 40002


def test_empty_partner_name_40063(api: Api):
    assert api.post(TRACK, track(partner_name=""))["code"] == 40063


def test_events_need_measurement_scope_40001(emu: EmulatorServer, api: Api):
    audiences_only = emu.state.issue_token(scope=[3])
    assert api.post(TRACK, track(), token=audiences_only)["code"] == 40001
    events_manager = emu.state.issue_token(advertiser_ids=[], scope=[5], event_sources=[PIXEL])
    assert api.post(TRACK, track(), token=events_manager)["code"] == 0


REPORT_CONVERSION_EVENT = 7224195155857866754
REPORT_PIXEL_EVENT = 51


def test_child_scopes_of_measurement_are_enough_each_for_its_endpoint(
    emu: EmulatorServer, api: Api
):
    # contract: OA-07 — /event/track/ needs Report Conversion Event, /pixel/* Report Pixel Event.
    conversion = emu.state.issue_token(scope=[REPORT_CONVERSION_EVENT])
    pixel = emu.state.issue_token(scope=[REPORT_PIXEL_EVENT])
    both = emu.state.issue_token(scope=[REPORT_CONVERSION_EVENT, REPORT_PIXEL_EVENT])
    batch = {"pixel_code": PIXEL, "batch": [pixel_item()]}
    assert api.post(TRACK, track(), token=conversion)["code"] == 0
    assert api.post(PIXEL_BATCH, batch, token=conversion)["code"] == 40001
    assert api.post(PIXEL_BATCH, batch, token=pixel)["code"] == 0
    assert api.post(TRACK, track(), token=pixel)["code"] == 40001
    assert api.post(TRACK, track(), token=both)["code"] == 0
    assert api.post(PIXEL_BATCH, batch, token=both)["code"] == 0


def test_an_event_source_the_token_cannot_reach_answers_40001(emu: EmulatorServer, api: Api):
    # contract: EV-03 — the pixel belongs to advertiser one; this token reaches only advertiser two.
    other_advertiser = emu.state.issue_token(advertiser_ids=[ADV2])
    other_pixel = emu.state.issue_token(advertiser_ids=[], event_sources=["CSOMEOTHERPIXEL00000"])
    for token in (other_advertiser, other_pixel):
        body = api.post(TRACK, track(), token=token)
        assert body["code"] == 40001
        assert body["message"].startswith(f"No permission to operate pixel code: {PIXEL}")
        batch = {"pixel_code": PIXEL, "batch": [pixel_item()]}
        assert api.post(PIXEL_BATCH, batch, token=token)["code"] == 40001
        assert (
            api.post(PIXEL_TRACK, {"pixel_code": PIXEL, "event": "Search"}, token=token)["code"]
            == 40001
        )
    app = emu.state.issue_token(advertiser_ids=[ADV2])
    app_event = web_event(app={"app_id": "343200656"})
    del app_event["page"]
    assert api.post(TRACK, track("app", APP_SOURCE, [app_event]), token=app)["code"] == 40001
    assert emu.state.events == []


@pytest.mark.parametrize("currency", ["XYZ", "ABC", "usd", "US"])
def test_a_currency_tiktok_does_not_list_is_refused_40002(api: Api, currency: str):
    # contract: EV-13 — ABC and XYZ have ISO-4217's shape but are not on TikTok's list.
    event = with_change("properties.currency", currency)
    body = api.post(TRACK, track(data=[event]))
    assert body["code"] == 40002
    assert "currency" in body["message"]
    item = pixel_item()
    item["properties"]["currency"] = currency
    assert api.post(PIXEL_BATCH, {"pixel_code": PIXEL, "batch": [item]})["code"] == 40002


@pytest.mark.parametrize("currency", ["USD", "EUR", "JPY", "BRL", "VES", "ZAR"])
def test_listed_currencies_are_accepted(api: Api, currency: str):
    assert api.post(TRACK, track(data=[with_change("properties.currency", currency)]))["code"] == 0


@pytest.mark.parametrize(
    ("app_id", "code"),
    [("343200656", 0), ("com.rovio.angrybirds", 0), ("Angry Birds", 40002), ("id343200656", 40002)],
)
def test_app_id_is_the_app_store_id_or_the_package_name(api: Api, app_id: str, code: int):
    # contract: EV-16
    event = web_event(app={"app_id": app_id})
    del event["page"]
    assert api.post(TRACK, track("app", APP_SOURCE, [event]))["code"] == code


# ---------------------------------------------------------------- legacy pixel batch
def pixel_item(i: int = 0, **overrides: Any) -> dict[str, Any]:
    item = {
        "type": "track",
        "event": "CompletePayment",
        "event_id": f"p-{i}",
        "timestamp": "2025-10-09T08:00:00Z",
        "context": {
            "ad": {"callback": "ttclid-1"},
            "page": {"url": "https://shop.example/", "referrer": "https://ref.example/"},
            "user": {
                "external_id": sha256("u"),
                "email": sha256("e"),
                "phone_number": sha256("+1555"),
                "ttp": "ttp-cookie",
            },
            "ip": "198.51.100.1",
            "user_agent": "Mozilla/5.0",
        },
        "properties": {"contents": [{"content_id": "sku"}], "currency": "EUR", "value": 3},
    }
    item.update(overrides)
    return item


def test_pixel_batch_accepted_and_recorded(emu: EmulatorServer, api: Api):
    body = api.post(PIXEL_BATCH, {"pixel_code": PIXEL, "batch": [pixel_item(0), pixel_item(1)]})
    assert body["code"] == 0
    assert [e["endpoint"] for e in emu.state.events] == ["pixel/batch", "pixel/batch"]
    assert (PIXEL, "CompletePayment", "p-1") in emu.state.unique_event_ids()


def test_pixel_batch_over_50_40061(emu: EmulatorServer, api: Api):
    body = api.post(PIXEL_BATCH, {"pixel_code": PIXEL, "batch": [pixel_item(i) for i in range(51)]})
    assert body["code"] == 40061
    assert emu.state.event_count() == 0


@pytest.mark.parametrize("timestamp", [NOW, "1760000000", "yesterday"])
def test_pixel_timestamp_must_be_iso8601_40002(api: Api, timestamp):
    item = pixel_item(timestamp=timestamp)
    assert api.post(PIXEL_BATCH, {"pixel_code": PIXEL, "batch": [item]})["code"] == 40002


def test_pixel_raw_email_40062(api: Api):
    item = pixel_item()
    item["context"]["user"]["email"] = "alice@example.com"
    assert api.post(PIXEL_BATCH, {"pixel_code": PIXEL, "batch": [item]})["code"] == 40062


def test_pixel_events_2_0_shape_is_rejected_40002(api: Api):
    # An Events 2.0 user object inside a 1.0 context is a mapping bug: phone vs phone_number.
    item = pixel_item()
    item["context"]["user"] = {"phone": sha256("+1555")}
    assert api.post(PIXEL_BATCH, {"pixel_code": PIXEL, "batch": [item]})["code"] == 40002


def test_pixel_type_must_be_track_and_code_registered_40002(api: Api):
    assert (
        api.post(PIXEL_BATCH, {"pixel_code": PIXEL, "batch": [pixel_item(type="page")]})["code"]
        == 40002
    )
    assert (
        api.post(PIXEL_BATCH, {"pixel_code": APP_SOURCE, "batch": [pixel_item()]})["code"] == 40002
    )


def test_pixel_batch_has_no_test_event_code_40002(emu: EmulatorServer, api: Api):
    # contract: EV-21 — the SDK's PixelBatchBody has only pixel_code and batch.
    body = {"pixel_code": PIXEL, "batch": [pixel_item()], "test_event_code": "TEST123"}
    assert api.post(PIXEL_BATCH, body)["code"] == 40002
    assert emu.state.event_count() == 0


def test_pixel_track_takes_one_event_with_its_test_event_code(emu: EmulatorServer, api: Api):
    # contract: EV-20
    item = pixel_item()
    del item["type"]
    body = api.post(PIXEL_TRACK, {"pixel_code": PIXEL, "test_event_code": "TEST123", **item})
    assert body["code"] == 0
    [recorded] = emu.state.events
    assert recorded["endpoint"] == "pixel/track"
    assert recorded["test_event_code"] == "TEST123"
    assert recorded["event"]["event_id"] == "p-0"


def test_pixel_track_is_as_strict_as_a_batch_item(api: Api):
    item = pixel_item()
    del item["type"]
    item["context"]["user"]["email"] = "alice@example.com"
    assert api.post(PIXEL_TRACK, {"pixel_code": PIXEL, **item})["code"] == 40062
    assert api.post(PIXEL_TRACK, {"pixel_code": PIXEL, "batch": [pixel_item()]})["code"] == 40002
    assert (
        api.post(PIXEL_TRACK, {"pixel_code": PIXEL, "type": "track", "event": "X"})["code"] == 40002
    )
