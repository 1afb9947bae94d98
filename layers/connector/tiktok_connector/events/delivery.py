"""The event delivery record: what happened to events, per connection, hour and event name.

It answers "how many of my purchases reached TikTok today, and why were the others dropped"
without CloudWatch Logs Insights: ``tiktok-connector events`` reads it. One DynamoDB item per
(UTC hour, connection, event name) in the event-stats table (``EVENT_STATS_TABLE``):

* key: ``day`` (``YYYY-MM-DD``, partition) and ``slot`` (``HH#<connection>#<event>``), so a reader
  queries one partition per day of its window;
* ``connection``, ``event``, ``hour`` (``YYYY-MM-DDTHH:00:00Z``) and ``expires_at`` (TTL,
  :data:`TTL_DAYS` after the hour);
* counters, added by the forwarder once per invocation with one ``UpdateItem`` (``ADD``) per item:
  ``sent`` (events TikTok accepted), ``failed`` (events in requests that failed for now — their
  messages are redelivered, so a retried event counts again), ``refused`` (events in requests
  TikTok refused for good — their messages went to the events DLQ), ``dropped`` and
  ``drop_<reason>`` (events not sent, by reason), and ``last_drop_<reason>``: the id of the latest
  event dropped for that reason (``<message id>/<index>`` for an event without one).

The event name is TikTok's (``CompletePayment``) for every event that has one — a sent event, or
one dropped after it was mapped (``missing_page_url``) — and the input's ``<event_type>:<name>``
(``custom_event:Signup``) for an event that has none (``unsupported_event``). The reserved event
name :data:`MESSAGES` holds message-level counts: ``dead_lettered`` and ``dlq_<reason>`` (messages
the forwarder moved to the events DLQ, by reason), ``last_dlq_<reason>`` (the latest such
message's id) and ``left_out_<field:reason>`` (fields left out of events that still went).

Per invocation and connection at most :data:`MAX_EVENT_NAMES` event names get items of their own
(event names are the sender's); the rest are counted under :data:`OTHER_EVENTS`. Nothing here
carries PII: event names, reasons and ids only.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

TTL_DAYS = 35
MAX_EVENT_NAMES = 50
MESSAGES = "*"
OTHER_EVENTS = "(other events)"
MAX_NAME_LENGTH = 100
# Stop writing this long before the invocation's deadline (the batch's answer matters more).
WRITE_MARGIN_SECONDS = 1.0

_COUNTERS = ("sent", "failed", "refused", "dropped", "dead_lettered")
_DROP = "drop_"
_LAST_DROP = "last_drop_"
_DLQ = "dlq_"
_LAST_DLQ = "last_dlq_"
_LEFT_OUT = "left_out_"


@dataclass
class DeliveryCounts:
    """The counts of one (connection, event name): one invocation's, or a window's sum."""

    sent: int = 0
    failed: int = 0
    refused: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    last_drop: dict[str, str] = field(default_factory=dict)  # reason -> event id
    dead_lettered: Counter[str] = field(default_factory=Counter)
    last_dead_letter: dict[str, str] = field(default_factory=dict)  # reason -> message id
    left_out: Counter[str] = field(default_factory=Counter)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def __bool__(self) -> bool:
        return bool(
            self.sent
            or self.failed
            or self.refused
            or self.dropped
            or self.dead_lettered
            or self.left_out
        )


def _name(value: str) -> str:
    return value[:MAX_NAME_LENGTH] or "?"


class DeliveryTally:
    """What one invocation did to events, by (connection, event name)."""

    def __init__(self, max_event_names: int = MAX_EVENT_NAMES) -> None:
        self._max = max_event_names
        self._counts: dict[tuple[str, str], DeliveryCounts] = {}
        self._names: Counter[str] = Counter()  # event names with an item, per connection

    def _slot(self, connection: str, event: str) -> DeliveryCounts:
        key = (_name(connection), _name(event))
        counts = self._counts.get(key)
        if counts is None:
            if event not in (MESSAGES, OTHER_EVENTS):
                if self._names[key[0]] >= self._max:
                    return self._slot(connection, OTHER_EVENTS)
                self._names[key[0]] += 1
            counts = self._counts[key] = DeliveryCounts()
        return counts

    def sent(self, connection: str, event: str, n: int = 1) -> None:
        self._slot(connection, event).sent += n

    def failed(self, connection: str, event: str, n: int = 1) -> None:
        self._slot(connection, event).failed += n

    def refused(self, connection: str, event: str, n: int = 1) -> None:
        self._slot(connection, event).refused += n

    def dropped(self, connection: str, event: str, reason: str, event_id: str) -> None:
        counts = self._slot(connection, event)
        counts.dropped[reason] += 1
        counts.last_drop[reason] = event_id[:MAX_NAME_LENGTH]

    def dead_lettered(self, connection: str, reason: str, message_id: str) -> None:
        counts = self._slot(connection, MESSAGES)
        counts.dead_lettered[reason] += 1
        counts.last_dead_letter[reason] = message_id

    def left_out(self, connection: str, counts: Mapping[str, int]) -> None:
        if counts:
            self._slot(connection, MESSAGES).left_out.update(counts)

    def items(self) -> Iterator[tuple[tuple[str, str], DeliveryCounts]]:
        """((connection, event), counts) of everything that happened."""
        return ((key, counts) for key, counts in self._counts.items() if counts)

    def by_connection(self) -> dict[str, Counter[str]]:
        """Per connection: events ``sent``, ``failed``, ``refused`` and ``dropped`` (metrics)."""
        totals: dict[str, Counter[str]] = {}
        for (connection, event), counts in self.items():
            if event == MESSAGES:
                continue
            total = totals.setdefault(connection, Counter())
            total.update(
                sent=counts.sent,
                failed=counts.failed,
                refused=counts.refused,
                dropped=counts.dropped_total,
            )
        return totals

    def __bool__(self) -> bool:
        return any(True for _ in self.items())


def hour_of(epoch: float) -> datetime:
    """The UTC hour ``epoch`` falls in."""
    return datetime.fromtimestamp(epoch, UTC).replace(minute=0, second=0, microsecond=0)


def item_key(hour: datetime, connection: str, event: str) -> dict[str, dict[str, str]]:
    """The table key of one (hour, connection, event) item."""
    return {
        "day": {"S": hour.strftime("%Y-%m-%d")},
        "slot": {"S": f"{hour:%H}#{connection}#{event}"},
    }


def _update(hour: datetime, connection: str, event: str, counts: DeliveryCounts) -> dict[str, Any]:
    """The ``UpdateItem`` arguments (without the table) adding ``counts`` to an item."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    adds: list[str] = []
    sets: list[str] = []

    def add(attribute: str, n: int) -> None:
        if n:
            i = len(names)
            names[f"#a{i}"] = attribute
            values[f":a{i}"] = {"N": str(n)}
            adds.append(f"#a{i} :a{i}")

    def put(attribute: str, value: str | int) -> None:
        i = len(names)
        names[f"#a{i}"] = attribute
        values[f":a{i}"] = {"N": str(value)} if isinstance(value, int) else {"S": value}
        sets.append(f"#a{i} = :a{i}")

    add("sent", counts.sent)
    add("failed", counts.failed)
    add("refused", counts.refused)
    add("dropped", counts.dropped_total)
    add("dead_lettered", sum(counts.dead_lettered.values()))
    for reason, n in counts.dropped.items():
        add(_DROP + reason, n)
    for reason, n in counts.dead_lettered.items():
        add(_DLQ + reason, n)
    for what, n in counts.left_out.items():
        add(_LEFT_OUT + what, n)
    put("connection", connection)
    put("event", event)
    put("hour", hour.strftime("%Y-%m-%dT%H:00:00Z"))
    put("expires_at", int((hour + timedelta(days=TTL_DAYS)).timestamp()))
    for reason, event_id in counts.last_drop.items():
        put(_LAST_DROP + reason, event_id)
    for reason, message_id in counts.last_dead_letter.items():
        put(_LAST_DLQ + reason, message_id)
    expression = "SET " + ", ".join(sets)
    if adds:
        expression += " ADD " + ", ".join(adds)
    return {
        "Key": item_key(hour, connection, event),
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


class DeliveryWriter(Protocol):
    """Where a batch's tally goes (:class:`DeliveryRecord`, or a fake in tests)."""

    def write(self, tally: DeliveryTally, *, deadline: float | None = None) -> int: ...


class DeliveryRecord:
    """Reads and adds to the event-stats table (a low-level boto3 DynamoDB client)."""

    def __init__(
        self,
        table: str,
        dynamodb: Any,
        *,
        now: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = table
        self._ddb = dynamodb
        self._now = now
        self._clock = clock

    def write(self, tally: DeliveryTally, *, deadline: float | None = None) -> int:
        """Add one invocation's tally under the current hour; returns the items not written
        (a DynamoDB error, or no time left before ``deadline``, a ``clock()`` value)."""
        hour = hour_of(self._now())
        missed = 0
        for (connection, event), counts in tally.items():
            if deadline is not None and self._clock() + WRITE_MARGIN_SECONDS >= deadline:
                missed += 1
                continue
            try:
                self._ddb.update_item(
                    TableName=self.table, **_update(hour, connection, event, counts)
                )
            except (ClientError, BotoCoreError):
                missed += 1
        return missed

    def read(
        self, *, since: datetime, connection: str | None = None, until: datetime | None = None
    ) -> DeliveryReport:
        """Every item from the hour holding ``since`` to ``until`` (default now), summed per
        (connection, event); ``connection`` keeps one connection."""
        start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        end = (until or datetime.fromtimestamp(self._now(), UTC)).astimezone(UTC)
        report = DeliveryReport(since=start, until=end)
        day = start
        while day.date() <= end.date():
            query: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "#d = :d",
                "ExpressionAttributeNames": {"#d": "day"},
                "ExpressionAttributeValues": {":d": {"S": day.strftime("%Y-%m-%d")}},
            }
            if day.date() == start.date():
                query["KeyConditionExpression"] += " AND #s >= :s"
                query["ExpressionAttributeNames"]["#s"] = "slot"
                query["ExpressionAttributeValues"][":s"] = {"S": f"{start:%H}"}
            for page in self._ddb.get_paginator("query").paginate(**query):
                for item in page.get("Items", []):
                    report.add(_plain(item), connection)
            day = (day + timedelta(days=1)).replace(hour=0)
        return report


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in item.items():
        if "N" in value:
            out[name] = int(value["N"])
        elif "S" in value:
            out[name] = value["S"]
    return out


@dataclass
class DeliveryReport:
    """A window of the delivery record, summed per (connection, event name)."""

    since: datetime
    until: datetime
    events: dict[tuple[str, str], DeliveryCounts] = field(default_factory=dict)
    # (connection, event, reason) -> hour of the latest drop seen for it (to keep the newest id)
    _latest: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def add(self, item: Mapping[str, Any], connection: str | None = None) -> None:
        """Add one table item (plain values) to the sums."""
        name = str(item.get("connection", "?"))
        if connection is not None and name != connection:
            return
        hour = str(item.get("hour", ""))
        if hour and hour > self.until.strftime("%Y-%m-%dT%H:00:00Z"):
            return
        event = str(item.get("event", "?"))
        counts = self.events.setdefault((name, event), DeliveryCounts())
        counts.sent += int(item.get("sent", 0))
        counts.failed += int(item.get("failed", 0))
        counts.refused += int(item.get("refused", 0))
        for attribute, value in item.items():
            if attribute.startswith(_DROP):
                counts.dropped[attribute[len(_DROP) :]] += int(value)
            elif attribute.startswith(_DLQ):
                counts.dead_lettered[attribute[len(_DLQ) :]] += int(value)
            elif attribute.startswith(_LEFT_OUT):
                counts.left_out[attribute[len(_LEFT_OUT) :]] += int(value)
            elif attribute.startswith(_LAST_DROP):
                reason = attribute[len(_LAST_DROP) :]
                if self._newest((name, event, attribute), hour):
                    counts.last_drop[reason] = str(value)
            elif attribute.startswith(_LAST_DLQ):
                reason = attribute[len(_LAST_DLQ) :]
                if self._newest((name, event, attribute), hour):
                    counts.last_dead_letter[reason] = str(value)

    def _newest(self, key: tuple[str, str, str], hour: str) -> bool:
        """True when ``hour`` is the newest seen for ``key`` (its id replaces an older one)."""
        if hour < self._latest.get(key, ""):
            return False
        self._latest[key] = hour
        return True

    def event_rows(self) -> list[tuple[str, str, DeliveryCounts]]:
        """(connection, event, counts) of events, by connection then most events first."""
        rows = [(c, e, n) for (c, e), n in self.events.items() if e != MESSAGES and n]
        return sorted(rows, key=lambda r: (r[0], -(r[2].sent + r[2].dropped_total), r[1]))

    def message_rows(self) -> list[tuple[str, DeliveryCounts]]:
        """(connection, message-level counts): dead-lettered messages, fields left out."""
        return sorted((c, n) for (c, e), n in self.events.items() if e == MESSAGES and n)

    def connections(self) -> list[str]:
        return sorted({c for c, _ in self.events})


def event_names(items: Iterable[Mapping[str, Any]]) -> list[str]:
    """The event names of ``events`` request items (TikTok's ``event``; ``?`` when missing)."""
    return [str(item.get("event") or "?") for item in items]
