"""The events DLQ: where the forwarder moves a message that can never be delivered, with why."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from tiktok_connector.events.messages import MessageFailure, SqsMessage


class DeadLetters(Protocol):
    def send(self, message: SqsMessage, failure: MessageFailure) -> None: ...


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
