"""Runs: what the ingest side of a sync job writes instead of chunk files.

A :class:`RunWriter` takes the lines ingest produces for chunk files (hex hashes in the job's
column order, ``""`` where a row lacks a type — :mod:`tiktok_connector.segments.chunks`), turns
every value into a record of its member type and buckets it by partition. When its buffer
reaches ``spill_bytes`` it writes one *run part*: a record file (:mod:`.recordfile`, kind run) of
every partition, records in arrival order. Memory stays at about ``spill_bytes`` (twice that for
the moment a part is written) whatever the size of the byte range.

Keys: ``chunks/<job_id>/sync/run-<range:04d>-<part:03d>.bin``. They live under ``chunks/`` and
expire with the job's chunks. A byte range run twice writes the same parts with the same bytes
(the input decides the records and where the parts are cut), and a stale extra part could only
repeat records of the same input: repeats collapse in the diff.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from tiktok_connector.sync.recordfile import KIND_RUN, FileRef, put
from tiktok_connector.sync.records import (
    PREFIX_BITS,
    RECORD,
    RECORD_BYTES,
    check_bits,
    encode_hex,
    member_type,
)

RUN_SPILL_BYTES: Final = 64 * 1024 * 1024


def work_prefix(job_id: str) -> str:
    """Where a sync job's work objects live (they expire with its chunks)."""
    return f"chunks/{job_id}/sync"


def run_key(job_id: str, range_index: int, part: int) -> str:
    """``chunks/<job_id>/sync/run-<range:04d>-<part:03d>.bin``."""
    return f"{work_prefix(job_id)}/run-{range_index:04d}-{part:03d}.bin"


class RunWriter:
    """Buckets one byte range's identifiers by partition and writes them as run parts.

    ``columns`` are the job's chunk columns (the order of the cells of each line), ``api`` the
    audience API (it decides the member types, :func:`.records.member_type`), ``bits`` the
    partition bits of this sync (every range of a job uses the same)."""

    def __init__(
        self,
        *,
        s3: Any,
        bucket: str,
        job_id: str,
        range_index: int,
        columns: Sequence[str],
        api: str,
        bits: int,
        spill_bytes: int = RUN_SPILL_BYTES,
    ) -> None:
        if not columns:
            raise ValueError("a run needs at least one column")
        self._s3 = s3
        self._bucket = bucket
        self._job_id = job_id
        self._range = range_index
        self._members = [member_type(column, api) for column in columns]
        self._bits = check_bits(bits)
        self._spill = max(RECORD_BYTES, spill_bytes)
        self._bins = [bytearray() for _ in range(1 << bits)]
        self._buffered = 0
        self.records = 0
        self.parts: list[FileRef] = []

    def write(self, lines: list[str]) -> None:
        """Add chunk lines (cells of hex hashes joined by ``,``, no newline)."""
        if not lines:
            return
        if len(self._members) == 1:
            self._add(encode_hex(lines, self._members[0]))
            return
        columns = zip(*(line.split(",") for line in lines), strict=True)
        for member, cells in zip(self._members, columns, strict=True):
            values = [cell for cell in cells if cell]
            if values:
                self._add(encode_hex(values, member))

    def _add(self, blob: bytes) -> None:
        bins = self._bins
        bits = self._bits
        if bits == 0:
            bins[0] += blob
        elif bits <= 8:
            shift = 8 - bits
            for record in RECORD.findall(blob):
                bins[record[0] >> shift] += record
        else:
            shift = PREFIX_BITS - bits
            for record in RECORD.findall(blob):
                bins[(record[0] << 8 | record[1]) >> shift] += record
        self.records += len(blob) // RECORD_BYTES
        self._buffered += len(blob)
        if self._buffered >= self._spill:
            self._flush()

    def _flush(self) -> None:
        if not self._buffered:
            return
        key = run_key(self._job_id, self._range, len(self.parts))
        bins, self._bins = self._bins, []
        ref = put(self._s3, self._bucket, key, KIND_RUN, self._bits, 0, bins)
        del bins
        self._bins = [bytearray() for _ in range(1 << self._bits)]
        self._buffered = 0
        self.parts.append(ref)

    def close(self) -> list[FileRef]:
        """Write what is buffered; every part of this range (none for a range without ids)."""
        self._flush()
        return self.parts
