"""The scheduled look at audience sizes TikTok had not finished computing (at most hourly).

A job's size is read once when it succeeds (:mod:`.size`); TikTok may still be computing the
audience then (``is_valid`` false, contract TM-02). The upload function's
``RefreshAudienceSizes`` schedule (template, ``rate(1 hour)``) and ``tiktok-connector audiences
--refresh`` read again the jobs that succeeded in the last :data:`WINDOW_DAYS` days whose size
is not settled (``is_valid`` not true, or never read) and rewrite their reports, one
:func:`~.size.refresh_size` each; each size read is published as the ``AudienceSize`` metric.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from tiktok_connector.audiences.api import AudienceApi
from tiktok_connector.audiences.size import refresh_size
from tiktok_connector.contract.job import SUCCEEDED
from tiktok_connector.observability import add_count, add_count_by, logger
from tiktok_connector.segments.jobs import JobStore

REFRESH_EVENT = "RefreshAudienceSizes"  # the schedule's input: {"type": "RefreshAudienceSizes"}
WINDOW_DAYS = 7
MARGIN_SECONDS = 10.0  # of the invocation kept free after the last read
_FIELDS = ("job_id", "status", "advertiser_id", "tiktok", "finished_at")


def is_refresh_event(event: Any) -> bool:
    """The schedule's event (anything else reaching the upload function is an SQS batch)."""
    return isinstance(event, dict) and event.get("type") == REFRESH_EVENT


class Unsettled(NamedTuple):
    """A succeeded job whose audience size is not settled (what a scan projects of it)."""

    job_id: str
    advertiser_id: str
    audience_id: str
    finished_at: str


def _unsettled(raw: dict[str, Any]) -> Unsettled | None:
    """The job from a scanned item's attribute values, when its size is not settled (TikTok
    has not said ``is_valid`` true, or the size was never read)."""
    tiktok = raw.get("tiktok", {}).get("M", {})
    audience_id = tiktok.get("audience_id", {}).get("S")
    if not audience_id:
        return None
    size = tiktok.get("size", {}).get("M", {})
    if size.get("is_valid", {}).get("BOOL") is True:
        return None
    return Unsettled(
        raw["job_id"]["S"],
        raw.get("advertiser_id", {}).get("S", ""),
        audience_id,
        raw["finished_at"]["S"],
    )


@dataclass
class RefreshResult:
    """What one refresh did: jobs read, now settled, still unknown, left for the next run."""

    checked: int = 0
    settled: int = 0
    unknown: int = 0
    left: int = 0

    def as_json(self) -> dict[str, int]:
        return asdict(self)


def unsettled(dynamodb: Any, table: str, *, now: float, days: int = WINDOW_DAYS) -> list[Unsettled]:
    """Succeeded jobs finished in the last ``days`` days with an audience whose size is not
    settled, oldest first. A scan with a filter (the jobs table is keyed by job id only)."""
    since = datetime.fromtimestamp(now, UTC) - timedelta(days=days)
    names = {f"#f{i}": name for i, name in enumerate(_FIELDS)}
    found: list[Unsettled] = []
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=table,
        ProjectionExpression=", ".join(names),
        FilterExpression="#f1 = :ok AND #f4 >= :since",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={
            ":ok": {"S": SUCCEEDED},
            ":since": {"S": since.strftime("%Y-%m-%dT%H:%M:%S")},
        },
    ):
        found.extend(job for raw in page.get("Items", []) if (job := _unsettled(raw)))
    return sorted(found, key=lambda job: (job.finished_at, job.job_id))


def refresh_sizes(
    jobs: JobStore,
    api: AudienceApi,
    *,
    dynamodb: Any,
    table: str,
    s3: Any,
    bucket: str,
    metrics: Any = None,
    remaining_seconds: float | None = None,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
) -> RefreshResult:
    """Read again every :func:`unsettled` job's size and rewrite its report, within
    ``remaining_seconds`` of the invocation (the rest are counted as left for the next run)."""
    deadline = None
    if remaining_seconds is not None:
        deadline = monotonic() + max(0.0, remaining_seconds - MARGIN_SECONDS)
    result = RefreshResult()
    for item in unsettled(dynamodb, table, now=clock()):
        if deadline is not None and monotonic() >= deadline:
            result.left += 1
            continue
        size = refresh_size(jobs, item.job_id, api, s3=s3, bucket=bucket, now=clock())
        if size is None:
            continue
        result.checked += 1
        result.settled += size.is_valid is True
        result.unknown += bool(size.size_unknown_reason)
        if metrics is not None and size.audience_size is not None:
            add_count_by(
                metrics,
                "AudienceSize",
                size.audience_size,
                advertiser=item.advertiser_id,
                audience_id=item.audience_id,
            )
    if metrics is not None:
        add_count(metrics, "AudienceSizesChecked", result.checked)
        add_count(metrics, "AudienceSizesUnknown", result.unknown)
        add_count(metrics, "AudienceSizesLeftForLater", result.left)
    logger.info("audience sizes refreshed", extra=result.as_json())
    return result


def default_refresh(
    *, metrics: Any = None, remaining_seconds: float | None = None
) -> RefreshResult:
    """The upload function's scheduled refresh over the process-wide uploader's jobs table,
    TikTok client and tokens."""
    from tiktok_connector import aws
    from tiktok_connector.audiences.upload import default_uploader

    uploader = default_uploader()
    deadline = None if remaining_seconds is None else time.monotonic() + remaining_seconds
    api = AudienceApi(uploader.client, uploader.tokens, pacer=uploader.pacer, deadline=deadline)
    return refresh_sizes(
        uploader.jobs,
        api,
        dynamodb=aws.dynamodb(),
        table=uploader.settings.jobs_table,
        s3=uploader.s3,
        bucket=uploader.settings.segments_bucket,
        metrics=metrics,
        remaining_seconds=remaining_seconds,
    )
