"""The audience's size at TikTok, read once a job's calls are done and kept in its report.

After a job succeeds, the upload reads the audience from ``/dmp/custom_audience/get/`` (contract
CF-14) — one attempt, no retries — and records ``cover_num`` (the matched size) and ``is_valid``
as the report's ``tiktok.audience_size`` and ``tiktok.is_valid`` with ``tiktok.status_checked_at``.
TikTok computes a customer-file audience for a while after an upload (``is_valid`` false, TM-02),
so the first reading is often "not yet": ``tiktok-connector jobs show JOB --refresh`` reads it
again and rewrites the report (:func:`refresh_size`). A read that fails never fails the job: the
report says why the size is unknown (``tiktok.size_unknown_reason``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from tiktok_connector.audiences.api import AudienceApi, DeadlineExceeded
from tiktok_connector.audiences.customer_file import audience_status
from tiktok_connector.contract.job import SUCCEEDED, AudienceSize, JobItem
from tiktok_connector.observability import logger
from tiktok_connector.segments.jobs import JobStore
from tiktok_connector.tiktok import TikTokError
from tiktok_connector.tokens import TokenNotFoundError

NOT_DESCRIBED = "TikTok's answer did not describe this audience (deleted in Ads Manager?)"


def _iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_size(
    api: AudienceApi, advertiser_id: str, audience_id: str, *, now: float
) -> AudienceSize:
    """The audience as TikTok describes it now; on any failure, why its size is unknown."""
    checked_at = _iso(now)
    try:
        status = audience_status(api, advertiser_id, audience_id, now=now, retry=False)
    except TikTokError as exc:
        if exc.code < 0 and exc.http_status:  # no TikTok envelope: an HTTP error
            reason = f"TikTok answered HTTP {exc.http_status}"
        else:
            reason = f"TikTok answered code {exc.code}: {exc.message[:200]}"
    except TokenNotFoundError:
        reason = "the advertiser is not connected (no token)"
    except DeadlineExceeded:
        reason = "no time was left in this invocation to ask TikTok"
    except Exception as exc:  # a best-effort read: it must never fail the job
        reason = f"the read failed ({type(exc).__name__})"
    else:
        if not status.found:
            reason = NOT_DESCRIBED
        else:
            return AudienceSize(
                audience_size=status.cover_num,
                is_valid=status.is_valid,
                status_checked_at=checked_at,
            )
    return AudienceSize(status_checked_at=checked_at, size_unknown_reason=reason)


def record_size(
    jobs: JobStore, item: JobItem, api: AudienceApi, *, now: float
) -> tuple[JobItem, AudienceSize | None]:
    """Read the size of ``item``'s audience and keep it on the job: the item as it is now, and
    the size (None when the job has no audience to read: not succeeded, or no audience id).
    The caller writes the report."""
    audience_id = item.tiktok.audience_id
    if item.status != SUCCEEDED or not audience_id or not item.advertiser_id:
        return item, None
    size = read_size(api, item.advertiser_id, audience_id, now=now)
    logger.info(
        "audience size read",
        extra={
            "job_id": item.job_id,
            "audience_id": audience_id,
            "audience_size": size.audience_size,
            "is_valid": size.is_valid,
            "size_unknown_reason": size.size_unknown_reason,
        },
    )
    return jobs.record_tiktok(item.job_id, size=size) or item, size


def refresh_size(
    jobs: JobStore, job_id: str, api: AudienceApi, *, s3: Any, bucket: str, now: float | None = None
) -> AudienceSize | None:
    """Read a finished job's audience size again (once TikTok has computed it) and rewrite its
    report — what ``jobs show --refresh`` runs. None when the job does not exist or has no
    audience."""
    item = jobs.get(job_id)
    if item is None:
        return None
    item, size = record_size(jobs, item, api, now=time.time() if now is None else now)
    if size is not None:
        jobs.write_report(item, s3=s3, bucket=bucket)
    return size
