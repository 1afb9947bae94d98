"""Audience upload: chunk-queue records → TikTok custom audiences (thin handler, issue 5).

Powertools' batch processor parses each record into a chunk-queue message (the contract's
``ChunkQueueRecord``): a body that is not one fails its record with the reason logged, and SQS
moves it to the DLQ after ``maxReceiveCount``. The layer's ``AudienceUploader`` does the work; a
record that raises is reported as a batch item failure (``ReportBatchItemFailures``): it goes
back to the queue (throttled, or waiting on another worker) or, after ``maxReceiveCount``, to the
DLQ (a message for a job that does not exist).

The same function runs the hourly ``RefreshAudienceSizes`` schedule: audience sizes TikTok had
not finished computing are read again (``audiences.refresh``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from tiktok_connector.audiences.failures import PoisonMessageError, RetryLaterError
from tiktok_connector.audiences.refresh import default_refresh, is_refresh_event
from tiktok_connector.audiences.upload import default_uploader
from tiktok_connector.contract.queues import ChunkQueueRecord, queue_processor
from tiktok_connector.observability import add_count, logger, metrics


def record_handler(record: ChunkQueueRecord, lambda_context: LambdaContext) -> str:
    """Process one record; safe to run twice for the same message."""
    remaining = lambda_context.get_remaining_time_in_millis() / 1000.0
    try:
        outcome = default_uploader().handle(
            record.body, remaining_seconds=remaining, metrics=metrics
        )
    except PoisonMessageError as exc:
        # The reason names no PII (message shape only); the body itself is never logged.
        logger.error(
            "poison chunk message", extra={"message_id": record.messageId, "reason": str(exc)}
        )
        raise
    except RetryLaterError:
        add_count(metrics, "ChunkRecordsDeferred", 1)
        raise
    logger.info(
        "chunk record processed", extra={"job_id": outcome.job_id, "result": outcome.result}
    )
    return outcome.result


@logger.inject_lambda_context
@metrics.log_metrics
def handler(
    event: dict[str, Any], context: LambdaContext
) -> PartialItemFailureResponse | dict[str, int]:
    """SQS entry point with partial batch failure reporting; the size refresh's schedule."""
    if is_refresh_event(event):
        remaining = context.get_remaining_time_in_millis() / 1000.0
        return default_refresh(metrics=metrics, remaining_seconds=remaining).as_json()
    return process_partial_response(
        event=event,
        record_handler=record_handler,
        processor=queue_processor(ChunkQueueRecord),
        context=context,
    )
