"""What one chunk-queue record came to, and the counts it publishes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tiktok_connector.contract.job import JobError
from tiktok_connector.contract.report import WAITING_FOR_TIKTOK
from tiktok_connector.observability import add_count, add_count_by
from tiktok_connector.tiktok import TikTokClient


@dataclass(slots=True)
class Outcome:
    """What happened to one record (for logs and metrics)."""

    job_id: str
    # uploaded | duplicate | finalized | failed | job_ended | waiting (for other chunks) |
    # waiting_for_tiktok (a TikTok state that passes; the message comes back later)
    result: str
    chunks_uploaded: int = 0
    rows_sent: int = 0
    job_status: str | None = None
    error: JobError | None = None
    tiktok_codes: dict[int, int] = field(default_factory=dict)
    tiktok_retries: int = 0
    tiktok_throttled: int = 0
    finished: Any = None  # finalize.Finished: the audience and its size, when this finished it

    def publish(self, sink: Any) -> None:
        """EMF counts of this record (``sink``: ``observability.metrics`` or a fake): chunks,
        rows, TikTok calls by code (dimension ``code``), retries, throttles, job outcomes and
        ``TikTokPermanentErrors`` (the template's alarm)."""
        if self.chunks_uploaded:
            add_count(sink, "ChunksUploaded", self.chunks_uploaded)
        if self.result == "duplicate":
            add_count(sink, "DuplicateChunks", 1)
        if self.rows_sent:
            add_count(sink, "RowsMapped", self.rows_sent)
        calls = sum(self.tiktok_codes.values())
        if calls:
            add_count(sink, "TikTokCalls", calls)
        for code, n in sorted(self.tiktok_codes.items()):
            add_count_by(sink, "TikTokCallsByCode", n, code=str(code))
        if self.tiktok_retries:
            add_count(sink, "TikTokRetries", self.tiktok_retries)
        if self.tiktok_throttled:
            add_count(sink, "TikTokThrottled", self.tiktok_throttled)
        if self.result == "finalized":
            add_count(sink, "AudienceJobsSucceeded", 1)
            size = self.finished.size if self.finished is not None else None
            if size is not None and size.audience_size is not None:
                add_count_by(
                    sink,
                    "AudienceSize",
                    size.audience_size,
                    advertiser=self.finished.advertiser_id,
                    audience_id=self.finished.audience_id,
                )
        if self.result == WAITING_FOR_TIKTOK:
            add_count(sink, "AudienceJobsWaitingForTikTok", 1)
        if self.result == "failed":
            add_count(sink, "AudienceJobsFailed", 1)
            if self.error is not None and self.error.code.isdigit():  # TikTok's own code
                add_count(sink, "TikTokPermanentErrors", 1)


CallCounts = tuple[dict[int, int], int, int]  # codes seen, retries, throttled


def call_counts(client: TikTokClient) -> CallCounts:
    """The client's counters now (its stats are process-wide)."""
    stats = client.stats
    return dict(stats.codes), stats.retries, stats.throttled


def counted_since(before: CallCounts, after: CallCounts) -> CallCounts:
    """What the client counted between two readings."""
    codes = {c: n - before[0].get(c, 0) for c, n in after[0].items() if n > before[0].get(c, 0)}
    return codes, after[1] - before[1], after[2] - before[2]
