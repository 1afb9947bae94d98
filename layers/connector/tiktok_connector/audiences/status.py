"""The audience's size at TikTok, recorded in the job's report once its TikTok calls succeeded.

After a job succeeds (:mod:`.finalize`) and again from the scheduled refresh (:mod:`.refresh`),
one ``GET /dmp/custom_audience/get/`` per audience (a single attempt, no retries: a size is worth
a look, not a wait) gives TikTok's ``cover_num`` — the users TikTok matched — and ``is_valid``
(false while TikTok computes the audience, or once it expired; contract CF-12, TM-02, SZ-01).
The report's ``tiktok`` section gets ``audience_size``, ``is_valid``, ``status_checked_at`` and,
when the read failed (not connected, a TikTok error, the audience not described),
``size_unknown_reason``; a failed read never fails the job and keeps the last size known. Each
size read is also the metric ``AudienceSize`` (dimensions service, advertiser, audience_id).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from tiktok_connector.audiences.api import AudienceApi
from tiktok_connector.contract.job import SUCCEEDED, JobItem, ddb_values
from tiktok_connector.observability import add_count_by, logger
from tiktok_connector.segments.jobs import JobStore
from tiktok_connector.tiktok import TikTokError
from tiktok_connector.tokens import TokenNotFoundError

GET_PATH = "dmp/custom_audience/get"
METRIC = "AudienceSize"
_REASON_CHARS = 200


@dataclass(frozen=True, slots=True)
class SizeReading:
    """One look at an audience: its size and validity, or why they are unknown."""

    audience_id: str
    checked_at: str  # ISO-8601 UTC
    audience_size: int | None = None
    is_valid: bool | None = None
    unknown_reason: str | None = None

    @property
    def settled(self) -> bool:
        """TikTok finished computing it: the size will not change without another upload."""
        return self.is_valid is True


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def read_size(api: AudienceApi, advertiser_id: str, audience_id: str, *, now: float) -> SizeReading:
    """TikTok's ``cover_num`` and ``is_valid`` for one audience (one attempt). Never raises for
    a failed read: the reading says why instead."""
    checked_at = _iso(now)
    try:
        response = api.call(
            "GET",
            GET_PATH,
            advertiser_id,
            params={
                "advertiser_id": advertiser_id,
                "custom_audience_ids": json.dumps([audience_id]),
                "history_size": 1,
            },
            retry=False,
        )
    except TokenNotFoundError:
        reason = f"advertiser {advertiser_id} is not connected (no token to ask TikTok with)"
        return SizeReading(audience_id, checked_at, unknown_reason=reason)
    except TikTokError as exc:
        answered = f"TikTok answered {exc.code}" if exc.code > 0 else "TikTok did not answer"
        reason = f"{answered}: {exc.message}"[:_REASON_CHARS]
        return SizeReading(audience_id, checked_at, unknown_reason=reason)
    except Exception as exc:
        reason = f"the size could not be read ({type(exc).__name__})"
        return SizeReading(audience_id, checked_at, unknown_reason=reason)
    for entry in response.data.get("list") or []:
        details = entry.get("audience_details") if isinstance(entry, Mapping) else None
        if isinstance(details, Mapping) and str(details.get("audience_id")) == audience_id:
            size = details.get("cover_num")
            valid = details.get("is_valid")
            return SizeReading(
                audience_id,
                checked_at,
                audience_size=size
                if isinstance(size, int) and not isinstance(size, bool)
                else None,
                is_valid=valid if isinstance(valid, bool) else None,
                unknown_reason=None if isinstance(size, int) else "TikTok gave no cover_num",
            )
    reason = f"TikTok did not describe audience {audience_id} (deleted in Ads Manager?)"
    return SizeReading(audience_id, checked_at, unknown_reason=reason)


class AudienceSizes:
    """Reads a succeeded job's audience size and records it on the job item (its report is
    rendered from the item). Collaborators: the jobs table (name and client), the job store
    for the report, the metrics sink and the clock."""

    def __init__(
        self,
        *,
        table: str,
        dynamodb: Any,
        jobs: JobStore,
        s3: Any,
        bucket: str,
        metrics: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self.dynamodb = dynamodb
        self.jobs = jobs
        self.s3 = s3
        self.bucket = bucket
        self.metrics = metrics
        self.clock = clock

    def check(self, api: AudienceApi, item: JobItem) -> JobItem:
        """Read and record the size of ``item``'s audience; the item as recorded (the item
        unchanged when there is no audience or the record could not be written)."""
        audience_id = item.tiktok.audience_id
        if item.status != SUCCEEDED or not audience_id or not item.advertiser_id:
            return item
        reading = read_size(api, item.advertiser_id, audience_id, now=self.clock())
        if reading.audience_size is not None and self.metrics is not None:
            add_count_by(
                self.metrics,
                METRIC,
                reading.audience_size,
                advertiser=item.advertiser_id,
                audience_id=audience_id,
            )
        if reading.unknown_reason:
            logger.warning(
                "audience size unknown",
                extra={"job_id": item.job_id, "audience_id": audience_id},
            )
        try:
            return self.record(item.job_id, reading) or item
        except ClientError as exc:  # the job succeeded; only its size goes unrecorded
            logger.warning(
                "audience size not recorded",
                extra={"job_id": item.job_id, "error": str(exc.response.get("Error", {}))},
            )
            return item

    def check_and_report(self, api: AudienceApi, item: JobItem) -> JobItem:
        """:meth:`check`, then rewrite the job's report (the scheduled refresh, the CLI)."""
        checked = self.check(api, item)
        self.jobs.write_report(checked, s3=self.s3, bucket=self.bucket)
        return checked

    def record(self, job_id: str, reading: SizeReading) -> JobItem | None:
        """Write ``reading`` to the succeeded job's ``tiktok`` map; a failed read keeps the
        size and validity last known. None when the job is not (or no longer) succeeded."""
        values: dict[str, Any] = {
            ":at": reading.checked_at,
            ":why": reading.unknown_reason,
            ":ok": SUCCEEDED,
        }
        sets = ["#tt.status_checked_at = :at", "#tt.size_unknown_reason = :why"]
        if reading.audience_size is not None:
            sets += ["#tt.audience_size = :n", "#tt.is_valid = :v"]
            values |= {":n": reading.audience_size, ":v": reading.is_valid}
        try:
            response = self.dynamodb.update_item(
                TableName=self.table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="#status = :ok",
                ExpressionAttributeNames={"#tt": "tiktok", "#status": "status"},
                ExpressionAttributeValues=ddb_values(values),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return JobItem.from_ddb(response["Attributes"])
