"""Handlers killed mid-batch (a Lambda timeout or crash): the retry finishes the work, no duplicates.

Two ways to die, on every function of the pipeline:

* mid-batch: the invocation processes the first half of its records (their side effects happen:
  TikTok calls, DynamoDB updates, chunk files, SQS sends), then dies; its response never arrives,
  so nothing is deleted and the whole batch comes back (an S3 event is retried by Lambda's
  asynchronous invocation);
* after the work: :meth:`Dispatcher.inject_timeout` lets the handler finish, then discards its
  response as Lambda does at the function timeout.

The single-process crash cases of the upload worker (a claimant dying between TikTok's create and
the registry write) are in ``tests/integration/audiences/test_crash_and_chaos.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.pipeline import Pipeline, build_workload, pipeline_fixture
from tests.reliability.test_pipeline_under_faults import ROUND_TIMEOUT, assert_no_leaks

pytestmark = pytest.mark.slow
FUNCTIONS = {
    "SegmentIngestFunction": "tiktok-connector-segment-ingest",
    "AudienceUploadFunction": "tiktok-connector-audience-upload",
    "EventForwarderFunction": "tiktok-connector-event-forwarder",
}


@pytest.fixture
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    yield from pipeline_fixture(tmp_path_factory.mktemp("crash"))


def test_killed_mid_batch_the_retry_completes_the_work_without_duplicates(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    work = build_workload("Crash", pipeline.scanner, events=1000)
    for logical_id, name in FUNCTIONS.items():
        pipeline.stack.dispatcher.inject_timeout(name, count=2)  # the first two time out
        pipeline.recorder.crash_after[logical_id] = 2
        pipeline.recorder.crashes[logical_id] = 3  # the next three die mid-batch

    pipeline.plant_poison(work)
    pipeline.send_events(work)
    reports = pipeline.run_rounds(work, timeout=ROUND_TIMEOUT)
    assert pipeline.stack.wait_idle(120)

    problems = pipeline.verify(work, reports)
    assert not problems, "\n".join(problems)
    assert pipeline.recorder.crashed == dict.fromkeys(FUNCTIONS, 3)  # every function died
    timeouts = {
        i.function_name for i in pipeline.stack.dispatcher.invocations if i.outcome == "timeout"
    }
    assert timeouts == set(FUNCTIONS.values())
    assert_no_leaks(pipeline, work, capsys)
