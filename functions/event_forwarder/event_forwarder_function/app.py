"""Event forwarder: SQS batches of conversion events → TikTok's Events API.

The whole SQS batch is mapped and sent as grouped requests first (requests fill up to 1,000
events); then Powertools' batch processor turns each message's outcome into
``batchItemFailures``, so only the failed messages are redelivered.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tiktok_connector.events.forwarder import deadline_after, default_forwarder
from tiktok_connector.events.messages import MessageNotForwarded, sqs_message
from tiktok_connector.observability import logger, metrics


def new_processor() -> BatchProcessor:
    """One batch processor per invocation: a processor holds its batch's records and failures,
    so a module-level one is shared by invocations that overlap in one process (the local stack
    runs concurrent invocations as threads) and one batch's response can name another's records.
    """
    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """SQS entry point: forward the whole batch, then report the messages to redeliver."""
    forwarder = default_forwarder()
    records = [SQSRecord(raw) for raw in event.get("Records", [])]
    result = forwarder.forward(
        [sqs_message(record) for record in records],
        deadline=deadline_after(context.get_remaining_time_in_millis()),
    )
    result.publish(metrics)

    def record_outcome(record: SQSRecord) -> None:
        if record.message_id in result.failed:
            raise MessageNotForwarded(record.message_id)

    return process_partial_response(
        event=event, record_handler=record_outcome, processor=new_processor(), context=context
    )
