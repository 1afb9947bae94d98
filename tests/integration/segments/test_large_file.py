"""A file of millions of rows streams through ingest with flat, bounded memory (measured).

Each run is a fresh interpreter (``large_file_worker``) that ingests a generated file through
the real code path (sniff, plan, range processing, chunk files, rejects, messages) with fake S3
and SQS that hold nothing, and reports its peak RSS (``ru_maxrss``). Peak memory must not grow
with the file: 3M rows cost what 1M rows cost, within a small margin, and far below the
256 MB the design allows for a 5 GB file.

(The duplicate filter is capped at 1M hashes here so both runs sit at its cap; at the default
4M cap it is a fixed 64 MiB table more.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]


def ingest_in_subprocess(rows: int, range_bytes: int = 1 << 40, dedupe: int = 1_000_000) -> Any:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "layers/connector"), str(ROOT)]))
    out = subprocess.run(
        [
            sys.executable, "-m", "tests.integration.segments.large_file_worker",
            str(rows), str(range_bytes), str(dedupe),
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_millions_of_rows_stream_with_flat_memory() -> None:
    small = ingest_in_subprocess(1_000_000)
    large = ingest_in_subprocess(3_000_000)
    print("\n1M rows:", small, "\n3M rows:", large)
    for run in (small, large):
        assert run["read"] == run["rows"]
        assert run["accepted"] + run["rejected"] == run["read"]
        assert run["rejected"] == run["rows"] // 1000
        assert run["chunk_rows"] == run["accepted"]  # generated emails are all distinct
    # three times the rows, (almost) the same peak: memory is flat in file size
    assert large["max_rss_mb"] - small["max_rss_mb"] < 16
    assert large["max_rss_mb"] < 256


@pytest.mark.slow
def test_fan_out_over_many_ranges_counts_every_row_once() -> None:
    run = ingest_in_subprocess(400_000, range_bytes=1 << 20)  # ~10 MB file, 1 MiB ranges
    assert run["ranges"] >= 10
    assert run["read"] == 400_000
    assert run["lines"] == 400_001  # every physical line, header included, in exactly one range
    assert run["chunk_rows"] == run["accepted"] == 400_000 - 400
