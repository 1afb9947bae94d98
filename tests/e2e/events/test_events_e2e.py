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
