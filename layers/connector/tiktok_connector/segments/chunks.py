"""Chunk files (hashes only) and the bounded-memory duplicate filter.

A chunk is ``chunks/<job_id>/<range:04d>-<seq:05d>.csv``: a header line of TikTok customer-file
column names, then one line per uploaded row (docs/architecture.md). Lines are spooled to a
temporary file (never held in memory) and the file is uploaded with its MD5 — TikTok's
``file_signature`` — once it reaches ``max_rows`` rows or ``max_bytes`` bytes.

Duplicates: :class:`HashFilter` remembers 64-bit fingerprints (Python's string hash of the hex
digest) in a flat ``array`` with open addressing: 16 bytes per distinct hash instead of the ~150
a ``set`` of strings costs. It is exact within one byte range up to ``max_entries`` distinct
hashes (default 4M, 64 MiB); past that it starts a new window. So a job drops identical hashes
within each range (and window) and a 100M-row job never holds 100M hashes; a hash repeated across
ranges is uploaded once per range, which TikTok absorbs (audiences are sets: APPEND adds only ids
not present). Two different hashes share a 64-bit fingerprint with probability ~n²/2⁶⁵ (4·10⁻⁷
for 4M hashes), which would drop one id — an accepted, documented risk.
"""

from __future__ import annotations

import hashlib
import tempfile
from array import array
from typing import IO, Any, NamedTuple

_INITIAL_SLOTS = 1 << 16


class HashFilter:
    """Answers "first time this hash is seen in this window?" with bounded memory."""

    __slots__ = ("_limit", "_mask", "_max_entries", "_table", "_used", "windows")

    def __init__(self, max_entries: int = 4_000_000, *, expected: int = 0) -> None:
        """``expected``: about how many hashes will come; sizing the table for them up front
        saves the rehashing (a Python loop) that growing costs."""
        self._max_entries = max(1, max_entries)
        self.windows = 1
        wanted = 2 * min(max(expected, 0), self._max_entries)
        self._reset(max(_INITIAL_SLOTS, 1 << (wanted - 1).bit_length()))

    def _reset(self, slots: int) -> None:
        self._table = array("q")  # drop the old table before allocating the new one
        self._table = array("q", [0]) * slots
        self._mask = slots - 1
        self._limit = min(slots // 2, self._max_entries - 1)  # past it: _grow
        self._used = 0

    def _grow(self) -> None:
        old = self._table
        slots = (self._mask + 1) * 2
        if self._used >= self._max_entries:
            self.windows += 1  # window full: forget and start again (see module docs)
            # clear in place: the hot loop still holds this table, so a new one would double
            # the memory for a moment
            zeros = array("q", [0]) * min(len(old), 1 << 16)
            for start in range(0, len(old), len(zeros)):
                old[start : start + len(zeros)] = zeros
            self._used = 0
            return
        self._reset(slots)
        table, mask = self._table, self._mask
        for h in old:
            if h:
                i = h & mask
                while table[i]:
                    i = (i + 1) & mask
                table[i] = h
                self._used += 1

    def add(self, value: str) -> bool:
        """Remember ``value``; True when it was not seen before (in this window)."""
        h = hash(value) or 1
        table = self._table
        mask = self._mask
        i = h & mask
        while True:
            v = table[i]
            if not v:
                table[i] = h
                self._used += 1
                if self._used > self._limit:
                    self._grow()
                return True
            if v == h:
                return False
            i = (i + 1) & mask

    def __len__(self) -> int:
        return self._used

    # The ingest hot loop inlines `add` (a method call per row costs as much as the probe);
    # these two hand its state out and take it back.
    def state(self) -> tuple[array[int], int, int, int]:
        """``(table, mask, limit, used)`` for an inlined probe loop."""
        return self._table, self._mask, self._limit, self._used

    def grown(self, used: int) -> tuple[array[int], int, int, int]:
        """Take back ``used`` from an inlined loop that passed ``limit``; grow; new state."""
        self._used = used
        self._grow()
        return self.state()

    def sync(self, used: int) -> None:
        """Take back ``used`` from an inlined loop that ends."""
        self._used = used


class ChunkInfo(NamedTuple):
    """One uploaded chunk file."""

    key: str
    rows: int
    md5: str
    size: int


def chunk_key(job_id: str, range_index: int, seq: int) -> str:
    """``chunks/<job_id>/<range:04d>-<seq:05d>.csv``."""
    return f"chunks/{job_id}/{range_index:04d}-{seq:05d}.csv"


class ChunkWriter:
    """Writes chunk lines to S3 as files of at most ``max_rows`` rows and ``max_bytes`` bytes.

    Feed it lists of lines (without ``\\n``) with :meth:`write`; :meth:`close` uploads the last
    chunk and returns every chunk written.
    """

    def __init__(
        self,
        *,
        s3: Any,
        bucket: str,
        job_id: str,
        range_index: int,
        columns: tuple[str, ...],
        max_rows: int,
        max_bytes: int,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._job_id = job_id
        self._range = range_index
        self._header = (",".join(columns) + "\n").encode("ascii")
        self._max_rows = max_rows
        self._max_bytes = max_bytes
        if len(self._header) >= max_bytes:
            raise ValueError("max_bytes leaves no room for rows")
        self.chunks: list[ChunkInfo] = []
        self._file: IO[bytes] | None = None
        self._md5: Any = None
        self._rows = 0
        self._bytes = 0

    def _open(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _upload
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._rows = 0
        self._bytes = 0
        self._append(self._header)

    def _append(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self._md5.update(data)
        self._bytes += len(data)

    def write(self, lines: list[str]) -> None:
        """Append rows (each a line of hashes, ASCII, no newline)."""
        while lines:
            if self._file is None:
                self._open()
            room_rows = self._max_rows - self._rows
            batch = lines if len(lines) <= room_rows else lines[:room_rows]  # no copy if all fit
            data = ("\n".join(batch) + "\n").encode("ascii")
            if self._bytes + len(data) > self._max_bytes:
                batch, data = self._fit(batch)
            if batch:
                self._append(data)
                self._rows += len(batch)
            lines = lines[len(batch) :] if batch is not lines else []
            if lines or self._rows >= self._max_rows:
                self._upload()

    def _fit(self, batch: list[str]) -> tuple[list[str], bytes]:
        """The longest prefix of ``batch`` that fits the byte limit (rare path: once a chunk)."""
        room = self._max_bytes - self._bytes
        taken = 0
        for n, line in enumerate(batch):
            taken += len(line) + 1
            if taken > room:
                batch = batch[:n]
                break
        if not batch and self._rows == 0:
            raise ValueError("a single row does not fit in a chunk")
        return batch, ("\n".join(batch) + "\n").encode("ascii") if batch else b""

    def _upload(self) -> None:
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            if self._rows:
                key = chunk_key(self._job_id, self._range, len(self.chunks))
                file.seek(0)
                self._s3.put_object(Bucket=self._bucket, Key=key, Body=file, ContentType="text/csv")
                self.chunks.append(ChunkInfo(key, self._rows, self._md5.hexdigest(), self._bytes))
        finally:
            file.close()

    def close(self) -> list[ChunkInfo]:
        """Upload the last chunk; return every chunk of this range."""
        self._upload()
        return self.chunks
