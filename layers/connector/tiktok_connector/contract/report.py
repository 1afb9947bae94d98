"""The job report users read: ``reports/<job_id>.json``.

Keys in this order: DESIGN §3.7's fixed ones (``job_id`` … ``finished_at``, with ``waiting``
before the times), then §6b's (``encoding``, ``columns``, ``options``, ``warnings``), then a sync
job's (issue 15; null for other actions): ``changes`` per member type and ``sync``. Ingest writes
it (``running``), upload rewrites it when the job ends or starts waiting; both render it from the
job item (``segments.report.render_report``).

``status`` is the item's (``running``, ``succeeded``, ``failed``) or one of two rendered ones the
item never holds: ``succeeded_with_warnings`` (a succeeded job with warnings) and
``waiting_for_tiktok`` (a running job that waits; ``waiting`` says why, ISO-8601 UTC times;
``waiting`` is null otherwise). Readers treat ``running`` and ``waiting_for_tiktok`` as unfinished.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

from tiktok_connector.contract.job import IdentifierCounts, JobError, JobSource, ReportWarning

ReportStatus = Literal[
    "running", "succeeded", "failed", "succeeded_with_warnings", "waiting_for_tiktok"
]
SUCCEEDED_WITH_WARNINGS: ReportStatus = "succeeded_with_warnings"
WAITING_FOR_TIKTOK: ReportStatus = "waiting_for_tiktok"


class _Section(BaseModel):
    # Built at first use, not at import: the functions' cold start (docs/performance.md).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


# The report's smaller sections are plain JSON objects, validated as part of the report (typed
# dicts cost nothing at import; the report is only ever written).


class RowCounts(TypedDict):
    read: int
    accepted: int
    rejected: int
    blank: int
    duplicates: int


class ChunkCounts(TypedDict):
    total: int
    done: int


class ReportTikTok(TypedDict):
    """DESIGN §3.7's three keys, then the audience's size at TikTok (issue 14; all null until
    read): ``audience_size`` (``cover_num``), ``is_valid`` (false while TikTok computes it),
    ``status_checked_at``, and ``size_unknown_reason`` when the read failed."""

    audience_id: str | None
    file_paths: list[str]
    request_ids: list[str]
    audience_size: int | None
    is_valid: bool | None
    status_checked_at: str | None
    size_unknown_reason: str | None


class ReportWaiting(TypedDict):
    """Why and since when a running job waits, when it looks again and gives up (ISO-8601)."""

    reason: str
    audience_id: str
    message: str
    since: str
    next_look_at: str
    gives_up_at: str


class ChangeCounts(TypedDict):
    """What a sync changed for one member type (``EMAIL_SHA256``, …)."""

    added: int
    removed: int
    unchanged: int


class ReportSync(TypedDict):
    """A sync job's state: the generation it compared against (null: the first sync, or the
    first after failed ones), the generations of failed syncs it reconciled, the audience's
    members after it, whether this job's file is now the synced state."""

    previous_generation: str | None
    reconciled_generations: list[str]
    members: int | None
    committed: bool


class JobReport(_Section):
    """One job's report (see module docs); :meth:`as_json` is what is written."""

    job_id: str
    source: JobSource
    advertiser_id: str | None
    audience_name: str | None
    action: str | None
    api: str | None
    status: ReportStatus
    rows: RowCounts
    identifiers: dict[str, IdentifierCounts]
    rejected_by_reason: dict[str, int]
    chunks: ChunkCounts
    tiktok: ReportTikTok
    error: JobError | None
    waiting: ReportWaiting | None
    started_at: str | None
    finished_at: str | None
    encoding: dict[str, Any] | None
    columns: list[dict[str, Any]] = Field(default_factory=list)
    options: dict[str, Any] | None
    warnings: list[ReportWarning] = Field(default_factory=list)
    changes: dict[str, ChangeCounts] | None = None
    sync: ReportSync | None = None

    def as_json(self) -> dict[str, Any]:
        """The report as plain JSON data, keys in the fixed order."""
        return self.model_dump(mode="json")
