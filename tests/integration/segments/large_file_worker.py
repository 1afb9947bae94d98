"""Stream a generated segment file of N rows through ingest and print peak RSS (run as a process).

The file never exists: a fake S3 generates its bytes for any requested range and discards what
ingest writes, so the measured memory is ingest's own (moto would hold every byte in memory).
Usage: ``python -m tests.integration.segments.large_file_worker ROWS [RANGE_BYTES]``.
"""

from __future__ import annotations

import hashlib
import io
import json
import resource
import sys
import time
from collections.abc import Iterator
from typing import Any

from tiktok_connector.contract.job import RUNNING, JobError, JobItem, JobSource
from tiktok_connector.contract.messages import RangeMessage
from tiktok_connector.segments.ingest import SegmentIngest
from tiktok_connector.segments.settings import IngestSettings
from tiktok_connector.segments.stats import RangeStats

HEADER = b"email\n"
WIDTH = 26  # every generated line is exactly 26 bytes


def line(i: int) -> bytes:
    if i % 1000 == 999:
        return b"notanemail%09dxxxxxx\n" % i  # rejected: invalid_email
    return b"user%09d@example.com\n" % i


class GeneratedBody:
    def __init__(self, rows: int, first: int) -> None:
        self.rows = rows
        self.first = first

    def _bytes(self) -> Iterator[bytes]:
        pos = self.first
        if pos < len(HEADER):
            yield HEADER[pos:]
            pos = len(HEADER)
        i, skip = divmod(pos - len(HEADER), WIDTH)
        if skip:
            yield line(i)[skip:]
            i += 1
        while i < self.rows:
            n = min(2500, self.rows - i)
            yield b"".join(line(k) for k in range(i, i + n))
            i += n

    def iter_chunks(self, chunk_size: int) -> Iterator[bytes]:
        return self._bytes()

    def read(self, n: int = -1) -> bytes:
        out = b""
        for block in self._bytes():
            out += block
            if len(out) >= n:
                break
        return out[:n]

    def close(self) -> None:
        pass


class FakeS3:
    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.size = len(HEADER) + rows * WIDTH
        self.put_bytes = 0
        self.puts = 0
        self.kept: dict[str, bytes] = {}

    def head_object(self, **_: Any) -> dict[str, Any]:
        return {"ContentLength": self.size, "VersionId": "v1", "Metadata": {}}

    def get_object(self, *, Key: str, Range: str = "bytes=0-", **_: Any) -> dict[str, Any]:
        if Key in self.kept:
            return {"Body": _Stored(self.kept[Key])}
        first, _, last = Range.removeprefix("bytes=").partition("-")
        body = GeneratedBody(self.rows, int(first))
        if last:
            return {"Body": _Bounded(body, int(last) - int(first) + 1)}
        return {"Body": body}

    def put_object(self, *, Key: str, Body: Any, **_: Any) -> None:
        data = bytearray()
        if isinstance(Body, bytes):  # small objects (the report pointer) come as bytes
            Body = io.BytesIO(Body)
        while block := Body.read(1 << 20):
            self.put_bytes += len(block)
            if Key.startswith("rejects/"):  # small: kept so the multi-range merge can read parts
                data += block
        if Key.startswith("rejects/"):
            self.kept[Key] = bytes(data)
        self.puts += 1


class _Stored:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def iter_chunks(self, chunk_size: int) -> Iterator[bytes]:
        for i in range(0, len(self.data), chunk_size):
            yield self.data[i : i + chunk_size]

    def close(self) -> None:
        pass


class _Bounded:
    def __init__(self, body: GeneratedBody, n: int) -> None:
        self.body, self.n = body, n

    def read(self) -> bytes:
        return self.body.read(self.n)

    def close(self) -> None:
        pass


class FakeSQS:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.sent.extend(json.loads(e["MessageBody"]) for e in Entries)
        return {"Successful": Entries, "Failed": []}


class FakeJobs:
    """The JobStore surface ingest uses, in memory."""

    def __init__(self) -> None:
        self.items: dict[str, JobItem] = {}

    def get(self, job_id: str) -> JobItem | None:
        return self.items.get(job_id)

    def create(self, spec: Any, *, error: Any = None) -> tuple[bool, JobItem]:
        if spec.job_id in self.items:
            return False, self.items[spec.job_id]
        item = JobItem(
            job_id=spec.job_id, status="failed" if error else RUNNING,
            source=JobSource(bucket=spec.bucket, key=spec.key, version_id=spec.version_id),
            api=spec.api, phone_region=spec.phone_region, plan=spec.plan,
            ranges_total=spec.ranges_total, error=error,
        )  # fmt: skip
        self.items[spec.job_id] = item
        return True, item

    def record_range(self, job_id: str, index: int, stats: RangeStats) -> JobItem | None:
        item = self.items[job_id]
        if str(index) in item.ranges:
            return None
        item = item.model_copy(
            update={
                "ranges": {**item.ranges, str(index): stats.as_record()},
                "ranges_done": item.ranges_done + 1,
                "chunks_total": item.chunks_total + stats.chunks,
            }
        )
        self.items[job_id] = item
        return item

    def mark_ranges_queued(self, job_id: str) -> None:
        self.items[job_id] = self.items[job_id].model_copy(update={"ranges_queued": True})

    def fail(self, job_id: str, code: str, message: str) -> JobItem:
        error = JobError(code, message)
        self.items[job_id] = self.items[job_id].model_copy(
            update={"status": "failed", "error": error}
        )
        return self.items[job_id]

    def write_report(self, job: Any, **_: Any) -> None:
        pass


def main() -> None:
    rows = int(sys.argv[1])
    range_bytes = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 40
    dedupe = int(sys.argv[3]) if len(sys.argv) > 3 else 4_000_000
    s3, sqs, jobs = FakeS3(rows), FakeSQS(), FakeJobs()
    settings = IngestSettings(
        segments_bucket="b", chunk_queue_url="q", ranges_queue_url="r", jobs_table="t",
        ingest_range_bytes=range_bytes, dedupe_max_hashes=dedupe,
    )  # fmt: skip
    ingest = SegmentIngest(s3=s3, sqs=sqs, jobs=jobs, settings=settings)  # type: ignore[arg-type]
    started = time.perf_counter()
    cpu = time.process_time()
    result = ingest.object_created("b", "segments/1/Big/create/big.csv", "v1")
    ranges = [m for m in sqs.sent if m.get("type") == "range"]
    for message in ranges:
        ingest.queued(RangeMessage.model_validate(message))
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    item = jobs.items[result.job_id or ""]
    totals = {"read": 0, "accepted": 0, "rejected": 0, "lines": 0}
    for stats in item.ranges.values():
        for k in totals:
            totals[k] += getattr(stats, k)
    chunks = [m for m in sqs.sent if m.get("type") == "chunk"]
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": round(seconds, 2),
                "cpu_seconds": round(cpu, 2),
                "rows_per_cpu_second": round(rows / cpu),
                "max_rss_mb": round(peak_rss_kb() / 1024, 1),
                "ranges": item.ranges_total,
                "chunk_rows": sum(m["rows"] for m in chunks),
                "chunk_bytes": s3.put_bytes,
                "digest": hashlib.sha256(json.dumps(totals, sort_keys=True).encode()).hexdigest(),
                **totals,
            }
        )
    )


def peak_rss_kb() -> int:
    """This process's own peak RSS.

    ``/proc/self/status`` VmHWM belongs to the process image, so it starts afresh at exec. Linux
    keeps ``ru_maxrss`` across fork+exec, so a worker started from a big pytest process would
    report its parent's peak instead of its own.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    main()
