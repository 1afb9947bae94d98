"""The difference between the last synced snapshot and a new complete file, group by group.

Three steps, each safe to run twice (same inputs → same objects, byte for byte):

1. :func:`~tiktok_connector.sync.planning.plan_diff` (once, after the last byte range) cuts the
   partitions into groups and writes ``chunks/<job_id>/sync/plan.json``.
2. :func:`diff_group` (once per group, in parallel): for each partition of its group, the new
   records of every run part and the old records of the segments that cover the partition
   (whatever partition bits the old snapshot used), and
   :func:`~tiktok_connector.sync.partition.diff_partition`. Writes the group's snapshot segment,
   its added and removed records (record files under the job's work prefix) and
   ``group-<g>.json``. Memory: the group's records, and one partition's sets.
3. :func:`finish_diff` (once, after the last group): checks the groups, sums the changes per
   member type, writes the generation's ``manifest.json`` and ``chunks/<job_id>/sync/result.json``.

Nothing here talks to TikTok or the registry: the new generation is staged, not current.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tiktok_connector.sync.partition import READERS, diff_partition, each, type_counts
from tiktok_connector.sync.planning import (
    DiffPlan,
    get_json,
    group_key,
    put_json,
    result_key,
)
from tiktok_connector.sync.recordfile import (
    KIND_CHANGES,
    KIND_SNAPSHOT,
    FileRef,
    Slab,
    put,
    read_slab,
)
from tiktok_connector.sync.records import (
    RECORD,
    RECORD_BYTES,
    CorruptSyncObject,
    prefix_range,
)
from tiktok_connector.sync.snapshot import (
    Changes,
    Manifest,
    segment_key,
    write_manifest,
)


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
    slabs = each(lambda ref: read_slab(s3, bucket, ref, lo, hi), sources, readers)
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
    put_json(s3, bucket, group_key(plan.job_id, group), outcome.as_json())
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
            GroupResult.from_json(get_json(s3, bucket, group_key(plan.job_id, g), f"group {g}"))
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
    put_json(s3, bucket, result_key(plan.job_id), result.as_json())
    return result


def read_result(s3: Any, bucket: str, job_id: str) -> SyncResult:
    """The result :func:`finish_diff` wrote for a job."""
    data = get_json(s3, bucket, result_key(job_id), "the sync job's diff result")
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
