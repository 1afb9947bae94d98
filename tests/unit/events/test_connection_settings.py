"""Each connection setting (seed "Connection Settings" table and DESIGN §3.5/§3.7) changes the
request the way it says, and bad settings are refused with a clear message."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from pydantic import ValidationError

from tests.unit.events.support import (
    APP_ID,
    PIXEL,
    TOKEN,
    FakeTikTok,
    connection,
    make_forwarder,
    message,
)
from tiktok_connector.events.settings import ConnectionSettings, EventSourceType, ForwarderSettings
from tiktok_connector.settings import SettingsError, reset_settings

T_MS = 1_700_000_000_123
URL = "https://shop.example/checkout"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def purchase_batch(**batch: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "events": [
            {
                "event_type": "commerce_event",
                "data": {
                    "timestamp_unixtime_ms": T_MS,
                    "source_message_id": "m-1",
                    "custom_flags": {"TikTok.URL": URL, "TikTok.Callback": "E.C.P.click"},
                    "product_action": {
                        "action": "purchase",
                        "total_amount": 10,
                        "products": [{"id": 5, "price": 10, "quantity": 1}],
                    },
                },
            }
        ],
        "user_identities": {
            "email": "Alice@Example.com",
            "other": "bob@example.com",
            "mobile_number": "+1 650 253 0000",
            "phone_number_2": "+44 20 7946 0958",
            "customer_id": "cust-1",
            "other_id_3": "crm-77",
        },
        "device_info": {
            "ios_advertising_id": "6D92078A-8246-4BA4-AE5B-76104861E7DC",
            "android_advertising_id": "38400000-8cf0-11bd-b23e-10b96e40000d",
        },
        "application_info": {"package": "com.demo.shop"},
        "partner_identities": {"tiktok_cookie_id": "ttp-1"},
        "user_attributes": {"$FirstName": "Ada", "campaignId": "9"},
        "mpid": 8675309,
    }
    body.update(batch)
    return body


def send(batch: dict[str, Any], **settings: Any) -> tuple[FakeTikTok, Any]:
    fake = FakeTikTok()
    forwarder = make_forwarder(fake, {"default": connection(**settings)})
    result = forwarder.forward([message(json.dumps(batch))])
    return fake, result


def only_event(fake: FakeTikTok) -> dict[str, Any]:
    assert len(fake.requests) == 1
    body = fake.requests[0].body
    events = body["data"] if "data" in body else body["batch"]
    assert len(events) == 1
    return events[0]


def test_defaults_follow_the_seed() -> None:
    s = ConnectionSettings(access_token="t", event_source_id="X")  # type: ignore[arg-type]
    assert s.event_source_type is EventSourceType.LEGACY_PIXEL_BATCH_WEB
    assert (s.email_identity_type, s.phone_identity_type, s.external_identity_type) == (
        "email",
        "mobile_number",
        "customer_id",
    )
    assert s.content_type == "product"
    assert s.enrich_ip is False
    assert s.enable_web_migration is False
    assert s.test_event_code is None
    assert s.custom_mappings == ()


def test_access_token_goes_in_the_header_and_never_in_repr() -> None:
    fake, _ = send(purchase_batch())
    assert fake.requests[0].token == TOKEN
    assert TOKEN not in repr(connection())
    assert TOKEN not in str(connection())


@pytest.mark.parametrize(
    ("source_type", "source_id", "path", "event_source"),
    [
        ("web", PIXEL, "event/track", "web"),
        ("app", APP_ID, "event/track", "app"),
        ("offline", "7300000000000000001", "event/track", "offline"),
        ("crm", "7400000000000000001", "event/track", "crm"),
        ("legacy_pixel_batch_web", PIXEL, "pixel/batch", None),
    ],
)
def test_event_source_type_picks_endpoint_and_source(
    source_type: str, source_id: str, path: str, event_source: str | None
) -> None:
    batch = purchase_batch()
    batch["events"][0]["data"]["custom_attributes"] = {"lead_id": "L-1"}
    fake, result = send(batch, event_source_type=source_type, event_source_id=source_id)
    assert result.failed == set()
    sent = fake.requests[0]
    assert sent.path == path
    if event_source is None:
        assert sent.body["pixel_code"] == source_id
        assert "event_source" not in sent.body
    else:
        assert (sent.body["event_source"], sent.body["event_source_id"]) == (
            event_source,
            source_id,
        )


def test_email_identity_type_chooses_the_identity() -> None:
    fake, _ = send(purchase_batch(), email_identity_type="other")
    assert only_event(fake)["user"]["email"] == sha("bob@example.com")


def test_phone_identity_type_chooses_the_identity_and_hashes_e164() -> None:
    fake, _ = send(purchase_batch())
    assert only_event(fake)["user"]["phone"] == sha("+16502530000")
    fake, _ = send(purchase_batch(), phone_identity_type="phone_number_2")
    assert only_event(fake)["user"]["phone"] == sha("+442079460958")


def test_external_identity_type_chooses_the_identity() -> None:
    fake, _ = send(purchase_batch())
    assert only_event(fake)["user"]["external_id"] == sha("cust-1")
    fake, _ = send(purchase_batch(), external_identity_type="other_id_3")
    assert only_event(fake)["user"]["external_id"] == sha("crm-77")
    fake, _ = send(purchase_batch(), external_identity_type="mpid")
    assert only_event(fake)["user"]["external_id"] == sha("8675309")


def test_email_is_trimmed_and_lower_cased_before_hashing() -> None:
    fake, _ = send(purchase_batch())
    assert only_event(fake)["user"]["email"] == sha("alice@example.com")


def test_content_type_setting() -> None:
    fake, _ = send(purchase_batch(), content_type="product_group")
    assert only_event(fake)["properties"]["content_type"] == "product_group"


def test_test_event_code_is_top_level() -> None:
    fake, _ = send(purchase_batch(), test_event_code="TEST123")
    assert fake.requests[0].body["test_event_code"] == "TEST123"
    fake, _ = send(
        purchase_batch(), event_source_type="legacy_pixel_batch_web", test_event_code="TEST9"
    )
    assert fake.requests[0].body["test_event_code"] == "TEST9"
    fake, _ = send(purchase_batch())
    assert "test_event_code" not in fake.requests[0].body


def test_web_migration_sends_track_events_with_user_data() -> None:
    fake, _ = send(purchase_batch(), event_source_type="legacy_pixel_batch_web")
    legacy = only_event(fake)
    assert fake.requests[0].path == "pixel/batch"
    assert "first_name" not in json.dumps(legacy)
    assert "ad" not in legacy
    fake, _ = send(
        purchase_batch(), event_source_type="legacy_pixel_batch_web", enable_web_migration=True
    )
    migrated = only_event(fake)
    assert fake.requests[0].path == "event/track"
    assert fake.requests[0].body["event_source"] == "web"
    assert migrated["user"]["first_name"] == sha("ada")
    assert migrated["ad"] == {"campaign_id": "9"}


def test_legacy_pixel_batch_keeps_events_1_0_shapes() -> None:
    fake, result = send(
        purchase_batch(ip="198.51.100.4"), event_source_type="legacy_pixel_batch_web"
    )
    assert result.failed == set()
    assert fake.requests[0].body == {
        "pixel_code": PIXEL,
        "batch": [
            {
                "type": "track",
                "event": "PlaceAnOrder",
                "event_id": "m-1",
                "timestamp": "2023-11-14T22:13:20.123Z",
                "context": {
                    "user": {
                        "email": sha("alice@example.com"),
                        "phone_number": sha("+16502530000"),
                        "external_id": sha("cust-1"),
                        "ttp": "ttp-1",
                    },
                    "ad": {"callback": "E.C.P.click"},
                    "page": {"url": URL},
                    "ip": "198.51.100.4",
                },
                "properties": {
                    "value": 10,
                    "contents": [
                        {"content_id": "5", "price": 10, "quantity": 1, "content_type": "product"}
                    ],
                },
            }
        ],
    }


def test_maids_are_hashed_and_sent_only_on_app_connections() -> None:
    fake, _ = send(purchase_batch(), event_source_type="app", event_source_id=APP_ID)
    user = only_event(fake)["user"]
    assert user["idfa"] == sha("6d92078a-8246-4ba4-ae5b-76104861e7dc")
    assert user["gaid"] == sha("38400000-8cf0-11bd-b23e-10b96e40000d")
    assert "ttp" not in user
    assert "ttclid" not in user
    assert only_event(fake)["ad"] == {"campaign_id": "9", "callback": "E.C.P.click"}
    for source_type, source_id in (("web", PIXEL), ("offline", "7300000000000000001")):
        fake, _ = send(purchase_batch(), event_source_type=source_type, event_source_id=source_id)
        assert "idfa" not in only_event(fake)["user"]
        assert "gaid" not in only_event(fake)["user"]


def test_enrich_ip_falls_back_to_the_users_last_seen_ip() -> None:
    for enrich, expected in ((True, "203.0.113.7"), (False, None)):
        fake = FakeTikTok()
        forwarder = make_forwarder(fake, {"default": connection(enrich_ip=enrich)})
        forwarder.forward([message(json.dumps(purchase_batch(ip="203.0.113.7")), "m-1")])
        forwarder.forward([message(json.dumps(purchase_batch()), "m-2")])
        assert fake.requests[1].body["data"][0]["user"].get("ip") == expected


def test_ccpa_opt_out_sets_limited_data_use() -> None:
    consented = {"ccpa": {"data_sale_opt_out": {"consented": True, "timestamp_unixtime_ms": T_MS}}}
    not_consented = {"ccpa": {"data_sale_opt_out": {"consented": False}}}
    fake, _ = send(purchase_batch(consent_state=consented))
    assert only_event(fake)["limited_data_use"] is True
    fake, _ = send(purchase_batch(consent_state=not_consented))
    assert only_event(fake)["limited_data_use"] is False
    fake, _ = send(purchase_batch(consent_state={"gdpr": {}}))
    assert only_event(fake)["limited_data_use"] is False


def test_custom_mapping_overrides_the_default_commerce_mapping() -> None:
    mappings = [
        {
            "event_type": "commerce_event",
            "event_name": "purchase",
            "tiktok_event": "CompletePayment",
        }
    ]
    fake, _ = send(purchase_batch(), custom_mappings=mappings)
    event = only_event(fake)
    assert event["event"] == "CompletePayment"
    assert event["properties"]["value"] == 10


def test_custom_mapping_of_screen_view_with_attribute_mappings() -> None:
    batch = purchase_batch(
        events=[
            {
                "event_type": "screen_view",
                "data": {
                    "screen_name": "Search Results",
                    "timestamp_unixtime_ms": T_MS,
                    "custom_flags": {"TikTok.URL": URL},
                    "custom_attributes": {"q": "red shoes", "ignored": "x"},
                },
            }
        ]
    )
    mappings = [
        {
            "event_type": "screen_view",
            "event_name": "Search Results",
            "tiktok_event": "Search",
            "attribute_mappings": {"q": "query"},
        }
    ]
    fake, _ = send(batch, custom_mappings=mappings)
    assert only_event(fake)["properties"] == {"search_string": "red shoes"}


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"event_source_type": "tv"}, "event_source_type"),
        ({"email_identity_type": "shoe_size"}, "unknown mParticle identity type"),
        ({"content_type": "sku"}, "content_type"),
        ({"event_source_id": ""}, "event_source_id"),
        ({"surprise": 1}, "surprise"),
        (
            {
                "custom_mappings": [
                    {"event_type": "custom_event", "event_name": "a", "tiktok_event": "Contact"}
                ]
                * 2
            },
            "two custom mappings",
        ),
    ],
)
def test_invalid_settings_are_refused(settings: dict[str, Any], fragment: str) -> None:
    values = {"access_token": "t", "event_source_id": "X", **settings}
    with pytest.raises(ValidationError) as exc:
        ConnectionSettings.model_validate(values)
    assert fragment in str(exc.value)


def test_forwarder_environment_defaults_and_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    from tiktok_connector.events.settings import forwarder_settings

    monkeypatch.delenv("CONNECTIONS_SECRET_PREFIX", raising=False)
    monkeypatch.delenv("DEFAULT_PHONE_REGION", raising=False)
    reset_settings()
    settings = forwarder_settings()
    assert isinstance(settings, ForwarderSettings)
    assert settings.connections_secret_prefix == "tiktok-connector/connections/"
    assert settings.default_phone_region == "US"
    monkeypatch.setenv("DEFAULT_PHONE_REGION", "united kingdom")
    reset_settings()
    with pytest.raises(SettingsError, match="DEFAULT_PHONE_REGION"):
        forwarder_settings()
    reset_settings()


def test_odd_types_in_flags_identities_and_attributes_do_not_break_the_event() -> None:
    batch = purchase_batch(
        user_identities={
            "email": ["first@example.com", "second@example.com"],
            "customer_id": 12345,
            "other": {"x": 1},
        },
        user_attributes={"$FirstName": ["Ada", "Grace"], "$City": 7, "isRetargeting": "maybe"},
        partner_identities={"tiktok_cookie_id": False},
    )
    batch["events"][0]["data"]["custom_flags"]["TikTok.Referrer"] = True
    batch["events"][0]["data"]["custom_flags"]["Other.Flag"] = {"nested": 1}
    fake, result = send(batch, email_identity_type="email", external_identity_type="customer_id")
    assert result.failed == set()
    user = only_event(fake)["user"]
    assert user["email"] == sha("first@example.com")
    assert user["external_id"] == sha("12345")
    assert user["first_name"] == sha("ada")
    assert "city" not in user
    assert "ttp" not in user
    assert only_event(fake)["page"] == {"url": URL}
    assert "is_retargeting" not in only_event(fake).get("ad", {})


def test_settings_problems_name_the_setting_and_never_the_value() -> None:
    """The exact error for a bad connection (issue 14: `tiktok-connector connections check`),
    shared with the forwarder's DLQ detail: unknown keys, wrong types, nested mappings."""
    from tiktok_connector.events.settings import settings_problems

    raw = {
        "access_token": "tok-super-secret-1",
        "event_source_id": "CPIXEL",
        "enrich_ip": "perhaps",
        "pixel_id": "tok-super-secret-1",
        "custom_mappings": [{"event_type": "custom_event", "event_name": "Signup"}],
    }
    with pytest.raises(ValidationError) as err:
        ConnectionSettings.model_validate(raw)

    problems = settings_problems(err.value)

    assert problems == [
        "enrich_ip: Input should be a valid boolean, unable to interpret input",
        "custom_mappings.0.tiktok_event: Field required",
        "pixel_id: unknown setting",
    ]
    assert "tok-super-secret-1" not in " ".join(problems)
