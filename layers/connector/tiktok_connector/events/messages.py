"""What the forwarder takes from SQS and what it says about a message it cannot deliver.

:class:`SqsMessage` is one record (its connection from the ``connection`` message attribute);
:class:`MessageFailure` is why a message can never be delivered — the events DLQ's message
attributes (:mod:`.dead_letters`); :class:`MessageNotForwarded` is what the handler raises for a
message to redeliver, so Powertools' batch processor reports it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tiktok_connector.events.settings import DEFAULT_CONNECTION

# Why a message was moved to the events DLQ (its ``failure_reason`` attribute).
REASON_MALFORMED = "malformed_message"
REASON_UNKNOWN_CONNECTION = "unknown_connection"
REASON_INVALID_CONNECTION = "invalid_connection"
REASON_UNREADABLE_CONNECTION = "connection_unreadable"  # transient: not moved, redelivered
REASON_NO_PERMISSION = "tiktok_permission_denied"
REASON_REFUSED = "tiktok_refused_request"


class SqsMessage(NamedTuple):
    """What the forwarder needs of one SQS record."""

    message_id: str
    body: str
    connection: str = DEFAULT_CONNECTION


class MessageFailure(NamedTuple):
    """Why a message can never be delivered (no PII, no token): the DLQ attributes."""

    reason: str
    detail: str = ""
    code: int | None = None
    request_id: str = ""


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
