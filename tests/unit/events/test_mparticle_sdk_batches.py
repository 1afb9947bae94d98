"""Batches as mParticle's own Python SDK writes them, and the identity keys of every mParticle SDK
(issue 12 item 9): ``customerid``, ``other2`` / ``other_id_2``, … all reach the identity-type
settings; float quantities, integer event ids, consent objects and session / screen / custom
events all map (or are counted) as they should."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import mparticle
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tests import mparticle_sdk as sdk
from tests.unit.events.support import FakeTikTok, connection, make_forwarder, message
from tiktok_connector.events.settings import MPARTICLE_IDENTITY_TYPES, canonical_identity_type


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def sent(fake: FakeTikTok) -> list[dict[str, Any]]:
    return [event for body in fake.bodies for event in body.get("data", body.get("batch", []))]


def test_the_sdk_customerid_becomes_the_external_id(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(fake, {"default": connection()})
    result = forwarder.forward([message(sdk.batch([sdk.purchase()]))])
    assert result.failed == set()
    [event] = sent(fake)
    assert event["user"]["external_id"] == sha("cust-42")
    assert event["user"]["email"] == sha("jane.doe@example.com")


def test_float_quantities_integer_event_ids_and_consent_map_exactly(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(fake, {"default": connection()})
    body = sdk.batch([sdk.purchase(7, quantity=3.0, price=2.5)], consent=sdk.ccpa(True))
    forwarder.forward([message(body)])
    [event] = sent(fake)
    assert event["event"] == "PlaceAnOrder"
    assert event["event_id"] == str(6004677780660780000 + 7)  # the exact integer, as a string
    assert event["event_time"] == (sdk.T_MS + 7) // 1000
    assert event["properties"]["contents"] == [
        {"content_id": "sku-7", "content_name": "Shoe", "price": 2.5, "quantity": 3}
    ]
    assert event["properties"]["value"] == 7.5
    assert event["limited_data_use"] is True


def test_ccpa_consent_not_opted_out_leaves_data_use_unlimited(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(fake, {"default": connection()})
    forwarder.forward([message(sdk.batch([sdk.purchase()], consent=sdk.ccpa(False)))])
    assert sent(fake)[0]["limited_data_use"] is False


def test_session_screen_and_custom_events_without_a_mapping_are_counted_per_name(
    fake: FakeTikTok, caplog: pytest.LogCaptureFixture
) -> None:
    forwarder = make_forwarder(fake, {"default": connection()})
    events = [
        sdk.session_start(),
        sdk.screen("Home", 1),
        sdk.custom("newsletter_open", 2),
        sdk.custom("newsletter_open", 3),
        sdk.purchase(4),
    ]
    with caplog.at_level(logging.WARNING):
        result = forwarder.forward([message(sdk.batch(events))])
    assert [e["event_id"] for e in sent(fake)] == [str(6004677780660780000 + 4)]
    assert dict(result.unmapped) == {
        "session_start:": 1,
        "screen_view:Home": 1,
        "custom_event:newsletter_open": 2,
    }
    assert result.dropped["unsupported_event"] == 4
    [line] = [r for r in caplog.records if "without a TikTok mapping" in r.getMessage()]
    assert line.events == dict(result.unmapped)  # type: ignore[attr-defined]


def test_custom_events_and_screen_views_go_once_mapped(fake: FakeTikTok) -> None:
    mappings = [
        {
            "event_type": "custom_event",
            "event_name": "signup",
            "tiktok_event": "CompleteRegistration",
        },
        {"event_type": "screen_view", "event_name": "Pricing", "tiktok_event": "ViewContent"},
    ]
    forwarder = make_forwarder(fake, {"default": connection(custom_mappings=mappings)})
    screen = sdk.screen("Pricing", 1)
    screen.custom_flags = {"TikTok.URL": sdk.URL}
    result = forwarder.forward([message(sdk.batch([sdk.custom("signup"), screen]))])
    assert [e["event"] for e in sent(fake)] == ["CompleteRegistration", "ViewContent"]
    assert not result.unmapped


# ---------------------------------------------------------------- identity keys of every SDK
@pytest.mark.parametrize(
    ("setting", "sdk_field"),
    [
        ("customer_id", "customerid"),
        ("customerid", "customerid"),
        ("Customer ID", "customerid"),
        ("other", "other"),
        ("other_id_2", "other_id_2"),
        ("other2", "other_id_2"),
        ("Other 3", "other_id_3"),
        ("other_id_10", "other_id_10"),
        ("other10", "other_id_10"),
        ("alias", "alias"),
        ("facebook_custom_audience_id", "facebook_custom_audience_id"),
        ("facebookcustomaudienceid", "facebook_custom_audience_id"),
        ("yahoo", "yahoo"),
    ],
)
def test_every_identity_key_reaches_the_external_id_setting(
    fake: FakeTikTok, setting: str, sdk_field: str
) -> None:
    forwarder = make_forwarder(fake, {"default": connection(external_identity_type=setting)})
    ids = sdk.identities(email="a@b.example", **{sdk_field: "member-7"})
    forwarder.forward([message(sdk.batch([sdk.purchase()], user_identities=ids))])
    assert sent(fake)[0]["user"]["external_id"] == sha("member-7")


@pytest.mark.parametrize("setting", ["mobile_number", "phone_number_2", "phone_number_3"])
def test_every_phone_identity_reaches_the_phone_setting(fake: FakeTikTok, setting: str) -> None:
    forwarder = make_forwarder(fake, {"default": connection(phone_identity_type=setting)})
    ids = sdk.identities(**{setting: "(650) 253-0000"})
    forwarder.forward([message(sdk.batch([sdk.purchase()], user_identities=ids))])
    assert sent(fake)[0]["user"]["phone"] == sha("+16502530000")


def test_the_events_api_json_spelling_works_as_well(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(fake, {"default": connection(email_identity_type="other_id_4")})
    body = sdk.batch([sdk.purchase()]).replace('"customerid"', '"customer_id"')
    body = body.replace('"email": "Jane.Doe@Example.com"', '"other4": "Jane.Doe@Example.com"')
    forwarder.forward([message(body)])
    user = sent(fake)[0]["user"]
    assert user["external_id"] == sha("cust-42")
    assert user["email"] == sha("jane.doe@example.com")


def test_every_user_identities_field_of_the_python_sdk_is_a_known_identity_type() -> None:
    fields = mparticle.UserIdentities().attribute_map.values()
    assert {canonical_identity_type(f) for f in fields} <= MPARTICLE_IDENTITY_TYPES


def test_an_unknown_identity_type_setting_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValidationError, match="unknown mParticle identity type 'customer_number'"):
        connection(external_identity_type="customer_number")


@given(st.text(max_size=30))
def test_canonical_identity_type_is_idempotent_and_never_raises(name: str) -> None:
    once = canonical_identity_type(name)
    assert canonical_identity_type(once) == once


@given(
    st.integers(min_value=2, max_value=10),
    st.sampled_from(["other{n}", "other_{n}", "Other {n}", "OTHER-ID-{n}", "other_id_{n}"]),
)
def test_every_spelling_of_other_n_is_other_id_n(n: int, spelling: str) -> None:
    assert canonical_identity_type(spelling.format(n=n)) == f"other_id_{n}"


def test_canonical_names_map_to_themselves() -> None:
    assert {
        canonical_identity_type(t) for t in MPARTICLE_IDENTITY_TYPES
    } == MPARTICLE_IDENTITY_TYPES
