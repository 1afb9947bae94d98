"""Smoke tests of `make bench`: the runner and the providers' building blocks work (no timing
is asserted anywhere; performance is measured by `make bench`, never by a test)."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import bench.__main__ as runner
from bench import Figure
from bench.bench_coldstart import HANDLERS, time_import
from bench.bench_identity import generate_emails, generate_phones
from bench.bench_ingest import (
    LocalObjects,
    _csv_sha256_floor,
    _write_csv,
    ingest_local,
    rss_run,
    synthetic_blocks,
    synthetic_size,
)
from bench.bench_upload import chunk_file
from tiktok_connector.identity import normalize_email


@pytest.fixture
def keep_affinity() -> Iterator[None]:
    """The runner pins its process to one CPU; give the test process its CPUs back."""
    saved = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    yield
    if saved is not None:
        os.sched_setaffinity(0, saved)


def test_runner_prints_every_figure_and_writes_results_json(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    keep_affinity: None,
) -> None:
    provider = types.ModuleType("fake_bench_provider")

    def figures(quick: bool) -> list[Figure]:
        assert quick
        return [
            Figure("alpha rate", 2.0, "rows/s", ">= 1", met=True, runs=[1.0, 2.0, 5.0]),
            Figure("beta size", 300.0, "MB", "< 256 MB", met=False, runs=[300.0], note="big"),
        ]

    provider.figures = figures  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_bench_provider", provider)
    monkeypatch.setattr(runner, "PROVIDERS", ["bench.bench_ingest", "fake_bench_provider"])
    out = tmp_path / "results.json"

    code = runner.main(["--quick", "--only", "fake_bench", "--out", str(out), "--strict"])

    assert code == 1  # --strict: a target not met
    printed = capsys.readouterr().out
    assert "alpha rate" in printed
    assert "beta size" in printed
    assert "beta size: big" in printed
    result = json.loads(out.read_text())
    assert result["quick"] is True
    assert [f["name"] for f in result["figures"]] == ["alpha rate", "beta size"]  # only --only
    alpha = result["figures"][0]
    assert (alpha["value"], alpha["min"], alpha["max"]) == (2.0, 1.0, 5.0)


def test_a_failing_provider_is_reported_and_the_others_still_print(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    keep_affinity: None,
) -> None:
    broken = types.ModuleType("broken_bench_provider")

    def figures(quick: bool) -> list[Figure]:
        raise RuntimeError("boom")

    broken.figures = figures  # type: ignore[attr-defined]
    good = types.ModuleType("good_bench_provider")
    good.figures = lambda quick: [Figure("gamma", 1.0, "x", "-", runs=[1.0])]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "broken_bench_provider", broken)
    monkeypatch.setitem(sys.modules, "good_bench_provider", good)
    monkeypatch.setattr(runner, "PROVIDERS", ["broken_bench_provider", "good_bench_provider"])
    out = tmp_path / "r.json"

    assert runner.main(["--quick", "--out", str(out)]) == 2
    assert "gamma" in capsys.readouterr().out
    assert json.loads(out.read_text())["failed_providers"] == ["broken_bench_provider"]


class RecordingObjects(LocalObjects):
    """LocalObjects that also keeps what was put (to check the chunk files)."""

    def __init__(self, objects: dict[str, Path]) -> None:
        super().__init__(dict(objects))
        self.bodies: list[bytes] = []
        self.keys: list[str] = []

    def put_object(
        self, *, Bucket: str, Key: str, Body: object, **kwargs: object
    ) -> dict[str, str]:
        data = Body if isinstance(Body, bytes) else Body.read()  # type: ignore[attr-defined]
        self.keys.append(Key)
        if Key.startswith("chunks/"):
            self.bodies.append(data)
        return {}


def test_ingest_local_runs_the_product_range_pipeline_on_a_generated_file(tmp_path: Path) -> None:
    emails = generate_emails(2_000, random.Random(1))
    path = _write_csv(tmp_path, "emails.csv", "email", [*emails, emails[0], "not an email"])
    key = "segments/1234/bench/create/emails.csv"
    s3 = RecordingObjects({key: path})

    stats = ingest_local(s3, key, path.stat().st_size)

    # audience e-mails drop "+tag" (contract ID-02): tagged variants of one address are one id
    distinct = len({normalize_email(e, audience=True) for e in emails})
    assert stats.read == 2_002
    assert stats.accepted == 2_001
    assert stats.rejected == 1
    assert stats.duplicates == 1 + 2_000 - distinct
    assert stats.chunks == 1
    rows = [row for body in s3.bodies for row in csv.reader(io.StringIO(body.decode()))]
    assert rows[0] == ["EMAIL_SHA256"]
    assert len(rows) == 1 + distinct
    assert all(len(r[0]) == 64 for r in rows[1:])
    assert not any("@" in r[0] for r in rows)  # hashes only
    assert any(k.startswith("rejects/") for k in s3.keys)
    assert _csv_sha256_floor(path)() == 2_002  # the floor reads the same rows


def test_ingest_local_handles_phones_and_byte_range_reads(tmp_path: Path) -> None:
    phones = generate_phones(1_000, random.Random(2))
    path = _write_csv(tmp_path, "phones.csv", "phone", phones)
    key = "segments/1234/bench/create/phones.csv"
    s3 = LocalObjects({key: path})

    stats = ingest_local(s3, key, path.stat().st_size)

    assert stats.read == 1_000
    assert stats.accepted + stats.rejected == 1_000
    assert stats.accepted > 900
    assert s3.put_bytes > 0
    head = s3.get_object(Bucket="b", Key=key, Range="bytes=0-5")["Body"].read()
    assert head == path.read_bytes()[:6]


def test_synthetic_object_streams_distinct_rows_and_ranges_slice_it() -> None:
    rows = 10_000
    data = b"".join(synthetic_blocks(rows))
    assert len(data) == synthetic_size(rows)
    lines = data.decode().splitlines()
    assert lines[0] == "email"
    assert len({line.strip().lower() for line in lines[1:]}) == rows
    s3 = LocalObjects({"k": lambda: synthetic_blocks(rows)})
    assert s3.get_object(Bucket="b", Key="k", Range="bytes=100-199")["Body"].read() == data[100:200]
    assert s3.get_object(Bucket="b", Key="k", Range="bytes=5000-")["Body"].read() == data[5000:]


def test_rss_run_reports_peak_memory_of_an_ingest() -> None:
    result = rss_run(5_000)
    assert result["read"] == 5_000
    assert result["peak_rss_kb"] >= result["rss_after_import_kb"] > 0


def test_chunk_file_for_upload_is_a_header_and_distinct_hashes() -> None:
    lines = chunk_file(100, "s").decode().splitlines()
    assert lines[0] == "EMAIL_SHA256"
    assert len(set(lines[1:])) == 100


def test_cold_start_timer_imports_in_a_fresh_interpreter() -> None:
    assert "event_forwarder_function.app" in HANDLERS
    wall_ms, cpu_ms = time_import("json")
    assert wall_ms > 0
    assert cpu_ms >= 0


def test_fanout_simulation_plans_100m_rows_within_lambda_limits() -> None:
    from bench.bench_fanout import INGEST_TIMEOUT_S, Inputs, simulate

    plan = simulate(Inputs(400_000, 110, 80_000, "test"))

    assert plan.ranges > 1  # fanned out
    assert plan.range_s < INGEST_TIMEOUT_S
    assert plan.ingest_wall_s < plan.single_range_s
    assert plan.chunks >= 200  # 100M rows / CHUNK_ROWS
    assert plan.upload_wall_s > plan.ingest_wall_s  # uploads follow the ranges that feed them
    slower = simulate(Inputs(200_000, 110, 80_000, "test"))
    assert slower.range_s > plan.range_s


def test_markdown_table_has_one_row_per_figure() -> None:
    from bench.markdown import table

    result = {
        "figures": [
            Figure("a", 1.5, "x", ">= 1", met=True, runs=[1.0, 2.0]).as_json(),
            Figure("b", 1234.0, "y", "(informational)", runs=[]).as_json(),
        ]
    }
    lines = table(result).splitlines()
    assert len(lines) == 4
    assert lines[2].startswith("| a | 1.5 | x | 1..2 (2) |")
    assert lines[3].startswith("| b | 1,234 | y | - |")
