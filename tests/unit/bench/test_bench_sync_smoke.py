"""Smoke tests of the sync benchmark (no timing asserted): the engine it times finds the churn,
the memory run diffs one group, the 100M-row simulation scales with the change, not the list."""

from __future__ import annotations

import json
import random
from pathlib import Path

from bench import bench_sync
from bench.bench_sync import Inputs, MemoryS3, prepare_group, rss_run, simulate, sync_once
from tiktok_connector.sync import planning, records

INPUTS = Inputs(
    ingest_rows_per_cpu_s=500_000,
    runs_ns=300,
    groups_ns=500,
    index_ns=150,
    chunk_ns=500,
    mapping_rows_per_s=78_000,
    diff_peak_mb=150,
    measured="test",
)


def test_the_timed_sync_finds_yesterdays_churn() -> None:
    yesterday, today, emails = bench_sync._day_two(5_000, random.Random(1))
    assert len(today) == len(emails) == 5_000
    s3 = MemoryS3()
    bits = records.choose_bits(5_000, 200)
    first = sync_once(s3, "y", yesterday, base=None, bits=bits, range_rows=1_500)
    second = sync_once(s3, "t", today, base="y", bits=bits, range_rows=1_500, group_records=4_000)

    assert (first.added, first.removed) == (5_000, 0)
    assert (second.added, second.removed) == (50, 50)  # 1 % gone, as many new
    assert second.parts == 4  # one run part per byte range
    assert second.groups_n > 1
    assert second.total > 0
    rows = [k for k in s3.objects if k.startswith("chunks/t/sync-")]
    assert sorted(rows) == ["chunks/t/sync-add-00000.csv", "chunks/t/sync-remove-00000.csv"]


def test_the_memory_run_diffs_one_group_of_a_prepared_audience(tmp_path: Path) -> None:
    info = prepare_group(tmp_path, 40_000)
    result = rss_run(tmp_path)

    assert info["bits"] == records.choose_bits(40_000)
    assert result["records"] == info["group_records"]  # churn keeps the size
    assert result["added"] == result["removed"] > 0
    assert result["peak_rss_kb"] >= result["rss_after_import_kb"] > 0
    plan = planning.DiffPlan.from_json(json.loads((tmp_path / "plan.json").read_text()))
    assert plan.groups == ((0, info["partitions"]),)


def test_the_100m_simulation_fans_out_and_traffic_follows_the_change() -> None:
    plan = simulate(INPUTS)

    assert plan.ranges > 1
    assert plan.groups == 100  # 2 x 100M ids (new + old) / GROUP_RECORDS
    assert plan.group_s < bench_sync.DIFF_TIMEOUT_S
    assert plan.diff_wall_s < plan.groups * plan.group_s  # in parallel
    assert plan.wall_s(plan.file) > plan.diffed_s
    assert plan.file.calls < plan.file.replace_calls
    assert plan.partner.calls == 2 * plan.changed // 1_000
    double = simulate(INPUTS, churn=0.02)
    assert double.partner.calls == 2 * plan.partner.calls  # proportional to the change
    bigger = simulate(INPUTS, rows=200_000_000)
    assert bigger.partner.calls == 2 * plan.partner.calls
    assert bigger.partner.replace_calls > 1.9 * plan.partner.replace_calls
    slower = simulate(Inputs(**{**INPUTS.__dict__, "groups_ns": 5_000}))
    assert slower.group_s > plan.group_s
