"""The work queues as the SQS handlers receive them: record models and the batch processor.

Each queue's record model is Powertools' ``SqsRecordModel`` with the body typed as that queue's
message union (:mod:`.messages`). The handlers parse with :func:`queue_processor` —
``BatchProcessor(model=...)`` — so a body that is not one of the queue's messages (not JSON, an
unknown ``type``, a missing field) never reaches the handler: its record fails, one log line
names the reason (:func:`poison_reason`: field names and error kinds, never the body), and SQS
redelivers it until ``maxReceiveCount`` moves it to the queue's DLQ.
"""

from __future__ import annotations

from typing import Any, ClassVar

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import ConfigDict, Json, ValidationError

from tiktok_connector.contract.messages import ChunkQueueMessage, RangesQueueMessage
from tiktok_connector.observability import add_count, logger, metrics


class RangesQueueRecord(SqsRecordModel):
    """A ranges-queue record (segment-ingest function)."""

    # Built at the first record, not at import: the functions' cold start.
    model_config = ConfigDict(defer_build=True)

    queue: ClassVar[str] = "range"
    body: Json[RangesQueueMessage]


class ChunkQueueRecord(SqsRecordModel):
    """A chunk-queue record (audience-upload function)."""

    model_config = ConfigDict(defer_build=True)

    queue: ClassVar[str] = "chunk"
    body: Json[ChunkQueueMessage]


QueueRecord = RangesQueueRecord | ChunkQueueRecord

_FIXED = {
    "json_invalid": "body is not JSON",
    "json_type": "body is not JSON",
    "model_attributes_type": "body is not a JSON object",
    "model_type": "body is not a JSON object",
    "dict_type": "body is not a JSON object",
    "union_tag_not_found": "body has no type",
}
_MAX_REASONS = 3


def poison_reason(exc: ValidationError, queue: str) -> str:
    """Why a record is not a message of its queue: ``chunk message body is not JSON``,
    ``unknown chunk message type 'mystery'``, ``chunk message field rows: Input should be a valid
    integer`` … Built from field names and pydantic's error kinds; no input value is quoted
    except an unknown ``type`` (40 characters at most)."""
    reasons: list[str] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=True):
        loc = [str(part) for part in error["loc"]]
        kind = error["type"]
        if loc[:1] != ["body"]:
            reasons.append(f"not an SQS record ({'.'.join(loc) or 'record'}: {kind})")
        elif kind in _FIXED:
            reasons.append(f"{queue} message {_FIXED[kind]}")
        elif kind == "union_tag_invalid":
            tag = str((error.get("ctx") or {}).get("tag", "?"))[:40]
            reasons.append(f"unknown {queue} message type {tag!r}")
        else:
            reasons.append(_field_reason(queue, loc, kind, error["msg"]))
        if len(reasons) == _MAX_REASONS:
            break
    return "; ".join(dict.fromkeys(reasons)) or f"not a {queue} message"


def _field_reason(queue: str, loc: list[str], kind: str, msg: str) -> str:
    # loc is body, <type tag>, <field>…
    msg = msg.removeprefix("Value error, ")
    if len(loc) < 2:
        return f"{queue} message body: {msg}"
    if len(loc) == 2:  # the message as a whole
        return f"{loc[1]} message: {msg}"
    field = ".".join(loc[2:])
    if kind == "missing":
        return f"{loc[1]} message has no {field}"
    return f"{loc[1]} message field {field}: {msg}"


class QueueBatchProcessor(BatchProcessor):
    """``BatchProcessor(model=...)`` that says why a record's body is not a message of its
    queue (Powertools' own notice would quote the body)."""

    def __init__(self, model: type[QueueRecord]) -> None:
        # Report every failed record, even when all fail, rather than raise: the same
        # redelivery, the response names the records, and no error message carries a body.
        super().__init__(event_type=EventType.SQS, model=model, raise_on_entire_batch_failure=False)
        self.queue = model.queue

    def failure_handler(self, record: Any, exception: Any) -> Any:
        exc = exception[1]
        if isinstance(exc, ValidationError) and exc.title == getattr(self.model, "__name__", None):
            logger.error(
                f"poison {self.queue} message",
                extra={
                    "message_id": record.message_id,
                    "reason": poison_reason(exc, self.queue),
                },
            )
            add_count(metrics, "PoisonMessages", 1)
        return super().failure_handler(record, exception)


def queue_processor(model: type[QueueRecord]) -> QueueBatchProcessor:
    """One processor per invocation: a processor holds its batch's records and failures, and
    invocations overlap in one process on the local stack (threads), so a shared one would name
    another batch's records in this batch's response."""
    return QueueBatchProcessor(model)
