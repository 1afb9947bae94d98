"""The 100M-row file, simulated with measured inputs (DESIGN §6 "largest file").

Not a measurement of its own: a discrete simulation of the deployed pipeline for a file of
``ROWS`` email rows, fed with what the other providers measured in this run (ingest rows per
CPU-second and peak RSS of one range, partner mapping rows/s of one process) and with the
deployment's own numbers (``template.yaml``: memory, timeouts, concurrency; the layer: range
planning, ``CHUNK_ROWS``, ``UPLOAD_MAX_QPS``). What cannot be measured here (S3 and TikTok
bandwidth, Lambda's CPU speed) is an explicit assumption below. docs/performance.md explains it.

1. Ingest: the S3-triggered invocation plans byte ranges (``segments.ingest`` range planning:
   ``INGEST_RANGE_BYTES``, at most ``MAX_RANGES``); the ranges queue runs them ``RANGES_CONCURRENCY``
   at a time. A range takes its rows / (rate × vCPU share of the function's memory) plus writing
   its chunks to S3. A gzip file cannot be split: it is one range (the worst case).
2. Upload (customer file): each chunk is read from S3 and uploaded to TikTok, ``UPLOAD_CONCURRENCY``
   workers, each paced at ``UPLOAD_MAX_QPS``; the finalize call adds ``file_paths`` in groups of 50.
3. Upload (partner API): each chunk's rows are mapped in 1,000-row requests at the measured rate of
   one process.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any

from bench import Figure
from tiktok_connector.segments.planning import MAX_RANGES
from tiktok_connector.segments.reader import plan_ranges

ROWS = 100_000_000
BYTES_PER_ROW = 28  # mean line of the generated emails (bench_identity shapes), newline included
HASH_LINE_BYTES = 65  # a chunk line: 64 hex + "\n"

# deployment (template.yaml, layer settings defaults)
INGEST_RANGE_BYTES = 256 * 1024 * 1024
CHUNK_ROWS = 500_000
INGEST_MEMORY_MB, INGEST_TIMEOUT_S, RANGES_CONCURRENCY = 1024, 900, 20
UPLOAD_MEMORY_MB, UPLOAD_TIMEOUT_S, UPLOAD_CONCURRENCY = 512, 120, 5
UPLOAD_MAX_QPS = 2.0
FILE_PATHS_PER_CALL = 50

# prices: AWS Lambda x86_64, us-east-1, first pricing tier (published list prices)
PRICE_PER_GB_S = 0.0000166667
PRICE_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_MB_PER_VCPU = 1769  # Lambda gives one full vCPU at 1,769 MB, proportionally less below

# assumptions (not measurable here): same per-core speed as this machine; in-region bandwidth
S3_MB_S = 80.0  # one Lambda's S3 GET/PUT throughput
TIKTOK_MB_S = 20.0  # one Lambda's upload throughput to TikTok's file endpoint


@dataclass
class Inputs:
    ingest_rows_per_cpu_s: float
    ingest_peak_mb: float
    mapping_rows_per_s: float
    measured: str  # where the numbers came from


@dataclass
class Plan:
    ranges: int
    range_rows: int
    range_s: float
    ingest_wall_s: float
    chunks: int
    upload_wall_s: float
    partner_wall_s: float
    partner_chunk_s: float
    single_range_s: float
    ingest_gb_s: float
    upload_gb_s: float
    partner_gb_s: float
    requests: int

    def cost(self, gb_s: float, requests: int) -> float:
        return gb_s * PRICE_PER_GB_S + requests * PRICE_PER_REQUEST


def _vcpu(memory_mb: int) -> float:
    return min(1.0, memory_mb / LAMBDA_MB_PER_VCPU)


def _schedule(jobs: list[tuple[float, float]], workers: int) -> tuple[float, list[float]]:
    """FIFO list scheduling of ``(ready_at, duration)`` jobs on ``workers``; (makespan, ends)."""
    free = [0.0] * workers
    heapq.heapify(free)
    ends = []
    for ready, duration in sorted(jobs):
        start = max(heapq.heappop(free), ready)
        heapq.heappush(free, start + duration)
        ends.append(start + duration)
    return max(ends, default=0.0), ends


def simulate(inputs: Inputs, rows: int = ROWS) -> Plan:
    size = rows * BYTES_PER_ROW
    range_bytes = max(INGEST_RANGE_BYTES, -(-size // MAX_RANGES))  # as segments.planning plans
    ranges = plan_ranges(size, range_bytes)
    cpu = inputs.ingest_rows_per_cpu_s * _vcpu(INGEST_MEMORY_MB)

    range_jobs = []
    chunk_ready: list[float] = []
    for start, end in ranges:
        range_rows = (end - start) // BYTES_PER_ROW
        chunk_mb = range_rows * HASH_LINE_BYTES / 1e6
        duration = range_rows / cpu + chunk_mb / S3_MB_S + 0.5  # + job/queue bookkeeping
        range_jobs.append((1.0, duration))  # the planning invocation: ~1 s
    ingest_wall, ends = _schedule(range_jobs, RANGES_CONCURRENCY)
    range_rows = rows // len(ranges)
    chunks_per_range = math.ceil(range_rows / CHUNK_ROWS)
    for end_at in ends:
        chunk_ready += [end_at] * chunks_per_range
    chunk_mb = CHUNK_ROWS * HASH_LINE_BYTES / 1e6

    # customer file: per chunk, S3 read + upload, never faster than the worker's pace
    per_chunk = max(1 / UPLOAD_MAX_QPS, chunk_mb / S3_MB_S + chunk_mb / TIKTOK_MB_S)
    upload_end, _ = _schedule([(t, per_chunk) for t in chunk_ready], UPLOAD_CONCURRENCY)
    finalize = math.ceil(len(chunk_ready) / FILE_PATHS_PER_CALL) / UPLOAD_MAX_QPS
    upload_wall = upload_end + finalize

    # partner API: per chunk, S3 read + mapping at the measured rate of one process
    mapping = inputs.mapping_rows_per_s * _vcpu(UPLOAD_MEMORY_MB)  # CPU-bound on our side
    per_chunk_partner = chunk_mb / S3_MB_S + CHUNK_ROWS / mapping
    partner_end, _ = _schedule([(t, per_chunk_partner) for t in chunk_ready], UPLOAD_CONCURRENCY)

    ingest_gb_s = sum(d for _, d in range_jobs) * INGEST_MEMORY_MB / 1024
    upload_gb_s = len(chunk_ready) * per_chunk * UPLOAD_MEMORY_MB / 1024
    partner_gb_s = len(chunk_ready) * per_chunk_partner * UPLOAD_MEMORY_MB / 1024
    return Plan(
        ranges=len(ranges),
        range_rows=range_rows,
        range_s=max(d for _, d in range_jobs),
        ingest_wall_s=ingest_wall,
        chunks=len(chunk_ready),
        upload_wall_s=upload_wall,
        partner_wall_s=partner_end,
        partner_chunk_s=per_chunk_partner,
        single_range_s=rows / cpu + rows * HASH_LINE_BYTES / 1e6 / S3_MB_S,
        ingest_gb_s=ingest_gb_s,
        upload_gb_s=upload_gb_s,
        partner_gb_s=partner_gb_s,
        requests=1 + len(ranges) + len(chunk_ready),
    )


def _inputs(quick: bool) -> Inputs:
    from bench import bench_ingest, bench_upload

    ingest = bench_ingest.LAST
    upload = bench_upload.LAST
    if not ingest:  # run alone (--only fanout): measure a small range now
        result = bench_ingest.rss_in_subprocess(2_400_000)  # past the dedupe cap: peak memory
        ingest = {"rows_per_cpu_s": result["rows"] / result["cpu_s"]}
        ingest["peak_mb"] = result["peak_rss_kb"] / 1024
    return Inputs(
        ingest_rows_per_cpu_s=ingest["rows_per_cpu_s"],
        ingest_peak_mb=ingest["peak_mb"],
        mapping_rows_per_s=upload.get("mapping_rows_per_s", 20_000.0),
        measured="this run" if upload else "this run (ingest); mapping rate assumed 20,000 rows/s",
    )


def figures(quick: bool) -> list[Figure]:
    inputs = _inputs(quick)
    plan = simulate(inputs)
    ingest_cost = plan.cost(plan.ingest_gb_s, 1 + plan.ranges)
    upload_cost = plan.cost(plan.upload_gb_s, plan.chunks)
    partner_cost = plan.cost(plan.partner_gb_s, plan.chunks)
    fits = plan.range_s < INGEST_TIMEOUT_S and inputs.ingest_peak_mb < INGEST_MEMORY_MB
    basis = (
        f"inputs ({inputs.measured}): {inputs.ingest_rows_per_cpu_s:,.0f} ingest rows/CPU-s, "
        f"peak {inputs.ingest_peak_mb:.0f} MB, {inputs.mapping_rows_per_s:,.0f} mapping rows/s; "
        f"{_vcpu(INGEST_MEMORY_MB):.2f} vCPU at {INGEST_MEMORY_MB} MB"
    )
    return [
        Figure(
            name="100M rows: ingest wall time by fan-out (simulated)",
            value=plan.ingest_wall_s,
            unit="s",
            target=f"every range inside Lambda limits ({INGEST_TIMEOUT_S} s, {INGEST_MEMORY_MB} MB)",
            met=fits,
            runs=[plan.ingest_wall_s],
            note=(
                f"{plan.ranges} ranges of ~{plan.range_rows:,} rows, longest {plan.range_s:.0f} s, "
                f"{plan.chunks} chunks; unsplittable (gzip) file as one range: "
                f"{plan.single_range_s:.0f} s; {basis}"
            ),
        ),
        Figure(
            name="100M rows: customer-file upload done after (simulated)",
            value=plan.upload_wall_s,
            unit="s",
            target="(informational)",
            runs=[plan.upload_wall_s],
            note=(
                f"{UPLOAD_CONCURRENCY} workers at {UPLOAD_MAX_QPS:.0f} QPS each, S3 "
                f"{S3_MB_S:.0f} MB/s and TikTok {TIKTOK_MB_S:.0f} MB/s per worker (assumed)"
            ),
        ),
        Figure(
            name="100M rows: partner-API upload done after (simulated)",
            value=plan.partner_wall_s,
            unit="s",
            target="(informational)",
            runs=[plan.partner_wall_s],
            note=(
                f"{UPLOAD_CONCURRENCY} workers at the measured mapping rate of one core scaled to "
                f"{_vcpu(UPLOAD_MEMORY_MB):.2f} vCPU ({UPLOAD_MEMORY_MB} MB): "
                f"{plan.partner_chunk_s:.0f} s per {CHUNK_ROWS:,}-row chunk, so one invocation "
                f"fits {int(UPLOAD_TIMEOUT_S // plan.partner_chunk_s)} chunk(s) in its "
                f"{UPLOAD_TIMEOUT_S} s"
            ),
        ),
        Figure(
            name="100M rows: Lambda cost, ingest + customer-file upload",
            value=ingest_cost + upload_cost,
            unit="USD",
            target="(informational)",
            runs=[ingest_cost + upload_cost],
            note=(
                f"ingest {plan.ingest_gb_s:,.0f} GB-s (${ingest_cost:.4f}), upload "
                f"{plan.upload_gb_s:,.0f} GB-s (${upload_cost:.4f}); partner path instead: "
                f"{plan.partner_gb_s:,.0f} GB-s (${partner_cost:.4f}); "
                f"${PRICE_PER_GB_S}/GB-s + $0.20/1M requests (x86, us-east-1)"
            ),
        ),
    ]


def as_dict(plan: Plan) -> dict[str, Any]:
    return dict(plan.__dict__)
