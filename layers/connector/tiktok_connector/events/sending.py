"""Requests to TikTok: one connection's mapped events cut into requests, sent a few at a time.

:func:`request_for` is the endpoint and body of one request (``/event/track/`` ≤ 1,000 events,
legacy ``/pixel/batch/`` ≤ 50, ``/pixel/track/`` one event with a test code);
:class:`RequestSender` sends it (a rejected token is refetched once; a permanent refusal makes its
messages undeliverable); :class:`InFlight` keeps up to ``max_in_flight`` requests of one batch on a
small thread pool, so I/O overlaps the mapping of the rest, and folds their outcomes into the
batch's :class:`~.results.ForwardResult` and the :class:`SentLedger`.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tiktok_connector.events.connections import ConnectionSource, ConnectionUnavailable
from tiktok_connector.events.delivery import event_names
from tiktok_connector.events.messages import (
    REASON_NO_PERMISSION,
    REASON_REFUSED,
    MessageFailure,
    SqsMessage,
)
from tiktok_connector.events.results import ForwardResult
from tiktok_connector.events.settings import ConnectionSettings
from tiktok_connector.tiktok import (
    Code,
    PermanentTikTokError,
    RetryableTikTokError,
    TikTokClient,
    TikTokError,
    TikTokResponse,
    TokenRejectedError,
    with_token_refetch,
)

EVENTS_PATH = "event/track"
PIXEL_BATCH_PATH = "pixel/batch"
PIXEL_TRACK_PATH = "pixel/track"
MAX_EVENTS_PER_REQUEST = 1_000  # contract: EV-02
MAX_PIXEL_BATCH = 50  # contract: EV-21
# Stop starting new requests this long before the Lambda deadline (time to answer SQS).
DEADLINE_MARGIN_SECONDS = 2.0


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


@dataclass
class Pending:
    """Mapped events of one connection waiting to be sent, with where each came from."""

    settings: ConnectionSettings
    events: list[dict[str, Any]] = field(default_factory=list)
    origins: list[tuple[str, int]] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Events per request on this connection's endpoint."""
        return events_per_request(self.settings)


@dataclass
class SendOutcome:
    """What one request did: sent or not, its answers by code, a permanent refusal."""

    events: int
    sent: bool = False
    requests: int = 0
    failed_requests: int = 0
    codes: Counter[int] = field(default_factory=Counter)
    permanent: MessageFailure | None = None  # TikTok refused for good (not sent, not retried)


class RequestSender:
    """Sends one request of a connection's events, refetching a rejected token once.

    Thread-safe: it touches no shared state but the client's counters, so several requests of
    one batch can be in flight at once (:class:`InFlight`)."""

    def __init__(
        self,
        *,
        client: TikTokClient,
        connections: ConnectionSource,
        log: Any,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.connections = connections
        self.log = log
        self.clock = clock

    def send(
        self,
        name: str,
        settings: ConnectionSettings,
        events: list[dict[str, Any]],
        deadline: float | None,
    ) -> SendOutcome:
        """Send one request (thread-safe: touches no shared state but the client's counters)."""
        outcome = SendOutcome(len(events))
        try:
            return self._send(name, settings, events, deadline, outcome)
        except Exception as exc:  # an unexpected failure fails this request's messages only
            outcome.sent = False
            outcome.failed_requests += 1
            self.log.error(
                "TikTok request failed",
                extra={"kind": "unexpected", "connection": name, "error": type(exc).__name__},
            )
            return outcome

    def _send(
        self,
        name: str,
        settings: ConnectionSettings,
        events: list[dict[str, Any]],
        deadline: float | None,
        outcome: SendOutcome,
    ) -> SendOutcome:
        if deadline is not None and self.clock() + DEADLINE_MARGIN_SECONDS >= deadline:
            self.log.warning(
                "deadline near: request not sent", extra={"connection": name, "events": len(events)}
            )
            return outcome

        def send(connection: ConnectionSettings) -> TikTokResponse:
            path, body = request_for(connection, events)
            outcome.requests += 1
            try:
                return self.client.call(
                    "POST",
                    path,
                    access_token=connection.access_token.get_secret_value(),
                    json=body,
                    deadline=deadline,
                )
            except TikTokError as exc:
                outcome.codes[exc.code] += 1
                raise

        try:
            response = with_token_refetch(
                send, fetch=lambda: settings, refetch=lambda: self._rotated(name, settings)
            )
        except TokenRejectedError as exc:
            self._request_failed(name, exc, len(events), outcome, "token rejected")
            return outcome
        except RetryableTikTokError as exc:
            self._request_failed(name, exc, len(events), outcome, "retryable, gave up")
            return outcome
        except PermanentTikTokError as exc:
            self._request_failed(name, exc, len(events), outcome, "permanent")
            # Retrying cannot help (contract EV-03 for 40001): these messages are undeliverable.
            reason = REASON_NO_PERMISSION if exc.code == Code.NO_PERMISSION else REASON_REFUSED
            outcome.permanent = MessageFailure(
                reason, exc.message[:500], code=exc.code, request_id=exc.request_id
            )
            return outcome
        outcome.codes[response.code] += 1
        outcome.sent = True
        if response.code != Code.OK:
            self.log.info(
                "partial success",
                extra={
                    "connection": name,
                    "code": response.code,
                    "request_id": response.request_id,
                },
            )
        return outcome

    def _rotated(self, name: str, settings: ConnectionSettings) -> ConnectionSettings | None:
        """The connection read again after its token was rejected: its settings when the token
        changed (rotated by a re-authorization), else None (nothing new to try)."""
        try:
            fresh = self.connections.get(name, refresh=True)
        except ConnectionUnavailable:
            return None
        token = settings.access_token.get_secret_value()
        return fresh if fresh.access_token.get_secret_value() != token else None

    def _request_failed(
        self, name: str, exc: TikTokError, events: int, outcome: SendOutcome, kind: str
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


class InFlight:
    """Requests of one ``forward`` call in flight on a small thread pool (I/O overlaps mapping)."""

    def __init__(
        self,
        *,
        sender: RequestSender,
        ledger: SentLedger,
        result: ForwardResult,
        deadline: float | None,
        max_in_flight: int,
    ) -> None:
        self.sender = sender
        self.ledger = ledger
        self.max_in_flight = max_in_flight
        self.result = result
        self.deadline = deadline
        self._pool: ThreadPoolExecutor | None = None
        # (request outcome, origins of its events, connection, their TikTok event names)
        self._inflight: list[tuple[Future[SendOutcome], list[tuple[str, int]], str, list[str]]] = []
        # Messages that can never be delivered: message id -> (message, why).
        self.undeliverable: dict[str, tuple[SqsMessage, MessageFailure]] = {}
        self._messages: dict[str, SqsMessage] = {}

    def known(self, message: SqsMessage) -> None:
        """Remember a message whose events are in requests (to dead-letter it if refused)."""
        self._messages[message.message_id] = message

    def submit(self, name: str, group: Pending, *, full_only: bool) -> None:
        size = group.size
        while len(group.events) >= size or (not full_only and group.events):
            events, origins = group.events[:size], group.origins[:size]
            del group.events[:size], group.origins[:size]
            names = event_names(events)
            if self.max_in_flight <= 1:
                done: Future[SendOutcome] = Future()
                done.set_result(self.sender.send(name, group.settings, events, self.deadline))
                self._inflight.append((done, origins, name, names))
                continue
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.max_in_flight, thread_name_prefix="tiktok-send"
                )
            future = self._pool.submit(
                self.sender.send, name, group.settings, events, self.deadline
            )
            self._inflight.append((future, origins, name, names))

    def finish(self) -> None:
        """Wait for every request and fold the outcomes into the result (and the ledger)."""
        result, ledger = self.result, self.ledger
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
                    result.permanent_errors += 1
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
