"""Sync figures (issue 15): what a daily full-file sync costs beyond ingest, per core and at 100M.

The subject is the product's sync engine exactly as the pipeline will call it
(:mod:`tiktok_connector.sync`): ``RunWriter`` fed with ingest's chunk lines per byte range,
``plan_diff``, ``diff_group`` for every group, ``finish_diff``, and ``write_change_chunk`` for
every added and removed chunk — over an in-memory stand-in for S3 (:class:`MemoryS3`: ranged
GETs answered like S3, PUTs kept), so network time is left out (the simulation adds it back).

* throughput: rows/s of that engine on a day-two file (1 % of yesterday's ids gone, as many new)
  against a snapshot of yesterday, next to the floor measured in alternation in the same run:
  ``csv.reader`` + ``sha256`` of every row of the same file, as ``bench_ingest``'s floor
  (DESIGN §6: ≥ 50 %). The file's hashing itself is ingest's work and is not in the subject:
  a sync job runs ingest as any job does, then this.
* memory: peak RSS of one diff invocation (one group) in a fresh interpreter, for snapshots of
  growing size (``python -m bench.bench_sync --rss DIR``, ``VmHWM``): flat, because a bigger
  audience has more partitions and more groups, not bigger ones.
* 100M rows, 1 % churn: a simulation of the deployed fan-out (as ``bench_fanout``) fed with
  this run's measurements — ingest writing runs, one planning invocation, the diff groups,
  the change chunks, and the upload of the changes at TikTok's QPS ceilings — with wall time,
  Lambda limits, TikTok traffic next to a full replace of the same file, and Lambda cost.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from bench import Figure, interleaved_rates, median
from bench.bench_fanout import (
    BYTES_PER_ROW,
    HASH_LINE_BYTES,
    INGEST_MEMORY_MB,
    INGEST_RANGE_BYTES,
    INGEST_TIMEOUT_S,
    PRICE_PER_GB_S,
    PRICE_PER_REQUEST,
    RANGES_CONCURRENCY,
    S3_MB_S,
    TIKTOK_MB_S,
    UPLOAD_CONCURRENCY,
    UPLOAD_MAX_QPS,
    UPLOAD_MEMORY_MB,
    _schedule,
    _vcpu,
)
from bench.bench_identity import SEED, generate_emails
from bench.bench_ingest import _csv_sha256_floor, _write_csv, peak_rss_kb
from tiktok_connector.audiences.customer_file import MAX_FILE_PATHS_PER_CALL
from tiktok_connector.audiences.settings import UploadSettings
from tiktok_connector.segments.planning import MAX_RANGES
from tiktok_connector.segments.reader import plan_ranges
from tiktok_connector.sync import (
    changes,
    diff,
    partition,
    planning,
    recordfile,
    records,
    runs,
    snapshot,
)

BUCKET = "bench"
CHURN = 0.01  # this share of yesterday's ids is gone today, and as many new ones came
TRAFFIC_TARGET = 0.02
WALL_TARGET_S = 120.0
BATCH_LINES = 4096  # lines per RunWriter.write, about what ingest hands its sink at once
RANGE_ROWS = 250_000  # rows per byte range in the throughput run (several runs per partition)
# partner mapping rows per request (the upload setting's default)
SEGMENT_BATCH_SIZE = int(UploadSettings.model_fields["segment_batch_size"].default)

# The diff runs where docs/sync.md puts it: on the ingest function, from the ranges queue.
DIFF_MEMORY_MB, DIFF_TIMEOUT_S, DIFF_CONCURRENCY = (
    INGEST_MEMORY_MB,
    INGEST_TIMEOUT_S,
    RANGES_CONCURRENCY,
)
# Assumed, not measurable here: S3 time to first byte per request (a group's ranged GETs run
# partition.READERS at a time).
S3_LATENCY_S = 0.02

LAST: dict[str, float] = {}


class MemoryS3:
    """The S3 calls the sync engine makes, on a dict (ranged GETs answer ``ContentRange``)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: Any, **kwargs: Any) -> dict[str, Any]:
        self.objects[Key] = bytes(Body) if isinstance(Body, bytes | bytearray) else Body.read()
        return {}

    def get_object(self, *, Bucket: str, Key: str, Range: str | None = None) -> dict[str, Any]:
        data = self.objects.get(Key)
        if data is None:
            raise ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")
        if Range is None:
            return {"Body": io.BytesIO(data)}
        lo_text, _, hi_text = Range.removeprefix("bytes=").partition("-")
        lo, hi = int(lo_text), min(int(hi_text), len(data) - 1)
        return {
            "Body": io.BytesIO(data[lo : hi + 1]),
            "ContentRange": f"bytes {lo}-{hi}/{len(data)}",
        }


class FileS3(MemoryS3):
    """Reads objects from files under a directory (by key), and forgets what is put: the memory
    figure must count the diff's own memory, not a store holding every output."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self.put_bytes = 0

    def put_object(self, *, Bucket: str, Key: str, Body: Any, **kwargs: Any) -> dict[str, Any]:
        self.put_bytes += len(Body)
        return {}

    def get_object(self, *, Bucket: str, Key: str, Range: str | None = None) -> dict[str, Any]:
        path = self.directory / Key
        if not path.exists():
            raise ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")
        size = path.stat().st_size
        lo_text, _, hi_text = (Range or "bytes=0-").removeprefix("bytes=").partition("-")
        lo = int(lo_text)
        hi = min(int(hi_text), size - 1) if hi_text else size - 1
        with path.open("rb") as f:
            f.seek(lo)
            data = f.read(hi + 1 - lo)
        return {"Body": io.BytesIO(data), "ContentRange": f"bytes {lo}-{hi}/{size}"}


# ----------------------------------------------------------------------------- the engine


@dataclass
class Stages:
    """CPU seconds of one sync by stage, and what it produced."""

    runs: float = 0.0
    plan: float = 0.0
    groups: float = 0.0
    finish: float = 0.0
    chunks: float = 0.0
    rows: int = 0
    added: int = 0
    removed: int = 0
    groups_n: int = 0
    parts: int = 0
    bits: int = 0

    @property
    def total(self) -> float:
        return self.runs + self.plan + self.groups + self.finish + self.chunks


def sync_once(
    s3: MemoryS3,
    job_id: str,
    lines: Sequence[str],
    *,
    base: str | None,
    bits: int,
    range_rows: int = RANGE_ROWS,
    group_records: int = planning.GROUP_RECORDS,
) -> Stages:
    """One sync job of one-column (e-mail) chunk lines, every step in this process."""
    stages = Stages(rows=len(lines), bits=bits)
    clock = time.process_time
    started = clock()
    keys: list[str] = []
    for r, start in enumerate(range(0, len(lines), range_rows)):
        writer = runs.RunWriter(
            s3=s3,
            bucket=BUCKET,
            job_id=job_id,
            range_index=r,
            columns=["EMAIL_SHA256"],
            api="file",
            bits=bits,
        )
        for at in range(start, min(start + range_rows, len(lines)), BATCH_LINES):
            writer.write(list(lines[at : min(at + BATCH_LINES, start + range_rows)]))
        keys += [part.key for part in writer.close()]
    stages.parts = len(keys)
    prefix = snapshot.snapshot_prefix("1234", "file", "file#bench sync")
    t1 = clock()
    plan = planning.plan_diff(
        s3,
        BUCKET,
        job_id=job_id,
        prefix=prefix,
        base_generation=base,
        run_keys=keys,
        group_records=group_records,
    )
    t2 = clock()
    results = [diff.diff_group(s3, BUCKET, plan, g) for g in range(len(plan.groups))]
    t3 = clock()
    result = diff.finish_diff(s3, BUCKET, plan, results)
    t4 = clock()
    columns = changes.ChangeColumns.for_columns(["EMAIL_SHA256"], "file")
    rows = changes.rows_per_chunk(columns)
    for action, refs in (("add", result.adds), ("remove", result.removes)):
        changes.write_change_chunks(
            s3, BUCKET, job_id=job_id, action=action, refs=refs, columns=columns, rows=rows
        )
    t5 = clock()
    stages.runs, stages.plan, stages.groups = t1 - started, t2 - t1, t3 - t2
    stages.finish, stages.chunks = t4 - t3, t5 - t4
    stages.added, stages.removed, stages.groups_n = result.added, result.removed, len(plan.groups)
    return stages


def _index_entry_ns(bits: int = 15, repeat: int = 5) -> float:
    """CPU ns per index entry of planning (``plan_diff`` sums every run part's and old
    segment's per-partition counts): measured on an index of 2**bits partitions."""
    per = 3_000
    ref = recordfile.FileRef("k", recordfile.KIND_RUN, bits, 0, 1 << bits, per << bits)
    index = list(range(0, (per << bits) + 1, per))
    weights = [0] * (1 << bits)
    started = time.process_time()
    for _ in range(repeat):
        planning._spread(weights, bits, ref, index)
    return (time.process_time() - started) / (repeat << bits) * 1e9


def _day_two(n: int, rng: random.Random) -> tuple[list[str], list[str], list[str]]:
    """Yesterday's and today's hashed lines (today: CHURN of yesterday's gone, as many new),
    and today's e-mail addresses as the file holds them."""
    churn = max(1, int(n * CHURN))
    emails = generate_emails(n + churn, rng)
    yesterday = emails[:n]
    gone = set(rng.sample(range(n), churn))
    today = [e for i, e in enumerate(yesterday) if i not in gone] + emails[n:]
    rng.shuffle(today)

    def hashed(values: list[str]) -> list[str]:
        return [hashlib.sha256(v.strip().lower().encode()).hexdigest() for v in values]

    return hashed(yesterday), hashed(today), today


def _throughput(quick: bool) -> tuple[Figure, list[Stages]]:
    n, repeat = (100_000, 3) if quick else (1_000_000, 5)
    rng = random.Random(SEED)
    yesterday, today, emails = _day_two(n, rng)
    bits = records.choose_bits(n)
    s3 = MemoryS3()
    sync_once(s3, "yesterday", yesterday, base=None, bits=bits)
    measured: list[Stages] = []

    def subject() -> int:
        stages = sync_once(s3, "today", today, base="yesterday", bits=bits)
        if stages.added != n * CHURN or stages.removed != n * CHURN:
            raise RuntimeError(f"sync found +{stages.added} -{stages.removed}")
        measured.append(stages)
        return n

    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        path = _write_csv(Path(tmp), "today.csv", "email", emails)
        runs_, floor, ratios = interleaved_rates(subject, _csv_sha256_floor(path), repeat=repeat)
    stages = measured[-repeat:]
    per_row = {
        name: median([getattr(s, name) for s in stages]) / n * 1e9
        for name in ("runs", "plan", "groups", "finish", "chunks")
    }
    LAST.update(
        rows_per_cpu_s=median(runs_),
        runs_ns=per_row["runs"],
        groups_ns=per_row["groups"],
        chunk_ns=per_row["chunks"] / (2 * n * CHURN) * n,  # per changed row
        index_ns=_index_entry_ns(),
    )
    figure = Figure.against_floor(
        "sync: diff engine (runs+plan+diff+finish+change chunks)",
        "rows/s",
        runs_,
        floor,
        ratios,
        target=">= 50% of the csv+sha256 floor",
        note=(
            f"{n:,} rows (today's file: 1 % of yesterday's {n:,} ids gone, as many new) against "
            f"yesterday's snapshot; {stages[-1].parts} run parts, {2**bits:,} partitions "
            f"({bits} bits), {stages[-1].groups_n} group(s); CPU ns per row: runs "
            f"{per_row['runs']:.0f}, plan {per_row['plan']:.0f}, diff {per_row['groups']:.0f}, "
            f"finish {per_row['finish']:.0f}, change chunks {per_row['chunks']:.0f}; floor = "
            "csv.reader + sha256 of every row of the same file, in alternation; S3 in memory"
        ),
    )
    return figure, stages


# ----------------------------------------------------------------------------- memory


def prepare_group(directory: Path, members: int, seed: int = SEED) -> dict[str, Any]:
    """Objects for diffing group 0 of a sync of an audience of ``members`` ids (1 % churn),
    written as files under ``directory``: the run parts (4, as if from several byte ranges) and
    the old segment hold only group 0's partitions, the rest of the old snapshot is named by the
    manifest and never read. Returns what the child needs."""
    rng = random.Random(seed)
    bits = records.choose_bits(members)
    per = members >> bits  # ids per partition
    weights = [2 * per] * (1 << bits)  # new + old, as plan_diff counts them
    first, count = planning.plan_groups(weights, planning.GROUP_RECORDS)[0]
    shift = records.PREFIX_BITS - bits
    new_parts: list[list[bytes]] = [[b""] * (1 << bits) for _ in range(4)]
    old_parts: list[bytes] = []
    churn = max(1, int(per * CHURN))
    for q in range(first, first + count):
        raw = os.urandom(32 * (per + churn))
        recs = []
        for i in range(per + churn):
            prefix = (q << shift) | rng.getrandbits(shift) if shift else q
            recs.append(prefix.to_bytes(2, "big") + raw[32 * i + 2 : 32 * i + 32] + b"\x01")
        old = sorted(recs[:per])
        today = recs[churn:]  # the first `churn` are gone, the last `churn` are new
        rng.shuffle(today)
        old_parts.append(b"".join(old))
        for p in range(4):
            new_parts[p][q] = b"".join(today[p::4])
    prefix_key = snapshot.snapshot_prefix("1234", "file", "file#bench rss")
    run_refs = []
    for p, parts in enumerate(new_parts):
        key = runs.run_key("today", p, 0)
        body = recordfile.encode(recordfile.KIND_RUN, bits, 0, parts)
        (directory / key).parent.mkdir(parents=True, exist_ok=True)
        (directory / key).write_bytes(body)
        run_refs.append(recordfile.read_ref(FileS3(directory), BUCKET, key)[0])
    seg_key = snapshot.segment_key(prefix_key, "yesterday", 0)
    (directory / seg_key).parent.mkdir(parents=True, exist_ok=True)
    (directory / seg_key).write_bytes(
        recordfile.encode(recordfile.KIND_SNAPSHOT, bits, first, old_parts)
    )
    seg0 = recordfile.read_ref(FileS3(directory), BUCKET, seg_key)[0]
    segments = [seg0]
    rest_first = first + count
    if rest_first < 1 << bits:  # the rest of the old snapshot: named, never read by group 0
        segments.append(
            recordfile.FileRef(
                snapshot.segment_key(prefix_key, "yesterday", rest_first << shift),
                recordfile.KIND_SNAPSHOT,
                bits,
                rest_first,
                (1 << bits) - rest_first,
                members - seg0.records,
            )
        )
    base = snapshot.Manifest(
        "yesterday", None, bits, tuple(segments), {"EMAIL_SHA256": sum(s.records for s in segments)}
    )
    plan = planning.DiffPlan("today", prefix_key, bits, tuple(run_refs), base, ((first, count),))
    (directory / "plan.json").write_text(json.dumps(plan.as_json()))
    return {"members": members, "bits": bits, "partitions": count, "group_records": seg0.records}


def rss_run(directory: Path) -> dict[str, Any]:
    """In this (fresh) interpreter: diff group 0 of the plan in ``directory``; peak RSS."""
    s3 = FileS3(directory)
    plan = planning.DiffPlan.from_json(json.loads((directory / "plan.json").read_text()))
    before = peak_rss_kb()
    started = time.process_time()
    result = diff.diff_group(s3, BUCKET, plan, 0)
    return {
        "cpu_s": round(time.process_time() - started, 3),
        "records": result.segment.records,
        "added": result.adds.records,
        "removed": result.removes.records,
        "rss_after_import_kb": before,
        "peak_rss_kb": peak_rss_kb(),
    }


def rss_in_subprocess(members: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-sync-rss-") as tmp:
        info = prepare_group(Path(tmp), members)
        out = subprocess.run(
            [sys.executable, "-m", "bench.bench_sync", "--rss", tmp],
            check=True,
            capture_output=True,
            text=True,
            env=os.environ.copy(),
        )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return {**info, **result}


def _memory(quick: bool) -> list[Figure]:
    sizes = [1_000_000, 8_000_000] if quick else [1_000_000, 10_000_000, 100_000_000]
    results = [rss_in_subprocess(m) for m in sizes]
    peaks = [r["peak_rss_kb"] / 1024 for r in results]
    LAST.update(diff_peak_mb=max(peaks))
    found = [
        Figure(
            name=f"sync: peak RSS of one diff group, {r['members']:,}-id audience",
            value=peak,
            unit="MB",
            target=f"< {DIFF_MEMORY_MB} MB (the diff function's memory)",
            met=peak < DIFF_MEMORY_MB,
            runs=[peak],
            note=(
                f"fresh interpreter, after imports {r['rss_after_import_kb'] / 1024:.0f} MB; "
                f"{2 ** r['bits']:,} partitions, the group holds {r['partitions']} of them: "
                f"{r['records']:,} ids, +{r['added']:,} -{r['removed']:,}; "
                f"{r['records'] / max(r['cpu_s'], 1e-9):,.0f} ids/CPU-s"
            ),
        )
        for r, peak in zip(results, peaks, strict=True)
    ]
    growth = peaks[-1] - peaks[-2]
    found.append(
        Figure(
            name="sync: diff peak RSS growth over the last size step",
            value=growth,
            unit="MB",
            target=f"flat: < 10% of the peak while ids x{sizes[-1] // sizes[-2]}",
            met=growth < 0.1 * peaks[-1],
            runs=[b - a for a, b in itertools.pairwise(peaks)],
            note=(
                f"groups hold <= GROUP_RECORDS={planning.GROUP_RECORDS:,} new + old ids and "
                f"partitions ~{records.PARTITION_RECORDS:,}: a bigger audience has more of both"
            ),
        )
    )
    return found


# ----------------------------------------------------------------------------- 100M rows


@dataclass
class Inputs:
    ingest_rows_per_cpu_s: float
    runs_ns: float  # RunWriter CPU per row
    groups_ns: float  # diff_group CPU per row of the new file (its old ids included)
    index_ns: float  # plan_diff CPU per index entry (run parts and old segments x partitions)
    chunk_ns: float  # change chunk CPU per changed row
    mapping_rows_per_s: float
    diff_peak_mb: float
    measured: str


@dataclass
class Delivery:
    """One audience API's part after the diff: change chunks, then TikTok."""

    chunks: int  # per action (adds, removes)
    chunk_rows: float
    pack_wall_s: float
    upload_s: float
    calls: int  # TikTok calls of the sync
    replace_calls: int  # TikTok calls of a full replace of the same file
    gb_s: float  # change chunks + upload


@dataclass
class SyncPlan:
    rows: int
    changed: int  # ids gone (and as many new)
    ranges: int
    parts: int
    groups: int
    ingest_wall_s: float
    range_s: float
    plan_s: float
    diff_wall_s: float
    group_s: float
    finish_s: float
    prepare_gb_s: float  # ingest + plan + diff + finish
    invocations: int  # before the change chunks
    file: Delivery
    partner: Delivery

    @property
    def diffed_s(self) -> float:
        """Ingest, plan, diff and finish: the changes are known."""
        return self.ingest_wall_s + self.plan_s + self.diff_wall_s + self.finish_s

    def wall_s(self, path: Delivery) -> float:
        return self.diffed_s + path.pack_wall_s + path.upload_s

    def cost(self, path: Delivery) -> float:
        return (self.prepare_gb_s + path.gb_s) * PRICE_PER_GB_S + (
            self.invocations + 4 * path.chunks
        ) * PRICE_PER_REQUEST


def _requests_time(n: int) -> float:
    return math.ceil(n / partition.READERS) * S3_LATENCY_S


def _pack(inputs: Inputs, changed: int, rows: int) -> tuple[int, float, float, float]:
    """Change chunks of one action: (count, rows each, wall s for both actions, GB-s)."""
    chunks = math.ceil(changed / rows)
    each = changed / chunks
    seconds = (
        each * (records.RECORD_BYTES + HASH_LINE_BYTES) / 1e6 / S3_MB_S
        + each * inputs.chunk_ns / 1e9 / _vcpu(DIFF_MEMORY_MB)
        + 4 * S3_LATENCY_S
    )
    # written one after the other by the invocation that finishes the diff (docs/sync.md)
    return chunks, each, 2 * chunks * seconds, 2 * chunks * seconds * DIFF_MEMORY_MB / 1024


def _file_delivery(inputs: Inputs, rows: int, changed: int) -> Delivery:
    """Customer file: upload every change file (any order, paced), then APPEND, then REMOVE."""
    columns = changes.ChangeColumns.for_columns(["EMAIL_SHA256"], "file")
    chunks, each, pack_wall, pack_gb = _pack(inputs, changed, changes.rows_per_chunk(columns))
    mb = each * HASH_LINE_BYTES / 1e6
    per_file = max(1 / UPLOAD_MAX_QPS, mb / S3_MB_S + mb / TIKTOK_MB_S)
    uploads, _ = _schedule([(0.0, per_file)] * (2 * chunks), UPLOAD_CONCURRENCY)
    updates = 2 * math.ceil(chunks / MAX_FILE_PATHS_PER_CALL)
    files = math.ceil(rows / changes.CHUNK_ROWS)
    return Delivery(
        chunks=chunks,
        chunk_rows=each,
        pack_wall_s=pack_wall,
        upload_s=uploads + updates / UPLOAD_MAX_QPS,
        calls=2 * chunks + updates,
        # every file uploaded, REPLACE with the first 50, APPEND with the rest
        replace_calls=files + math.ceil(files / MAX_FILE_PATHS_PER_CALL),
        gb_s=pack_gb + (2 * chunks * per_file + updates / UPLOAD_MAX_QPS) * UPLOAD_MEMORY_MB / 1024,
    )


def _partner_delivery(inputs: Inputs, rows: int, changed: int) -> Delivery:
    """Partner API: every add chunk mapped, then every delete chunk, at the measured rate."""
    columns = changes.ChangeColumns.for_columns(["EMAIL_SHA256"], "segment")
    per_chunk = changes.rows_per_chunk(columns, api="segment")
    chunks, each, pack_wall, pack_gb = _pack(inputs, changed, per_chunk)
    mapping = inputs.mapping_rows_per_s * _vcpu(UPLOAD_MEMORY_MB)
    per_map = each * HASH_LINE_BYTES / 1e6 / S3_MB_S + each / mapping
    adds_end, _ = _schedule([(0.0, per_map)] * chunks, UPLOAD_CONCURRENCY)
    removes_end, _ = _schedule([(adds_end, per_map)] * chunks, UPLOAD_CONCURRENCY)
    return Delivery(
        chunks=chunks,
        chunk_rows=each,
        pack_wall_s=pack_wall,
        upload_s=removes_end,
        calls=2 * chunks * math.ceil(each / SEGMENT_BATCH_SIZE),
        # a new audience and every row mapped into it (the name then moves to it)
        replace_calls=1 + math.ceil(rows / SEGMENT_BATCH_SIZE),
        gb_s=pack_gb + 2 * chunks * per_map * UPLOAD_MEMORY_MB / 1024,
    )


def simulate(inputs: Inputs, rows: int = 100_000_000, churn: float = CHURN) -> SyncPlan:
    """The deployed sync of a ``rows``-row file whose ids changed by ``churn`` (that share
    gone, as many new), with this run's measured per-row costs."""
    changed = int(rows * churn)
    size = rows * BYTES_PER_ROW
    range_bytes = max(INGEST_RANGE_BYTES, -(-size // MAX_RANGES))
    ranges = plan_ranges(size, range_bytes)
    ingest_vcpu, diff_vcpu = _vcpu(INGEST_MEMORY_MB), _vcpu(DIFF_MEMORY_MB)
    partitions = 1 << records.choose_bits(rows)

    # ingest: each byte range as today, writing run parts instead of chunk files
    jobs, parts = [], 0
    for start, end in ranges:
        range_rows = (end - start) // BYTES_PER_ROW
        run_bytes = range_rows * records.RECORD_BYTES
        parts += math.ceil(run_bytes / runs.RUN_SPILL_BYTES)
        cpu = range_rows / inputs.ingest_rows_per_cpu_s + range_rows * inputs.runs_ns / 1e9
        jobs.append((1.0, cpu / ingest_vcpu + run_bytes / 1e6 / S3_MB_S + 0.5))
    ingest_wall, _ = _schedule(jobs, RANGES_CONCURRENCY)

    # plan: the index of every run part and old segment, READERS GETs at a time
    groups = math.ceil(2 * rows / planning.GROUP_RECORDS)  # new + old ids per group
    entries = (parts + groups) * partitions
    plan_s = (
        _requests_time(parts + groups)
        + entries * 8 / 1e6 / S3_MB_S
        + entries * inputs.index_ns / 1e9 / diff_vcpu
        + 0.5
    )

    # groups: two ranged GETs per run part and old segment; new and old ids in, segment out
    ids = rows / groups
    group_s = (
        _requests_time(2 * (parts + 2))
        + 3 * ids * records.RECORD_BYTES / 1e6 / S3_MB_S
        + ids * inputs.groups_ns / 1e9 / diff_vcpu
    )
    diff_wall, _ = _schedule([(0.0, group_s)] * groups, DIFF_CONCURRENCY)
    finish_s = _requests_time(groups) + 0.5
    return SyncPlan(
        rows=rows,
        changed=changed,
        ranges=len(ranges),
        parts=parts,
        groups=groups,
        ingest_wall_s=ingest_wall,
        range_s=max(d for _, d in jobs),
        plan_s=plan_s,
        diff_wall_s=diff_wall,
        group_s=group_s,
        finish_s=finish_s,
        prepare_gb_s=sum(d for _, d in jobs) * INGEST_MEMORY_MB / 1024
        + (plan_s + groups * group_s + finish_s) * DIFF_MEMORY_MB / 1024,
        invocations=1 + len(ranges) + 1 + groups + 1,
        file=_file_delivery(inputs, rows, changed),
        partner=_partner_delivery(inputs, rows, changed),
    )


def _inputs() -> Inputs:
    from bench import bench_ingest, bench_upload

    ingest = dict(bench_ingest.LAST)
    if not ingest:  # run alone: measure one range now (as bench_fanout does)
        result = bench_ingest.rss_in_subprocess(2_400_000)
        ingest = {"rows_per_cpu_s": result["rows"] / result["cpu_s"]}
    if "mapping_rows_per_s" not in bench_upload.LAST:  # run alone: measure the mapping rate now
        bench_upload._mapping_rate_figure(quick=True)
    return Inputs(
        ingest_rows_per_cpu_s=ingest["rows_per_cpu_s"],
        runs_ns=LAST["runs_ns"],
        groups_ns=LAST["groups_ns"],
        index_ns=LAST["index_ns"],
        chunk_ns=LAST["chunk_ns"],
        mapping_rows_per_s=bench_upload.LAST["mapping_rows_per_s"],
        diff_peak_mb=LAST.get("diff_peak_mb", 0.0),
        measured="this run",
    )


def _simulation() -> list[Figure]:
    inputs = _inputs()
    plan = simulate(inputs)
    within = (
        plan.range_s < INGEST_TIMEOUT_S
        and plan.group_s < DIFF_TIMEOUT_S
        and inputs.diff_peak_mb < DIFF_MEMORY_MB
    )
    limits = (
        f"longest range {plan.range_s:.0f} s of {INGEST_TIMEOUT_S}, diff group {plan.group_s:.1f} s "
        f"of {DIFF_TIMEOUT_S} and {inputs.diff_peak_mb:.0f} MB of {DIFF_MEMORY_MB}"
    )
    stages = (
        f"ingest+runs {plan.ingest_wall_s:.0f} s ({plan.ranges} ranges, {plan.parts} run parts), "
        f"plan {plan.plan_s:.1f} s, diff {plan.diff_wall_s:.1f} s ({plan.groups} groups, "
        f"{DIFF_CONCURRENCY} at a time), finish {plan.finish_s:.1f} s"
    )
    basis = (
        f"inputs ({inputs.measured}): ingest {inputs.ingest_rows_per_cpu_s:,.0f} rows/CPU-s, "
        f"runs {inputs.runs_ns:.0f} ns/row, diff {inputs.groups_ns:.0f} ns/row, plan "
        f"{inputs.index_ns:.0f} ns/index entry, change chunks {inputs.chunk_ns:.0f} ns/changed "
        f"row, mapping {inputs.mapping_rows_per_s:,.0f} rows/s per process; S3 {S3_MB_S:.0f} "
        f"MB/s and {S3_LATENCY_S * 1000:.0f} ms per request (assumed)"
    )
    found = []
    for label, path, how in (
        (
            "customer file",
            plan.file,
            f"{UPLOAD_CONCURRENCY} workers at {UPLOAD_MAX_QPS:.0f} QPS each, then APPEND, then "
            "REMOVE; TikTok's processing of the APPEND, which REMOVE waits for (contract "
            "TM-01), is TikTok's time and not counted",
        ),
        ("partner API", plan.partner, f"add, then delete, {UPLOAD_CONCURRENCY} workers"),
    ):
        wall = plan.wall_s(path)
        found.append(
            Figure(
                name=f"sync 100M rows, 1% churn: wall time, {label} (simulated)",
                value=wall,
                unit="s",
                target=f"< {WALL_TARGET_S:.0f} s, every invocation inside Lambda limits",
                met=wall < WALL_TARGET_S and within,
                runs=[wall],
                note=(
                    f"{stages}; change chunks {path.pack_wall_s:.1f} s ({path.chunks} + "
                    f"{path.chunks} of {path.chunk_rows:,.0f} rows); upload {path.upload_s:.1f} s "
                    f"({how}); {limits}; {basis}"
                ),
            )
        )
    ratio = 2 * plan.changed / plan.rows
    found.append(
        Figure(
            name="sync 100M rows, 1% churn: TikTok traffic vs a full replace",
            value=100 * ratio,
            unit="% of rows",
            target=f"<= {TRAFFIC_TARGET:.0%} of a full replace",
            met=ratio <= TRAFFIC_TARGET + 1e-12,
            runs=[100 * ratio],
            note=(
                f"{2 * plan.changed:,} ids sent ({plan.changed:,} added + {plan.changed:,} "
                f"removed) vs {plan.rows:,}; calls: customer file {plan.file.calls} vs "
                f"{plan.file.replace_calls} ({plan.file.calls / plan.file.replace_calls:.1%}: the "
                f"APPEND and REMOVE update calls are fixed costs), partner "
                f"{plan.partner.calls:,} vs {plan.partner.replace_calls:,} "
                f"({plan.partner.calls / plan.partner.replace_calls:.1%})"
            ),
        )
    )
    file_cost, partner_cost = plan.cost(plan.file), plan.cost(plan.partner)
    found.append(
        Figure(
            name="sync 100M rows, 1% churn: Lambda cost, customer file",
            value=file_cost,
            unit="USD",
            target="(informational)",
            runs=[file_cost],
            note=(
                f"partner API ${partner_cost:.4f}; GB-s: ingest + diff {plan.prepare_gb_s:,.0f}, "
                f"change chunks + upload {plan.file.gb_s:,.0f} (file) / {plan.partner.gb_s:,.0f} "
                f"(partner); ${PRICE_PER_GB_S}/GB-s + $0.20/1M requests (x86, us-east-1)"
            ),
        )
    )
    return found


def figures(quick: bool) -> list[Figure]:
    throughput, _ = _throughput(quick)
    return [throughput, *_memory(quick), *_simulation()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_sync")
    parser.add_argument("--rss", required=True, help="directory prepared by prepare_group")
    args = parser.parse_args(argv)
    print(json.dumps(rss_run(Path(args.rss))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
