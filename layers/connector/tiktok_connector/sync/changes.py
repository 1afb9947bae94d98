"""Added and removed records as chunk files, for the upload path that exists today.

A finished diff (:class:`~tiktok_connector.sync.diff.SyncResult`) holds its additions and its
removals as record files, one per group, in prefix order. Here they become chunk files exactly
like the ones ingest writes (:mod:`tiktok_connector.segments.chunks`: a header of chunk column
names, one line per row, hex hashes, ``""`` where the row lacks a type), so upload sends them as
``APPEND`` / ``REMOVE`` files (customer file) or ``add`` / ``delete`` mappings (partner) without
knowing they came from a sync. Each line carries one id: a sync knows members, not people.

Chunk ``i`` of an action holds the action's records ``i × rows .. (i + 1) × rows - 1`` in prefix
order, so the chunks can be written in any order, by any number of invocations, and a rewrite
gives the same bytes. ``rows`` keeps every file within ``CHUNK_ROWS`` rows and the chunk byte
limit. Keys: ``chunks/<job_id>/sync-add-<i:05d>.csv`` and ``chunks/<job_id>/sync-remove-<i:05d>.csv``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tiktok_connector.segments.chunks import ChunkInfo
from tiktok_connector.segments.keys import AudienceApi
from tiktok_connector.segments.settings import MAX_CHUNK_BYTES, IngestSettings
from tiktok_connector.sync.recordfile import FileRef, read_records
from tiktok_connector.sync.records import (
    BY_CODE,
    BY_NAME,
    DIGEST_BYTES,
    RECORD,
    UnsupportedMemberType,
    member_type,
)

ACTIONS: Final = ("add", "remove")
CHUNK_ROWS: Final = int(IngestSettings.model_fields["chunk_rows"].default)
# Partner change chunks are smaller: a mapping request carries SEGMENT_BATCH_SIZE rows whatever
# the file, so small files cost no extra TikTok call and let every upload worker take a share of
# a sync's changes (a 1 % sync of 100M rows: 40 chunks, not 4 that 2 workers would map alone).
PARTNER_CHUNK_ROWS: Final = 50_000


@dataclass(frozen=True, slots=True)
class ChangeColumns:
    """The header of change chunks and the column each member type's values go to.

    Customer files: the audience's shape columns (:class:`~tiktok_connector.audiences.
    file_format.FileShape`), so every change file conforms to the audience; partner audiences:
    the member type names themselves (the partner path turns GAID into AAID)."""

    columns: tuple[str, ...]
    slots: Mapping[int, int]  # member type code → column position

    @classmethod
    def for_columns(cls, columns: Sequence[str], api: str) -> ChangeColumns:
        """Columns in this order; each member type goes to the first column of its type."""
        slots: dict[int, int] = {}
        for position, column in enumerate(columns):
            slots.setdefault(member_type(column, api).code, position)
        return cls(tuple(str(c).upper() for c in columns), slots)

    @classmethod
    def for_types(cls, types: Sequence[str]) -> ChangeColumns:
        """One column per member type name (the partner API's chunk columns)."""
        names = [BY_NAME[t].name for t in sorted(set(types), key=lambda t: BY_NAME[t].code)]
        return cls(tuple(names), {BY_NAME[n].code: i for i, n in enumerate(names)})

    def missing(self, types: Sequence[str]) -> list[str]:
        """The member type names among ``types`` that have no column here."""
        return [t for t in types if BY_NAME[t].code not in self.slots]

    def header(self) -> bytes:
        return (",".join(self.columns) + "\n").encode("ascii")

    def line_bytes(self) -> int:
        """The longest line: one 64-character hash and the commas, with its newline."""
        return 2 * DIGEST_BYTES + len(self.columns)


def rows_per_chunk(
    columns: ChangeColumns,
    *,
    api: str = "file",
    max_rows: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
    max_bytes: int = MAX_CHUNK_BYTES,
) -> int:
    """Rows of a change chunk: ``max_rows``, by default the deployment's ``chunk_rows``
    (``CHUNK_ROWS``, as for ingest's chunks: every customer file is an upload call), at most
    :data:`PARTNER_CHUNK_ROWS` for partner audiences; fewer when lines would pass
    ``max_bytes``."""
    if max_rows is None:
        partner = AudienceApi(api) is AudienceApi.SEGMENT
        max_rows = min(chunk_rows, PARTNER_CHUNK_ROWS) if partner else chunk_rows
    room = max_bytes - len(columns.header())
    rows = min(max_rows, room // columns.line_bytes())
    if rows < 1:
        raise ValueError("max_bytes leaves no room for a row")
    return rows


def chunk_count(refs: Sequence[FileRef], rows: int) -> int:
    """How many chunks an action's records make."""
    return -(-sum(ref.records for ref in refs) // rows)


def change_chunk_key(job_id: str, action: str, index: int) -> str:
    """``chunks/<job_id>/sync-<add|remove>-<i:05d>.csv``."""
    if action not in ACTIONS:
        raise ValueError(f"unknown change action {action!r}")
    return f"chunks/{job_id}/sync-{action}-{index:05d}.csv"


def chunk_lines(records: bytes, columns: ChangeColumns) -> list[str]:
    """Chunk lines (no newline) of a blob of records: one id per line, in its type's column."""
    width = len(columns.columns)
    shapes: dict[int, tuple[str, str, int]] = {}
    for code, slot in columns.slots.items():
        shapes[code] = ("," * slot, "," * (width - slot - 1), BY_CODE[code].digest_bytes)
    lines: list[str] = []
    append = lines.append
    for record in RECORD.findall(records):
        shape = shapes.get(record[DIGEST_BYTES])
        if shape is None:
            code = record[DIGEST_BYTES]
            name = BY_CODE[code].name if code in BY_CODE else f"code {code}"
            raise UnsupportedMemberType(
                f"the audience has no column for {name} ids (its columns: "
                f"{', '.join(columns.columns)})"
            )
        before, after, size = shape
        append(before + record[:size].hex() + after)
    return lines


def write_change_chunk(
    s3: Any,
    bucket: str,
    *,
    job_id: str,
    action: str,
    refs: Sequence[FileRef],
    index: int,
    columns: ChangeColumns,
    rows: int,
) -> ChunkInfo:
    """Write chunk ``index`` of an action (``add``: ``SyncResult.adds``, ``remove``:
    ``SyncResult.removes``) and return it as ingest's chunks are returned (key, rows, MD5, size)."""
    total = sum(ref.records for ref in refs)
    start, stop = index * rows, min((index + 1) * rows, total)
    if not 0 <= start < stop:
        raise ValueError(f"{action} chunk {index} is past the {total} records")
    parts: list[bytes] = []
    at = 0
    for ref in refs:
        a, b = max(start - at, 0), min(stop - at, ref.records)
        if a < b:
            parts.append(read_records(s3, bucket, ref, a, b))
        at += ref.records
        if at >= stop:
            break
    lines = chunk_lines(b"".join(parts), columns)
    body = columns.header() + ("\n".join(lines) + "\n").encode("ascii")
    key = change_chunk_key(job_id, action, index)
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")
    md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
    return ChunkInfo(key, len(lines), md5, len(body))


def write_change_chunks(
    s3: Any,
    bucket: str,
    *,
    job_id: str,
    action: str,
    refs: Sequence[FileRef],
    columns: ChangeColumns,
    rows: int,
) -> list[ChunkInfo]:
    """Every chunk of an action, in order (one invocation; :func:`write_change_chunk` is the
    unit to fan out when there are many)."""
    return [
        write_change_chunk(
            s3, bucket, job_id=job_id, action=action, refs=refs, index=i, columns=columns, rows=rows
        )
        for i in range(chunk_count(refs, rows))
    ]
