"""The event delivery record (issue 14 item 4): what the forwarder counts per connection and event
name, and how a window of table items is summed for ``tiktok-connector events``."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests import mparticle_sdk as sdk
from tests.unit.events.support import FakeTikTok, connection, make_forwarder, message
from tiktok_connector.events.delivery import (
    MAX_EVENT_NAMES,
    MESSAGES,
    OTHER_EVENTS,
    DeliveryReport,
    DeliveryTally,
    _update,
    hour_of,
    item_key,
)
from tiktok_connector.events.forwarder import ForwardResult, MessageFailure, SqsMessage


class RecordingWriter:
    """Keeps the tallies the forwarder writes; ``missed`` items fail."""

    def __init__(self, missed: int = 0) -> None:
        self.tallies: list[DeliveryTally] = []
        self.deadlines: list[float | None] = []
        self.missed = missed

    def write(self, tally: DeliveryTally, *, deadline: float | None = None) -> int:
        self.tallies.append(tally)
        self.deadlines.append(deadline)
        return self.missed


class TakingDeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[SqsMessage, MessageFailure]] = []

    def send(self, msg: SqsMessage, failure: MessageFailure) -> None:
        self.sent.append((msg, failure))


def _counts(tally: DeliveryTally) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        key: {
            "sent": c.sent,
            "failed": c.failed,
            "refused": c.refused,
            "dropped": dict(c.dropped),
            "last_drop": dict(c.last_drop),
            "dead_lettered": dict(c.dead_lettered),
            "left_out": dict(c.left_out),
        }
        for key, c in tally.items()
    }


def test_sent_and_dropped_events_are_counted_per_connection_and_event(fake: FakeTikTok) -> None:
    writer = RecordingWriter()
    forwarder = make_forwarder(
        fake, {"default": connection(), "shop": connection()}, delivery=writer
    )
    purchases = sdk.batch([sdk.purchase(1), sdk.purchase(2), sdk.purchase(3, url=None)])
    other = sdk.batch([sdk.custom("Signup"), sdk.purchase(4, action="add_to_cart")])

    result = forwarder.forward(
        [message(purchases, "m-1"), message(other, "m-2", "shop")], deadline=None
    )

    assert result.failed == set()
    [tally] = writer.tallies
    counts = _counts(tally)
    # a purchase is PlaceAnOrder; the one without a page URL was mapped, then dropped
    assert counts[("default", "PlaceAnOrder")]["sent"] == 2
    assert counts[("default", "PlaceAnOrder")]["dropped"] == {"missing_page_url": 1}
    assert counts[("default", "PlaceAnOrder")]["last_drop"] == {
        "missing_page_url": str(6004677780660780003)  # the event's own id
    }
    # an event with no TikTok event keeps its input name
    assert counts[("shop", "custom_event:Signup")]["dropped"] == {"unsupported_event": 1}
    assert counts[("shop", "AddToCart")]["sent"] == 1
    assert result.delivery_not_recorded == 0


def test_failed_and_refused_requests_count_their_events(fake: FakeTikTok) -> None:
    writer = RecordingWriter()
    dlq = TakingDeadLetters()
    forwarder = make_forwarder(
        fake,
        {"default": connection(), "denied": connection()},
        delivery=writer,
        dead_letters=dlq,
    )
    fake.script = [50002] * 4 + [40001]  # default: retried and given up; denied: refused

    result = forwarder.forward(
        [
            message(sdk.batch([sdk.purchase(1), sdk.purchase(2)]), "m-1"),
            message(sdk.batch([sdk.purchase(3)]), "m-2", "denied"),
        ]
    )

    assert result.failed == {"m-1"}
    counts = _counts(writer.tallies[0])
    assert counts[("default", "PlaceAnOrder")]["failed"] == 2
    assert counts[("denied", "PlaceAnOrder")]["refused"] == 1
    assert counts[("denied", MESSAGES)]["dead_lettered"] == {"tiktok_permission_denied": 1}


def test_dead_lettered_messages_and_left_out_fields_are_message_level(fake: FakeTikTok) -> None:
    writer = RecordingWriter()
    forwarder = make_forwarder(
        fake, {"default": connection()}, delivery=writer, dead_letters=TakingDeadLetters()
    )
    euros = sdk.batch([sdk.purchase(1, currency="XXX")])

    forwarder.forward([message("not json", "poison"), message(euros, "m-2")])

    counts = _counts(writer.tallies[0])
    level = counts[("default", MESSAGES)]
    assert level["dead_lettered"] == {"malformed_message": 1}
    assert level["left_out"] == {"currency:unsupported_currency": 1}
    assert writer.tallies[0].by_connection() == {
        "default": {"sent": 1, "failed": 0, "refused": 0, "dropped": 0}
    }


def test_an_event_without_an_id_is_named_by_its_message_and_position(fake: FakeTikTok) -> None:
    writer = RecordingWriter()
    forwarder = make_forwarder(fake, {"default": connection()}, delivery=writer)
    body = json.dumps({"event": "CompletePayment", "event_time": 1_700_000_000, "user": {}})

    forwarder.forward([message(body, "m-9")])

    [(key, counts)] = list(writer.tallies[0].items())
    assert key == ("default", "CompletePayment")
    assert dict(counts.last_drop) == {"missing_page_url": "m-9/0"}


def test_a_record_that_cannot_be_written_is_counted_and_fails_no_message(
    fake: FakeTikTok, caplog: pytest.LogCaptureFixture
) -> None:
    writer = RecordingWriter(2)
    forwarder = make_forwarder(fake, {"default": connection()}, delivery=writer)
    deadline = time.monotonic() + 60
    result = forwarder.forward([message(sdk.batch([sdk.purchase(1)]), "m-1")], deadline=deadline)
    assert result.failed == set()
    assert writer.deadlines == [deadline]  # the writer stops before the invocation's end
    assert result.delivery_not_recorded == 2
    assert "event delivery record incomplete" in caplog.text


def test_without_a_record_nothing_is_written(fake: FakeTikTok) -> None:
    forwarder = make_forwarder(fake, {"default": connection()})
    result = forwarder.forward([message(sdk.batch([sdk.purchase(1)]), "m-1")])
    assert result.delivery.by_connection()["default"]["sent"] == 1  # counted all the same


def test_per_connection_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    class Metrics:
        namespace = "Test"

        def add_metric(self, **kwargs: Any) -> None:
            pass

    result = ForwardResult()
    result.delivery.sent("shop", "PlaceAnOrder", 3)
    result.delivery.dropped("shop", "PlaceAnOrder", "missing_page_url", "e1")
    capsys.readouterr()

    result.publish(Metrics())

    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    by_outcome = {
        (m["outcome"], m["connection"]): m["ConnectionEvents"]
        for m in emitted
        if "ConnectionEvents" in m
    }
    assert by_outcome == {("sent", "shop"): [3.0], ("dropped", "shop"): [1.0]}


# ---------------------------------------------------------------------------- the tally


def test_event_names_beyond_the_cap_share_one_item_per_connection() -> None:
    tally = DeliveryTally()
    for i in range(MAX_EVENT_NAMES + 5):
        tally.sent("c", f"custom_event:E{i}")
    tally.sent("other-connection", "custom_event:E0")
    tally.dead_lettered("c", "malformed_message", "m")  # message level: never capped

    keys = [key for key, _ in tally.items()]
    assert len([k for k in keys if k[0] == "c" and k[1] != MESSAGES]) == MAX_EVENT_NAMES + 1
    assert dict(tally.items())[("c", OTHER_EVENTS)].sent == 5
    assert ("other-connection", "custom_event:E0") in keys
    assert ("c", MESSAGES) in keys


def test_long_names_are_cut_and_empty_ones_named() -> None:
    tally = DeliveryTally()
    tally.sent("c", "x" * 500)
    tally.sent("", "")
    keys = [key for key, _ in tally.items()]
    assert keys == [("c", "x" * 100), ("?", "?")]


def test_the_update_adds_counters_and_sets_names_without_values_in_the_expression() -> None:
    tally = DeliveryTally()
    tally.sent("shop", "CompletePayment", 2)
    tally.dropped("shop", "CompletePayment", "missing_page_url", "e-7")
    [((c, e), counts)] = list(tally.items())
    hour = hour_of(datetime(2026, 11, 20, 14, 35, tzinfo=UTC).timestamp())

    update = _update(hour, c, e, counts)

    names = update["ExpressionAttributeNames"]
    values = update["ExpressionAttributeValues"]
    resolved = {names[k]: values[":" + k[1:]] for k in names}
    assert resolved["sent"] == {"N": "2"}
    assert resolved["dropped"] == {"N": "1"}
    assert resolved["drop_missing_page_url"] == {"N": "1"}
    assert resolved["last_drop_missing_page_url"] == {"S": "e-7"}
    assert resolved["hour"] == {"S": "2026-11-20T14:00:00Z"}
    assert "failed" not in resolved  # zero counters are not written
    assert update["Key"] == item_key(hour, "shop", "CompletePayment")
    assert update["Key"]["slot"] == {"S": "14#shop#CompletePayment"}
    assert "shop" not in update["UpdateExpression"]  # values only through placeholders
    assert update["UpdateExpression"].startswith("SET ")
    assert " ADD " in update["UpdateExpression"]


# ---------------------------------------------------------------------------- the window


def _report() -> DeliveryReport:
    return DeliveryReport(
        since=datetime(2026, 11, 20, 0, tzinfo=UTC), until=datetime(2026, 11, 21, 0, tzinfo=UTC)
    )


def test_a_window_sums_hours_and_keeps_the_newest_drop_id() -> None:
    report = _report()
    base = {"connection": "shop", "event": "CompletePayment"}
    report.add(
        {**base, "hour": "2026-11-20T15:00:00Z", "sent": 5, "drop_missing_page_url": 1,
         "last_drop_missing_page_url": "newer"}
    )  # fmt: skip
    report.add(
        {**base, "hour": "2026-11-20T14:00:00Z", "sent": 2, "failed": 1,
         "drop_missing_page_url": 2, "last_drop_missing_page_url": "older"}
    )  # fmt: skip
    report.add({**base, "connection": "other", "hour": "2026-11-20T14:00:00Z", "sent": 9})
    report.add(
        {"connection": "shop", "event": MESSAGES, "hour": "2026-11-20T14:00:00Z",
         "dlq_malformed_message": 2, "last_dlq_malformed_message": "m-1",
         "left_out_phone:invalid_phone": 3}
    )  # fmt: skip

    rows = {(c, e): n for c, e, n in report.event_rows()}
    shop = rows[("shop", "CompletePayment")]
    assert (shop.sent, shop.failed, dict(shop.dropped)) == (7, 1, {"missing_page_url": 3})
    assert shop.last_drop == {"missing_page_url": "newer"}
    assert rows[("other", "CompletePayment")].sent == 9
    [(connection_name, level)] = report.message_rows()
    assert connection_name == "shop"
    assert dict(level.dead_lettered) == {"malformed_message": 2}
    assert level.last_dead_letter == {"malformed_message": "m-1"}
    assert dict(level.left_out) == {"phone:invalid_phone": 3}
    assert report.connections() == ["other", "shop"]


def test_a_window_keeps_one_connection_when_asked() -> None:
    report = _report()
    report.add({"connection": "a", "event": "X", "hour": "2026-11-20T01:00:00Z", "sent": 1}, "b")
    report.add({"connection": "b", "event": "X", "hour": "2026-11-20T01:00:00Z", "sent": 1}, "b")
    assert [(c, e) for c, e, _ in report.event_rows()] == [("b", "X")]
