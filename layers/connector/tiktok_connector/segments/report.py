"""A job item rendered as its report (:class:`~tiktok_connector.contract.report.JobReport`).

Counters are kept per byte range on the item (a redelivered range cannot count twice) and summed
here (:func:`job_totals`); :mod:`.reading` adds §6b's sections and the warnings rendered from the
ranges' findings; a running job that waits for TikTok reports ``waiting_for_tiktok``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tiktok_connector.contract.job import SUCCEEDED, AudienceSize, IdentifierCounts, JobItem
from tiktok_connector.contract.report import (
    WAITING_FOR_TIKTOK,
    ChangeCounts,
    ChunkCounts,
    JobReport,
    ReportStatus,
    ReportSync,
    ReportTikTok,
    ReportWaiting,
    RowCounts,
)
from tiktok_connector.segments.reading import report_sections, report_status


def report_key(job_id: str) -> str:
    """``reports/<job_id>.json``."""
    return f"reports/{job_id}.json"


@dataclass(slots=True)
class JobTotals:
    """The per-range counters of a job item, summed."""

    rows: RowCounts
    identifiers: dict[str, IdentifierCounts] = field(default_factory=dict)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    findings: dict[str, int] = field(default_factory=dict)


def job_totals(item: JobItem) -> JobTotals:
    """Sum the per-range counters of a job item."""
    rows = RowCounts(read=0, accepted=0, rejected=0, blank=0, duplicates=0)
    identifiers: dict[str, list[int]] = {}
    reasons: dict[str, int] = {}
    findings: dict[str, int] = {}
    for stats in item.ranges.values():
        rows["read"] += stats.read
        rows["accepted"] += stats.accepted
        rows["rejected"] += stats.rejected
        rows["blank"] += stats.blank
        rows["duplicates"] += stats.duplicates
        for id_type, counts in stats.identifiers.items():
            slot = identifiers.setdefault(id_type, [0, 0])
            slot[0] += counts.accepted
            slot[1] += counts.rejected
        _add(reasons, stats.rejected_by_reason)
        _add(findings, stats.findings)
    return JobTotals(
        rows=rows,
        identifiers={
            t: IdentifierCounts(accepted=a, rejected=r) for t, (a, r) in identifiers.items()
        },
        rejected_by_reason=reasons,
        findings=findings,
    )


def _add(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for name, n in counts.items():
        into[name] = into.get(name, 0) + n


def _iso(unix: int) -> str:
    return (
        datetime.fromtimestamp(float(unix), UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


def _waiting(item: JobItem) -> ReportWaiting | None:
    """Why and since when a running job waits, when it looks again and gives up; None unless
    a running job waits."""
    waiting = item.waiting
    if not item.running or waiting is None:
        return None
    return ReportWaiting(
        reason=waiting.reason,
        audience_id=waiting.audience_id,
        message=waiting.message,
        since=_iso(waiting.since),
        next_look_at=_iso(waiting.next_look_at),
        gives_up_at=_iso(waiting.gives_up_at),
    )


def _sync(item: JobItem) -> tuple[dict[str, ChangeCounts] | None, ReportSync | None]:
    """A sync job's ``changes`` (once its diff is finished) and ``sync``; None for other jobs."""
    record = item.sync
    if item.action != "sync":
        return None, None
    changes = None
    if record is not None and record.changes is not None:
        changes = {
            t: ChangeCounts(
                added=c.get("added", 0),
                removed=c.get("removed", 0),
                unchanged=c.get("unchanged", 0),
            )
            for t, c in sorted(record.changes.items())
        }
    return changes, ReportSync(
        previous_generation=record.base if record else None,
        reconciled_generations=list(record.uncertain) if record else [],
        members=record.members if record else None,
        committed=item.status == SUCCEEDED,
    )


def render_report(item: JobItem) -> JobReport:
    """The report of a job item (see :mod:`tiktok_connector.contract.report`)."""
    totals = job_totals(item)
    phones = totals.identifiers.get("phone")
    sections = report_sections(item, findings=totals.findings, phones=phones)
    waiting = _waiting(item)
    changes, sync = _sync(item)
    size = item.tiktok.size or AudienceSize()
    status: ReportStatus = (
        WAITING_FOR_TIKTOK if waiting else report_status(item.status, sections.warnings)
    )
    return JobReport(
        job_id=item.job_id,
        source=item.source,
        advertiser_id=item.advertiser_id,
        audience_name=item.audience_name,
        action=item.action,
        api=item.api,
        status=status,
        rows=totals.rows,
        identifiers=dict(sorted(totals.identifiers.items())),
        rejected_by_reason=dict(sorted(totals.rejected_by_reason.items())),
        chunks=ChunkCounts(total=item.chunks_total, done=item.chunks_done),
        tiktok=ReportTikTok(
            audience_id=item.tiktok.audience_id,
            file_paths=item.uploaded_file_paths,
            request_ids=list(item.tiktok.request_ids),
            audience_size=size.audience_size,
            is_valid=size.is_valid,
            status_checked_at=size.status_checked_at,
            size_unknown_reason=size.size_unknown_reason,
        ),
        error=item.error,
        waiting=waiting,
        started_at=item.started_at,
        finished_at=item.finished_at,
        encoding=sections.encoding,
        columns=sections.columns,
        options=sections.options,
        warnings=sections.warnings,
        changes=changes,
        sync=sync,
    )
