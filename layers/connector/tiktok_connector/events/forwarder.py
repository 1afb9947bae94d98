"""Forward a batch of SQS messages to TikTok: parse, map, group, send, and say which to redeliver.

A whole SQS batch is handled at once so requests fill up (≤ 1,000 events for ``/event/track/``,
≤ 50 for the legacy ``/pixel/batch/``; a legacy connection with a test event code sends each event
alone to ``/pixel/track/``): every message is parsed and mapped, the mapped events are grouped by
connection (one connection = one event source), cut into requests and sent. Outcomes map back to
messages:

* a message that can never be delivered — not JSON or not a known shape (*malformed*), naming a
  connection that does not exist or whose settings are invalid, or whose events TikTok refused for
  good (a permanent error such as 40001 "No permission to operate pixel code") — is moved to the
  events DLQ by the forwarder itself, with its reason as message attributes, and counts as
  processed (without a DLQ configured it fails and SQS moves it after ``maxReceiveCount``);
* an event that cannot be mapped or would make TikTok reject its request is *dropped* with a reason
  (counted and logged without PII) and its message still succeeds — it is never retried; events
  without a mapping are counted per event name; a field TikTok would refuse (an unsupported
  currency) or that cannot be read (a phone number) is left out of its event and counted;
* a request that fails for now (throttling or TikTok faults after retries within the deadline, a
  rejected token after one refetch, an unreadable connection secret) fails every message that had
  an event in it, so SQS redelivers them. Events of a failed message that did go out are
  remembered (per process), so a redelivery does not send them twice; TikTok also de-duplicates on
  ``event_id``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

from aws_lambda_powertools import single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import (
    GetParameterError,
    TransformParameterError,
)
from botocore.exceptions import ClientError
from pydantic import ValidationError

from tiktok_connector import aws
from tiktok_connector.events.delivery import DeliveryRecord, DeliveryTally, event_names
from tiktok_connector.events.mapping import (
    EventMapper,
    IpProfile,
    Mapped,
    MappingNotes,
    Rejection,
)
from tiktok_connector.events.mparticle import parse_batch
from tiktok_connector.events.settings import (
    DEFAULT_CONNECTION,
    ConnectionSettings,
    ForwarderSettings,
    get_forwarder_settings,
    settings_problems,
)
from tiktok_connector.events.tiktok_shape import (
    is_tiktok_shaped,
    normalize_tiktok_event,
    source_matches,
    tiktok_events,
)
from tiktok_connector.tiktok import (
    PermanentTikTokError,
    RetryableTikTokError,
    TikTokClient,
    TikTokError,
    TokenRejectedError,
)

EVENTS_PATH = "event/track"
PIXEL_BATCH_PATH = "pixel/batch"
PIXEL_TRACK_PATH = "pixel/track"
MAX_EVENTS_PER_REQUEST = 1_000  # contract: EV-02
MAX_PIXEL_BATCH = 50  # contract: EV-21
# Stop starting new requests this long before the Lambda deadline (time to answer SQS).
DEADLINE_MARGIN_SECONDS = 2.0
# Per-event drop logs per invocation; beyond this only the counts are logged.
MAX_DROP_LOGS = 50
# Event names per invocation given their own EventsUnmapped metric dimension (the rest: "other").
MAX_UNMAPPED_DIMENSIONS = 20
# The drop reason of an event that no mapping sends to TikTok (counted per event name too).
UNMAPPED = "unsupported_event"
# TikTok's code for "No permission to operate pixel code" (contract EV-03).
CODE_NO_PERMISSION = 40001

# Why a message was moved to the events DLQ (its ``failure_reason`` attribute).
REASON_MALFORMED = "malformed_message"
REASON_UNKNOWN_CONNECTION = "unknown_connection"
REASON_INVALID_CONNECTION = "invalid_connection"
REASON_UNREADABLE_CONNECTION = "connection_unreadable"  # transient: not moved, redelivered
REASON_NO_PERMISSION = "tiktok_permission_denied"
REASON_REFUSED = "tiktok_refused_request"


@dataclass(frozen=True, slots=True)
class SqsMessage:
    """What the forwarder needs of one SQS record."""

    message_id: str
    body: str
    connection: str = DEFAULT_CONNECTION


@dataclass
class ForwardResult:
    """Outcome of one batch: which messages to redeliver, and the counts for metrics."""

    failed: set[str] = field(default_factory=set)
    forwarded: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    malformed: int = 0
    requests: int = 0
    failed_requests: int = 0
    already_sent: int = 0
    retries: int = 0
    codes: Counter[int] = field(default_factory=Counter)
    # Events dropped for want of a mapping, by "<event_type>:<name>" (also in ``dropped``).
    unmapped: Counter[str] = field(default_factory=Counter)
    # Fields left out of events that still went, by "<field>:<reason>".
    fields_dropped: Counter[str] = field(default_factory=Counter)
    # Messages moved to the events DLQ, by reason.
    dead_lettered: Counter[str] = field(default_factory=Counter)
    # What happened per connection and event name (the event delivery record, events/delivery.py).
    delivery: DeliveryTally = field(default_factory=DeliveryTally)
    # Delivery record items that could not be written (DynamoDB error, or no time left).
    delivery_not_recorded: int = 0

    def publish(self, metrics: Any) -> None:
        """Add this batch's counts to a Powertools ``Metrics`` (drops by reason, answers by code,
        unmapped events by name, dead-lettered messages by reason)."""
        count = MetricUnit.Count
        metrics.add_metric(name="EventsForwarded", unit=count, value=self.forwarded)
        metrics.add_metric(name="TikTokRequests", unit=count, value=self.requests)
        metrics.add_metric(name="TikTokRequestsFailed", unit=count, value=self.failed_requests)
        metrics.add_metric(name="MalformedMessages", unit=count, value=self.malformed)
        metrics.add_metric(name="TikTokRetries", unit=count, value=self.retries)
        dimensioned = [("TikTokResponses", "code", str(c), n) for c, n in self.codes.items()]
        dimensioned += [("EventsDropped", "reason", r, n) for r, n in self.dropped.items()]
        dimensioned += [("EventsUnmapped", "event", e, n) for e, n in self.unmapped_dimensions()]
        dimensioned += [
            ("EventFieldsDropped", "reason", r, n) for r, n in self.fields_dropped.items()
        ]
        dimensioned += [
            ("MessagesDeadLettered", "reason", r, n) for r, n in self.dead_lettered.items()
        ]
        for name, dimension, value, n in dimensioned:
            with single_metric(
                name=name, unit=count, value=n, namespace=metrics.namespace
            ) as metric:
                metric.add_dimension(name=dimension, value=value)
        # Per connection (the totals above are not): events sent, failed, refused, dropped.
        for connection, outcomes in self.delivery.by_connection().items():
            for outcome, n in outcomes.items():
                if not n:
                    continue
                with single_metric(
                    name="ConnectionEvents", unit=count, value=n, namespace=metrics.namespace
                ) as metric:
                    metric.add_dimension(name="connection", value=connection)
                    metric.add_dimension(name="outcome", value=outcome)
        if self.delivery_not_recorded:
            metrics.add_metric(
                name="DeliveryRecordErrors", unit=count, value=self.delivery_not_recorded
            )

    def unmapped_dimensions(self) -> list[tuple[str, int]]:
        """Unmapped events by name, the most frequent few on their own, the rest as ``other``
        (event names are the sender's: a bounded number of metric dimensions per invocation)."""
        top = self.unmapped.most_common(MAX_UNMAPPED_DIMENSIONS)
        rest = sum(self.unmapped.values()) - sum(n for _, n in top)
        return top + ([("other", rest)] if rest else [])


class MessageNotForwarded(RuntimeError):
    """Raised for a message the forwarder marked failed, so the batch processor reports it."""

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        super().__init__(f"message {message_id} not forwarded; SQS will redeliver it")


def sqs_message(record: Any) -> SqsMessage:
    """An :class:`SqsMessage` from a Powertools ``SQSRecord`` (connection from its attribute)."""
    attribute = (record.raw_event.get("messageAttributes") or {}).get("connection") or {}
    name = attribute.get("stringValue") if isinstance(attribute, dict) else None
    return SqsMessage(
        message_id=record.message_id,
        body=record.body or "",
        connection=(name or "").strip() or DEFAULT_CONNECTION,
    )


class ConnectionUnavailable(LookupError):
    """A connection cannot be used: ``reason`` is ``unknown_connection`` (no secret),
    ``invalid_connection`` (its settings are invalid) — both permanent until an operator acts —
    or ``connection_unreadable`` (Secrets Manager failed for now)."""

    def __init__(self, name: str, reason: str, detail: str = "") -> None:
        self.name = name
        self.reason = reason
        self.detail = detail
        super().__init__(
            f"connection {name!r} unavailable: {reason}{': ' if detail else ''}{detail}"
        )

    @property
    def permanent(self) -> bool:
        return self.reason != REASON_UNREADABLE_CONNECTION


class ConnectionSource(Protocol):
    def get(self, name: str, *, refresh: bool = False) -> ConnectionSettings: ...


class ConnectionStore:
    """Connection settings by name: secret ``<prefix><name>``, re-read after ``max_age`` seconds.

    A changed secret is therefore in use within ``max_age`` (60 s at most in a deployed stack;
    docs/architecture.md "Event forwarding"). An unchanged secret keeps its settings object, so
    per-connection state built from it (the mapper) survives the re-read.
    """

    def __init__(
        self,
        *,
        prefix: str,
        secrets_client: Any,
        max_age: float = 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._prefix = prefix
        self._provider = SecretsProvider(boto3_client=secrets_client)
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        # name -> (when it was read, its settings)
        self._cache: dict[str, tuple[float, ConnectionSettings]] = {}

    def secret_name(self, name: str) -> str:
        return f"{self._prefix}{name}"

    def get(self, name: str, *, refresh: bool = False) -> ConnectionSettings:
        """The validated settings of connection ``name`` (``refresh`` bypasses the cache)."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(name)
        if cached is not None and not refresh and now - cached[0] < self._max_age:
            return cached[1]
        settings = self._read(name)
        if cached is not None and cached[1] == settings:
            settings = cached[1]
        with self._lock:
            self._cache[name] = (now, settings)
        return settings

    def _read(self, name: str) -> ConnectionSettings:
        try:
            raw = self._provider.get(self.secret_name(name), transform="json", force_fetch=True)
        except TransformParameterError:
            raise ConnectionUnavailable(
                name, REASON_INVALID_CONNECTION, "the secret is not a JSON object"
            ) from None
        except GetParameterError as exc:
            # Powertools wraps every SDK error: only a missing secret means "no such connection".
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") in (
                "ResourceNotFoundException",
            ):
                raise ConnectionUnavailable(name, REASON_UNKNOWN_CONNECTION) from None
            detail = (
                cause.response.get("Error", {}).get("Code", "")
                if isinstance(cause, ClientError)
                else type(cause).__name__
            )
            raise ConnectionUnavailable(name, REASON_UNREADABLE_CONNECTION, detail) from None
        try:
            return ConnectionSettings.model_validate(raw)
        except ValidationError as exc:
            # Locations and messages only: the inputs may hold the access token.
            detail = "; ".join(settings_problems(exc))
            raise ConnectionUnavailable(name, REASON_INVALID_CONNECTION, detail) from None


@dataclass(frozen=True, slots=True)
class MessageFailure:
    """Why a message can never be delivered (no PII, no token): the DLQ attributes."""

    reason: str
    detail: str = ""
    code: int | None = None
    request_id: str = ""


class DeadLetters(Protocol):
    def send(self, message: SqsMessage, failure: MessageFailure) -> None: ...


class DeliveryWriter(Protocol):
    def write(self, tally: DeliveryTally, *, deadline: float | None = None) -> int: ...


class DeadLetterQueue:
    """Moves undeliverable messages to the events DLQ, the reason in message attributes.

    Attributes: ``connection`` (so a redrive finds its connection again), ``failure_reason``,
    ``failure_detail``, ``tiktok_code`` and ``tiktok_request_id`` (when TikTok refused),
    ``original_message_id`` and ``failed_at`` (UTC, ISO 8601). The body is the message's own.
    """

    def __init__(
        self, queue_url: str, sqs_client: Any, *, now: Callable[[], float] = time.time
    ) -> None:
        self.queue_url = queue_url
        self._sqs = sqs_client
        self._now = now

    def send(self, message: SqsMessage, failure: MessageFailure) -> None:
        """Send ``message`` to the DLQ (raises if SQS does not take it)."""

        def text(value: str) -> dict[str, str]:
            return {"DataType": "String", "StringValue": value}

        attributes = {
            "connection": text(message.connection),
            "failure_reason": text(failure.reason),
            "original_message_id": text(message.message_id),
            "failed_at": text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._now()))),
        }
        if failure.detail:
            attributes["failure_detail"] = text(failure.detail[:1000])
        if failure.code is not None:
            attributes["tiktok_code"] = {"DataType": "Number", "StringValue": str(failure.code)}
        if failure.request_id:
            attributes["tiktok_request_id"] = text(failure.request_id)
        self._sqs.send_message(
            QueueUrl=self.queue_url, MessageBody=message.body, MessageAttributes=attributes
        )


class SentLedger:
    """(message id, event index) pairs already delivered, so a redelivered message skips them."""

    def __init__(self, max_entries: int = 500_000) -> None:
        self._sent: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._max = max_entries

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self._sent

    def add_all(self, keys: Iterable[tuple[str, int]]) -> None:
        for key in keys:
            self._sent[key] = None
        while len(self._sent) > self._max:
            self._sent.popitem(last=False)


@dataclass(slots=True)
class _Pending:
    """Mapped events of one connection waiting to be sent, with where each came from."""

    settings: ConnectionSettings
    events: list[dict[str, Any]] = field(default_factory=list)
    origins: list[tuple[str, int]] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Events per request on this connection's endpoint."""
        return events_per_request(self.settings)


class EventForwarder:
    """Map and send SQS batches of events (see the module docstring for the outcome rules)."""

    def __init__(
        self,
        *,
        client: TikTokClient,
        connections: ConnectionSource,
        phone_region: str = "US",
        logger: logging.Logger | Any | None = None,
        ip_profile: IpProfile | None = None,
        ledger: SentLedger | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_in_flight: int = 4,
        dead_letters: DeadLetters | None = None,
        delivery: DeliveryWriter | None = None,
    ) -> None:
        self.client = client
        self.connections = connections
        # Where undeliverable messages go with their reason (None: fail them, SQS moves them).
        self.dead_letters = dead_letters
        # Where each invocation's counts per connection, hour and event go (None: not recorded).
        self.delivery = delivery
        self.phone_region = phone_region
        self.log = logger if logger is not None else logging.getLogger(__name__)
        self.ip_profile = ip_profile if ip_profile is not None else IpProfile()
        self.ledger = ledger if ledger is not None else SentLedger()
        self.clock = clock
        # Requests in flight at once per invocation (1 = send inline, one after another).
        self.max_in_flight = max_in_flight
        self._mappers: dict[str, tuple[ConnectionSettings, EventMapper]] = {}

    def mapper_for(self, name: str, settings: ConnectionSettings) -> EventMapper:
        cached = self._mappers.get(name)
        if cached is not None and cached[0] is settings:
            return cached[1]
        mapper = EventMapper(settings, phone_region=self.phone_region, ip_profile=self.ip_profile)
        self._mappers[name] = (settings, mapper)
        return mapper

    # ------------------------------------------------------------------ the batch
    def forward(
        self, messages: Sequence[SqsMessage], *, deadline: float | None = None
    ) -> ForwardResult:
        """Forward every message's events; return which messages must be redelivered."""
        result = ForwardResult()
        retries_before = self.client.stats.retries
        pending: dict[str, _Pending] = {}
        drop_logs = 0
        sends = _Sends(self, result, deadline)
        for message in messages:
            notes = MappingNotes()
            try:
                mapped = self._map_message(message, result, sends, notes)
            except Exception as exc:  # a bug must not sink the other messages of the batch
                result.failed.add(message.message_id)
                self.log.error(
                    "message could not be mapped",
                    extra={
                        "reason": "mapping_error",
                        "error": type(exc).__name__,  # the type only: messages may quote PII
                        "connection": message.connection,
                        "message_id": message.message_id,
                    },
                )
                continue
            if notes.counts:
                result.fields_dropped.update(notes.counts)
                result.delivery.left_out(message.connection, notes.counts)
                if drop_logs < MAX_DROP_LOGS:
                    drop_logs += 1
                    self.log.warning(
                        "event data left out",
                        extra={
                            "reasons": dict(notes.counts),
                            "phone_region": notes.phone_region,
                            "connection": message.connection,
                            "message_id": message.message_id,
                        },
                    )
            if mapped is None:
                continue
            settings, events = mapped
            group = pending.get(message.connection)
            if group is None:
                group = pending[message.connection] = _Pending(settings)
            sends.known(message)
            for index, event in enumerate(events):
                if isinstance(event, Rejection):
                    result.dropped[event.reason] += 1
                    result.delivery.dropped(
                        message.connection,
                        event.tiktok_event or event.event_name,
                        event.reason,
                        event.event_id or f"{message.message_id}/{index}",
                    )
                    if event.reason == UNMAPPED:
                        # Counted per event name and logged once per batch, below.
                        result.unmapped[event.event_name] += 1
                        continue
                    if drop_logs < MAX_DROP_LOGS:
                        drop_logs += 1
                        self.log.warning(
                            "event dropped",
                            extra={
                                "reason": event.reason,
                                "connection": message.connection,
                                "message_id": message.message_id,
                                "event_index": index,
                                "event_name": event.event_name,
                            },
                        )
                    continue
                origin = (message.message_id, index)
                if origin in self.ledger:
                    result.already_sent += 1
                    continue
                group.events.append(event)
                group.origins.append(origin)
            if len(group.events) >= group.size:
                # A full request goes out now, while the rest of the batch is still mapped.
                sends.submit(message.connection, group, full_only=True)
        if result.unmapped:
            self.log.warning(
                "events without a TikTok mapping were not sent",
                extra={
                    "reason": UNMAPPED,
                    "events": dict(result.unmapped.most_common(MAX_DROP_LOGS)),
                    "hint": "add a custom mapping to the connection to send them",
                },
            )
        if sum(result.dropped.values()) - sum(result.unmapped.values()) > drop_logs:
            self.log.warning("events dropped (totals)", extra={"dropped": dict(result.dropped)})
        for name, group in pending.items():
            sends.submit(name, group, full_only=False)
        sends.finish()
        self._dead_letter(sends.undeliverable, result)
        # Approximate when another invocation shares the client concurrently (Lambda never does).
        result.retries = max(0, self.client.stats.retries - retries_before)
        self._record_delivery(result, deadline)
        return result

    def _record_delivery(self, result: ForwardResult, deadline: float | None) -> None:
        """Add this batch's counts to the delivery record; a failure is logged and counted,
        never fails a message (the events went, or will be retried, either way)."""
        if self.delivery is None or not result.delivery:
            return
        result.delivery_not_recorded = self.delivery.write(result.delivery, deadline=deadline)
        if result.delivery_not_recorded:
            self.log.warning(
                "event delivery record incomplete",
                extra={"items_not_written": result.delivery_not_recorded},
            )

    def _map_message(
        self, message: SqsMessage, result: ForwardResult, sends: _Sends, notes: MappingNotes
    ) -> tuple[ConnectionSettings, list[Mapped]] | None:
        try:
            body = json.loads(message.body)
        except (ValueError, TypeError):
            body = None
        is_mparticle = isinstance(body, dict) and isinstance(body.get("events"), list)
        if not isinstance(body, dict) or not (is_mparticle or is_tiktok_shaped(body)):
            self._malformed(message, result, sends, "not an mParticle batch or a TikTok event")
            return None
        try:
            settings = self.connections.get(message.connection)
        except ConnectionUnavailable as exc:
            if exc.permanent:
                sends.undeliverable[message.message_id] = (
                    message,
                    MessageFailure(exc.reason, exc.detail),
                )
            else:
                result.failed.add(message.message_id)
                self.log.error(
                    "connection unreadable: the message will be redelivered",
                    extra={
                        "reason": exc.reason,
                        "detail": exc.detail,
                        "connection": message.connection,
                        "message_id": message.message_id,
                    },
                )
            return None
        mapper = self.mapper_for(message.connection, settings)
        if is_mparticle:
            try:
                batch = parse_batch(body)
            except ValidationError as exc:
                where = ", ".join(
                    ".".join(str(p) for p in e["loc"]) for e in exc.errors(include_input=False)
                )
                self._malformed(message, result, sends, f"invalid mParticle batch at {where}")
                return None
            return settings, mapper.map_batch(batch, notes)
        if not source_matches(body, mapper):
            raw_events = tiktok_events(body) or []
            return settings, [Rejection("event_source_mismatch", "tiktok:?")] * len(raw_events)
        raw_events = tiktok_events(body) or []
        return settings, [normalize_tiktok_event(raw, mapper, notes) for raw in raw_events]

    def _malformed(
        self, message: SqsMessage, result: ForwardResult, sends: _Sends, why: str
    ) -> None:
        result.malformed += 1
        sends.undeliverable[message.message_id] = (message, MessageFailure(REASON_MALFORMED, why))

    def _dead_letter(
        self, undeliverable: dict[str, tuple[SqsMessage, MessageFailure]], result: ForwardResult
    ) -> None:
        """Move each undeliverable message to the DLQ with its reason, in one log line each.

        A message that also failed for now is redelivered instead (its next attempt decides); a
        message the DLQ does not take fails, so SQS keeps it.
        """
        for message_id, (message, failure) in undeliverable.items():
            if message_id in result.failed:
                continue
            where = "events DLQ"
            if self.dead_letters is None:
                result.failed.add(message_id)
                where = "SQS redrive after maxReceiveCount (no EVENTS_DLQ_URL)"
            else:
                try:
                    self.dead_letters.send(message, failure)
                except Exception as exc:  # the message stays on the queue: nothing is lost
                    result.failed.add(message_id)
                    where = f"not moved ({type(exc).__name__}): redelivered"
                else:
                    result.dead_lettered[failure.reason] += 1
                    result.delivery.dead_lettered(message.connection, failure.reason, message_id)
            self.log.error(
                f"message not deliverable ({failure.reason}): {where}",
                extra={
                    "reason": failure.reason,
                    "detail": failure.detail,
                    "code": failure.code,
                    "request_id": failure.request_id,
                    "connection": message.connection,
                    "message_id": message_id,
                },
            )

    # ------------------------------------------------------------------ sending
    def send_request(
        self,
        name: str,
        settings: ConnectionSettings,
        events: list[dict[str, Any]],
        deadline: float | None,
    ) -> _SendOutcome:
        """Send one request (thread-safe: touches no shared state but the client's counters)."""
        outcome = _SendOutcome(len(events))
        try:
            return self._send_request(name, settings, events, deadline, outcome)
        except Exception as exc:  # an unexpected failure fails this request's messages only
            outcome.sent = False
            outcome.failed_requests += 1
            self.log.error(
                "TikTok request failed",
                extra={"kind": "unexpected", "connection": name, "error": type(exc).__name__},
            )
            return outcome

    def _send_request(
        self,
        name: str,
        settings: ConnectionSettings,
        events: list[dict[str, Any]],
        deadline: float | None,
        outcome: _SendOutcome,
    ) -> _SendOutcome:
        if deadline is not None and self.clock() + DEADLINE_MARGIN_SECONDS >= deadline:
            self.log.warning(
                "deadline near: request not sent", extra={"connection": name, "events": len(events)}
            )
            return outcome
        path, body = request_for(settings, events)
        for attempt in (1, 2):
            outcome.requests += 1
            try:
                response = self.client.call(
                    "POST",
                    path,
                    access_token=settings.access_token.get_secret_value(),
                    json=body,
                    deadline=deadline,
                )
            except TokenRejectedError as exc:
                outcome.codes[exc.code] += 1
                if attempt == 1:
                    # The token may have been rotated: refetch the connection once.
                    try:
                        fresh = self.connections.get(name, refresh=True)
                    except ConnectionUnavailable:
                        fresh = settings
                    token = settings.access_token.get_secret_value()
                    if fresh.access_token.get_secret_value() != token:
                        settings = fresh
                        path, body = request_for(settings, events)
                        continue
                self._request_failed(name, exc, len(events), outcome, "token rejected")
                return outcome
            except RetryableTikTokError as exc:
                outcome.codes[exc.code] += 1
                self._request_failed(name, exc, len(events), outcome, "retryable, gave up")
                return outcome
            except PermanentTikTokError as exc:
                outcome.codes[exc.code] += 1
                self._request_failed(name, exc, len(events), outcome, "permanent")
                # Retrying cannot help (contract EV-03 for 40001): these messages are undeliverable.
                reason = REASON_NO_PERMISSION if exc.code == CODE_NO_PERMISSION else REASON_REFUSED
                outcome.permanent = MessageFailure(
                    reason, exc.message[:500], code=exc.code, request_id=exc.request_id
                )
                return outcome
            outcome.codes[response.code] += 1
            outcome.sent = True
            if response.code != 0:
                self.log.info(
                    "partial success",
                    extra={
                        "connection": name,
                        "code": response.code,
                        "request_id": response.request_id,
                    },
                )
            return outcome
        return outcome

    def _request_failed(
        self, name: str, exc: TikTokError, events: int, outcome: _SendOutcome, kind: str
    ) -> None:
        outcome.failed_requests += 1
        self.log.error(
            "TikTok request failed",
            extra={
                "kind": kind,
                "connection": name,
                "path": exc.path,
                "code": exc.code,
                "tiktok_message": exc.message,
                "request_id": exc.request_id,
                "events": events,
            },
        )


@dataclass(slots=True)
class _SendOutcome:
    events: int
    sent: bool = False
    requests: int = 0
    failed_requests: int = 0
    codes: Counter[int] = field(default_factory=Counter)
    permanent: MessageFailure | None = None  # TikTok refused for good (not sent, not retried)


class _Sends:
    """Requests of one ``forward`` call in flight on a small thread pool (I/O overlaps mapping)."""

    def __init__(self, forwarder: EventForwarder, result: ForwardResult, deadline: float | None):
        self.forwarder = forwarder
        self.result = result
        self.deadline = deadline
        self._pool: ThreadPoolExecutor | None = None
        # (request outcome, origins of its events, connection, their event names)
        self._inflight: list[
            tuple[Future[_SendOutcome], list[tuple[str, int]], str, list[str]]
        ] = []
        # Messages that can never be delivered: message id -> (message, why).
        self.undeliverable: dict[str, tuple[SqsMessage, MessageFailure]] = {}
        self._messages: dict[str, SqsMessage] = {}

    def known(self, message: SqsMessage) -> None:
        """Remember a message whose events are in requests (to dead-letter it if refused)."""
        self._messages[message.message_id] = message

    def submit(self, name: str, group: _Pending, *, full_only: bool) -> None:
        size = group.size
        while len(group.events) >= size or (not full_only and group.events):
            events, origins = group.events[:size], group.origins[:size]
            del group.events[:size], group.origins[:size]
            names = event_names(events)
            if self.forwarder.max_in_flight <= 1:
                done: Future[_SendOutcome] = Future()
                done.set_result(
                    self.forwarder.send_request(name, group.settings, events, self.deadline)
                )
                self._inflight.append((done, origins, name, names))
                continue
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.forwarder.max_in_flight, thread_name_prefix="tiktok-send"
                )
            future = self._pool.submit(
                self.forwarder.send_request, name, group.settings, events, self.deadline
            )
            self._inflight.append((future, origins, name, names))

    def finish(self) -> None:
        """Wait for every request and fold the outcomes into the result (and the ledger)."""
        result, ledger = self.result, self.forwarder.ledger
        try:
            for future, origins, connection, names in self._inflight:
                outcome = future.result()
                result.requests += outcome.requests
                result.failed_requests += outcome.failed_requests
                result.codes.update(outcome.codes)
                count = (
                    result.delivery.sent
                    if outcome.sent
                    else result.delivery.refused
                    if outcome.permanent is not None
                    else result.delivery.failed
                )
                for event_name in names:
                    count(connection, event_name)
                if outcome.sent:
                    result.forwarded += outcome.events
                    ledger.add_all(origins)
                elif outcome.permanent is not None:
                    for message_id, _ in origins:
                        message = self._messages.get(message_id)
                        if message is None:
                            result.failed.add(message_id)
                        else:
                            self.undeliverable.setdefault(message_id, (message, outcome.permanent))
                else:
                    result.failed.update(message_id for message_id, _ in origins)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)


def request_for(
    settings: ConnectionSettings, events: list[dict[str, Any]]
) -> tuple[str, dict[str, Any]]:
    """The endpoint path and JSON body for one request of ``events`` on ``settings``' connection."""
    body: dict[str, Any]
    if settings.uses_pixel_batch and settings.test_event_code:
        # contract: EV-20, EV-21 — /pixel/batch/ has no test_event_code; /pixel/track/ takes one
        # event with its test code (events_per_request is 1 for such a connection).
        [item] = events
        body = {
            "pixel_code": settings.event_source_id,
            "test_event_code": settings.test_event_code,
            **{k: v for k, v in item.items() if k != "type"},
        }
        return PIXEL_TRACK_PATH, body
    if settings.uses_pixel_batch:
        return PIXEL_BATCH_PATH, {"pixel_code": settings.event_source_id, "batch": events}
    body = {
        "event_source": settings.event_source,
        "event_source_id": settings.event_source_id,
        "data": events,
    }
    if settings.test_event_code:
        body["test_event_code"] = settings.test_event_code
    return EVENTS_PATH, body


def events_per_request(settings: ConnectionSettings) -> int:
    """How many events one request carries on this connection's endpoint."""
    if settings.uses_pixel_batch:
        return 1 if settings.test_event_code else MAX_PIXEL_BATCH
    return MAX_EVENTS_PER_REQUEST


def deadline_after(remaining_ms: int, clock: Callable[[], float] = time.monotonic) -> float:
    """A ``clock()`` deadline ``remaining_ms`` from now (the Lambda context's remaining time)."""
    return clock() + remaining_ms / 1000.0


@cache
def _forwarder(settings: ForwarderSettings) -> EventForwarder:
    return EventForwarder(
        client=TikTokClient(settings.tiktok_api_base_url),
        connections=ConnectionStore(
            prefix=settings.connections_secret_prefix,
            secrets_client=aws.secretsmanager(),
            max_age=settings.connections_max_age,
        ),
        phone_region=settings.default_phone_region,
        dead_letters=(
            DeadLetterQueue(settings.events_dlq_url, aws.sqs()) if settings.events_dlq_url else None
        ),
        delivery=(
            DeliveryRecord(settings.event_stats_table, aws.quick_client("dynamodb"))
            if settings.event_stats_table
            else None
        ),
    )


def get_forwarder(logger: Any = None) -> EventForwarder:
    """The process-wide forwarder built from the environment (built once, on first use)."""
    forwarder = _forwarder(get_forwarder_settings())
    if logger is not None:
        forwarder.log = logger
    return forwarder


def reset_forwarder() -> None:
    """Forget the process-wide forwarder (tests and the local stack change the environment)."""
    _forwarder.cache_clear()
