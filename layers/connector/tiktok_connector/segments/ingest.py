"""Segment ingest: an S3 object becomes chunk files of hashes, chunk messages and a job report.

Entry points (the handler calls exactly one per record, through :class:`SegmentIngest`):

* :func:`ingest_object` — an S3 ``ObjectCreated`` notification. Parses the key and metadata
  (:mod:`.keys`, :mod:`.options`), plans the file (:mod:`.planning`: sniffing, format, encoding,
  columns, byte ranges), creates the job (idempotent per object version; what was learned goes to
  the report, see :mod:`.reading`) and either processes the file as one range
  (:func:`.ranges.process_range`) or, when it is larger than ``INGEST_RANGE_BYTES``, sends one
  message per byte range to the ranges queue (:mod:`.fanout`).
* :func:`ingest_range` — one ranges-queue :class:`~tiktok_connector.contract.messages.
  RangeMessage` (parsed by the handler's batch processor) → :func:`.ranges.process_range`.

Reading top-down: this module → :mod:`.planning` → :mod:`.ranges` → :mod:`.processing` (the hot
row loop) / :mod:`.rows` → :mod:`.chunks`, :mod:`.rejects` → :mod:`.fanout`.

A file that cannot be read (not gzip though named so, a format we do not read, binary, a byte its
encoding cannot decode, no identifier column, empty) ends as a ``failed`` report with a clear
error and a header-only rejects file; nothing is raised, so S3 does not retry.
Only infrastructure errors (S3, SQS, DynamoDB) propagate, to be retried by Lambda/SQS.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tiktok_connector import aws
from tiktok_connector.contract.job import (
    FAILED,
    RUNNING,
    JobError,
    JobItem,
    ReportWarning,
    StoredPlan,
    job_id_for,
)
from tiktok_connector.contract.messages import (
    RangeMessage,
    RangesQueueMessage,
    SyncGroupMessage,
    SyncPlanMessage,
)
from tiktok_connector.contract.pointer import ReportPointer
from tiktok_connector.observability import logger
from tiktok_connector.segments.fanout import send_batches, send_range_messages
from tiktok_connector.segments.jobs import JobSpec, JobStore
from tiktok_connector.segments.keys import (
    InvalidSegmentFile,
    is_folder_marker,
    parse_segment_key,
    validate_audience_name,
)
from tiktok_connector.segments.options import parse_options
from tiktok_connector.segments.planning import plan_file
from tiktok_connector.segments.pointer import write_pointer
from tiktok_connector.segments.ranges import IngestResult, process_range, write_empty_rejects
from tiktok_connector.segments.reading import reading_item
from tiktok_connector.segments.rejects import rejects_key
from tiktok_connector.segments.report import report_key
from tiktok_connector.segments.settings import IngestSettings, ingest_settings

if TYPE_CHECKING:  # the sync modules load with the first sync message, not at cold start
    from tiktok_connector.sync.steps import SyncSteps

__all__ = ["IngestResult", "SegmentIngest", "default_ingest", "ingest_object", "ingest_range"]


def ingest_object(
    bucket: str,
    key: str,
    version_id: str | None,
    *,
    s3: Any,
    sqs: Any,
    jobs: JobStore,
    settings: IngestSettings,
    sequencer: str | None = None,
) -> IngestResult:
    """Handle one ``ObjectCreated`` notification for a decoded ``key`` (see module docs);
    ``sequencer`` is the notification's, which orders uploads of one key (the report pointer)."""
    if is_folder_marker(key):
        return IngestResult(None, "skipped", notes=["folder marker"])
    head_kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        head_kwargs["VersionId"] = version_id
    try:
        head = s3.head_object(**head_kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NoSuchVersion"):
            logger.warning("segment file vanished before ingest", extra={"bucket": bucket})
            return IngestResult(None, "skipped", notes=["object not found"])
        raise
    version = version_id or head.get("VersionId") or head.get("ETag", "").strip('"')
    if version == "null":  # unversioned object in a bucket that had versioning
        version = head.get("ETag", "").strip('"')
    job_id = job_id_for(bucket, key, version)
    source_version = version_id or head.get("VersionId")
    modified = head.get("LastModified")
    pointer = ReportPointer(
        bucket=bucket,
        key=key,
        version_id=source_version,
        job_id=job_id,
        report_key=report_key(job_id),
        rejects_key=rejects_key(job_id),
        sequencer=sequencer,
        last_modified=modified.isoformat() if modified is not None else None,
    )

    existing = jobs.get(job_id)
    if existing is not None and _nothing_left(existing):
        return IngestResult(job_id, "skipped", notes=["duplicate notification"])

    spec = JobSpec(job_id=job_id, bucket=bucket, key=key, version_id=source_version)
    reading = None
    try:
        seg = parse_segment_key(key)
        spec = JobSpec(
            job_id=job_id,
            bucket=bucket,
            key=key,
            version_id=source_version,
            advertiser_id=seg.advertiser_id,
            audience_name=seg.audience_name,
            action=seg.action,
        )
        options = parse_options(
            head.get("Metadata") or {}, default_phone_region=settings.default_phone_region
        )
        spec = replace(
            spec,
            api=str(options.api),
            retention_days=options.retention_days,
            phone_region=options.phone_region,
        )
        reading = reading_item(options=options.echo(), warnings=options.warnings())
        validate_audience_name(seg.audience_name, options.api)
        size = int(head.get("ContentLength", 0))
        if size == 0:
            raise InvalidSegmentFile("empty_file", "the file is empty")
        planned = plan_file(
            s3, bucket, key, source_version, filename=seg.filename, size=size, options=options,
            range_bytes=settings.ingest_range_bytes,
        )  # fmt: skip
    except InvalidSegmentFile as exc:
        spec = replace(spec, reading=reading)
        created, item = jobs.create(spec, error=JobError(exc.code, exc.message))
        if created:
            write_empty_rejects(s3, settings.segments_bucket, job_id)
        jobs.write_report(item, s3=s3, bucket=settings.segments_bucket)
        write_pointer(s3, settings.segments_bucket, pointer)
        logger.info("segment file refused", extra={"job_id": job_id, "code": exc.code})
        return IngestResult(job_id, item.status, error=exc.code)

    plan, ranges, reading = planned.plan, planned.ranges, planned.reading
    if options.retention_days is not None and seg.action in ("append", "remove"):
        unused = ReportWarning(
            code="retention_days_unused",
            message="metadata retention-days applies when an audience is created (create, "
            f"or a replace that creates it); it was not applied to this {seg.action}",
        )
        reading = reading.model_copy(update={"warnings": [*reading.warnings, unused]})
    spec = replace(
        spec,
        reading=reading,
        columns=plan.columns,
        calculate_type=plan.calculate_type,
        ranges_total=len(ranges),
        plan=StoredPlan(columns=plan.as_dict(), ranges=ranges, maid_hash=options.maid_hash),
    )
    created, item = jobs.create(spec)
    if not created and _nothing_left(item):
        return IngestResult(job_id, "skipped", notes=["duplicate notification"])
    if created:
        jobs.write_report(item, s3=s3, bucket=settings.segments_bucket)
    write_pointer(s3, settings.segments_bucket, pointer)
    if len(ranges) == 1:
        return process_range(item, 0, s3=s3, sqs=sqs, jobs=jobs, settings=settings)
    if item.ranges_queued:  # a duplicate notification: the ranges are on their way
        return IngestResult(job_id, "skipped", notes=["duplicate notification"])
    send_range_messages(sqs, settings, item, ranges)
    jobs.mark_ranges_queued(job_id)
    return IngestResult(job_id, RUNNING, ranges_total=len(ranges))


def _nothing_left(item: JobItem) -> bool:
    """A job that has ended, or whose every range is recorded, needs no more ingest work."""
    return not item.running or item.ranges_done >= item.ranges_total


def ingest_range(
    message: RangeMessage, *, s3: Any, sqs: Any, jobs: JobStore, settings: IngestSettings
) -> IngestResult:
    """Handle one ranges-queue message. Raises ``ValueError`` for a job that does not exist
    (poison: the record goes to the DLQ after ``maxReceiveCount``)."""
    item = jobs.get(message.job_id)
    if item is None:
        raise ValueError("range message for an unknown job")
    index = message.range
    if not item.running or str(index) in item.ranges:
        return IngestResult(
            message.job_id, "skipped", range_index=index, notes=["range already done"]
        )
    if index >= len(item.plan.ranges):
        raise ValueError("range message for a range the job's plan does not have")
    return process_range(item, index, s3=s3, sqs=sqs, jobs=jobs, settings=settings)


@dataclass(frozen=True, slots=True)
class SegmentIngest:
    """Segment ingest with what it needs from outside: clients, the job store and the settings.

    The handler's one collaborator (:func:`default_ingest`); tests build it over moto."""

    s3: Any
    sqs: Any
    jobs: JobStore
    settings: IngestSettings
    sync: SyncSteps | None = None  # else built at the first sync message (with ``dynamodb``)
    dynamodb: Any = None

    def object_created(
        self, bucket: str, key: str, version_id: str | None, sequencer: str | None = None
    ) -> IngestResult:
        """:func:`ingest_object` with these collaborators."""
        return ingest_object(
            bucket,
            key,
            version_id,
            sequencer=sequencer,
            s3=self.s3,
            sqs=self.sqs,
            jobs=self.jobs,
            settings=self.settings,
        )

    def queued(self, message: RangesQueueMessage) -> IngestResult:
        """One ranges-queue message (the handler's batch processor parsed it), by its type."""
        match message:
            case RangeMessage():
                return ingest_range(
                    message, s3=self.s3, sqs=self.sqs, jobs=self.jobs, settings=self.settings
                )
            case SyncPlanMessage():
                status = self._sync().plan(message)
                if status == FAILED:  # gave up waiting for another sync: say so
                    self.jobs.write_report(message.job_id, s3=self.s3, bucket=self.bucket)
                return IngestResult(message.job_id, status)
            case SyncGroupMessage():
                steps = self._sync()
                done = steps.group(message)
                if done is None:
                    return IngestResult(message.job_id, RUNNING)
                from tiktok_connector.sync.handover import hand_over

                status = hand_over(
                    steps,
                    done,
                    chunk_queue_url=self.settings.chunk_queue_url,
                    chunk_rows=self.settings.chunk_rows,
                )
                # the changes being sent, or why the sync stopped before sending
                self.jobs.write_report(message.job_id, s3=self.s3, bucket=self.bucket)
                return IngestResult(message.job_id, status)

    @property
    def bucket(self) -> str:
        return self.settings.segments_bucket

    def _sync(self) -> SyncSteps:
        if self.sync is not None:
            return self.sync
        if not self.settings.audiences_table or self.dynamodb is None:
            raise ValueError("sync message, but AUDIENCES_TABLE (the sync lock's table) is unset")
        return _sync_steps(self.settings, self.s3, self.sqs, self.dynamodb, self.jobs)


_BUILD_LOCK = threading.Lock()


def default_ingest() -> SegmentIngest:
    """The process-wide :class:`SegmentIngest` from the environment and the layer's cached clients.

    Built on first use and kept while the settings (by value) and the clients are the same; after
    ``reset_settings()`` with a changed environment, or ``aws.reset_clients()``, the next call
    builds a new one (the factory idiom of docs/architecture.md, "Service factories")."""
    with _BUILD_LOCK:  # overlapping first invocations (local stack threads) build one
        return _build_ingest(ingest_settings(), aws.s3(), aws.sqs(), aws.dynamodb())


@lru_cache(maxsize=1)
def _build_ingest(settings: IngestSettings, s3: Any, sqs: Any, dynamodb: Any) -> SegmentIngest:
    jobs = JobStore(settings.jobs_table, dynamodb=dynamodb, ttl_days=settings.job_ttl_days)
    return SegmentIngest(s3=s3, sqs=sqs, jobs=jobs, settings=settings, dynamodb=dynamodb)


@lru_cache(maxsize=1)
def _sync_steps(
    settings: IngestSettings, s3: Any, sqs: Any, dynamodb: Any, jobs: JobStore
) -> SyncSteps:
    """The sync steps over the function's clients, built at the first sync message."""
    from tiktok_connector.sync.jobstate import SyncJobs
    from tiktok_connector.sync.lock import SyncLock
    from tiktok_connector.sync.steps import SyncSteps

    return SyncSteps(
        s3=s3,
        sqs=sqs,
        jobs=jobs,
        sync_jobs=SyncJobs(settings.jobs_table, dynamodb=dynamodb),
        lock=SyncLock(table=settings.audiences_table, dynamodb=dynamodb),
        bucket=settings.segments_bucket,
        ranges_queue_url=settings.ranges_queue_url,
        send=send_batches,
        wait_seconds=settings.sync_wait_seconds,
    )
