"""Ingest figures: a byte range of a segment file → chunk files, per CPU-second of one core.

The subject is the product's range pipeline exactly as ``segments.ranges.process_range`` wires
it (``planning.plan_file`` sniffing, ``open_range`` streaming, ``RangeProcessor``, ``HashFilter``,
``ChunkWriter``, ``RejectWriter``) over a local stand-in for S3 (:class:`LocalObjects`): reads
stream the file in the reader's blocks, writes consume the chunk body and keep only its size.
Network and DynamoDB are left out on purpose: they are I/O of other machines, not this core's
work (the 100M-row plan in docs/performance.md adds them back).

* emails: rows/s next to the floor — ``csv.reader`` + ``hashlib.sha256`` alone over the same
  file, measured in alternation in the same run (issue 13: ≥ 60 %; DESIGN §6: ≥ 50 %);
* mixed phones (half messy, region US): rows/s (DESIGN §6: ≥ 100,000);
* memory: peak RSS of a fresh interpreter ingesting one range of growing size
  (``python -m bench.bench_ingest --rss ROWS``), streamed from a generator so no file is
  needed; DESIGN §6: flat in file size, < 256 MB.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import Figure, interleaved_rates, median, rates
from bench.bench_identity import SEED, generate_emails, generate_phones
from tiktok_connector.segments.chunks import ChunkWriter, HashFilter
from tiktok_connector.segments.encoding import TextEncoding
from tiktok_connector.segments.options import parse_options
from tiktok_connector.segments.planning import plan_file
from tiktok_connector.segments.processing import RangeProcessor
from tiktok_connector.segments.ranges import expected_rows
from tiktok_connector.segments.reader import open_range
from tiktok_connector.segments.rejects import RejectWriter
from tiktok_connector.segments.settings import MAX_CHUNK_BYTES
from tiktok_connector.segments.stats import RangeStats

BUCKET = "bench"
CHUNK_ROWS = 500_000  # IngestSettings defaults
DEDUPE_MAX_HASHES = 4_000_000
RSS_TARGET_MB = 256.0

# what the last figures() call measured, for the 100M-row simulation (bench_fanout)
LAST: dict[str, float] = {}


class _Body:
    """What ``get_object(...)["Body"]`` gives: ``iter_chunks``, ``read``, ``close``."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks

    def iter_chunks(self, chunk_size: int) -> Iterator[bytes]:
        return self._blocks

    def read(self) -> bytes:
        return b"".join(self._blocks)

    def close(self) -> None:
        close = getattr(self._blocks, "close", None)
        if close is not None:
            close()


def _file_blocks(path: Path, first: int, last: int | None, size: int) -> Iterator[bytes]:
    with path.open("rb") as f:
        f.seek(first)
        left = (last + 1 - first) if last is not None else None
        while left is None or left > 0:
            block = f.read(size if left is None else min(size, left))
            if not block:
                return
            if left is not None:
                left -= len(block)
            yield block


class LocalObjects:
    """The S3 calls ingest makes, over local files (reads) and a byte counter (writes).

    ``objects`` maps a key to a path, or to a callable returning the object's blocks (a
    generated object that never exists on disk).
    """

    def __init__(self, objects: dict[str, Path | Callable[[], Iterator[bytes]]]) -> None:
        self.objects = objects
        self.put_bytes = 0
        self.puts = 0

    def get_object(self, *, Bucket: str, Key: str, **kwargs: Any) -> dict[str, Any]:
        source = self.objects[Key]
        first, last = 0, None
        if "Range" in kwargs:
            lo, _, hi = kwargs["Range"].removeprefix("bytes=").partition("-")
            first, last = int(lo), (int(hi) if hi else None)
        if isinstance(source, Path):
            return {"Body": _Body(_file_blocks(source, first, last, 64 * 1024))}
        return {"Body": _Body(_slice(source(), first, last))}

    def put_object(self, *, Bucket: str, Key: str, Body: Any, **kwargs: Any) -> dict[str, Any]:
        data = Body if isinstance(Body, bytes) else None
        if data is None:
            while block := Body.read(1 << 20):
                self.put_bytes += len(block)
        else:
            self.put_bytes += len(data)
        self.puts += 1
        return {}


def _slice(blocks: Iterator[bytes], first: int, last: int | None) -> Iterator[bytes]:
    pos = 0
    for block in blocks:
        end = pos + len(block)
        if end > first:
            lo = max(first - pos, 0)
            hi = len(block) if last is None else min(len(block), last + 1 - pos)
            if hi > lo:
                yield block[lo:hi]
        pos = end
        if last is not None and pos > last:
            return


def ingest_local(
    s3: LocalObjects, key: str, size: int, *, metadata: dict[str, str] | None = None
) -> RangeStats:
    """Ingest ``key`` as one byte range (as the S3-triggered invocation does for a file up to
    ``INGEST_RANGE_BYTES``, and a ranges-queue invocation for each range of a larger one)."""
    options = parse_options(metadata or {}, default_phone_region="US")
    plan = plan_file(
        s3, BUCKET, key, None, filename=key.rsplit("/", 1)[-1], size=size, options=options,
        range_bytes=size + 1,
    ).plan  # fmt: skip
    writer = ChunkWriter(
        s3=s3,
        bucket=BUCKET,
        job_id="bench",
        range_index=0,
        columns=plan.columns,
        max_rows=CHUNK_ROWS,
        max_bytes=MAX_CHUNK_BYTES,
    )
    rejects = RejectWriter()
    processor = RangeProcessor(
        plan,
        api="file",
        phone_region="US",
        sink=writer.write,
        rejects=rejects,
        dedupe=HashFilter(DEDUPE_MAX_HASHES, expected=expected_rows(plan, 0, size)),
    )
    text = open_range(
        s3, BUCKET, key, None, start=0, end=size, compressed=plan.compressed,
        encoding=TextEncoding.from_dict(plan.encoding),
    )  # fmt: skip
    try:
        stats = processor.run(text, skip_header=plan.header)
    finally:
        text.close()
    stats.chunks = len(writer.close())
    try:
        rejects.upload(s3=s3, bucket=BUCKET, key=f"rejects/{key}", header=True)
    finally:
        rejects.close()
    return stats


def _write_csv(directory: Path, name: str, header: str, values: list[str]) -> Path:
    path = directory / name
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(header + "\n")
        for value in values:
            f.write(value.replace('"', '""') + "\n" if '"' in value else value + "\n")
    return path


def _ingest_work(s3: LocalObjects, key: str, size: int, expect: int) -> Callable[[], int]:
    def run() -> int:
        stats = ingest_local(s3, key, size)
        if stats.read != expect:
            raise RuntimeError(f"ingest read {stats.read} rows, expected {expect}")
        return stats.read

    return run


def _csv_sha256_floor(path: Path) -> Callable[[], int]:
    sha256 = hashlib.sha256

    def run() -> int:
        n = 0
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            next(reader)
            for row in reader:
                sha256(row[0].encode()).hexdigest()
                n += 1
        return n

    return run


# ----------------------------------------------------------------------------- memory


def synthetic_blocks(rows: int, block_rows: int = 4096) -> Iterator[bytes]:
    """A header and ``rows`` distinct email lines, generated block by block (never stored)."""
    yield b"email\n"
    domains = ("gmail.com", "yahoo.com", "example.co.uk", "company.io")
    for start in range(0, rows, block_rows):
        stop = min(rows, start + block_rows)
        yield "".join(
            f"first.last{i}@{domains[i & 3]}\n" if i % 5 else f" First.Last{i}@{domains[i & 3]} \n"
            for i in range(start, stop)
        ).encode()


def synthetic_size(rows: int) -> int:
    return sum(len(b) for b in synthetic_blocks(rows))


def peak_rss_kb() -> int:
    """This process's peak resident set size in KiB.

    ``VmHWM`` of ``/proc/self/status`` (Linux): the high-water mark of this program's own memory.
    ``getrusage``'s ``ru_maxrss`` is no good here: Linux carries it over ``fork`` + ``exec``, so
    a child would report its parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # elsewhere: best effort


def rss_run(rows: int) -> dict[str, Any]:
    """One memory measurement in this (fresh) interpreter: ingest ``rows`` generated rows."""
    size = synthetic_size(rows)
    s3 = LocalObjects({"segments/1/a/create/big.csv": lambda: synthetic_blocks(rows)})
    before = peak_rss_kb()
    started = time.process_time()
    stats = ingest_local(s3, "segments/1/a/create/big.csv", size)
    return {
        "rows": rows,
        "bytes": size,
        "read": stats.read,
        "chunks": stats.chunks,
        "cpu_s": round(time.process_time() - started, 3),
        "rss_after_import_kb": before,
        "peak_rss_kb": peak_rss_kb(),
    }


def rss_in_subprocess(rows: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_ingest", "--rss", str(rows)],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# ----------------------------------------------------------------------------- figures


def figures(quick: bool) -> list[Figure]:
    n, repeat = (100_000, 3) if quick else (1_000_000, 5)
    found: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        directory = Path(tmp)
        rng = random.Random(SEED)

        emails_path = _write_csv(directory, "emails.csv", "email", generate_emails(n, rng))
        key = "segments/1234/bench emails/create/emails.csv"
        s3 = LocalObjects({key: emails_path})
        size = emails_path.stat().st_size
        runs, floor, ratios = interleaved_rates(
            _ingest_work(s3, key, size, n), _csv_sha256_floor(emails_path), repeat=repeat
        )
        found.append(
            Figure.against_floor(
                "ingest: emails (read+parse+normalize+hash+dedupe+chunks)",
                "rows/s",
                runs,
                floor,
                ratios,
                target=">= 60% of the csv+sha256 floor",
                share=0.6,  # issue 13 (DESIGN §6 asks 50 %)
                note=(
                    f"{n:,} distinct emails ({size / 1e6:.1f} MB, one byte range); floor = "
                    "csv.reader + sha256(cell.encode()).hexdigest() over the same file, measured "
                    "in alternation; CPU time of this process; S3 replaced by local reads and "
                    "a byte-counting put"
                ),
            )
        )

        phones_path = _write_csv(directory, "phones.csv", "phone", generate_phones(n, rng))
        key = "segments/1234/bench phones/create/phones.csv"
        s3 = LocalObjects({key: phones_path})
        size = phones_path.stat().st_size
        stats = ingest_local(s3, key, size)
        runs = rates(_ingest_work(s3, key, size, n), repeat=repeat)
        found.append(
            Figure(
                name="ingest: mixed phones, half messy",
                value=median(runs),
                unit="rows/s",
                target=">= 100,000 rows/s on one core",
                met=median(runs) >= 100_000,
                runs=runs,
                note=(
                    f"{n:,} distinct numbers (half E.164, half national/international/"
                    f"extensions/invalid; region US); {stats.accepted:,} accepted, "
                    f"{stats.rejected:,} rejected"
                ),
            )
        )

    # the duplicate filter reaches its cap (64 MiB) at ranges of ~64 MB: sizes past it must be flat
    sizes = [2_400_000, 4_800_000] if quick else [1_600_000, 6_400_000, 25_600_000]
    results = [rss_in_subprocess(rows) for rows in sizes]
    peaks = [r["peak_rss_kb"] / 1024 for r in results]
    for r, peak in zip(results, peaks, strict=True):
        found.append(
            Figure(
                name=f"ingest peak RSS, {r['bytes'] / 1e6:,.0f} MB range ({r['rows']:,} rows)",
                value=peak,
                unit="MB",
                target=f"< {RSS_TARGET_MB:.0f} MB",
                met=peak < RSS_TARGET_MB,
                runs=[peak],
                note=(
                    f"fresh interpreter, after imports {r['rss_after_import_kb'] / 1024:.0f} MB; "
                    f"{r['chunks']} chunk(s); {r['rows'] / max(r['cpu_s'], 1e-9):,.0f} rows/CPU-s"
                ),
            )
        )
    growth = peaks[-1] - peaks[-2]
    LAST.update(
        rows_per_cpu_s=results[-1]["rows"] / max(results[-1]["cpu_s"], 1e-9), peak_mb=max(peaks)
    )
    found.append(
        Figure(
            name="ingest peak RSS growth over the last size step",
            value=growth,
            unit="MB",
            target=f"flat: < 10% of the peak while rows x{sizes[-1] // sizes[-2]}",
            met=growth < 0.1 * peaks[-1] and max(peaks) < RSS_TARGET_MB,
            runs=[b - a for a, b in itertools.pairwise(peaks)],
            note=(
                "the duplicate filter is sized for the range up front and capped at "
                f"DEDUPE_MAX_HASHES={DEDUPE_MAX_HASHES:,} (64 MiB); everything else streams"
            ),
        )
    )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_ingest")
    parser.add_argument("--rss", type=int, required=True, help="rows to ingest, print JSON")
    args = parser.parse_args(argv)
    print(json.dumps(rss_run(args.rss)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
