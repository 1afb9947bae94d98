"""Planning a sync's diff: the run parts against a base generation, cut into groups.

:func:`plan_diff` (once, after the last byte range) reads the run parts' indexes and the old
snapshot's manifest and segment indexes, and cuts the partitions into *groups* of at most
``group_records`` records (new + old). Small audiences are one group; 100M rows are ~100. Writes
``chunks/<job_id>/sync/plan.json``, which :func:`read_plan` reads back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import ClientError

from tiktok_connector.sync.partition import READERS, each
from tiktok_connector.sync.recordfile import KIND_RUN, FileRef, read_ref
from tiktok_connector.sync.records import (
    CorruptSyncObject,
    MissingSyncObject,
    check_bits,
    choose_bits,
)
from tiktok_connector.sync.runs import work_prefix
from tiktok_connector.sync.snapshot import Manifest, read_manifest

# New + old records one diff invocation holds (33 bytes each, plus one partition's sets):
# ~1-2 s of CPU and ~140 MB peak (measured, bench_sync); 100M rows are ~100 groups.
GROUP_RECORDS: Final = 2_000_000
PLAN_FORMAT: Final = 1


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


def put_json(s3: Any, bucket: str, key: str, data: Any) -> None:
    body = (json.dumps(data, separators=(",", ":")) + "\n").encode("utf-8")
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def get_json(s3: Any, bucket: str, key: str, what: str) -> Any:
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
    runs = each(lambda key: read_ref(s3, bucket, key), list(run_keys), readers)
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
        segments, each(lambda s: read_ref(s3, bucket, s.key), segments, readers), strict=True
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
    put_json(s3, bucket, plan_key(job_id), plan.as_json())
    return plan


def read_plan(s3: Any, bucket: str, job_id: str) -> DiffPlan:
    """The plan :func:`plan_diff` wrote for a job."""
    data = get_json(s3, bucket, plan_key(job_id), "the sync job's diff plan")
    try:
        return DiffPlan.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CorruptSyncObject):
            raise
        raise CorruptSyncObject(f"{plan_key(job_id)} is not a diff plan") from None
