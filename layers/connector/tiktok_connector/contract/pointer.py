"""The report pointer: from a segment file's S3 key to its newest job.

Job ids are hashes of ``bucket/key@version`` (:func:`~tiktok_connector.contract.job.job_id_for`),
so a person holding only a key cannot name its report. Ingest therefore writes, for every file it
starts a job for, ``reports/by-key/<the key after "segments/">.json`` (:func:`pointer_key`):

    segments/7100/Spring Buyers/create/buyers.csv
    → reports/by-key/7100/Spring Buyers/create/buyers.csv.json

(``%`` is written ``%25``, and a part of the key made only of dots has its dots written ``%2E``,
so a hostile key such as ``segments/7100/../../x`` cannot name a pointer outside
``reports/by-key/``.)

holding the job id, its report and rejects keys, and the object version it is for. A key uploaded
again points at the newer upload's job: the order is S3's own event ``sequencer`` for the key
(:meth:`ReportPointer.newer_than`), so an older upload whose notification is processed late never
takes the pointer back. Written by :mod:`tiktok_connector.segments.pointer`; read by the CLI.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

POINTER_PREFIX = "reports/by-key/"
SEGMENTS_PREFIX = "segments/"


def _segment(part: str) -> str:
    """One ``/``-separated part of the key, written so that no pointer key can climb out of
    ``reports/by-key/`` in a tool that treats keys as paths: ``%`` becomes ``%25`` and a part
    made only of dots (``.``, ``..``) has each dot written ``%2E``. Different keys keep
    different pointers."""
    part = part.replace("%", "%25")
    return part.replace(".", "%2E") if part and part.strip(".") == "" else part


def pointer_key(key: str) -> str | None:
    """``reports/by-key/<key after "segments/">.json`` (parts written by :func:`_segment`);
    None for a key outside ``segments/``."""
    if not key.startswith(SEGMENTS_PREFIX) or key == SEGMENTS_PREFIX:
        return None
    parts = key[len(SEGMENTS_PREFIX) :].split("/")
    return f"{POINTER_PREFIX}{'/'.join(map(_segment, parts))}.json"


def is_pointer_key(key: str) -> bool:
    """True for a pointer object's key: readers of ``reports/`` that want job reports skip
    these (or list ``reports/`` with the delimiter ``/``)."""
    return key.startswith(POINTER_PREFIX)


def _sequencer_order(sequencer: str) -> str:
    """S3's ``sequencer`` as a comparable string: hex digits, upper case. Two sequencers of one
    key compare as hexadecimal values once the shorter is padded with zeros on the right (AWS:
    "Event message structure", the ``sequencer`` field)."""
    return sequencer.strip().upper()


class ReportPointer(BaseModel):
    """One pointer object (see module docs); ``as_json`` is what is written."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    bucket: str
    key: str
    version_id: str | None
    job_id: str
    report_key: str
    rejects_key: str
    sequencer: str | None = None  # the S3 event's, when the job came from a notification
    last_modified: str | None = None  # the object's (ISO-8601), when the sequencer is unknown

    def newer_than(self, other: ReportPointer) -> bool:
        """True when this pointer's upload came after ``other``'s (or is the same job: a
        rewrite of the same pointer is harmless). By sequencer when both have one, else by the
        objects' last-modified times; a tie goes to this one (the later write)."""
        if self.job_id == other.job_id:
            return True
        if self.sequencer and other.sequencer:
            mine, theirs = _sequencer_order(self.sequencer), _sequencer_order(other.sequencer)
            width = max(len(mine), len(theirs))
            return mine.ljust(width, "0") >= theirs.ljust(width, "0")
        return (self.last_modified or "") >= (other.last_modified or "")

    def as_json(self) -> bytes:
        return self.model_dump_json(indent=2).encode()
