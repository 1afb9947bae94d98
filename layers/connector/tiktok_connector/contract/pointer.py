"""A file's job, findable from the file's key: ``reports/by-key/<key after "segments/">.json``.

Ingest writes one pointer per S3 key when it creates a job (:mod:`tiktok_connector.segments.
pointer`); the CLI reads it first to find a file's job (``watch``, ``jobs show S3-KEY``). A key is
uploaded again and again, and S3's notifications may arrive out of order, so a pointer only ever
moves to a *newer* upload of its key: the one with the greater S3 event ``sequencer`` (S3 event
message structure: compare sequencers of the same key as hexadecimal numbers, the shorter one
left-padded with zeros), or — when either has none (a notification replayed by hand, the local
stack) — the later ``LastModified``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

POINTER_PREFIX = "reports/by-key/"
SEGMENTS_PREFIX = "segments/"


def pointer_key(key: str) -> str:
    """``segments/<adv>/<audience>/<action>/<file>`` → ``reports/by-key/<adv>/…/<file>.json``;
    a key outside ``segments/`` keeps its whole path under ``reports/by-key/``."""
    rest = key[len(SEGMENTS_PREFIX) :] if key.startswith(SEGMENTS_PREFIX) else key
    return f"{POINTER_PREFIX}{rest.lstrip('/')}.json"


class ReportPointer(BaseModel):
    """One S3 key's newest job: its id, report and the upload it belongs to."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    bucket: str
    key: str
    job_id: str
    report_key: str
    version: str  # what the job id hashes: the version id, or the ETag when unversioned
    version_id: str | None = None
    sequencer: str | None = None
    last_modified: str | None = None  # ISO-8601 UTC
    written_at: str | None = None

    def newer_than(self, other: ReportPointer) -> bool:
        """Whether this pointer's upload came after ``other``'s (module docs); the same
        upload is never newer than itself."""
        if self.version == other.version:
            return False
        if self.sequencer and other.sequencer:
            return _hex(self.sequencer) > _hex(other.sequencer)
        return (self.last_modified or "") > (other.last_modified or "")


def _hex(sequencer: str) -> int:
    """A sequencer as a number (left-padding with zeros does not change it)."""
    try:
        return int(sequencer, 16)
    except ValueError:
        return -1
