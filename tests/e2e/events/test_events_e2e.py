"""End to end on the local stack: messages on the events queue → events in the emulator, each once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tiktok_local.demo_events import send_sample_events
from tiktok_local.stack import LocalStack

T_MS = 1_763_633_700_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack.start(
        workdir=tmp_path_factory.mktemp("events-stack"), time_scale=0.001
    ) as running:
        yield running


def _queue_depth(stack: LocalStack, url: str) -> int:
    attrs = stack.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attrs.values())


def test_events_on_the_queue_reach_the_emulator_each_once(
    stack: LocalStack, tmp_path: Path
) -> None:
    assert stack.emulator is not None
    sqs = stack.client("sqs")
    sent_ids = []
    for m in range(24):
        events = []
        for i in range(50):
            event_id = f"e2e-{m}-{i}"
            sent_ids.append(event_id)
            events.append(
                {
                    "event_type": "commerce_event",
                    "data": {
                        "source_message_id": event_id,
                        "timestamp_unixtime_ms": T_MS + i,
                        "custom_flags": {"TikTok.URL": "https://shop.example.com/p"},
                        "product_action": {"action": "view_detail", "products": [{"id": i}]},
                    },
                }
            )
        body = {
            "events": events,
            "user_identities": {"email": f"user{m}@example.com"},
            "ip": "203.0.113.1",
        }
        # half the messages name the connection, half rely on the default
        attributes = (
            {"connection": {"DataType": "String", "StringValue": "default"}} if m % 2 else {}
        )
        sqs.send_message(
            QueueUrl=stack.names["events_queue_url"],
            MessageBody=json.dumps(body),
            MessageAttributes=attributes,
        )
    sqs.send_message(QueueUrl=stack.names["events_queue_url"], MessageBody="poison, not JSON")

    assert stack.wait_idle(60)
    received = [
        r["event"]["event_id"]
        for r in stack.emulator.state.events
        if str(r["event"].get("event_id", "")).startswith("e2e-")
    ]
    assert sorted(received) == sorted(sent_ids)  # every event, each exactly once
    assert _queue_depth(stack, stack.names["events_queue_url"]) == 0
    assert _queue_depth(stack, stack.names["events_dlq_url"]) == 1  # the poison message


def test_demo_step_events_arrive_as_expected(stack: LocalStack) -> None:
    assert stack.emulator is not None
    lines: list[str] = []
    send_sample_events(stack, lines.append)
    text = "\n".join(lines)
    assert "PlaceAnOrder" in text
    assert "AddToCart" in text
    assert "dropped (unsupported_event)" in text
    assert "CompletePayment" in text


def _dead_letters(stack: LocalStack) -> list[dict[str, str]]:
    got = stack.client("sqs").receive_message(
        QueueUrl=stack.names["events_dlq_url"],
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        VisibilityTimeout=0,
    )
    return [
        {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()}
        for m in got.get("Messages", [])
    ]


def test_undeliverable_messages_land_in_the_dlq_with_their_reason(stack: LocalStack) -> None:
    """Issue 12 item 11 / issue 17 item 3 on the local stack: an unknown connection and a pixel
    the token cannot reach (TikTok's 40001) are moved to the events DLQ with a reason."""
    from tests import mparticle_sdk as sdk
    from tiktok_local.resources import seed_connection

    assert stack.emulator is not None
    seed_connection(
        stack.client,
        prefix=stack.names["connections_secret_prefix"],
        name="other-advertiser",
        value={
            "event_source_type": "web",
            "event_source_id": "CDEMOPIXEL000000000A",
            # a token for advertiser two: the pixel belongs to advertiser one (contract EV-03)
            "access_token": stack.emulator.state.issue_token(["7100000000000000002"]),
        },
    )
    sqs = stack.client("sqs")
    for connection in ("nobody", "other-advertiser"):
        sqs.send_message(
            QueueUrl=stack.names["events_queue_url"],
            MessageBody=sdk.batch([sdk.purchase()]),
            MessageAttributes={"connection": {"DataType": "String", "StringValue": connection}},
        )
    assert stack.wait_idle(60)
    reasons = {d["connection"]: d for d in _dead_letters(stack)}
    assert reasons["nobody"]["failure_reason"] == "unknown_connection"
    assert reasons["other-advertiser"]["failure_reason"] == "tiktok_permission_denied"
    assert reasons["other-advertiser"]["tiktok_code"] == "40001"


def test_a_connection_settings_change_applies_within_seconds(stack: LocalStack) -> None:
    """Issue 12 item 12: the local stack re-reads connection secrets after 5 s (a minute deployed)."""
    import time

    from tests import mparticle_sdk as sdk
    from tiktok_local.resources import seed_connection

    assert stack.emulator is not None
    secrets = stack.client("secretsmanager")
    prefix = stack.names["connections_secret_prefix"]
    value = {
        "event_source_type": "web",
        "event_source_id": "CDEMOPIXEL000000000A",
        "access_token": stack.emulator.state.issue_token(),
        "test_event_code": "BEFORE",
    }
    seed_connection(stack.client, prefix=prefix, name="changing", value=value)
    sqs = stack.client("sqs")
    attributes = {"connection": {"DataType": "String", "StringValue": "changing"}}

    def send(i: int) -> None:
        sqs.send_message(
            QueueUrl=stack.names["events_queue_url"],
            MessageBody=sdk.batch([sdk.purchase(i)]),
            MessageAttributes=attributes,
        )
        assert stack.wait_idle(60)

    send(501)
    secrets.put_secret_value(
        SecretId=prefix + "changing", SecretString=json.dumps({**value, "test_event_code": "AFTER"})
    )
    time.sleep(5.5)  # CONNECTIONS_MAX_AGE on the local stack
    send(502)
    codes = {
        r["event"]["event_id"]: r["test_event_code"]
        for r in stack.emulator.state.events
        if r["event_source_id"] == "CDEMOPIXEL000000000A"
    }
    assert codes[str(6004677780660780000 + 501)] == "BEFORE"
    assert codes[str(6004677780660780000 + 502)] == "AFTER"
