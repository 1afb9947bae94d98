"""Ingest's counters of one byte range, kept by the row loop (:mod:`.processing`, :mod:`.rows`)
and recorded on the job as a :class:`~tiktok_connector.contract.job.RangeRecord`."""

from __future__ import annotations

from dataclasses import dataclass, field

from tiktok_connector.contract.job import IdentifierCounts, RangeRecord


@dataclass(slots=True)
class RangeStats:
    """Counters of one byte range, as ingest's row loop keeps them (recorded on the job as a
    :class:`~tiktok_connector.contract.job.RangeRecord`).

    ``lines`` is the number of physical lines the range consumed (used to turn a range's local
    line numbers into file line numbers when reject files are merged).
    """

    lines: int = 0
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    blank: int = 0
    duplicates: int = 0
    chunks: int = 0
    run_parts: int = 0
    identifiers: dict[str, list[int]] = field(default_factory=dict)  # type -> [accepted, rejected]
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    findings: dict[str, int] = field(default_factory=dict)  # counts for report warnings (reading)

    def as_record(self) -> RangeRecord:
        return RangeRecord(
            lines=self.lines,
            read=self.read,
            accepted=self.accepted,
            rejected=self.rejected,
            blank=self.blank,
            duplicates=self.duplicates,
            chunks=self.chunks,
            run_parts=self.run_parts,
            identifiers={
                t: IdentifierCounts(accepted=a, rejected=r)
                for t, (a, r) in self.identifiers.items()
            },
            rejected_by_reason=dict(self.rejected_by_reason),
            findings=dict(self.findings),
        )
