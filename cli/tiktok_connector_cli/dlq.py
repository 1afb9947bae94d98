"""Dead letters: what is in each dead-letter queue and why, and moving them back (redrive).

The queues (``--queue``):

* ``events`` — the events DLQ. The forwarder moves a message it can never deliver here itself,
  with message attributes ``failure_reason``, ``failure_detail``, ``tiktok_code``,
  ``tiktok_request_id``, ``original_message_id``, ``connection`` and ``failed_at``
  (docs/architecture.md "Event forwarding"). An invocation that died after the move is retried
  and moves a second copy: copies share ``original_message_id``; they are shown once and
  redriven once (the extra copies are deleted first). A message SQS moved itself after
  ``maxReceiveCount`` failed receives has no reason attribute: its receive count and the shape
  of its body say what is known.
* ``chunks`` and ``ranges`` — messages SQS moved after ``maxReceiveCount`` (their body names the
  job, chunk or range: no PII).
* ``ingest-failures`` — Lambda's OnFailure records of the S3-triggered ingest function (the file's
  key and the error type). They cannot be redriven: they are not any queue's dead letters; upload
  the file again instead.

Looking does not consume: each message read is made visible again at once. Each look adds one to
the message's receive count (SQS counts every receive), which is why the count shown is
"receives", not "failures".

Redrive uses SQS's own redrive API: ``StartMessageMoveTask`` from the DLQ to its source queue
(named explicitly), then ``ListMessageMoveTasks`` until the task ends.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

# queue option -> (stack.json key of the DLQ, key of the queue it redrives to, or None)
QUEUES: dict[str, tuple[str, str | None]] = {
    "events": ("events_dlq_url", "events_queue_url"),
    "chunks": ("chunk_dlq_url", "chunk_queue_url"),
    "ranges": ("ranges_dlq_url", "ranges_queue_url"),
    "ingest-failures": ("ingest_failures_queue_url", None),
}
# How long a message read for a look stays hidden before it is made visible again (a safety net
# in case this process dies in between).
PEEK_VISIBILITY = 30
# A redrive reads at most this many messages to find copies; beyond, copies may be redriven twice
# (the forwarder's sent-events ledger and TikTok's event_id de-duplication still apply).
DEDUPE_SCAN_LIMIT = 10_000
MOVE_TASK_POLL_SECONDS = 1.0


@dataclass
class DeadLetter:
    """One dead letter (its copies folded in), without its body: nothing here carries PII."""

    message_id: str
    original_message_id: str
    copies: int = 1
    reason: str = ""
    detail: str = ""
    connection: str = ""
    tiktok_code: str = ""
    tiktok_request_id: str = ""
    failed_at: str = ""
    receive_count: int = 0
    sent_at: float = 0.0
    summary: str = ""
    receipt_handles: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Depth:
    visible: int
    in_flight: int
    delayed: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


def depth(sqs: Any, url: str) -> Depth:
    """The queue's approximate message counts."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return Depth(
        int(attributes.get("ApproximateNumberOfMessages", 0)),
        int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    )


def summarize_body(queue: str, body: str) -> str:
    """What kind of message it is, never its content (event bodies hold hashed and raw PII)."""
    try:
        data = json.loads(body)
    except ValueError:
        return f"not JSON ({len(body):,} bytes)"
    if not isinstance(data, dict):
        return f"JSON {type(data).__name__}"
    if queue == "events":
        if isinstance(data.get("events"), list):
            return f"mParticle batch, {len(data['events'])} event(s)"
        if isinstance(data.get("data"), list):
            return f"TikTok events, {len(data['data'])}"
        if "event" in data:
            return "TikTok event"
        return "JSON object of unknown shape"
    if queue in ("chunks", "ranges"):
        parts = [str(data.get("type") or "?"), f"job {data.get('job_id') or '?'}"]
        if data.get("chunk_key"):
            parts.append(str(data["chunk_key"]).rsplit("/", 1)[-1])
        if data.get("range") is not None:
            parts.append(f"range {data['range']}")
        return ", ".join(parts)
    if queue == "ingest-failures":
        payload = data.get("requestPayload") or {}
        records = payload.get("Records") or [{}]
        key = ((records[0].get("s3") or {}).get("object") or {}).get("key", "?")
        response = data.get("responsePayload") or {}
        condition = (data.get("requestContext") or {}).get("condition", "")
        error = response.get("errorType") or "?"
        return f"file {key}: {error} ({condition})" if condition else f"file {key}: {error}"
    return "JSON object"


def _text(attributes: dict[str, Any], name: str) -> str:
    return str((attributes.get(name) or {}).get("StringValue") or "")


def _dead_letter(queue: str, message: dict[str, Any]) -> DeadLetter:
    attributes = message.get("MessageAttributes") or {}
    system = message.get("Attributes") or {}
    return DeadLetter(
        message_id=message["MessageId"],
        original_message_id=_text(attributes, "original_message_id") or message["MessageId"],
        reason=_text(attributes, "failure_reason"),
        detail=_text(attributes, "failure_detail"),
        connection=_text(attributes, "connection"),
        tiktok_code=_text(attributes, "tiktok_code"),
        tiktok_request_id=_text(attributes, "tiktok_request_id"),
        failed_at=_text(attributes, "failed_at"),
        receive_count=int(system.get("ApproximateReceiveCount", 0)),
        sent_at=int(system.get("SentTimestamp", 0)) / 1000,
        summary=summarize_body(queue, message.get("Body") or ""),
        receipt_handles=[message["ReceiptHandle"]],
    )


@dataclass
class Scan:
    """What one pass over a queue saw: its dead letters (copies folded) and every handle read."""

    letters: list[DeadLetter] = field(default_factory=list)
    messages: int = 0
    complete: bool = True

    @property
    def copies(self) -> int:
        return sum(letter.copies - 1 for letter in self.letters)


def scan(sqs: Any, url: str, queue: str, *, limit: int) -> Scan:
    """Read up to ``limit`` messages (hidden briefly, then visible again); copies of one message
    (same ``original_message_id``) become one :class:`DeadLetter` with ``copies``."""
    by_original: dict[str, DeadLetter] = {}
    result = Scan()
    try:
        while result.messages < limit:
            got = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, limit - result.messages),
                VisibilityTimeout=PEEK_VISIBILITY,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                break
            for message in got:
                result.messages += 1
                letter = _dead_letter(queue, message)
                seen = by_original.get(letter.original_message_id)
                if seen is None:
                    by_original[letter.original_message_id] = letter
                    result.letters.append(letter)
                else:
                    seen.copies += 1
                    seen.receipt_handles.append(message["ReceiptHandle"])
        else:
            result.complete = False
    finally:
        release(sqs, url, [h for letter in result.letters for h in letter.receipt_handles])
    return result


def release(sqs: Any, url: str, handles: list[str]) -> None:
    """Make read messages visible again (VisibilityTimeout 0)."""
    for start in range(0, len(handles), 10):
        batch = handles[start : start + 10]
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for i, h in enumerate(batch)
            ],
        )


def queue_arn(sqs: Any, url: str) -> str:
    return str(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
    )


@dataclass
class RedrivePlan:
    """What a redrive of one queue would do."""

    queue: str
    dlq_url: str
    target_url: str
    messages: int
    distinct: int
    copies_to_delete: list[str] = field(default_factory=list)  # receipt handles
    complete: bool = True  # every message was read (copies beyond the scan limit stay)


def plan_redrive(
    sqs: Any, queue: str, dlq_url: str, target_url: str, *, limit: int = DEDUPE_SCAN_LIMIT
) -> RedrivePlan:
    """Read the DLQ to count its messages and find the extra copies of each (events only: the
    other queues' messages have no copies by construction)."""
    if queue != "events":
        count = depth(sqs, dlq_url)
        return RedrivePlan(queue, dlq_url, target_url, count.visible, count.visible)
    seen = scan(sqs, dlq_url, queue, limit=limit)
    extra = [h for letter in seen.letters for h in letter.receipt_handles[1:]]
    return RedrivePlan(
        queue,
        dlq_url,
        target_url,
        messages=seen.messages,
        distinct=len(seen.letters),
        copies_to_delete=extra,
        complete=seen.complete,
    )


@dataclass(frozen=True, slots=True)
class RedriveResult:
    status: str  # COMPLETED | FAILED | CANCELLED | RUNNING (still going when we stopped waiting)
    moved: int
    to_move: int
    copies_deleted: int
    failure_reason: str = ""


def redrive(
    sqs: Any,
    plan: RedrivePlan,
    *,
    timeout: float = 300,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> RedriveResult:
    """Delete the extra copies, then move the DLQ's messages back with a message move task and
    wait (up to ``timeout``) for it to end."""
    deleted = 0
    for start in range(0, len(plan.copies_to_delete), 10):
        batch = plan.copies_to_delete[start : start + 10]
        response = sqs.delete_message_batch(
            QueueUrl=plan.dlq_url,
            Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(batch)],
        )
        deleted += len(response.get("Successful", []))
    source = queue_arn(sqs, plan.dlq_url)
    sqs.start_message_move_task(SourceArn=source, DestinationArn=queue_arn(sqs, plan.target_url))
    deadline = clock() + timeout
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=source, MaxResults=1).get("Results", [])
        task = tasks[0] if tasks else {}
        status = str(task.get("Status") or "RUNNING")
        if status != "RUNNING" or clock() >= deadline:
            return RedriveResult(
                status=status,
                moved=int(task.get("ApproximateNumberOfMessagesMoved") or 0),
                to_move=int(task.get("ApproximateNumberOfMessagesToMove") or 0),
                copies_deleted=deleted,
                failure_reason=str(task.get("FailureReason") or ""),
            )
        sleep(MOVE_TASK_POLL_SECONDS)


def is_unsupported(exc: ClientError) -> bool:
    """True when the endpoint does not know the move-task API (an older local stack)."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("InvalidAction", "UnknownOperationException", "NotImplemented", "404")
