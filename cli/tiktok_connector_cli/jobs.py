"""Segment jobs as an operator sees them: the list, one job's report and rejects, and a file's job.

A job is one S3 object version (``tiktok_connector.contract.job``). The jobs table holds the live
state (counters, chunks done); ``reports/<job_id>.json`` is the report users read, kept after the
table's item expires; ``rejects/<job_id>.csv`` the rejected lines.

:func:`job_for_object` is the one place that turns a file into its job id: a HEAD of the object
gives the version id — or the ETag of an unversioned object — and ``job_id_for`` hashes it, as
ingest does (so a file just uploaded again names its new job even before ingest has started it).
When the object is gone (deleted after its job, e.g. by a lifecycle rule), the report pointer
ingest wrote (``reports/by-key/<key after segments/>.json``, :mod:`tiktok_connector.contract.
pointer`) names the job of its newest upload.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from tiktok_connector.contract.job import FAILED, SUCCEEDED, JobItem, job_id_for
from tiktok_connector.segments.pointer import read_pointer
from tiktok_connector.segments.rejects import rejects_key
from tiktok_connector.segments.report import job_totals, render_report, report_key

JOB_ID = re.compile(r"[0-9a-f]{32}")
# Rejects shown by `jobs show` are read from the first bytes of the file only.
REJECTS_READ_BYTES = 256 * 1024
ENDED = (SUCCEEDED, FAILED)
_LIST_FIELDS = (
    "job_id",
    "status",
    "source",
    "advertiser_id",
    "audience_name",
    "action",
    "api",
    "ranges",
    "ranges_total",
    "ranges_done",
    "chunks_total",
    "chunks_done",
    "tiktok",
    "error",
    "started_at",
    "finished_at",
)


class ObjectNotFound(LookupError):
    """No such S3 object (or version)."""


@dataclass(frozen=True, slots=True)
class JobRef:
    """A file and the job id it maps to."""

    job_id: str
    bucket: str
    key: str
    version_id: str | None


def split_s3_ref(ref: str, default_bucket: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key); a bare key (``segments/...``) → the stack's bucket."""
    if ref.startswith("s3://"):
        bucket, _, key = ref[len("s3://") :].partition("/")
        return bucket, key
    return default_bucket, ref.lstrip("/")


def looks_like_job_id(ref: str) -> bool:
    return JOB_ID.fullmatch(ref) is not None


def job_for_object(s3: Any, bucket: str, key: str, version_id: str | None = None) -> JobRef:
    """The job of one S3 object version (the newest when ``version_id`` is None).

    The same id ingest computes: ``job_id_for(bucket, key, version)`` where version is the
    object's version id, or its ETag when the bucket is not versioned. An object that no longer
    exists is found through its report pointer (its newest upload's job).
    """
    kwargs = {"Bucket": bucket, "Key": key}
    if version_id:
        kwargs["VersionId"] = version_id
    try:
        head = s3.head_object(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NoSuchVersion"):
            pointer = None if version_id else read_pointer(s3, bucket, key)
            if pointer is not None:
                return JobRef(pointer.job_id, bucket, key, pointer.version_id)
            raise ObjectNotFound(f"s3://{bucket}/{key} does not exist") from None
        raise
    version = version_id or head.get("VersionId")
    if not version or version == "null":
        version = str(head.get("ETag", "")).strip('"')
    return JobRef(
        job_id_for(bucket, key, version), bucket, key, version_id or head.get("VersionId")
    )


@dataclass(frozen=True, slots=True)
class JobRow:
    """One line of ``tiktok-connector jobs``."""

    job_id: str
    key: str
    advertiser_id: str | None
    audience_name: str | None
    action: str | None
    status: str
    read: int
    accepted: int
    rejected: int
    chunks_done: int
    chunks_total: int
    audience_id: str | None
    started_at: str
    error_code: str | None
    # a sync job's difference once its diff is finished: (added, removed, unchanged), all types
    changes: tuple[int, int, int] | None = None

    @property
    def filename(self) -> str:
        """The file's name (the key's last part), or the whole key when it is not a segment
        key (a file dropped in the wrong place fails with a report too)."""
        parts = self.key.split("/")
        if len(parts) == 5 and parts[0] == "segments":
            return parts[4]
        return self.key


def job_row(item: JobItem) -> JobRow:
    rows = job_totals(item).rows
    return JobRow(
        job_id=item.job_id,
        key=item.source.key,
        advertiser_id=item.advertiser_id,
        audience_name=item.audience_name,
        action=item.action,
        status=item.status,
        read=rows["read"],
        accepted=rows["accepted"],
        rejected=rows["rejected"],
        chunks_done=item.chunks_done,
        chunks_total=item.chunks_total,
        audience_id=item.tiktok.audience_id,
        started_at=item.started_at or "",
        error_code=item.error.code if item.error else None,
        changes=sync_changes(item),
    )


def sync_changes(item: JobItem) -> tuple[int, int, int] | None:
    """A sync job's ``(added, removed, unchanged)`` over every member type; None before its
    diff is finished and for other jobs."""
    if item.sync is None or item.sync.changes is None:
        return None
    counts = item.sync.changes.values()
    return (
        sum(c.get("added", 0) for c in counts),
        sum(c.get("removed", 0) for c in counts),
        sum(c.get("unchanged", 0) for c in counts),
    )


def list_jobs(
    dynamodb: Any,
    table: str,
    *,
    since: datetime,
    advertiser: str | None = None,
    audience: str | None = None,
) -> list[JobRow]:
    """Jobs started at or after ``since``, newest first.

    The jobs table is keyed by job id only, so this scans it (items expire 30 days after their
    job ends) with a filter and reads only the fields a row needs.
    """
    ref = {name: f"#f{i}" for i, name in enumerate(_LIST_FIELDS)}
    names = {placeholder: name for name, placeholder in ref.items()}
    conditions = [f"{ref['started_at']} >= :since"]
    values: dict[str, Any] = {":since": {"S": since.strftime("%Y-%m-%dT%H:%M:%S")}}
    if advertiser:
        conditions.append(f"{ref['advertiser_id']} = :adv")
        values[":adv"] = {"S": advertiser}
    if audience:
        conditions.append(f"{ref['audience_name']} = :aud")
        values[":aud"] = {"S": audience}
    rows: list[JobRow] = []
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=table,
        ProjectionExpression=", ".join(names),
        FilterExpression=" AND ".join(conditions),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    ):
        rows.extend(job_row(JobItem.from_ddb(item)) for item in page.get("Items", []))
    return sorted(rows, key=lambda r: (r.started_at, r.job_id), reverse=True)


@dataclass
class JobView:
    """What ``jobs show`` and ``watch`` print: the report, plus the ingest progress."""

    report: dict[str, Any]
    ranges_done: int = 0
    ranges_total: int = 0
    from_table: bool = True

    @property
    def status(self) -> str:
        return str(self.report.get("status") or "?")

    @property
    def ended(self) -> bool:
        return self.status in ENDED


def get_job(dynamodb: Any, s3: Any, *, table: str, bucket: str, job_id: str) -> JobView | None:
    """The job from the jobs table (live counts); from its report in S3 once the item expired."""
    item = dynamodb.get_item(
        TableName=table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
    ).get("Item")
    if item:
        job = JobItem.from_ddb(item)
        return JobView(
            render_report(job).as_json(),
            ranges_done=job.ranges_done,
            ranges_total=job.ranges_total,
        )
    try:
        body = s3.get_object(Bucket=bucket, Key=report_key(job_id))["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            return None
        raise
    return JobView(json.loads(body), from_table=False)


@dataclass(frozen=True, slots=True)
class Rejects:
    """The first rejected lines of a job: ``(line, reason, column)``; ``more`` when others follow."""

    rows: list[tuple[str, str, str]]
    more: bool


def first_rejects(s3: Any, *, bucket: str, job_id: str, limit: int) -> Rejects | None:
    """Up to ``limit`` rows of ``rejects/<job_id>.csv``; None when there is no such file."""
    try:
        response = s3.get_object(
            Bucket=bucket, Key=rejects_key(job_id), Range=f"bytes=0-{REJECTS_READ_BYTES - 1}"
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "InvalidRange"):
            return None
        raise
    text = response["Body"].read().decode("utf-8", errors="replace")
    total = int(str(response.get("ContentRange", "/0")).rsplit("/", 1)[-1] or 0)
    truncated = total > REJECTS_READ_BYTES
    lines = text.splitlines()
    if truncated and lines:
        lines = lines[:-1]  # the last line may be cut by the range
    rows = [(*r, "", "", "")[:3] for r in csv.reader(lines[1:]) if r]
    return Rejects(
        rows=[(a, b, c) for a, b, c in rows[:limit]], more=len(rows) > limit or truncated
    )


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a job is, for the progress bar."""

    phase: str  # "reading the file" | "uploading to TikTok" | the final status
    completed: int
    total: int | None


def progress_of(view: JobView) -> Progress:
    """Reading ranges first (rows read so far), then chunks uploaded out of the total."""
    if view.ended:
        chunks = view.report.get("chunks") or {}
        total = int(chunks.get("total") or 0)
        return Progress(view.status, int(chunks.get("done") or 0), total)
    if view.ranges_total and view.ranges_done < view.ranges_total:
        return Progress("reading the file", view.ranges_done, view.ranges_total)
    chunks = view.report.get("chunks") or {}
    return Progress(
        "uploading to TikTok", int(chunks.get("done") or 0), int(chunks.get("total") or 0)
    )
