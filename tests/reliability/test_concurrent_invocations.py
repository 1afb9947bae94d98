"""Overlapping invocations in one process each answer for their own batch.

The local stack runs up to ``MaximumConcurrency`` invocations of a function as threads of one
process. A batch processor kept at module level is shared by them, and one batch's
``batchItemFailures`` then named another batch's records: the dispatcher saw a malformed response
and redelivered the whole batch (events sent twice), or deleted a record that had failed (lost).
Each SQS handler now builds its processor per invocation; this test overlaps many invocations of
each handler with collaborators replaced by slow fakes and checks every response.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import sqs_record
from tiktok_local.dispatcher import LambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
INVOCATIONS = 24
BATCH = 6


@pytest.fixture(autouse=True)
def _powertools_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TikTokConnectorTest")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "concurrency-test")


BAD_JOB, OK_JOB = "b" * 32, "a" * 32
# A body of each queue's kind; the fakes below fail the ones for BAD_JOB.
BODIES: dict[str, Callable[[bool], str]] = {
    "events": lambda bad: "bad" if bad else "ok",
    "chunks": lambda bad: json.dumps({"type": "finalize", "job_id": BAD_JOB if bad else OK_JOB}),
    "ranges": lambda bad: json.dumps(
        {"type": "range", "job_id": BAD_JOB if bad else OK_JOB, "range": 0, "start": 0, "end": 1}
    ),
}


def slow() -> None:
    time.sleep(0.002)  # long enough for the invocations to interleave


def overlap(handler: Any, function_name: str, queue: str) -> list[str]:
    """Run many batches at once; return what is wrong with any response."""
    barrier = threading.Barrier(8)
    body = BODIES[queue]

    def one(index: int) -> str | None:
        bad = [(index + i) % 3 == 0 for i in range(BATCH)]
        records = [sqs_record(body(b), queue=queue) for b in bad]
        expected = {r["messageId"] for r, b in zip(records, bad, strict=True) if b}
        context = LambdaContext(
            function_name, 256, f"arn:aws:lambda:::function:{function_name}", 60
        )
        if index < 8:
            barrier.wait()
        response = handler({"Records": records}, context)
        named = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        return (
            None
            if named == expected
            else f"batch {index}: named {len(named)}, failed {len(expected)}"
        )

    with ThreadPoolExecutor(8) as pool:
        return [p for p in pool.map(one, range(INVOCATIONS)) if p]  # fmt: skip


def test_event_forwarder_responses_name_only_their_own_failures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from event_forwarder_function import app

    class SlowSet(set[str]):
        def __contains__(self, item: object) -> bool:
            slow()  # the handler asks per record, inside the batch processor
            return super().__contains__(item)

    @dataclass
    class Result:
        failed: SlowSet = field(default_factory=SlowSet)

        def publish(self, metrics: Any) -> None:
            pass

    class Forwarder:
        def forward(self, messages: list[Any], *, deadline: float) -> Result:
            slow()
            return Result(SlowSet(m.message_id for m in messages if m.body == "bad"))

    monkeypatch.setattr(app, "default_forwarder", lambda: Forwarder())
    assert overlap(app.handler, "tiktok-connector-event-forwarder", "events") == []


def test_audience_upload_responses_name_only_their_own_failures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from audience_upload_function import app
    from tiktok_connector.audiences.failures import RetryLaterError
    from tiktok_connector.contract.messages import ChunkQueueMessage

    @dataclass
    class Outcome:
        job_id: str = "j"
        result: str = "uploaded"

    class Uploader:
        def handle(
            self, message: ChunkQueueMessage, *, remaining_seconds: float, metrics: Any = None
        ) -> Outcome:
            slow()
            if message.job_id == BAD_JOB:
                raise RetryLaterError("throttled")
            return Outcome()

    monkeypatch.setattr(app, "default_uploader", lambda: Uploader())
    assert overlap(app.handler, "tiktok-connector-audience-upload", "chunks") == []


def test_segment_ingest_range_responses_name_only_their_own_failures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from segment_ingest_function import app
    from tiktok_connector.contract.messages import RangesQueueMessage
    from tiktok_connector.segments.ranges import IngestResult

    class Ingest:
        def queued(self, message: RangesQueueMessage) -> IngestResult:
            slow()
            if message.job_id == BAD_JOB:
                raise RuntimeError("DynamoDB unavailable")
            return IngestResult("j", "running")

    monkeypatch.setattr(app, "default_ingest", lambda: Ingest())
    assert overlap(app.handler, "tiktok-connector-segment-ingest", "ranges") == []
