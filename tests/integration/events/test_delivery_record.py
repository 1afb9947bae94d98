"""The event delivery record through the real handler (moto DynamoDB, the emulator): an hour's
counts per connection and event name, added invocation after invocation, read back as a window."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests import mparticle_sdk as sdk
from tests.integration.events.support import REGION, World
from tiktok_connector.events.delivery import MESSAGES, DeliveryRecord, DeliveryTally, hour_of

TABLE = "tiktok-connector-event-stats"


def _create_table(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "day", "AttributeType": "S"},
            {"AttributeName": "slot", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "day", "KeyType": "HASH"},
            {"AttributeName": "slot", "KeyType": "RANGE"},
        ],
    )


@pytest.fixture
def stats(world: World, monkeypatch: pytest.MonkeyPatch) -> Any:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    _create_table(dynamodb)
    monkeypatch.setenv("EVENT_STATS_TABLE", TABLE)
    dlq = world.sqs.create_queue(QueueName="tiktok-connector-events-dlq")["QueueUrl"]
    monkeypatch.setenv("EVENTS_DLQ_URL", dlq)
    return dynamodb


def test_two_invocations_add_up_in_the_record(world: World, stats: Any) -> None:
    world.connect()
    world.connect("shop")
    first = sdk.batch([sdk.purchase(1), sdk.purchase(2), sdk.purchase(3, url=None)])
    second = sdk.batch([sdk.purchase(4), sdk.custom("Signup")])

    world.invoke([world.record(first), world.record("not json", message_id="poison")])
    world.invoke([world.record(second, connection="shop"), world.record(first)])

    report = DeliveryRecord(TABLE, stats).read(since=datetime.now(UTC) - timedelta(hours=1))
    rows = {(c, e): n for c, e, n in report.event_rows()}
    default = rows[("default", "PlaceAnOrder")]
    assert default.sent == 4  # two per invocation
    assert dict(default.dropped) == {"missing_page_url": 2}
    assert default.last_drop == {"missing_page_url": str(6004677780660780003)}
    assert rows[("shop", "PlaceAnOrder")].sent == 1
    assert dict(rows[("shop", "custom_event:Signup")].dropped) == {"unsupported_event": 1}
    [(connection, level)] = report.message_rows()
    assert connection == "default"
    assert dict(level.dead_lettered) == {"malformed_message": 1}
    assert level.last_dead_letter == {"malformed_message": "poison"}
    # what the emulator received agrees with the record
    received = world.emu.state.events
    assert len(received) == default.sent + rows[("shop", "PlaceAnOrder")].sent


def test_items_carry_their_hour_and_expire(world: World, stats: Any) -> None:
    world.connect()
    world.invoke([world.record(sdk.batch([sdk.purchase(1)]))])

    [item] = stats.scan(TableName=TABLE)["Items"]
    hour = hour_of(datetime.now(UTC).timestamp())
    assert item["day"] == {"S": hour.strftime("%Y-%m-%d")}
    assert item["slot"]["S"].endswith("#default#PlaceAnOrder")
    assert item["hour"] == {"S": hour.strftime("%Y-%m-%dT%H:00:00Z")}
    expires = int(item["expires_at"]["N"])
    assert expires == int((hour + timedelta(days=35)).timestamp())
    assert "access_token" not in json.dumps(item)


def test_a_window_spans_days_and_starts_at_the_top_of_an_hour(world: World, stats: Any) -> None:
    now = datetime(2026, 11, 21, 1, 30, tzinfo=UTC)
    clock = {"t": (now - timedelta(hours=3)).timestamp()}  # 22:30 the day before
    record = DeliveryRecord(TABLE, stats, now=lambda: clock["t"])
    for hours_later in (0, 1, 2, 3):  # 22:30, 23:30, 00:30, 01:30
        clock["t"] = (now - timedelta(hours=3 - hours_later)).timestamp()
        tally = DeliveryTally()
        tally.sent("default", "Purchase", 10**hours_later)
        assert record.write(tally) == 0

    window = record.read(since=now - timedelta(hours=2, minutes=10))  # 23:20 → from 23:00

    [(_, _, counts)] = window.event_rows()
    assert counts.sent == 10 + 100 + 1000


def test_a_table_that_does_not_answer_counts_every_item_as_missed(world: World) -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION)  # no table created
    tally = DeliveryTally()
    tally.sent("a", "X")
    tally.dead_lettered("a", "malformed_message", "m")
    assert DeliveryRecord("missing-table", dynamodb).write(tally) == 2


def test_the_message_level_row_is_never_an_event(world: World, stats: Any) -> None:
    tally = DeliveryTally()
    tally.left_out("default", {"phone:invalid_phone": 2})
    DeliveryRecord(TABLE, stats).write(tally)
    report = DeliveryRecord(TABLE, stats).read(since=datetime.now(UTC) - timedelta(hours=1))
    assert report.event_rows() == []
    assert [(c, dict(n.left_out)) for c, n in report.message_rows()] == [
        ("default", {"phone:invalid_phone": 2})
    ]
    assert MESSAGES not in {e for _, e, _ in report.event_rows()}
