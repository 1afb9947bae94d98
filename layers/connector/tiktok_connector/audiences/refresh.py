"""The scheduled look at audience sizes TikTok had not finished computing (at most hourly).

A job's size is read once when it succeeds (:mod:`.status`); TikTok may still be computing the
audience then (``is_valid`` false, 24–48 hours for a customer file: contract TM-01, SZ-02). The
upload function's ``RefreshAudienceSizes`` schedule (template, ``rate(1 hour)``) and the CLI
(``audiences --refresh``, ``jobs show --refresh``) read again the jobs that succeeded in the
last :data:`WINDOW_DAYS` days whose size is not settled (``is_valid`` not true, or never read),
and rewrite their reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tiktok_connector import aws
from tiktok_connector.audiences.api import AudienceApi
from tiktok_connector.audiences.status import AudienceSizes
from tiktok_connector.contract.job import SUCCEEDED, JobItem
from tiktok_connector.observability import add_count, logger

REFRESH_EVENT = "RefreshAudienceSizes"  # the schedule's input: {"type": "RefreshAudienceSizes"}
WINDOW_DAYS = 7
# Seconds of the invocation kept free after the last look (the function's timeout).
MARGIN_SECONDS = 10.0
_FIELDS = ("job_id", "status", "source", "advertiser_id", "tiktok", "finished_at")


def is_refresh_event(event: Any) -> bool:
    """The schedule's event (anything else is a chunk-queue batch)."""
    return isinstance(event, dict) and event.get("type") == REFRESH_EVENT


def settled(item: JobItem) -> bool:
    """TikTok finished computing the job's audience: its size is read for good."""
    return item.tiktok.is_valid is True


@dataclass
class RefreshResult:
    """What one refresh did: jobs looked at, now settled, still unknown, left for next time."""

    checked: int = 0
    settled: int = 0
    unknown: int = 0
    left: int = 0

    def as_json(self) -> dict[str, int]:
        return asdict(self)

    def publish(self, metrics: Any) -> None:
        add_count(metrics, "AudienceSizesChecked", self.checked)
        add_count(metrics, "AudienceSizesUnknown", self.unknown)
        add_count(metrics, "AudienceSizesLeftForLater", self.left)


class SizeRefresh:
    """Finds the succeeded jobs of the last days whose size is not settled and reads again."""

    def __init__(
        self,
        *,
        dynamodb: Any,
        table: str,
        sizes: AudienceSizes,
        api: Callable[[float | None], AudienceApi],
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``api(deadline)`` builds the TikTok API for one run (a monotonic deadline or None)."""
        self.dynamodb = dynamodb
        self.table = table
        self.sizes = sizes
        self.api = api
        self.clock = clock
        self.monotonic = monotonic

    def unsettled(self, *, days: int = WINDOW_DAYS) -> list[JobItem]:
        """Succeeded jobs that finished in the last ``days`` days with an audience whose size
        is not settled, oldest first. A scan (the jobs table is keyed by job id only)."""
        since = datetime.fromtimestamp(self.clock(), UTC) - timedelta(days=days)
        names = {f"#f{i}": name for i, name in enumerate(_FIELDS)}
        found: list[JobItem] = []
        for page in self.dynamodb.get_paginator("scan").paginate(
            TableName=self.table,
            ProjectionExpression=", ".join(names),
            FilterExpression="#f1 = :ok AND #f5 >= :since",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                ":ok": {"S": SUCCEEDED},
                ":since": {"S": since.strftime("%Y-%m-%dT%H:%M:%S")},
            },
        ):
            for raw in page.get("Items", []):
                item = JobItem.from_ddb(raw)
                if item.tiktok.audience_id and not settled(item):
                    found.append(item)
        return sorted(found, key=lambda i: (i.finished_at or "", i.job_id))

    def run(self, *, remaining_seconds: float | None = None) -> RefreshResult:
        """One refresh over :meth:`unsettled`, within ``remaining_seconds`` of invocation."""
        deadline = None
        if remaining_seconds is not None:
            deadline = self.monotonic() + max(0.0, remaining_seconds - MARGIN_SECONDS)
        api = self.api(deadline)
        result = RefreshResult()
        for item in self.unsettled():
            if deadline is not None and self.monotonic() >= deadline:
                result.left += 1
                continue
            full = self.sizes.jobs.get(item.job_id)  # the whole item, for its report
            if full is None:
                continue
            checked = self.sizes.check_and_report(api, full)
            result.checked += 1
            result.settled += settled(checked)
            result.unknown += bool(checked.tiktok.size_unknown_reason)
        logger.info("audience sizes refreshed", extra=result.as_json())
        return result

    def refresh_job(self, job_id: str) -> JobItem | None:
        """Read one job's size again now (settled or not); None when there is no such job."""
        item = self.sizes.jobs.get(job_id)
        if item is None:
            return None
        return self.sizes.check_and_report(self.api(None), item)


def default_refresh() -> SizeRefresh:
    """The upload function's refresh, over the process-wide uploader's TikTok client, tokens
    and size reader."""
    from tiktok_connector.audiences.upload import default_uploader  # the wiring lives there

    uploader = default_uploader()
    sizes = uploader.sizes
    if sizes is None:
        raise RuntimeError("the uploader reads no audience sizes")

    def api(deadline: float | None) -> AudienceApi:
        return AudienceApi(
            uploader.client, uploader.tokens, pacer=uploader.pacer, deadline=deadline
        )

    return SizeRefresh(dynamodb=aws.dynamodb(), table=sizes.table, sizes=sizes, api=api)
