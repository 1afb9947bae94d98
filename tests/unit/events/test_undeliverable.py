"""Messages that can never be delivered say why (issue 12 item 11, issue 17 item 3): the forwarder
moves them to the events DLQ with their reason and reports them processed; what may pass (a
throttled request, a DLQ that does not answer) is still redelivered by SQS."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tests import mparticle_sdk as sdk
from tests.unit.events.support import FakeTikTok, connection, make_forwarder, message
from tiktok_connector.events.messages import MessageFailure, SqsMessage


class FakeDeadLetters:
    """Records what would be sent to the DLQ; ``broken`` makes every send fail."""

    def __init__(self, broken: bool = False) -> None:
        self.sent: list[tuple[SqsMessage, MessageFailure]] = []
        self.broken = broken

    def send(self, message: SqsMessage, failure: MessageFailure) -> None:
        if self.broken:
            raise ConnectionError("DLQ unreachable")
        self.sent.append((message, failure))

    def reasons(self) -> dict[str, str]:
        return {m.message_id: f.reason for m, f in self.sent}


def test_malformed_and_unknown_connection_messages_go_to_the_dlq_with_their_reason(
    fake: FakeTikTok, caplog: pytest.LogCaptureFixture
) -> None:
    dlq = FakeDeadLetters()
    forwarder = make_forwarder(fake, {"default": connection()}, dead_letters=dlq)
    good = sdk.batch([sdk.purchase(1)])
    with caplog.at_level(logging.ERROR):
        result = forwarder.forward(
            [
                message("{{{ not json", "poison"),
                message(good, "nobody-msg", "nobody"),
                message(good, "good"),
            ]
        )
    assert result.failed == set()  # all processed: SQS deletes them from the events queue
    assert dlq.reasons() == {"poison": "malformed_message", "nobody-msg": "unknown_connection"}
    assert dict(result.dead_lettered) == {"malformed_message": 1, "unknown_connection": 1}
    moved = {m.message_id: m for m, _ in dlq.sent}
    assert moved["poison"].body == "{{{ not json"  # the body as it came, for a redrive
    assert moved["nobody-msg"].connection == "nobody"
    assert len(fake.requests) == 1
    lines = [r for r in caplog.records if r.getMessage().startswith("message not deliverable")]
    assert [(r.reason, r.message_id) for r in lines] == [  # type: ignore[attr-defined]
        ("malformed_message", "poison"),
        ("unknown_connection", "nobody-msg"),
    ]


def test_invalid_connection_settings_say_which_setting(fake: FakeTikTok) -> None:
    dlq = FakeDeadLetters()

    class Broken:
        def get(self, name: str, *, refresh: bool = False) -> object:
            from tiktok_connector.events.connections import ConnectionUnavailable

            raise ConnectionUnavailable(name, "invalid_connection", "event_source_type: bad")

    forwarder = make_forwarder(fake, {}, dead_letters=dlq)
    forwarder.connections = Broken()  # type: ignore[assignment]
    result = forwarder.forward([message(sdk.batch([sdk.purchase()]), "m")])
    assert result.failed == set()
    [(_, failure)] = dlq.sent
    assert failure == MessageFailure("invalid_connection", "event_source_type: bad")


def test_an_unreadable_connection_secret_is_redelivered_not_dead_lettered(fake: FakeTikTok) -> None:
    dlq = FakeDeadLetters()

    class Throttled:
        def get(self, name: str, *, refresh: bool = False) -> object:
            from tiktok_connector.events.connections import ConnectionUnavailable

            raise ConnectionUnavailable(name, "connection_unreadable", "ThrottlingException")

    forwarder = make_forwarder(fake, {}, dead_letters=dlq)
    forwarder.connections = Throttled()  # type: ignore[assignment]
    result = forwarder.forward([message(sdk.batch([sdk.purchase()]), "m")])
    assert result.failed == {"m"}
    assert dlq.sent == []


def test_no_permission_for_the_pixel_40001_dead_letters_with_tiktoks_code(
    fake: FakeTikTok,
) -> None:
    # contract: EV-03 — permanent for those events: reported with a reason, not retried forever.
    fake.script = [40001]
    dlq = FakeDeadLetters()
    forwarder = make_forwarder(fake, {"default": connection()}, dead_letters=dlq)
    result = forwarder.forward(
        [message(sdk.batch([sdk.purchase(1)]), "a"), message(sdk.batch([sdk.purchase(2)]), "b")]
    )
    assert len(fake.requests) == 1  # not retried
    assert result.failed == set()
    assert dlq.reasons() == {"a": "tiktok_permission_denied", "b": "tiktok_permission_denied"}
    failure = dlq.sent[0][1]
    assert failure.code == 40001
    assert failure.request_id == "req-1"
    assert result.dead_lettered["tiktok_permission_denied"] == 2


def test_other_permanent_refusals_dead_letter_with_the_code(fake: FakeTikTok) -> None:
    fake.script = [40002]
    dlq = FakeDeadLetters()
    forwarder = make_forwarder(fake, {"default": connection()}, dead_letters=dlq)
    result = forwarder.forward([message(sdk.batch([sdk.purchase(1)]), "a")])
    assert result.failed == set()
    [(_, failure)] = dlq.sent
    assert (failure.reason, failure.code) == ("tiktok_refused_request", 40002)


def test_throttling_past_the_retries_is_redelivered_not_dead_lettered(fake: FakeTikTok) -> None:
    fake.script = [40100] * 10
    dlq = FakeDeadLetters()
    forwarder = make_forwarder(fake, {"default": connection()}, dead_letters=dlq)
    result = forwarder.forward([message(sdk.batch([sdk.purchase(1)]), "a")])
    assert result.failed == {"a"}
    assert dlq.sent == []


def test_a_message_refused_in_one_request_and_throttled_in_another_is_redelivered(
    fake: FakeTikTok,
) -> None:
    # 1,000 events fill the first request; the 1,001st goes in a second one.
    fake.script = [40001] + [40100] * 10
    dlq = FakeDeadLetters()
    forwarder = make_forwarder(fake, {"default": connection()}, dead_letters=dlq)
    events = [sdk.purchase(i) for i in range(1001)]
    result = forwarder.forward([message(sdk.batch(events), "big")])
    assert result.failed == {"big"}
    assert dlq.sent == []


def test_when_the_dlq_does_not_take_the_message_sqs_keeps_it(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(
        fake, {"default": connection()}, dead_letters=FakeDeadLetters(broken=True)
    )
    result = forwarder.forward([message("garbage", "poison")])
    assert result.failed == {"poison"}
    assert not result.dead_lettered


def test_without_a_dlq_undeliverable_messages_fail_as_before(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(fake, {"default": connection()})
    result = forwarder.forward([message("garbage", "poison"), message("{}", "empty", "nobody")])
    assert result.failed == {"poison", "empty"}


def test_dead_letter_logs_carry_no_pii_or_token(
    fake: FakeTikTok, caplog: pytest.LogCaptureFixture
) -> None:
    forwarder = make_forwarder(fake, {"default": connection()}, dead_letters=FakeDeadLetters())
    with caplog.at_level(logging.DEBUG):
        forwarder.forward([message("Jane.Doe@Example.com +1 650 253 0000", "poison")])
    dumped = " ".join(json.dumps(r.__dict__, default=str) for r in caplog.records)
    assert "Jane.Doe" not in dumped
    assert "253 0000" not in dumped


def test_unmapped_events_become_one_metric_per_name_bounded() -> None:
    from tiktok_connector.events.results import MAX_UNMAPPED_DIMENSIONS, ForwardResult

    result = ForwardResult()
    for i in range(MAX_UNMAPPED_DIMENSIONS + 5):
        result.unmapped[f"custom_event:e{i}"] += i + 1
    dims = dict(result.unmapped_dimensions())
    assert len(dims) == MAX_UNMAPPED_DIMENSIONS + 1
    assert dims["other"] == sum(range(1, 6))  # the five least frequent names
    assert dims[f"custom_event:e{MAX_UNMAPPED_DIMENSIONS + 4}"] == MAX_UNMAPPED_DIMENSIONS + 5


class RecordingMetrics:
    """A Powertools ``Metrics`` stand-in: plain counts by name."""

    namespace = "TikTokConnectorTest"
    service = "event-forwarder-test"

    def __init__(self) -> None:
        self.counts: dict[str, float] = {}

    def add_metric(self, *, name: str, unit: Any, value: float) -> None:
        self.counts[name] = self.counts.get(name, 0) + value


def test_a_permanent_refusal_counts_as_a_tiktok_permanent_error(fake: FakeTikTok) -> None:
    """The template's TikTokPermanentErrors alarm reads this metric from the forwarder too."""
    fake.script = [40001]
    forwarder = make_forwarder(fake, {"default": connection()}, dead_letters=FakeDeadLetters())
    result = forwarder.forward([message(sdk.batch([sdk.purchase(1)]), "a")])
    metrics = RecordingMetrics()
    result.publish(metrics)
    assert metrics.counts["TikTokPermanentErrors"] == 1
    throttled = make_forwarder(FakeTikTok(script=[40100] * 10), {"default": connection()})
    calm = RecordingMetrics()
    throttled.forward([message(sdk.batch([sdk.purchase(1)]), "b")]).publish(calm)
    assert "TikTokPermanentErrors" not in calm.counts
