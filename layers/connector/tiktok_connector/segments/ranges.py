"""One byte range of a segment file, start to finish — and the end of the job's ingest.

:func:`process_range` streams range ``i`` of a job (:func:`.reader.open_range`) through the
:class:`.processing.RangeProcessor`: accepted rows to chunk files (:mod:`.chunks`), rejected rows to
the rejects file (:mod:`.rejects`). Then the range is recorded on the job (chunk count, counters)
and only then its chunk messages are sent (:mod:`.fanout`; docs/architecture.md). The range whose
record completes the job merges reject parts, fails the job ``no_valid_rows`` when nothing was
accepted, and sends ``finalize`` when every chunk was already uploaded.

A range that stops on a byte its encoding cannot decode (or on a line too long) fails the job with
a clear error and a header-only rejects file; nothing is raised, so it is not retried. Only
infrastructure errors (S3, SQS, DynamoDB) propagate, to be retried by Lambda / SQS.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tiktok_connector.contract.job import RUNNING, JobItem, JobSource
from tiktok_connector.contract.messages import SyncPlanMessage
from tiktok_connector.observability import add_count, logger
from tiktok_connector.segments.chunks import ChunkWriter, HashFilter
from tiktok_connector.segments.columns import ColumnPlan
from tiktok_connector.segments.encoding import (
    TextEncoding,
    counting_substitutions,
    locate_undecodable,
)
from tiktok_connector.segments.fanout import send_batches, send_chunk_messages, send_finalize
from tiktok_connector.segments.jobs import JobStore
from tiktok_connector.segments.keys import InvalidSegmentFile
from tiktok_connector.segments.processing import RangeProcessor
from tiktok_connector.segments.reader import gunzip_blocks, open_range, range_bytes
from tiktok_connector.segments.reading import SUBSTITUTED_BYTES
from tiktok_connector.segments.rejects import RejectWriter, merge_parts, part_key, rejects_key
from tiktok_connector.segments.settings import IngestSettings
from tiktok_connector.segments.stats import RangeStats

if TYPE_CHECKING:  # the sync modules load with the first sync job, not at cold start
    from tiktok_connector.sync.runs import RunWriter


@dataclass(slots=True)
class IngestResult:
    """What one invocation did (for logs and metrics; no PII)."""

    job_id: str | None
    status: str  # "running", "failed", "succeeded", "skipped"
    ranges_total: int = 0
    range_index: int | None = None
    chunks: int = 0
    error: str | None = None
    stats: RangeStats | None = None
    notes: list[str] = field(default_factory=list)

    def publish(self, sink: Any) -> None:
        """Add this invocation's counts to a Powertools ``Metrics`` (``observability.metrics``)."""
        add_count(sink, f"SegmentIngest_{self.status}", 1)
        if self.error:
            add_count(sink, "SegmentJobsRefused", 1)
        stats = self.stats
        if stats is None:
            return
        add_count(sink, "RowsRead", stats.read)
        add_count(sink, "RowsAccepted", stats.accepted)
        add_count(sink, "RowsRejected", stats.rejected)
        add_count(sink, "RowsDuplicate", stats.duplicates)
        add_count(sink, "ChunksWritten", stats.chunks)
        for reason, count in stats.rejected_by_reason.items():
            add_count(sink, f"RowsRejected_{reason}", count)


def process_range(
    item: JobItem,
    index: int,
    *,
    s3: Any,
    sqs: Any,
    jobs: JobStore,
    settings: IngestSettings,
) -> IngestResult:
    """Process byte range ``index`` of a job (see module docs). Safe to run twice."""
    job_id = item.job_id
    plan = ColumnPlan.from_dict(item.plan.columns)
    ranges = item.plan.ranges
    start, end = ranges[index]
    source = item.source
    bucket = settings.segments_bucket
    multi = len(ranges) > 1
    syncing = item.action == "sync"
    writer: ChunkWriter | RunWriter
    if syncing:  # runs of partitioned records instead of chunks (docs/sync.md, step 1)
        from tiktok_connector.sync.records import choose_bits
        from tiktok_connector.sync.runs import RunWriter

        writer = RunWriter(
            s3=s3,
            bucket=bucket,
            job_id=job_id,
            range_index=index,
            columns=plan.columns,
            api=item.api or "file",
            bits=choose_bits(sum(expected_rows(plan, a, b) for a, b in ranges)),
        )
    else:
        writer = ChunkWriter(
            s3=s3,
            bucket=bucket,
            job_id=job_id,
            range_index=index,
            columns=plan.columns,
            max_rows=settings.chunk_rows,
            max_bytes=settings.chunk_max_bytes,
        )
    rejects = RejectWriter()
    processor = RangeProcessor(
        plan,
        api=item.api or "file",
        phone_region=item.phone_region or settings.default_phone_region,
        sink=writer.write,
        rejects=rejects,
        dedupe=HashFilter(settings.dedupe_max_hashes, expected=expected_rows(plan, start, end)),
    )
    started = time.monotonic()
    try:
        text = open_range(
            s3, source.bucket, source.key, source.version_id,
            start=start, end=end, compressed=plan.compressed,
            encoding=TextEncoding.from_dict(plan.encoding),
        )  # fmt: skip
        try:
            with counting_substitutions() as substituted:
                stats = processor.run(text, skip_header=plan.header and start == 0)
        finally:
            text.close()
        if substituted[0]:
            stats.findings[SUBSTITUTED_BYTES] = substituted[0]
        written = writer.close()
    except (InvalidSegmentFile, UnicodeDecodeError) as exc:
        rejects.close()
        if isinstance(exc, InvalidSegmentFile):
            code, message = exc.code, exc.message
        else:
            code, message = _undecodable(s3, source, plan, index, start, end)
        final = jobs.fail(job_id, code, message)
        if final is not None:
            write_empty_rejects(s3, bucket, job_id)
        jobs.write_report(final or job_id, s3=s3, bucket=bucket)
        logger.info("segment file unreadable", extra={"job_id": job_id, "code": code})
        return IngestResult(job_id, "failed", len(ranges), index, error=code)
    try:
        rejects.upload(
            s3=s3,
            bucket=bucket,
            key=part_key(job_id, index) if multi else rejects_key(job_id),
            header=not multi,
        )
    finally:
        rejects.close()
    chunks = writer.chunks if isinstance(writer, ChunkWriter) else []
    stats.run_parts = len(written) if syncing else 0
    stats.chunks = len(chunks)
    logger.info(
        "range processed",
        extra={
            "job_id": job_id,
            "range": index,
            "rows": stats.read,
            "chunks": stats.chunks,
            "seconds": round(time.monotonic() - started, 3),
        },
    )

    recorded = jobs.record_range(job_id, index, stats)
    if recorded is None:
        # Redelivered range: the first run recorded it. Its chunk messages may not have gone
        # out (crash between record and send), so send them again; upload ignores duplicates.
        current = jobs.get(job_id)
        if current is None or not current.running:
            return IngestResult(job_id, "skipped", len(ranges), index, notes=["job ended"])
        send_chunk_messages(sqs, settings, job_id, chunks)
        return IngestResult(job_id, RUNNING, len(ranges), index, len(chunks), stats=stats)

    send_chunk_messages(sqs, settings, job_id, chunks)
    status: str = RUNNING
    if recorded.ranges_done >= recorded.ranges_total:
        status = _complete_ingest(recorded, s3=s3, sqs=sqs, jobs=jobs, settings=settings)
    jobs.write_report(job_id, s3=s3, bucket=bucket)
    return IngestResult(job_id, status, len(ranges), index, len(chunks), stats=stats)


def expected_rows(plan: ColumnPlan, start: int, end: int) -> int:
    """A generous guess of a range's rows (identifier lines are rarely under 16 bytes)."""
    size = end - start
    return (size * 4 if plan.compressed else size) // 16


def _complete_ingest(
    item: JobItem, *, s3: Any, sqs: Any, jobs: JobStore, settings: IngestSettings
) -> str:
    """Run once, by the range whose record completed the job."""
    job_id = item.job_id
    if item.ranges_total > 1:
        merge_parts(
            s3=s3,
            bucket=settings.segments_bucket,
            job_id=job_id,
            line_counts=[item.ranges[str(i)].lines for i in range(item.ranges_total)],
            target_key=rejects_key(job_id),
        )
    if item.action == "sync" and any(r.accepted for r in item.ranges.values()):
        # the diff's turn: the lock, the plan, the groups (sync.steps), on the ranges queue
        send_batches(sqs, settings.ranges_queue_url, [SyncPlanMessage(job_id=job_id)])
        return RUNNING
    if item.chunks_total == 0:
        jobs.fail(
            job_id,
            "no_valid_rows",
            "no row of the file holds a valid identifier; see the rejects file for reasons",
        )
        return "failed"
    if item.chunks_done >= item.chunks_total:
        # every chunk was uploaded before this last (chunk-less) range was recorded: nobody
        # else will trigger the fan-in
        send_finalize(sqs, settings, job_id)
    return RUNNING


def _undecodable(
    s3: Any, source: JobSource, plan: ColumnPlan, index: int, start: int, end: int
) -> tuple[str, str]:
    """The error of a range that stopped on a byte its encoding cannot decode: read the range
    again (only on this failure path) to name the line and byte."""
    encoding = TextEncoding.from_dict(plan.encoding)
    blocks: Iterable[bytes] = range_bytes(
        s3, source.bucket, source.key, source.version_id,
        start=start, end=end, compressed=plan.compressed,
    )  # fmt: skip
    if plan.compressed:
        blocks = gunzip_blocks(blocks)
    found = locate_undecodable(blocks, encoding)
    if found is None:  # pragma: no cover - the first read failed, so this one does too
        where = "a byte"
    elif index == 0:
        where = f"line {found[0]} (byte offset {found[1]}{' uncompressed' * plan.compressed})"
    else:
        where = (
            f"line {found[0]} of byte range {index}, which begins with the first line starting "
            f"at or after byte offset {start}"
        )
    how = {"option": "the encoding metadata names", "bom": "its byte order mark says"}
    reason = how.get(encoding.how, "detected from the file's first 64 KiB")
    return "undecodable", (
        f"{where} cannot be read as {encoding.name} ({reason}); set metadata encoding to the "
        "file's real encoding (utf-8, cp1252, latin-1, utf-16) or save it as UTF-8"
    )


def write_empty_rejects(s3: Any, bucket: str, job_id: str) -> None:
    """The rejects file of a job that failed before reading rows: its header only (every job
    that ends has one)."""
    writer = RejectWriter()
    try:
        writer.upload(s3=s3, bucket=bucket, key=rejects_key(job_id), header=True)
    finally:
        writer.close()
