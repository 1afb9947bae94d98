"""The forwarder's batch behaviour: grouping and splitting, dropping bad events without sinking
their neighbours, retries, token refetch, poison messages, redelivery, deadline, no PII in logs."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.events.support import (
    APP_ID,
    PIXEL,
    TOKEN,
    FakeTikTok,
    StaticConnections,
    connection,
    make_forwarder,
    message,
)
from tiktok_connector.events.messages import SqsMessage, sqs_message

T_MS = 1_700_000_000_000
URL = "https://shop.example/p"
RAW_EMAIL = "secret.person@example.com"
RAW_PHONE = "+1 650 253 0000"


def event(i: int, *, url: str | None = URL, action: str = "add_to_cart") -> dict[str, Any]:
    flags = {"TikTok.URL": url} if url is not None else {}
    return {
        "event_type": "commerce_event",
        "data": {
            "timestamp_unixtime_ms": T_MS + i,
            "source_message_id": f"ev-{i}",
            "custom_flags": flags,
            "product_action": {
                "action": action,
                "products": [{"id": i, "price": 1, "quantity": 1}],
            },
        },
    }


def batch(events: list[dict[str, Any]], **extra: Any) -> str:
    return json.dumps(
        {
            "events": events,
            "user_identities": {"email": RAW_EMAIL, "mobile_number": RAW_PHONE},
            **extra,
        }
    )


def sent_ids(fake: FakeTikTok) -> list[str]:
    out = []
    for body in fake.bodies:
        for item in body.get("data", body.get("batch", [])):
            out.append(item["event_id"])
    return out


def test_2500_events_go_as_1000_1000_500(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(fake, {"default": connection()})
    messages = [
        message(batch([event(m * 500 + i) for i in range(500)]), f"m-{m}") for m in range(5)
    ]
    result = forwarder.forward(messages)
    assert [len(b["data"]) for b in fake.bodies] == [1000, 1000, 500]
    assert result.forwarded == 2500
    assert result.failed == set()
    assert sent_ids(fake) == [f"ev-{i}" for i in range(2500)]


def test_requests_in_flight_together_give_the_same_outcome(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(fake, {"default": connection()}, max_in_flight=4)
    messages = [
        message(batch([event(m * 500 + i) for i in range(500)]), f"m-{m}") for m in range(5)
    ]
    result = forwarder.forward(messages)
    assert sorted(len(b["data"]) for b in fake.bodies) == [500, 1000, 1000]
    assert sorted(sent_ids(fake)) == sorted(f"ev-{i}" for i in range(2500))
    assert result.forwarded == 2500
    assert result.requests == 3
    assert result.failed == set()


def test_legacy_pixel_batch_is_cut_at_50(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(
        fake, {"default": connection(event_source_type="legacy_pixel_batch_web")}
    )
    result = forwarder.forward([message(batch([event(i) for i in range(120)]))])
    assert [len(b["batch"]) for b in fake.bodies] == [50, 50, 20]
    assert {r.path for r in fake.requests} == {"pixel/batch"}
    assert result.forwarded == 120


def test_events_are_grouped_by_connection(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(
        fake,
        {
            "default": connection(),
            "shop-app": connection(
                event_source_type="app", event_source_id=APP_ID, access_token="app-token"
            ),
        },
    )
    app_batch = batch([event(100), event(101)], application_info={"package": "com.demo"})
    result = forwarder.forward(
        [
            message(batch([event(1)]), "a"),
            message(app_batch, "b", "shop-app"),
            message(batch([event(2)]), "c"),
        ]
    )
    assert result.failed == set()
    assert [(r.body["event_source"], r.token, len(r.body["data"])) for r in fake.requests] == [
        ("web", TOKEN, 2),
        ("app", "app-token", 2),
    ]


def test_an_invalid_event_does_not_block_its_neighbours(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(fake, {"default": connection()})
    events = [
        event(1),
        event(2, url=None),  # web without TikTok.URL
        event(3, url="ftp://shop.example/x"),  # not http(s)
        event(4, action="refund"),  # unsupported product action
        {"event_type": "custom_event", "data": {"event_name": "x", "timestamp_unixtime_ms": T_MS}},
        {"event_type": "commerce_event", "data": {"timestamp_unixtime_ms": "not a number"}},
        "not an event",
        event(5),
    ]
    result = forwarder.forward([message(batch(events))])
    assert sent_ids(fake) == ["ev-1", "ev-5"]
    assert result.failed == set()
    assert dict(result.dropped) == {
        "missing_page_url": 2,
        "unsupported_event": 2,
        "invalid_event": 2,
    }


def test_throttling_then_success(fake: FakeTikTok) -> None:
    fake.script = [40100, 40100, 50002]
    forwarder = make_forwarder(fake, {"default": connection()})
    result = forwarder.forward([message(batch([event(1), event(2)]))])
    assert len(fake.requests) == 4
    assert all(r.body == fake.requests[0].body for r in fake.requests)
    assert result.retries == 3
    assert result.failed == set()
    assert result.forwarded == 2


def test_throttled_past_the_retries_fails_only_the_messages_in_that_request(
    fake: FakeTikTok,
) -> None:
    fake.script = [40100] * 4  # every attempt of the first request
    forwarder = make_forwarder(
        fake,
        {"default": connection(), "other": connection(access_token="other-token")},
    )
    result = forwarder.forward(
        [
            message(batch([event(1)]), "a"),
            message(batch([event(2)]), "b", "other"),
            message(batch([event(3)]), "c"),
        ]
    )
    assert result.failed == {"a", "c"}
    assert result.forwarded == 1
    assert result.codes[40100] == 1


def test_a_redelivered_message_does_not_resend_what_already_went(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(fake, {"default": connection()})
    fake.script = [0, 40100, 40100, 40100, 40100]  # first request ok, second throttled out
    body = batch([event(i) for i in range(1001)])
    first = forwarder.forward([message(body, "m-1")])
    assert first.failed == {"m-1"}
    assert first.forwarded == 1000
    fake.requests.clear()
    second = forwarder.forward([message(body, "m-1")])
    assert second.failed == set()
    assert sent_ids(fake) == ["ev-1000"]
    assert second.already_sent == 1000


def test_rejected_token_is_refetched_once() -> None:
    fake = FakeTikTok(script=[40105])
    connections = StaticConnections(
        {"default": connection()}, refreshed={"default": connection(access_token="rotated")}
    )
    forwarder = make_forwarder(fake, connections)
    result = forwarder.forward([message(batch([event(1)]))])
    assert [r.token for r in fake.requests] == [TOKEN, "rotated"]
    assert result.failed == set()
    assert connections.refreshes == 1


def test_a_token_still_rejected_after_refetch_fails_the_messages() -> None:
    fake = FakeTikTok(script=[40105, 40105])
    connections = StaticConnections({"default": connection()})
    forwarder = make_forwarder(fake, connections)
    result = forwarder.forward([message(batch([event(1)]))])
    assert len(fake.requests) == 1  # same token after refetch: not sent again
    assert result.failed == {"m-1"}
    assert connections.refreshes == 1


def test_permanent_error_surfaces_code_message_and_request_id(
    fake: FakeTikTok, caplog: pytest.LogCaptureFixture
) -> None:
    fake.script = [40002]
    forwarder = make_forwarder(fake, {"default": connection()})
    with caplog.at_level(logging.INFO, logger="test.forwarder"):
        result = forwarder.forward([message(batch([event(1)]))])
    assert len(fake.requests) == 1  # not retried
    assert result.failed == {"m-1"}
    failures = [r for r in caplog.records if r.getMessage() == "TikTok request failed"]
    assert len(failures) == 1
    rec = failures[0].__dict__
    assert (rec["code"], rec["tiktok_message"], rec["request_id"]) == (
        40002,
        "error 40002",
        "req-1",
    )


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        '{"hello": "world"}',
        '{"events": "nope"}',
        '{"events": [], "user_identities": "x"}',
        "",
    ],
)
def test_malformed_messages_fail_every_time(fake: FakeTikTok, body: str) -> None:
    forwarder = make_forwarder(fake, {"default": connection()})
    result = forwarder.forward([message(body, "poison"), message(batch([event(1)]), "good")])
    assert result.failed == {"poison"}
    assert result.malformed == 1
    assert sent_ids(fake) == ["ev-1"]


def test_unknown_connection_fails_the_message(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(fake, {"default": connection()})
    result = forwarder.forward([message(batch([event(1)]), "x", "nobody")])
    assert result.failed == {"x"}
    assert fake.requests == []


def test_nothing_is_sent_past_the_deadline(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(fake, {"default": connection()}, clock=lambda: 100.0)
    result = forwarder.forward([message(batch([event(1)]))], deadline=101.0)
    assert fake.requests == []
    assert result.failed == {"m-1"}


def test_logs_never_carry_pii_or_tokens(fake: FakeTikTok, caplog: pytest.LogCaptureFixture) -> None:
    fake.script = [40002]
    forwarder = make_forwarder(fake, {"default": connection()})
    with caplog.at_level(logging.DEBUG):
        forwarder.forward(
            [
                message(batch([event(1), event(2, url=None)]), "m-1"),
                message("garbage " + RAW_EMAIL, "m-2"),
                message(batch([event(3)]), "m-3", "missing"),
            ]
        )
    assert caplog.records
    dumped = " ".join(json.dumps(r.__dict__, default=str) for r in caplog.records)
    for secret in (RAW_EMAIL, "253 0000", TOKEN):
        assert secret not in dumped


def test_sqs_record_names_its_connection_by_attribute() -> None:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    named = SQSRecord(
        {
            "messageId": "1",
            "body": "{}",
            "messageAttributes": {"connection": {"stringValue": "shop-app", "dataType": "String"}},
        }
    )
    unnamed = SQSRecord({"messageId": "2", "body": "{}", "messageAttributes": {}})
    assert sqs_message(named) == SqsMessage("1", "{}", "shop-app")
    assert sqs_message(unnamed) == SqsMessage("2", "{}", "default")


# ---------------------------------------------------------------- events already in TikTok's shape
def test_tiktok_shaped_events_are_validated_cleaned_and_hashed(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(fake, {"default": connection(test_event_code="T1")})
    single = {
        "event": "CompletePayment",
        "event_time": T_MS,  # milliseconds: becomes seconds
        "event_id": 12345678901234567890,
        "user": {"email": " Secret.Person@Example.com ", "phone": RAW_PHONE, "unknown": "x"},
        "properties": {
            "currency": "eur",
            "value": "12.5",
            "contents": [{"content_id": 77, "price": 12.5}],
        },
        "page": {"url": URL},
    }
    request_like = {
        "event_source": "web",
        "event_source_id": PIXEL,
        "data": [single, {**single, "page": {}}],
    }
    result = forwarder.forward(
        [message(json.dumps(single), "a"), message(json.dumps(request_like), "b")]
    )
    assert result.failed == set()
    assert dict(result.dropped) == {"missing_page_url": 1}
    body = fake.requests[0].body
    assert body["test_event_code"] == "T1"
    assert len(body["data"]) == 2
    import hashlib

    assert body["data"][0] == {
        "event": "CompletePayment",
        "event_time": T_MS // 1000,
        "event_id": "12345678901234567890",
        "user": {
            "email": hashlib.sha256(RAW_EMAIL.encode()).hexdigest(),
            "phone": hashlib.sha256(b"+16502530000").hexdigest(),
        },
        "properties": {
            "currency": "EUR",
            "value": 12.5,
            "contents": [{"content_id": "77", "price": 12.5}],
        },
        "page": {"url": URL},
        "limited_data_use": False,
    }


def test_tiktok_shaped_request_for_another_source_is_dropped(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(fake, {"default": connection()})
    body = {
        "event_source": "web",
        "event_source_id": "OTHERPIXEL",
        "data": [{"event": "Contact", "event_time": 1}],
    }
    result = forwarder.forward([message(json.dumps(body))])
    assert fake.requests == []
    assert dict(result.dropped) == {"event_source_mismatch": 1}
    assert result.failed == set()


# ---------------------------------------------------------------- property: nothing lost, shapes hold
_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
)
_product = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.integers(), st.text(max_size=6)),
        "price": st.one_of(st.integers(-5, 500), st.floats(0, 500), st.text(max_size=3)),
        "quantity": st.one_of(st.integers(0, 9), st.floats(0, 9)),
        "name": _json_leaf,
    },
)
_event = st.fixed_dictionaries(
    {"event_type": st.sampled_from(["commerce_event", "custom_event", "screen_view", "bogus"])},
    optional={
        "data": st.fixed_dictionaries(
            {},
            optional={
                "timestamp_unixtime_ms": st.one_of(st.integers(-1, 2**62), st.text(max_size=3)),
                "event_id": st.integers(-(2**63), 2**63 - 1),
                "source_message_id": st.one_of(st.text(max_size=5), st.none()),
                "currency_code": st.one_of(st.sampled_from(["USD", "eur", "X"]), _json_leaf),
                "custom_flags": st.one_of(
                    st.fixed_dictionaries({"TikTok.URL": st.sampled_from([URL, "nope", ""])}),
                    _json_leaf,
                ),
                "product_action": st.fixed_dictionaries(
                    {
                        "action": st.sampled_from(
                            ["purchase", "add_to_cart", "refund", "view_detail"]
                        )
                    },
                    optional={
                        "total_amount": _json_leaf,
                        "products": st.lists(_product, max_size=3),
                    },
                ),
            },
        )
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=st.lists(st.one_of(_event, _json_leaf), max_size=6))
def test_every_event_is_sent_or_dropped_and_sent_events_are_well_typed(events: list[Any]) -> None:
    fake = FakeTikTok()
    forwarder = make_forwarder(fake, {"default": connection()})
    result = forwarder.forward([message(json.dumps({"events": events}))])
    assert result.failed == set()
    assert result.forwarded + sum(result.dropped.values()) == len(events)
    for body in fake.bodies:
        for item in body["data"]:
            assert isinstance(item["event_time"], int)
            assert 0 < item["event_time"] < 100_000_000_000
            assert isinstance(item.get("event_id", ""), str)
            assert item["page"]["url"] == URL
            for content in item["properties"].get("contents", []):
                assert isinstance(content.get("content_id", ""), str)


def test_an_unexpected_mapping_error_fails_only_its_message(
    fake: FakeTikTok, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tiktok_connector.events.mapping import EventMapper

    original = EventMapper.map_batch

    def flaky(self: EventMapper, batch: Any, *args: Any) -> Any:
        if batch.ip == "boom":
            raise KeyError(RAW_EMAIL)  # an exception text may quote input: it must not be logged
        return original(self, batch, *args)

    monkeypatch.setattr(EventMapper, "map_batch", flaky)
    forwarder = make_forwarder(fake, {"default": connection()})
    result = forwarder.forward(
        [message(batch([event(1)], ip="boom"), "bad"), message(batch([event(2)]), "good")]
    )
    assert result.failed == {"bad"}
    assert sent_ids(fake) == ["ev-2"]


def test_an_unexpected_send_error_fails_only_that_requests_messages() -> None:
    class Broken(FakeTikTok):
        def request(self, method: str, url: str, **kwargs: Any) -> Any:
            if "OTHER" in json.dumps(kwargs.get("json")):
                raise RuntimeError("socket exploded")
            return super().request(method, url, **kwargs)

    fake = Broken()
    forwarder = make_forwarder(
        fake, {"default": connection(), "other": connection(event_source_id="OTHERPIXEL")}
    )
    result = forwarder.forward(
        [message(batch([event(1)]), "a"), message(batch([event(2)]), "b", "other")]
    )
    assert result.failed == {"b"}
    assert result.forwarded == 1


def test_tiktok_shaped_event_on_a_legacy_connection_becomes_a_pixel_item(fake: FakeTikTok) -> None:
    import hashlib

    forwarder = make_forwarder(
        fake, {"default": connection(event_source_type="legacy_pixel_batch_web")}
    )
    shaped = {
        "event": "AddToCart",
        "event_time": 1_700_000_000,
        "event_id": "x-1",
        "user": {
            "email": RAW_EMAIL,
            "ttclid": "E.C.P.abc",
            "ip": "198.51.100.1",
            "idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC",
        },
        "properties": {
            "contents": [{"content_id": 9}],
            "content_type": "product",
            "search_string": "tees",
        },
        "page": {"url": URL},
    }
    result = forwarder.forward([message(json.dumps(shaped))])
    assert result.failed == set()
    assert fake.requests[0].path == "pixel/batch"
    assert fake.requests[0].body == {
        "pixel_code": PIXEL,
        "batch": [
            {
                "type": "track",
                "event": "AddToCart",
                "event_id": "x-1",
                "timestamp": "2023-11-14T22:13:20.000Z",
                "context": {
                    "user": {"email": hashlib.sha256(RAW_EMAIL.encode()).hexdigest()},
                    "ad": {"callback": "E.C.P.abc"},
                    "page": {"url": URL},
                    "ip": "198.51.100.1",
                },
                "properties": {
                    "contents": [{"content_id": "9", "content_type": "product"}],
                    "query": "tees",
                },
            }
        ],
    }


def test_tiktok_shaped_app_event_needs_app_and_keeps_hashed_maids(fake: FakeTikTok) -> None:
    import hashlib

    forwarder = make_forwarder(
        fake, {"default": connection(event_source_type="app", event_source_id=APP_ID)}
    )
    base = {
        "event": "Purchase",
        "event_time": 1_700_000_000,
        "user": {"gaid": "38400000-8CF0-11BD-B23E-10B96E40000D"},
    }
    result = forwarder.forward(
        [message(json.dumps({"data": [base, {**base, "app": {"app_id": "com.demo"}}]}))]
    )
    assert dict(result.dropped) == {"missing_app_id": 1}
    (sent,) = fake.requests[0].body["data"]
    assert sent["app"] == {"app_id": "com.demo"}
    assert sent["user"] == {
        "gaid": hashlib.sha256(b"38400000-8cf0-11bd-b23e-10b96e40000d").hexdigest()
    }
