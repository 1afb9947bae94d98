"""TikTok's event rules the forwarder keeps (docs/tiktok-contract.md EV-*): the currency list,
test event codes on legacy pixel connections, the iOS app id, and the phone region of a batch."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import mparticle
import pytest
from pydantic import ValidationError

from tests import mparticle_sdk as sdk
from tests.unit.events.support import APP_ID, PIXEL, FakeTikTok, connection, make_forwarder, message


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def sent(fake: FakeTikTok) -> list[dict[str, Any]]:
    out = []
    for request in fake.requests:
        body = request.body
        out.extend(body.get("data", body.get("batch", [body])))
    return out


# ---------------------------------------------------------------- currency (EV-13)
@pytest.mark.parametrize("currency", ["XYZ", "ABC", "EURO", "$"])
def test_an_unsupported_currency_drops_value_and_currency_from_that_event_only(
    fake: FakeTikTok, currency: str
) -> None:
    forwarder = make_forwarder(fake, {"default": connection()})
    body = sdk.batch([sdk.purchase(1, currency=currency), sdk.purchase(2, currency="eur")])
    result = forwarder.forward([message(body)])
    assert result.failed == set()
    first, second = sent(fake)
    assert "currency" not in first["properties"]
    assert "value" not in first["properties"]
    assert first["properties"]["contents"][0]["price"] == 19.99  # the rest of the event stays
    assert second["properties"]["currency"] == "EUR"
    assert second["properties"]["value"] == pytest.approx(39.98)
    assert dict(result.fields_dropped) == {"currency:unsupported_currency": 1}
    assert result.forwarded == 2


def test_tiktok_shaped_events_with_an_unsupported_currency_still_go(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(fake, {"default": connection()})
    event = {
        "event": "CompletePayment",
        "event_time": 1_700_000_000,
        "event_id": "o-1",
        "page": {"url": sdk.URL},
        "properties": {"currency": "XBT", "value": 3},
    }
    result = forwarder.forward([message(json.dumps(event))])
    [out] = sent(fake)
    assert out["properties"] == {}
    assert dict(result.fields_dropped) == {"currency:unsupported_currency": 1}


# ---------------------------------------------------------------- test event code (EV-20, EV-21)
def test_test_coded_legacy_events_go_one_by_one_to_pixel_track(fake: FakeTikTok) -> None:
    legacy = connection(event_source_type="legacy_pixel_batch_web", test_event_code="TEST42")
    forwarder = make_forwarder(fake, {"default": legacy})
    result = forwarder.forward([message(sdk.batch([sdk.purchase(i) for i in range(3)]))])
    assert result.failed == set()
    assert [r.path for r in fake.requests] == ["pixel/track"] * 3
    for request in fake.requests:
        body = request.body
        assert body["pixel_code"] == PIXEL
        assert body["test_event_code"] == "TEST42"
        assert body["event"] == "PlaceAnOrder"
        assert "batch" not in body
        assert "type" not in body
        assert body["context"]["page"]["url"] == sdk.URL


def test_legacy_events_without_a_test_code_still_go_in_batches(fake: FakeTikTok) -> None:
    legacy = connection(event_source_type="legacy_pixel_batch_web")
    forwarder = make_forwarder(fake, {"default": legacy})
    forwarder.forward([message(sdk.batch([sdk.purchase(i) for i in range(3)]))])
    assert [r.path for r in fake.requests] == ["pixel/batch"]
    assert "test_event_code" not in fake.requests[0].body


def test_events_api_2_keeps_the_test_code_at_the_top_of_the_request(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(fake, {"default": connection(test_event_code="TEST42")})
    forwarder.forward([message(sdk.batch([sdk.purchase(i) for i in range(3)]))])
    [request] = fake.requests
    assert request.path == "event/track"
    assert request.body["test_event_code"] == "TEST42"


# ---------------------------------------------------------------- iOS app id (EV-16)
def app_batch(platform: str | None, package: str = "com.demo.shoes") -> str:
    info = mparticle.ApplicationInformation(application_name="Shoes", package=package)
    device = mparticle.DeviceInformation(platform=platform) if platform else None
    return sdk.batch([sdk.purchase(url=None)], application_info=info, device_info=device)


@pytest.mark.parametrize(
    ("store_id", "platform", "app_id"),
    [
        ("343200656", "iOS", "343200656"),
        ("343200656", None, "343200656"),
        ("343200656", "Android", "com.demo.shoes"),
        (None, "iOS", "com.demo.shoes"),
    ],
)
def test_ios_events_carry_the_app_store_id_when_the_connection_has_one(
    fake: FakeTikTok, store_id: str | None, platform: str | None, app_id: str
) -> None:
    app = connection(event_source_type="app", event_source_id=APP_ID, ios_app_store_id=store_id)
    forwarder = make_forwarder(fake, {"default": app})
    forwarder.forward([message(app_batch(platform))])
    assert sent(fake)[0]["app"] == {"app_id": app_id, "app_name": "Shoes"}


@pytest.mark.parametrize("bad", ["id343200656", "Shoes", "", "343 200 656"])
def test_the_app_store_id_setting_is_the_numeric_id(bad: str) -> None:
    with pytest.raises(ValidationError, match="ios_app_store_id"):
        connection(event_source_type="app", event_source_id=APP_ID, ios_app_store_id=bad)


# ---------------------------------------------------------------- phone region (issue 12 item 10)
def phone_batch(number: str, country: str | None = None) -> str:
    attributes = {"$Country": country} if country is not None else None
    ids = sdk.identities(mobile_number=number)
    return sdk.batch([sdk.purchase()], user_identities=ids, user_attributes=attributes)


@pytest.mark.parametrize(
    ("setting", "country", "number", "e164"),
    [
        (None, None, "(650) 253-0000", "+16502530000"),  # the stack default, US
        ("DE", None, "030 1234567", "+49301234567"),  # the connection's region
        ("de", None, "030 1234567", "+49301234567"),
        (None, "GB", "020 7946 0958", "+442079460958"),  # the batch's $Country
        ("DE", "GB", "020 7946 0958", "+442079460958"),  # $Country wins over the connection
        ("DE", "uk", "020 7946 0958", "+442079460958"),  # UK is GB
        ("DE", "Narnia", "030 1234567", "+49301234567"),  # not a region: the connection's
        (None, "FR", "+1 650 253 0000", "+16502530000"),  # a country code wins over any region
    ],
)
def test_phone_numbers_are_read_with_the_batch_or_connection_region(
    fake: FakeTikTok, setting: str | None, country: str | None, number: str, e164: str
) -> None:
    forwarder = make_forwarder(fake, {"default": connection(phone_region=setting)})
    result = forwarder.forward([message(phone_batch(number, country))])
    assert sent(fake)[0]["user"]["phone"] == sha(e164)
    assert not result.fields_dropped


def test_an_unknown_phone_region_setting_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown phone region"):
        connection(phone_region="XX")


def test_an_unreadable_phone_is_logged_with_its_reason_and_no_digits(
    fake: FakeTikTok, caplog: pytest.LogCaptureFixture
) -> None:
    forwarder = make_forwarder(fake, {"default": connection(phone_region="DE")})
    with caplog.at_level(logging.WARNING):
        result = forwarder.forward([message(phone_batch("12 34", "FR"), "m-phone")])
    [event] = sent(fake)
    assert "phone" not in event["user"]  # the event still goes, without the phone
    assert dict(result.fields_dropped) == {"phone:invalid_phone": 1}
    [line] = [r for r in caplog.records if r.getMessage() == "event data left out"]
    assert line.reasons == {"phone:invalid_phone": 1}  # type: ignore[attr-defined]
    assert line.phone_region == "FR"  # type: ignore[attr-defined]
    assert line.message_id == "m-phone"  # type: ignore[attr-defined]
    dumped = " ".join(json.dumps(r.__dict__, default=str) for r in caplog.records)
    assert "12 34" not in dumped
    assert "1234" not in dumped
