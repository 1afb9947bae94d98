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
import threading
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from tiktok_connector import aws
from tiktok_connector.events.connections import (
    ConnectionSource,
    ConnectionStore,
    ConnectionUnavailable,
)
from tiktok_connector.events.dead_letters import DeadLetterQueue, DeadLetters
from tiktok_connector.events.delivery import DeliveryRecord, DeliveryWriter
from tiktok_connector.events.identities import IpProfile
from tiktok_connector.events.mapping import EventMapper, Mapped, Rejection
from tiktok_connector.events.messages import REASON_MALFORMED, MessageFailure, SqsMessage
from tiktok_connector.events.mparticle import parse_batch
from tiktok_connector.events.results import ForwardResult
from tiktok_connector.events.sending import InFlight, Pending, RequestSender, SentLedger
from tiktok_connector.events.settings import (
    ConnectionSettings,
    ForwarderSettings,
    forwarder_settings,
)
from tiktok_connector.events.tiktok_shape import (
    is_tiktok_shaped,
    normalize_tiktok_event,
    source_matches,
    tiktok_events,
)
from tiktok_connector.events.values import MappingNotes
from tiktok_connector.observability import logger as default_logger
from tiktok_connector.tiktok import TikTokClient

# Per-event drop logs per invocation; beyond this only the counts are logged.
MAX_DROP_LOGS = 50
# The drop reason of an event that no mapping sends to TikTok (counted per event name too).
UNMAPPED = "unsupported_event"


class EventForwarder:
    """Map and send SQS batches of events (see the module docstring for the outcome rules)."""

    def __init__(
        self,
        *,
        client: TikTokClient,
        connections: ConnectionSource,
        phone_region: str = "US",
        logger: Any = None,
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
        self.log = logger if logger is not None else default_logger
        self.ip_profile = ip_profile if ip_profile is not None else IpProfile()
        self.ledger = ledger if ledger is not None else SentLedger()
        self.clock = clock
        # Requests in flight at once per invocation (1 = send inline, one after another).
        self.max_in_flight = max_in_flight
        self.sender = RequestSender(
            client=client, connections=connections, log=self.log, clock=clock
        )
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
        pending: dict[str, Pending] = {}
        drop_logs = 0
        sends = InFlight(
            sender=self.sender,
            ledger=self.ledger,
            result=result,
            deadline=deadline,
            max_in_flight=self.max_in_flight,
        )
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
                group = pending[message.connection] = Pending(settings)
            sends.known(message)
            drop_logs = self._queue_events(message, events, group, result, drop_logs)
            if len(group.events) >= group.size:
                # A full request goes out now, while the rest of the batch is still mapped.
                sends.submit(message.connection, group, full_only=True)
        self._log_drop_totals(result, drop_logs)
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

    def _queue_events(
        self,
        message: SqsMessage,
        events: list[Mapped],
        group: Pending,
        result: ForwardResult,
        drop_logs: int,
    ) -> int:
        """Queue a message's mapped events on its connection's pending request; count and log
        its dropped ones (up to ``MAX_DROP_LOGS`` lines per batch). Returns the lines logged."""
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
                    # Counted per event name and logged once per batch (_log_drop_totals).
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
        return drop_logs

    def _log_drop_totals(self, result: ForwardResult, drop_logs: int) -> None:
        """One line for the unmapped events by name; one with the totals when some drops went
        unlogged."""
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

    def _map_message(
        self, message: SqsMessage, result: ForwardResult, sends: InFlight, notes: MappingNotes
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
        self, message: SqsMessage, result: ForwardResult, sends: InFlight, why: str
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


def deadline_after(remaining_ms: int, clock: Callable[[], float] = time.monotonic) -> float:
    """A ``clock()`` deadline ``remaining_ms`` from now (the Lambda context's remaining time)."""
    return clock() + remaining_ms / 1000.0


_BUILD_LOCK = threading.Lock()


def default_forwarder() -> EventForwarder:
    """The process-wide forwarder from the environment and the layer's cached clients.

    Built on first use and kept across warm invocations (its ledger, IP profiles and connection
    cache live in it) while the settings (by value) and the clients are the same; after
    ``reset_settings()`` with a changed environment, or ``aws.reset_clients()``, the next call
    builds a new one (the factory idiom of docs/architecture.md, "Service factories")."""
    with _BUILD_LOCK:  # overlapping first invocations (local stack threads) build one
        return _build_forwarder(
            forwarder_settings(), aws.secretsmanager(), aws.sqs(), aws.quick_client("dynamodb")
        )


@lru_cache(maxsize=1)
def _build_forwarder(
    settings: ForwarderSettings, secretsmanager: Any, sqs: Any, dynamodb: Any
) -> EventForwarder:
    return EventForwarder(
        client=TikTokClient(settings.tiktok_api_base_url),
        connections=ConnectionStore(
            prefix=settings.connections_secret_prefix,
            secrets_client=secretsmanager,
            max_age=settings.connections_max_age,
        ),
        phone_region=settings.default_phone_region,
        dead_letters=(
            DeadLetterQueue(settings.events_dlq_url, sqs) if settings.events_dlq_url else None
        ),
        delivery=(
            DeliveryRecord(settings.event_stats_table, dynamodb)
            if settings.event_stats_table
            else None
        ),
    )
