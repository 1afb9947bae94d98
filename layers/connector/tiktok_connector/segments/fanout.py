"""Messages ingest sends: one per byte range (ranges queue), one per chunk and ``finalize`` (chunk
queue) — the contract's models (:mod:`tiktok_connector.contract.messages`).

Sent with ``send_message_batch`` in tens; entries SQS refuses are sent again, and an entry still
refused raises (the invocation is retried; the receivers ignore duplicates).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from tiktok_connector.contract.job import JobItem
from tiktok_connector.contract.messages import (
    ChunkMessage,
    FinalizeMessage,
    RangeMessage,
    SyncGroupMessage,
    SyncPlanMessage,
)
from tiktok_connector.segments.chunks import ChunkInfo
from tiktok_connector.segments.settings import IngestSettings


def send_range_messages(
    sqs: Any, settings: IngestSettings, item: JobItem, ranges: Sequence[tuple[int, int]]
) -> None:
    """One message per byte range of the job that the job item has not recorded yet."""
    if not settings.ranges_queue_url:
        raise RuntimeError("RANGES_QUEUE_URL is not set but the file needs byte ranges")
    messages = [
        RangeMessage(job_id=item.job_id, range=i, start=start, end=end)
        for i, (start, end) in enumerate(ranges)
        if str(i) not in item.ranges
    ]
    send_batches(sqs, settings.ranges_queue_url, messages)


def send_chunk_messages(
    sqs: Any, settings: IngestSettings, job_id: str, chunks: Sequence[ChunkInfo]
) -> None:
    """One chunk message per chunk file written (the upload side's work items)."""
    send_batches(
        sqs,
        settings.chunk_queue_url,
        [ChunkMessage(job_id=job_id, chunk_key=c.key, rows=c.rows, md5=c.md5) for c in chunks],
    )


def send_finalize(sqs: Any, settings: IngestSettings, job_id: str) -> None:
    """The message that triggers the fan-in when no chunk is left to trigger it."""
    send_batches(sqs, settings.chunk_queue_url, [FinalizeMessage(job_id=job_id)])


def send_batches(
    sqs: Any,
    queue_url: str,
    messages: Sequence[
        RangeMessage | ChunkMessage | FinalizeMessage | SyncPlanMessage | SyncGroupMessage
    ],
) -> None:
    """``send_message_batch`` in tens; entries SQS refuses are sent again once, then raise."""
    for i in range(0, len(messages), 10):
        entries = [
            {"Id": str(n), "MessageBody": m.body()} for n, m in enumerate(messages[i : i + 10])
        ]
        for _attempt in range(3):
            resp = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            failed = {f["Id"] for f in resp.get("Failed", [])}
            if not failed:
                break
            entries = [e for e in entries if e["Id"] in failed]
            time.sleep(0.2)
        else:
            raise RuntimeError(f"SQS refused {len(entries)} message(s) after retries")
