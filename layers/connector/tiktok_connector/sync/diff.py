"""The difference between the last synced snapshot and a new complete file, partition by partition.

Three steps, each safe to run twice (same inputs → same objects, byte for byte):

1. :func:`plan_diff` (once, after the last byte range): reads the run parts' indexes and the old
   snapshot's manifest and segment indexes, and cuts the partitions into *groups* of at most
   ``group_records`` records (new + old). Small audiences are one group; 100M rows are ~100.
   Writes ``chunks/<job_id>/sync/plan.json``.
2. :func:`diff_group` (once per group, in parallel): for each partition of its group, the new
   records of every run part and the old records of the segments that cover the partition
   (whatever partition bits the old snapshot used), and :func:`diff_partition`. Writes the
   group's snapshot segment, its added and removed records (record files under the job's work
   prefix) and ``group-<g>.json``. Memory: the group's records, and one partition's sets.
3. :func:`finish_diff` (once, after the last group): checks the groups, sums the changes per
   member type, writes the generation's ``manifest.json`` and ``chunks/<job_id>/sync/result.json``.

Nothing here talks to TikTok or the registry: the new generation is staged, not current.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import filterfalse, islice
from operator import lt
from typing import Any, Final, TypeVar

from botocore.exceptions import ClientError

from tiktok_connector.sync.recordfile import (
    KIND_CHANGES,
    KIND_RUN,
    KIND_SNAPSHOT,
    FileRef,
    Slab,
    put,
    read_ref,
    read_slab,
)
from tiktok_connector.sync.records import (
    BY_CODE,
    DIGEST_BYTES,
    RECORD,
    RECORD_BYTES,
    CorruptSyncObject,
    MissingSyncObject,
    check_bits,
    choose_bits,
    prefix_range,
)
from tiktok_connector.sync.runs import work_prefix
from tiktok_connector.sync.snapshot import (
    Changes,
    Manifest,
    read_manifest,
    segment_key,
    write_manifest,
)

# New + old records one diff invocation holds (33 bytes each, plus one partition's sets):
# ~1-2 s of CPU and ~140 MB peak (measured, bench_sync); 100M rows are ~100 groups.
GROUP_RECORDS: Final = 2_000_000
PLAN_FORMAT: Final = 1
# Ranged GETs in flight per invocation: a group reads two small ranges of every run part (a
# 100M-row file has ~50 parts) and S3's latency, not its bandwidth, would otherwise dominate.
READERS: Final = 16

_T = TypeVar("_T")
_R = TypeVar("_R")


def _each(work: Callable[[_T], _R], items: Sequence[_T], readers: int) -> list[_R]:
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


def plan_groups(weights: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Contiguous ``(first, count)`` groups of partitions, each at most ``budget`` in weight
    (a single heavier partition is a group of its own); at least one group."""
    groups: list[tuple[int, int]] = []
    first, load = 0, 0
    for q, weight in enumerate(weights):
        if q > first and load + weight > budget:
            groups.append((first, q - first))
            first, load = q, 0
        load += weight
    groups.append((first, len(weights) - first))
    return groups


@dataclass(frozen=True, slots=True)
class DiffPlan:
    """What a sync job diffs: its run parts against a base generation, cut into groups."""

    job_id: str
    prefix: str  # the audience's snapshot prefix (snapshot.snapshot_prefix)
    bits: int
    runs: tuple[FileRef, ...]
    base: Manifest | None
    groups: tuple[tuple[int, int], ...]
    # generations staged by syncs that failed while sending (docs/sync.md, "Exactly once")
    uncertain: tuple[Manifest, ...] = ()

    @property
    def generation(self) -> str:
        return self.job_id

    @property
    def work(self) -> str:
        return work_prefix(self.job_id)

    def as_json(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "job_id": self.job_id,
            "prefix": self.prefix,
            "bits": self.bits,
            "runs": [r.as_json() for r in self.runs],
            "base": self.base.as_json() if self.base else None,
            "groups": [list(g) for g in self.groups],
            "uncertain": [m.as_json() for m in self.uncertain],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DiffPlan:
        if data.get("format") != PLAN_FORMAT:
            raise CorruptSyncObject(f"diff plan format {data.get('format')!r} unknown")
        base = data.get("base")
        return cls(
            job_id=str(data["job_id"]),
            prefix=str(data["prefix"]),
            bits=int(data["bits"]),
            runs=tuple(FileRef.from_json(r) for r in data["runs"]),
            base=Manifest.from_json(base, key="plan base") if base else None,
            groups=tuple((int(a), int(b)) for a, b in data["groups"]),
            uncertain=tuple(
                Manifest.from_json(m, key="plan uncertain") for m in data.get("uncertain") or ()
            ),
        )


def plan_key(job_id: str) -> str:
    return f"{work_prefix(job_id)}/plan.json"


def group_key(job_id: str, group: int) -> str:
    return f"{work_prefix(job_id)}/group-{group:05d}.json"


def result_key(job_id: str) -> str:
    return f"{work_prefix(job_id)}/result.json"


def _put_json(s3: Any, bucket: str, key: str, data: Any) -> None:
    body = (json.dumps(data, separators=(",", ":")) + "\n").encode("utf-8")
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def _get_json(s3: Any, bucket: str, key: str, what: str) -> Any:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) in ("NoSuchKey", "404", "NotFound"):
            raise MissingSyncObject(f"{what} ({key}) does not exist") from None
        raise
    try:
        return json.loads(body.read())
    except ValueError:
        raise CorruptSyncObject(f"{what} ({key}) is not JSON") from None
    finally:
        body.close()


def _spread(weights: list[int], bits: int, ref: FileRef, index: Sequence[int]) -> None:
    """Add a file's records per partition to ``weights`` (partitions at ``bits``)."""
    for i in range(ref.count):
        n = index[i + 1] - index[i]
        if not n:
            continue
        q = ref.first + i
        if ref.bits >= bits:
            weights[q >> (ref.bits - bits)] += n
        else:  # a coarser old partition: uniform hashes share it evenly
            d = bits - ref.bits
            share = -(-n >> d)
            for sub in range(q << d, (q + 1) << d):
                weights[sub] += share


def plan_diff(
    s3: Any,
    bucket: str,
    *,
    job_id: str,
    prefix: str,
    base_generation: str | None,
    run_keys: Sequence[str],
    uncertain_generations: Sequence[str] = (),
    bits: int | None = None,
    group_records: int = GROUP_RECORDS,
    readers: int = READERS,
) -> DiffPlan:
    """Plan the diff of a sync job and write it to ``chunks/<job_id>/sync/plan.json``.

    ``run_keys``: every run part of the job (the ranges record them); ``base_generation``: the
    registry's current generation of the audience (None for its first sync);
    ``uncertain_generations``: generations staged by syncs of the audience that failed after
    they started sending (the registry keeps them until a sync reconciles them). ``bits`` (the
    partitions the diff works in and the new snapshot is cut by) defaults to what the record
    counts need (:func:`.records.choose_bits`), and never fewer than the runs' own."""
    base = read_manifest(s3, bucket, prefix, base_generation) if base_generation else None
    uncertain = tuple(read_manifest(s3, bucket, prefix, g) for g in uncertain_generations)
    runs = _each(lambda key: read_ref(s3, bucket, key), list(run_keys), readers)
    for ref, _ in runs:
        if ref.kind != KIND_RUN or ref.first != 0 or ref.count != 1 << ref.bits:
            raise CorruptSyncObject(f"{ref.key} is not a run part")
    run_bits = {ref.bits for ref, _ in runs}
    if len(run_bits) > 1:
        raise CorruptSyncObject("the run parts of one job use different partition bits")
    if bits is None:
        # The runs' bits came from an estimate of the file's rows; the counts are exact now.
        # Finer when the estimate was low (run partitions are then split as they are read),
        # never coarser (slicing finer run partitions costs nothing).
        olds = [m.records for m in (base, *uncertain) if m is not None]
        size = max([sum(ref.records for ref, _ in runs), *olds])
        bits = max(run_bits.pop() if run_bits else 0, choose_bits(size))
    check_bits(bits)
    weights = [0] * (1 << bits)
    for ref, index in runs:
        _spread(weights, bits, ref, index)
    segments = [s for m in (base, *uncertain) if m is not None for s in m.segments]
    for segment, (ref, index) in zip(
        segments, _each(lambda s: read_ref(s3, bucket, s.key), segments, readers), strict=True
    ):
        if ref != segment:
            raise CorruptSyncObject(f"{segment.key} does not match its manifest entry")
        _spread(weights, bits, ref, index)
    plan = DiffPlan(
        job_id=job_id,
        prefix=prefix,
        bits=bits,
        runs=tuple(ref for ref, _ in runs),
        base=base,
        groups=tuple(plan_groups(weights, group_records)),
        uncertain=uncertain,
    )
    _put_json(s3, bucket, plan_key(job_id), plan.as_json())
    return plan


def read_plan(s3: Any, bucket: str, job_id: str) -> DiffPlan:
    """The plan :func:`plan_diff` wrote for a job."""
    data = _get_json(s3, bucket, plan_key(job_id), "the sync job's diff plan")
    try:
        return DiffPlan.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CorruptSyncObject):
            raise
        raise CorruptSyncObject(f"{plan_key(job_id)} is not a diff plan") from None


@dataclass(frozen=True, slots=True)
class GroupResult:
    """What one group's diff wrote, and its changes per member type."""

    group: int
    first: int
    count: int
    segment: FileRef
    adds: FileRef
    removes: FileRef
    added: Mapping[str, int]
    removed: Mapping[str, int]
    members: Mapping[str, int]  # the group's new membership per member type

    def as_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "first": self.first,
            "count": self.count,
            "segment": self.segment.as_json(),
            "adds": self.adds.as_json(),
            "removes": self.removes.as_json(),
            "added": dict(self.added),
            "removed": dict(self.removed),
            "members": dict(self.members),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GroupResult:
        return cls(
            group=int(data["group"]),
            first=int(data["first"]),
            count=int(data["count"]),
            segment=FileRef.from_json(data["segment"]),
            adds=FileRef.from_json(data["adds"]),
            removes=FileRef.from_json(data["removes"]),
            added={str(k): int(v) for k, v in data["added"].items()},
            removed={str(k): int(v) for k, v in data["removed"].items()},
            members={str(k): int(v) for k, v in data["members"].items()},
        )


def diff_group(
    s3: Any, bucket: str, plan: DiffPlan, group: int, *, readers: int = READERS
) -> GroupResult:
    """Diff one group of partitions: write its snapshot segment, its added and removed records
    and ``group-<g>.json``. The same plan and group always write the same bytes."""
    if not 0 <= group < len(plan.groups):
        raise ValueError(f"group {group} is not in the plan ({len(plan.groups)} groups)")
    first, count = plan.groups[group]
    bits = plan.bits
    lo, hi = prefix_range(first, count, bits)
    olds = [plan.base.overlapping(lo, hi) if plan.base else []]
    olds += [m.overlapping(lo, hi) for m in plan.uncertain]
    sources = list(plan.runs) + [segment for segments in olds for segment in segments]
    slabs = _each(lambda ref: read_slab(s3, bucket, ref, lo, hi), sources, readers)
    new, at = slabs[: len(plan.runs)], len(plan.runs)
    old: list[list[Slab]] = []
    for segments in olds:
        old.append(slabs[at : at + len(segments)])
        at += len(segments)
    del slabs
    snapshot: list[bytes] = []
    adds: list[bytes] = []
    removes: list[bytes] = []
    for q in range(first, first + count):
        # a generation's segments are disjoint and in prefix order: concatenated, still sorted
        before = [
            generation[0].piece(q, bits)
            if len(generation) == 1
            else b"".join(slab.piece(q, bits) for slab in generation)
            for generation in old
        ]
        result = diff_partition([slab.piece(q, bits) for slab in new], before[0], before[1:])
        snapshot.append(result.snapshot)
        adds.append(result.added)
        removes.append(result.removed)
    del new, old
    added = type_counts(adds, f"group {group} additions")
    removed = type_counts(removes, f"group {group} removals")
    members = type_counts(snapshot, f"group {group} members")
    generation, work = plan.generation, plan.work
    segment = put(
        s3, bucket, segment_key(plan.prefix, generation, lo), KIND_SNAPSHOT, bits, first, snapshot
    )
    del snapshot
    outcome = GroupResult(
        group=group,
        first=first,
        count=count,
        segment=segment,
        adds=put(s3, bucket, f"{work}/add-{group:05d}.bin", KIND_CHANGES, bits, first, adds),
        removes=put(
            s3, bucket, f"{work}/remove-{group:05d}.bin", KIND_CHANGES, bits, first, removes
        ),
        added=added,
        removed=removed,
        members=members,
    )
    _put_json(s3, bucket, group_key(plan.job_id, group), outcome.as_json())
    return outcome


@dataclass(frozen=True, slots=True)
class SyncResult:
    """A finished diff: the staged generation's manifest and the change files, in order."""

    manifest: Manifest
    adds: tuple[FileRef, ...]
    removes: tuple[FileRef, ...]

    @property
    def added(self) -> int:
        return sum(ref.records for ref in self.adds)

    @property
    def removed(self) -> int:
        return sum(ref.records for ref in self.removes)

    def changes_report(self) -> dict[str, dict[str, int]]:
        """The report's ``changes``: ``{member type: {added, removed, unchanged}}``."""
        return {t: c.as_json() for t, c in sorted(self.manifest.changes.items())}

    def as_json(self) -> dict[str, Any]:
        return {
            "manifest": self.manifest.as_json(),
            "adds": [r.as_json() for r in self.adds],
            "removes": [r.as_json() for r in self.removes],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SyncResult:
        return cls(
            manifest=Manifest.from_json(data["manifest"], key="sync result"),
            adds=tuple(FileRef.from_json(r) for r in data["adds"]),
            removes=tuple(FileRef.from_json(r) for r in data["removes"]),
        )


def finish_diff(
    s3: Any, bucket: str, plan: DiffPlan, results: Sequence[GroupResult] | None = None
) -> SyncResult:
    """Check every group's result (read from S3 unless given), write the staged generation's
    manifest and ``result.json``; the :class:`SyncResult`.

    Fails with :class:`MissingSyncObject` when a group has not written its result, and with
    :class:`CorruptSyncObject` when the groups do not match the plan or the counts do not add up
    (the old manifest's members per type minus removals plus additions must equal the new
    segments' members per type, unless uncertain generations are reconciled)."""
    if results is None:
        results = [
            GroupResult.from_json(_get_json(s3, bucket, group_key(plan.job_id, g), f"group {g}"))
            for g in range(len(plan.groups))
        ]
    if [(r.first, r.count) for r in results] != list(plan.groups):
        raise CorruptSyncObject("the group results do not match the diff plan")
    added: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    members: Counter[str] = Counter()
    for r in results:
        added.update(r.added)
        removed.update(r.removed)
        members.update(r.members)
    before = dict(plan.base.members) if plan.base else {}
    types = sorted(set(before) | set(added) | set(removed) | set(members))
    if not plan.uncertain and any(
        before.get(t, 0) - removed[t] + added[t] != members[t] for t in types
    ):
        raise CorruptSyncObject(
            f"generation {plan.generation}: the last snapshot's members per type, minus the "
            "removals, plus the additions, are not the new members"
        )
    manifest = Manifest(
        generation=plan.generation,
        previous=plan.base.generation if plan.base else None,
        bits=plan.bits,
        segments=tuple(r.segment for r in results),
        members={t: members[t] for t in types if members[t]},
        changes={t: Changes(added[t], removed[t], members[t] - added[t]) for t in types},
        uncertain=tuple(m.generation for m in plan.uncertain),
    )
    manifest.check(f"generation {plan.generation}")
    write_manifest(s3, bucket, plan.prefix, manifest)
    result = SyncResult(
        manifest=manifest,
        adds=tuple(r.adds for r in results),
        removes=tuple(r.removes for r in results),
    )
    _put_json(s3, bucket, result_key(plan.job_id), result.as_json())
    return result


def read_result(s3: Any, bucket: str, job_id: str) -> SyncResult:
    """The result :func:`finish_diff` wrote for a job."""
    data = _get_json(s3, bucket, result_key(job_id), "the sync job's diff result")
    try:
        return SyncResult.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CorruptSyncObject):
            raise
        raise CorruptSyncObject(f"{result_key(job_id)} is not a diff result") from None


def current_members(s3: Any, bucket: str, manifest: Manifest) -> Iterable[bytes]:
    """Every record of a generation, in order (segment by segment: memory of one segment)."""
    for segment in manifest.segments:
        lo, hi = segment.prefix_range()
        slab = read_slab(s3, bucket, segment, lo, hi)
        if len(slab.data) != segment.records * RECORD_BYTES:
            raise CorruptSyncObject(f"{segment.key} holds fewer records than its manifest says")
        yield from RECORD.findall(slab.data)


def diff_all(s3: Any, bucket: str, plan: DiffPlan) -> SyncResult:
    """Every group of a plan in this process, then :func:`finish_diff` (a one-group plan is
    what a small audience gets: one invocation does the whole diff)."""
    results = [diff_group(s3, bucket, plan, g) for g in range(len(plan.groups))]
    return finish_diff(s3, bucket, plan, results)
