"""One partition's difference: the core of a sync's diff (docs/sync.md, "The steps").

:func:`diff_partition` turns a partition's new records (run pieces, any order) and its old
snapshot records into the new membership and the changes; :func:`type_counts` counts records per
member type; :func:`each` runs ranged reads a few at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import filterfalse, islice
from operator import lt
from typing import Final, TypeVar

from tiktok_connector.sync.records import (
    BY_CODE,
    DIGEST_BYTES,
    RECORD,
    RECORD_BYTES,
    CorruptSyncObject,
)

# Ranged GETs in flight per invocation: a group reads two small ranges of every run part (a
# 100M-row file has ~50 parts) and S3's latency, not its bandwidth, would otherwise dominate.
READERS: Final = 16

_T = TypeVar("_T")
_R = TypeVar("_R")


def each(work: Callable[[_T], _R], items: Sequence[_T], readers: int) -> list[_R]:
    """``[work(item) for item in items]``, ``readers`` at a time (boto3 clients are
    thread-safe); results in order, the first error raised."""
    if readers <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(readers, len(items))) as pool:
        return list(pool.map(work, items))


@dataclass(frozen=True, slots=True)
class PartitionDiff:
    """One partition's new membership (sorted records) and what changed (sorted records)."""

    snapshot: bytes
    added: bytes
    removed: bytes


def _snapshot_records(blob: bytes) -> list[bytes]:
    """The records of a piece of a snapshot segment, checked to be sorted and repeat-free."""
    if len(blob) % RECORD_BYTES:
        raise CorruptSyncObject("a snapshot segment is not a whole number of records")
    records = RECORD.findall(blob)
    if not all(map(lt, records, islice(records, 1, None))):
        raise CorruptSyncObject("a snapshot segment is not sorted (or repeats a record)")
    return records


def diff_partition(
    new: Iterable[bytes], old: bytes, uncertain: Sequence[bytes] = ()
) -> PartitionDiff:
    """The new membership of one partition and its difference from ``old``.

    ``new``: blobs of records in any order, repeats allowed (run pieces); ``old``: the sorted,
    repeat-free records of the last snapshot. Only C-level set and list operations touch every
    record; sets of one partition (~4k records) stay in the CPU cache.

    ``uncertain``: the same partition of generations staged by syncs that failed while sending:
    TikTok took some, none or all of their changes, so it surely holds the members common to
    ``old`` and all of them, and maybe any member of one of them. The difference then adds every
    new member not surely held and removes every member maybe held that is gone; re-sent adds
    and removes of absent ids are no-ops at TikTok (set semantics, contract CF-10, PA-03)."""
    members: set[bytes] = set()
    for piece in new:
        if len(piece) % RECORD_BYTES:
            raise CorruptSyncObject("a run piece is not a whole number of records")
        members.update(RECORD.findall(piece))
    if uncertain:
        held = [set(_snapshot_records(old)), *(set(_snapshot_records(u)) for u in uncertain)]
        surely, maybe = set.intersection(*held), set.union(*held)
        return PartitionDiff(
            b"".join(sorted(members)),
            b"".join(sorted(members - surely)),
            b"".join(sorted(maybe - members)),
        )
    if not old:
        added = sorted(members)
        blob = b"".join(added)
        return PartitionDiff(blob, blob, b"")
    before = _snapshot_records(old)
    fresh = members.difference(before)
    if len(members) - len(fresh) == len(before):
        if not fresh:
            return PartitionDiff(old, b"", b"")  # unchanged: the old bytes are the new ones
        kept = before
        removed = b""
    else:
        kept = list(filter(members.__contains__, before))
        removed = b"".join(filterfalse(members.__contains__, before))
    added = sorted(fresh)
    merged = kept + added
    merged.sort()  # two ascending runs: timsort merges them in one linear pass
    return PartitionDiff(b"".join(merged), b"".join(added), removed)


def type_counts(pieces: Iterable[bytes], what: str) -> dict[str, int]:
    """Records per member type name in blobs of records."""
    types = b"".join(piece[DIGEST_BYTES::RECORD_BYTES] for piece in pieces)
    counts = {t.name: types.count(t.code) for t in BY_CODE.values()}
    if sum(counts.values()) != len(types):
        unknown = next(code for code in types if code not in BY_CODE)
        raise CorruptSyncObject(f"{what}: unknown member type code {unknown}")
    return {name: n for name, n in counts.items() if n}
