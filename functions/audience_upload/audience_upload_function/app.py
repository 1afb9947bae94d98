"""Audience upload: chunk-queue records → TikTok custom audiences (thin handler, issue 5).

Each SQS record is one chunk (or finalize) message; the layer's ``AudienceUploader`` does the work
and a record that raises is reported as a batch item failure (``ReportBatchItemFailures``): it
goes back to the queue (throttled, or waiting on another worker) or, after ``maxReceiveCount``,
to the DLQ (a poison message).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tiktok_connector import METRICS_NAMESPACE
from tiktok_connector.audiences.upload import PoisonMessageError, RetryLaterError, default_uploader

logger = Logger()
metrics = Metrics(namespace=METRICS_NAMESPACE)


def new_processor() -> BatchProcessor:
    """One batch processor per invocation: a processor holds its batch's records and failures,
    so a module-level one is shared by invocations that overlap in one process (the local stack
    runs concurrent invocations as threads) and one batch's response can name another's records.

    Report every failed record (even when all fail) rather than raising: same redelivery, but the
    response always names the records, as the local dispatcher and Lambda both honour.
    """
    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> str:
    """Process one record; safe to run twice for the same message."""
    remaining = lambda_context.get_remaining_time_in_millis() / 1000.0
    try:
        outcome = default_uploader().handle(
            record.body, remaining_seconds=remaining, metrics=metrics
        )
    except PoisonMessageError as exc:
        # The reason names no PII (message shape only); the body itself is never logged.
        logger.error(
            "poison chunk message", extra={"message_id": record.message_id, "reason": str(exc)}
        )
        raise
    except RetryLaterError:
        metrics.add_metric(name="ChunkRecordsDeferred", unit="Count", value=1)
        raise
    logger.info(
        "chunk record processed", extra={"job_id": outcome.job_id, "result": outcome.result}
    )
    return outcome.result


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """SQS entry point with partial batch failure reporting."""
    return process_partial_response(
        event=event, record_handler=record_handler, processor=new_processor(), context=context
    )
