"""The outcome of one forwarded batch: which messages to redeliver, and its counts as metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tiktok_connector.events.delivery import DeliveryTally
from tiktok_connector.observability import add_count, add_count_by

# Event names per invocation given their own EventsUnmapped metric dimension (the rest: "other").
MAX_UNMAPPED_DIMENSIONS = 20


@dataclass
class ForwardResult:
    """Outcome of one batch: which messages to redeliver, and the counts for metrics."""

    failed: set[str] = field(default_factory=set)
    forwarded: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    malformed: int = 0
    requests: int = 0
    failed_requests: int = 0
    # Requests TikTok refused for good (their messages dead-lettered): the template's
    # TikTokPermanentErrors alarm sums this metric over the functions that call TikTok.
    permanent_errors: int = 0
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
        add_count(metrics, "EventsForwarded", self.forwarded)
        add_count(metrics, "TikTokRequests", self.requests)
        add_count(metrics, "TikTokRequestsFailed", self.failed_requests)
        add_count(metrics, "MalformedMessages", self.malformed)
        add_count(metrics, "TikTokRetries", self.retries)
        if self.permanent_errors:
            add_count(metrics, "TikTokPermanentErrors", self.permanent_errors)
        if self.delivery_not_recorded:
            add_count(metrics, "DeliveryRecordErrors", self.delivery_not_recorded)
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
            add_count_by(metrics, name, n, **{dimension: value})
        # Per connection (the totals above are not): events sent, failed, refused, dropped.
        for connection, outcomes in self.delivery.by_connection().items():
            for outcome, n in outcomes.items():
                if n:
                    add_count_by(
                        metrics, "ConnectionEvents", n, connection=connection, outcome=outcome
                    )

    def unmapped_dimensions(self) -> list[tuple[str, int]]:
        """Unmapped events by name, the most frequent few on their own, the rest as ``other``
        (event names are the sender's: a bounded number of metric dimensions per invocation)."""
        top = self.unmapped.most_common(MAX_UNMAPPED_DIMENSIONS)
        rest = sum(self.unmapped.values()) - sum(n for _, n in top)
        return top + ([("other", rest)] if rest else [])
