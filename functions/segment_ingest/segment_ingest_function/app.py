"""Segment ingest: S3 ``ObjectCreated`` notifications and ranges-queue messages (thin handler).

An S3 event starts a job per object (URL-encoded keys decoded with ``unquote_plus``); a file too
large for one invocation fans out as byte-range messages on the ranges queue, which the same
function consumes with partial batch failure reporting (Powertools' batch processor parses each
body into a ranges-queue message; one that is not fails its record with the reason logged). Unreadable files end as failed job reports,
not exceptions, so S3 does not retry them; infrastructure errors raise and are retried.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext

from tiktok_connector.contract.queues import RangesQueueRecord, queue_processor
from tiktok_connector.observability import logger, metrics
from tiktok_connector.segments.ingest import IngestResult, default_ingest


def _record(result: IngestResult) -> None:
    logger.info("segment ingest", extra={"job_id": result.job_id, "status": result.status})
    result.publish(metrics)


def range_record(record: RangesQueueRecord) -> str:
    """One ranges-queue message; raising returns it to the queue (DLQ after maxReceiveCount)."""
    result = default_ingest().queued(record.body)
    _record(result)
    return result.status


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """S3 notifications start jobs; SQS range messages continue them."""
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs":
        processor = queue_processor(RangesQueueRecord)
        return dict(
            process_partial_response(
                event=event, record_handler=range_record, processor=processor, context=context
            )
        )
    ingest = default_ingest()
    jobs = []
    for record in S3Event(event).records:
        obj = record.s3.get_object
        result = ingest.object_created(
            record.s3.bucket.name,
            unquote_plus(obj.key),
            obj.version_id or None,
            obj.sequencer or None,
        )
        _record(result)
        jobs.append({"job_id": result.job_id, "status": result.status})
    return {"jobs": jobs}
