"""Forward a batch of SQS messages to TikTok: parse, map, group, send, and say which to redeliver.

A whole SQS batch is handled at once so requests fill up (≤ 1,000 events for ``/event/track/``,
≤ 50 for the legacy ``/pixel/batch/``): every message is parsed and mapped, the mapped events are
grouped by connection (one connection = one event source), cut into requests and sent. Outcomes map
back to messages:

* a message that is not JSON or not a known shape is *malformed*: it fails every time and lands in
  the DLQ after ``maxReceiveCount`` (poison);
* an event that cannot be mapped or would make TikTok reject its request is *dropped* with a reason
  (counted and logged without PII) and its message still succeeds — it is never retried;
* a request that fails (throttling or TikTok faults after retries within the deadline, a rejected
  token after one refetch, a permanent error) fails every message that had an event in it, so SQS
  redelivers them. Events of a failed message that did go out are remembered (per process), so a
  redelivery does not send them twice; TikTok also de-duplicates on ``event_id``.
"""

from __future__ import annotations

import json
import logging
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
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from pydantic import ValidationError

from tiktok_connector import aws
from tiktok_connector.events.mapping import EventMapper, IpProfile, Mapped, Rejection
from tiktok_connector.events.mparticle import parse_batch
from tiktok_connector.events.settings import (
    DEFAULT_CONNECTION,
    ConnectionSettings,
    ForwarderSettings,
    get_forwarder_settings,
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
MAX_EVENTS_PER_REQUEST = 1_000
MAX_PIXEL_BATCH = 50
# Stop starting new requests this long before the Lambda deadline (time to answer SQS).
DEADLINE_MARGIN_SECONDS = 2.0
# Per-event drop logs per invocation; beyond this only the counts are logged.
MAX_DROP_LOGS = 50


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

    def publish(self, metrics: Any) -> None:
        """Add this batch's counts to a Powertools ``Metrics`` (drops by reason, answers by code)."""
        count = MetricUnit.Count
        metrics.add_metric(name="EventsForwarded", unit=count, value=self.forwarded)
        metrics.add_metric(name="TikTokRequests", unit=count, value=self.requests)
        metrics.add_metric(name="TikTokRequestsFailed", unit=count, value=self.failed_requests)
        metrics.add_metric(name="MalformedMessages", unit=count, value=self.malformed)
        metrics.add_metric(name="TikTokRetries", unit=count, value=self.retries)
        dimensioned = [("TikTokResponses", "code", str(c), n) for c, n in self.codes.items()]
        dimensioned += [("EventsDropped", "reason", r, n) for r, n in self.dropped.items()]
        for name, dimension, value, n in dimensioned:
            with single_metric(
                name=name, unit=count, value=n, namespace=metrics.namespace
            ) as metric:
                metric.add_dimension(name=dimension, value=value)


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
    """A connection's secret is missing or its settings are invalid (``reason`` says which)."""

    def __init__(self, name: str, reason: str, detail: str = "") -> None:
        self.name = name
        self.reason = reason
        self.detail = detail
        super().__init__(
            f"connection {name!r} unavailable: {reason}{': ' if detail else ''}{detail}"
        )


class ConnectionSource(Protocol):
    def get(self, name: str, *, refresh: bool = False) -> ConnectionSettings: ...


class ConnectionStore:
    """Connection settings by name: secret ``<prefix><name>``, cached for ``max_age`` seconds."""

    def __init__(self, *, prefix: str, secrets_client: Any, max_age: int = 300) -> None:
        self._prefix = prefix
        self._provider = SecretsProvider(boto3_client=secrets_client)
        self._max_age = max_age
        # name -> (the raw secret object validated, its settings); holding the object keeps the
        # identity check below sound (a freed object's id could be reused).
        self._validated: dict[str, tuple[Any, ConnectionSettings]] = {}

    def secret_name(self, name: str) -> str:
        return f"{self._prefix}{name}"

    def get(self, name: str, *, refresh: bool = False) -> ConnectionSettings:
        """The validated settings of connection ``name`` (``refresh`` bypasses the cache)."""
        try:
            raw = self._provider.get(
                self.secret_name(name), transform="json", max_age=self._max_age, force_fetch=refresh
            )
        except GetParameterError:
            raise ConnectionUnavailable(name, "unknown_connection") from None
        cached = self._validated.get(name)
        if cached is not None and cached[0] is raw:
            return cached[1]
        try:
            settings = ConnectionSettings.model_validate(raw)
        except ValidationError as exc:
            # Locations and messages only: the inputs may hold the access token.
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            )
            raise ConnectionUnavailable(name, "invalid_connection", detail) from None
        self._validated[name] = (raw, settings)
        return settings


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
        return MAX_PIXEL_BATCH if self.settings.uses_pixel_batch else MAX_EVENTS_PER_REQUEST


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
    ) -> None:
        self.client = client
        self.connections = connections
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
            try:
                mapped = self._map_message(message, result)
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
            if mapped is None:
                continue
            settings, events = mapped
            group = pending.get(message.connection)
            if group is None:
                group = pending[message.connection] = _Pending(settings)
            for index, event in enumerate(events):
                if isinstance(event, Rejection):
                    result.dropped[event.reason] += 1
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
        if sum(result.dropped.values()) > drop_logs:
            self.log.warning("events dropped (totals)", extra={"dropped": dict(result.dropped)})
        for name, group in pending.items():
            sends.submit(name, group, full_only=False)
        sends.finish()
        # Approximate when another invocation shares the client concurrently (Lambda never does).
        result.retries = max(0, self.client.stats.retries - retries_before)
        return result

    def _map_message(
        self, message: SqsMessage, result: ForwardResult
    ) -> tuple[ConnectionSettings, list[Mapped]] | None:
        try:
            body = json.loads(message.body)
        except (ValueError, TypeError):
            body = None
        is_mparticle = isinstance(body, dict) and isinstance(body.get("events"), list)
        if not isinstance(body, dict) or not (is_mparticle or is_tiktok_shaped(body)):
            self._malformed(message, result, "not an mParticle batch or a TikTok event")
            return None
        try:
            settings = self.connections.get(message.connection)
        except ConnectionUnavailable as exc:
            result.failed.add(message.message_id)
            self.log.error(
                "connection unavailable",
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
                self._malformed(message, result, f"invalid mParticle batch at {where}")
                return None
            return settings, mapper.map_batch(batch)
        if not source_matches(body, mapper):
            raw_events = tiktok_events(body) or []
            return settings, [Rejection("event_source_mismatch", "tiktok:?")] * len(raw_events)
        return settings, [normalize_tiktok_event(raw, mapper) for raw in tiktok_events(body) or []]

    def _malformed(self, message: SqsMessage, result: ForwardResult, why: str) -> None:
        result.malformed += 1
        result.failed.add(message.message_id)
        self.log.error(
            "malformed message",
            extra={
                "reason": "malformed_message",
                "detail": why,
                "connection": message.connection,
                "message_id": message.message_id,
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


class _Sends:
    """Requests of one ``forward`` call in flight on a small thread pool (I/O overlaps mapping)."""

    def __init__(self, forwarder: EventForwarder, result: ForwardResult, deadline: float | None):
        self.forwarder = forwarder
        self.result = result
        self.deadline = deadline
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: list[tuple[Future[_SendOutcome], list[tuple[str, int]]]] = []

    def submit(self, name: str, group: _Pending, *, full_only: bool) -> None:
        size = group.size
        while len(group.events) >= size or (not full_only and group.events):
            events, origins = group.events[:size], group.origins[:size]
            del group.events[:size], group.origins[:size]
            if self.forwarder.max_in_flight <= 1:
                done: Future[_SendOutcome] = Future()
                done.set_result(
                    self.forwarder.send_request(name, group.settings, events, self.deadline)
                )
                self._inflight.append((done, origins))
                continue
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.forwarder.max_in_flight, thread_name_prefix="tiktok-send"
                )
            future = self._pool.submit(
                self.forwarder.send_request, name, group.settings, events, self.deadline
            )
            self._inflight.append((future, origins))

    def finish(self) -> None:
        """Wait for every request and fold the outcomes into the result (and the ledger)."""
        result, ledger = self.result, self.forwarder.ledger
        try:
            for future, origins in self._inflight:
                outcome = future.result()
                result.requests += outcome.requests
                result.failed_requests += outcome.failed_requests
                result.codes.update(outcome.codes)
                if outcome.sent:
                    result.forwarded += outcome.events
                    ledger.add_all(origins)
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
    if settings.uses_pixel_batch:
        body = {"pixel_code": settings.event_source_id, "batch": events}
        path = PIXEL_BATCH_PATH
    else:
        body = {
            "event_source": settings.event_source,
            "event_source_id": settings.event_source_id,
            "data": events,
        }
        path = EVENTS_PATH
    if settings.test_event_code:
        body["test_event_code"] = settings.test_event_code
    return path, body


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
