"""Drive the sync engine the way the pipeline will: ranges write runs, one plan, every group,
finish, change chunks — over any S3 client (the in-memory fake here, moto in integration)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tiktok_connector.segments.chunks import ChunkInfo
from tiktok_connector.sync import changes, diff, planning, records, runs, snapshot

BUCKET = "sync-tests"
# Partner API: each column is a member type of its own (MD5 and SHA-256 alike).
PARTNER_COLUMNS = ("EMAIL_SHA256", "PHONE_SHA256", "IDFA_MD5", "GAID_SHA256")

Member = tuple[str, str]  # (member type name, hex digest)


def lines_for(members: Iterable[Member], columns: Sequence[str]) -> list[str]:
    """Chunk lines holding ``members``: line i holds the i-th value of each column (cells empty
    where a column has fewer values), as ingest writes rows with several id types."""
    by_column: list[list[str]] = [[] for _ in columns]
    position = {c: i for i, c in enumerate(columns)}
    for type_name, value in sorted(members):
        by_column[position[type_name]].append(value)
    height = max((len(v) for v in by_column), default=0)
    return [
        ",".join(v[i] if i < len(v) else "" for v in by_column)
        for i in range(height)
        if any(i < len(v) for v in by_column)
    ]


def as_members(blobs: Iterable[bytes]) -> set[Member]:
    """(member type name, hex) of every record in blobs of records."""
    out: set[Member] = set()
    for blob in blobs:
        for record in records.split(blob):
            out.add((records.BY_CODE[record[32]].name, records.record_hex(record)))
    return out


@dataclass
class SyncRun:
    plan: planning.DiffPlan
    result: diff.SyncResult
    adds: list[ChunkInfo]
    removes: list[ChunkInfo]
    run_keys: list[str]


def run_sync(
    s3: Any,
    *,
    job_id: str,
    lines: Sequence[str],
    columns: Sequence[str],
    api: str = "segment",
    base: str | None = None,
    uncertain: Sequence[str] = (),
    bits: int = 3,
    ranges: int = 1,
    spill_bytes: int = runs.RUN_SPILL_BYTES,
    group_records: int = planning.GROUP_RECORDS,
    batch: int = 7,
    prefix: str | None = None,
    chunk_rows: int = 5,
    bucket: str = BUCKET,
) -> SyncRun:
    """One sync job end to end (no TikTok): lines split over ``ranges`` byte ranges, written
    ``batch`` lines at a time."""
    prefix = prefix or snapshot.snapshot_prefix("7", api, f"{api}#audience")
    run_keys: list[str] = []
    for r in range(ranges):
        writer = runs.RunWriter(
            s3=s3,
            bucket=bucket,
            job_id=job_id,
            range_index=r,
            columns=columns,
            api=api,
            bits=bits,
            spill_bytes=spill_bytes,
        )
        mine = list(lines[r::ranges])
        for start in range(0, len(mine), batch):
            writer.write(mine[start : start + batch])
        run_keys += [part.key for part in writer.close()]
    plan = planning.plan_diff(
        s3,
        bucket,
        job_id=job_id,
        prefix=prefix,
        base_generation=base,
        run_keys=run_keys,
        uncertain_generations=uncertain,
        group_records=group_records,
    )
    result = diff.diff_all(s3, bucket, plan)
    types = sorted(set(result.manifest.members) | set(result.manifest.changes))
    if api == "segment":
        out = changes.ChangeColumns.for_types(types)
    else:
        out = changes.ChangeColumns.for_columns(columns, api)
    kw: dict[str, Any] = {"job_id": job_id, "columns": out, "rows": chunk_rows}
    adds = changes.write_change_chunks(s3, bucket, action="add", refs=result.adds, **kw)
    removes = changes.write_change_chunks(s3, bucket, action="remove", refs=result.removes, **kw)
    return SyncRun(plan, result, adds, removes, run_keys)


def chunk_members(s3: Any, chunks: Iterable[ChunkInfo], bucket: str = BUCKET) -> list[Member]:
    """(column, value) of every cell of change chunks, in file order (repeats kept)."""
    out: list[Member] = []
    for chunk in chunks:
        body = s3.get_object(Bucket=bucket, Key=chunk.key)["Body"].read().decode("ascii")
        header, *rows = body.splitlines()
        columns = header.split(",")
        for row in rows:
            out += [(columns[i], v) for i, v in enumerate(row.split(",")) if v]
    return out
