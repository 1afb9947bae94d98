"""Segment ingest: S3 ``ObjectCreated`` notifications and ranges-queue messages (thin handler).

An S3 event starts a job per object (URL-encoded keys decoded with ``unquote_plus``); a file too
large for one invocation fans out as byte-range messages on the ranges queue, which the same
function consumes with partial batch failure reporting. Unreadable files end as failed job reports,
not exceptions, so S3 does not retry them; infrastructure errors raise and are retried.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tiktok_connector import METRICS_NAMESPACE
from tiktok_connector.segments.ingest import IngestResult, default_collaborators

logger = Logger()
metrics = Metrics(namespace=METRICS_NAMESPACE)


def _record_metrics(result: IngestResult) -> None:
    logger.info("segment ingest", extra={"job_id": result.job_id, "status": result.status})
    metrics.add_metric(name=f"SegmentIngest_{result.status}", unit=MetricUnit.Count, value=1)
    if result.error:
        metrics.add_metric(name="SegmentJobsRefused", unit=MetricUnit.Count, value=1)
    if result.stats is None:
        return
    stats = result.stats
    metrics.add_metric(name="RowsRead", unit=MetricUnit.Count, value=stats.read)
    metrics.add_metric(name="RowsAccepted", unit=MetricUnit.Count, value=stats.accepted)
    metrics.add_metric(name="RowsRejected", unit=MetricUnit.Count, value=stats.rejected)
    metrics.add_metric(name="RowsDuplicate", unit=MetricUnit.Count, value=stats.duplicates)
    metrics.add_metric(name="ChunksWritten", unit=MetricUnit.Count, value=stats.chunks)
    for reason, count in stats.rejected_by_reason.items():
        metrics.add_metric(name=f"RowsRejected_{reason}", unit=MetricUnit.Count, value=count)


def range_record(record: SQSRecord) -> str:
    """One byte-range message; raising returns it to the queue (DLQ after maxReceiveCount)."""
    result = default_collaborators().range_message(record.body)
    _record_metrics(result)
    return result.status


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """S3 notifications start jobs; SQS range messages continue them."""
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs":
        # A processor per invocation: it holds its batch's records and failures, and invocations
        # may overlap in one process (the local stack runs them as threads).
        processor = BatchProcessor(event_type=EventType.SQS)
        return dict(
            process_partial_response(
                event=event, record_handler=range_record, processor=processor, context=context
            )
        )
    ingest = default_collaborators()
    jobs = []
    for record in S3Event(event).records:
        obj = record.s3.get_object
        result = ingest.object_created(
            record.s3.bucket.name, unquote_plus(obj.key), obj.version_id or None
        )
        _record_metrics(result)
        jobs.append({"job_id": result.job_id, "status": result.status})
    return {"jobs": jobs}
