"""The contract's models are built at first use (not at import): a fresh process whose threads
all use them at once — the local stack's first overlapping invocations — gets correct results."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from tests.conftest import sqs_record
    from tiktok_connector.contract.job import JobItem
    from tiktok_connector.contract.queues import ChunkQueueRecord
    from tiktok_connector.segments.report import render_report

    assert not JobItem.__pydantic_complete__  # deferred: nothing built at import
    job = "0" * 32
    body = json.dumps({"type": "chunk", "job_id": job, "chunk_key": f"chunks/{job}/a", "rows": 2})
    barrier = Barrier(8)

    def first_use(i):
        barrier.wait()
        record = ChunkQueueRecord.model_validate(sqs_record(body))
        item = JobItem.model_validate(
            {"job_id": job, "status": "running", "source": {"bucket": "b", "key": str(i)},
             "ranges": {"0": {"read": i, "identifiers": {"email": {"accepted": i}}}}}
        )
        report = render_report(item).as_json()
        return record.body.rows, report["rows"]["read"], report["source"]["key"]

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(first_use, range(8)))
    assert got == [(2, i, str(i)) for i in range(8)], got
    print("ok")
    """
)


def test_threads_that_first_use_the_models_at_once_all_get_them_right() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
