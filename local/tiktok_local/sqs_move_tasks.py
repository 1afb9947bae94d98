"""SQS's redrive API (message move tasks) for the local stack's moto server.

moto 5.2.5 answers ``StartMessageMoveTask``, ``ListMessageMoveTasks`` and
``CancelMessageMoveTask`` with "not yet implemented". ``tiktok-connector dlq redrive`` uses them
against a deployed stack, so the local stack adds them to moto's SQS request handler (moto runs in
this process), and the CLI has one code path for both.

What the local version does, next to SQS's:

* ``StartMessageMoveTask`` checks what SQS checks — the source queue exists and is some queue's
  dead-letter queue (its ``RedrivePolicy`` names it), a given destination exists, no other task
  runs on the source — and then moves every visible message at once: a new message on the
  destination with the same body and message attributes (a new message id, receive count 0), the
  original deleted. The task is ``COMPLETED`` when the call returns; SQS runs it in the background
  (``RUNNING`` first) at up to ``MaxNumberOfMessagesPerSecond``, which is accepted and not applied.
* Without ``DestinationArn`` SQS returns each message to the queue it was dead-lettered from. moto
  does not record that, so the destination is the one queue whose redrive policy names the source;
  when several do, the task fails (``FailureReason``). The CLI always names the destination.
* ``ListMessageMoveTasks`` lists the source's tasks, newest first (``MaxResults`` 1–10, default
  1); ``CancelMessageMoveTask`` finds no running task (they end at once) and says so.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

_LOCK = threading.Lock()
_ACTIONS = ("start_message_move_task", "list_message_move_tasks", "cancel_message_move_task")


def _queue_name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def _tasks(backend: Any) -> dict[str, list[dict[str, Any]]]:
    # Kept on the backend object, so moto's reset (a new backend) forgets them with the queues.
    tasks = getattr(backend, "_tiktok_local_move_tasks", None)
    if tasks is None:
        tasks = {}
        backend._tiktok_local_move_tasks = tasks
    return tasks


def _move(backend: Any, source: Any, destination: Any) -> int:
    """Move every visible message of ``source`` to ``destination``; returns how many."""
    moved = 0
    for message in list(source.messages):  # visible and not delayed
        backend.send_message(
            destination.name,
            message.body,
            message_attributes=dict(message.message_attributes),
        )
        source._messages.remove(message)
        source.pending_messages.discard(message)
        moved += 1
    return moved


def start_message_move_task(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.sqs.exceptions import InvalidParameterValue, QueueDoesNotExist, SQSException

    source_arn = str(self._get_param("SourceArn") or "")
    destination_arn = self._get_param("DestinationArn")
    rate = self._get_param("MaxNumberOfMessagesPerSecond")
    backend = self.sqs_backend
    try:
        source = backend.get_queue(_queue_name(source_arn))
    except QueueDoesNotExist:
        raise SQSException(
            "ResourceNotFoundException",
            "The resource that you specified for the SourceArn parameter doesn't exist.",
        ) from None
    feeders = backend.list_dead_letter_source_queues(source.name)
    if not feeders:
        raise InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
    if destination_arn:
        try:
            destination = backend.get_queue(_queue_name(str(destination_arn)))
        except QueueDoesNotExist:
            raise SQSException(
                "ResourceNotFoundException",
                "The resource that you specified for the DestinationArn parameter doesn't exist.",
            ) from None
    else:
        destination = feeders[0] if len(feeders) == 1 else None
    with _LOCK:
        tasks = _tasks(backend).setdefault(source.queue_arn, [])
        if any(t["Status"] == "RUNNING" for t in tasks):
            raise SQSException(
                "UnsupportedOperation", "There is already a task running for this queue."
            )
        task: dict[str, Any] = {
            "TaskHandle": uuid.uuid4().hex,
            "Status": "RUNNING",
            "SourceArn": source.queue_arn,
            "StartedTimestamp": int(time.time() * 1000),
            "ApproximateNumberOfMessagesMoved": 0,
            "ApproximateNumberOfMessagesToMove": len(source.messages),
        }
        if destination_arn:
            task["DestinationArn"] = str(destination_arn)
        if rate is not None:
            task["MaxNumberOfMessagesPerSecond"] = int(rate)
        tasks.insert(0, task)
        if destination is None:
            task["Status"] = "FAILED"
            task["FailureReason"] = (
                "several queues dead-letter into this queue; name the DestinationArn"
            )
        else:
            task["ApproximateNumberOfMessagesMoved"] = _move(backend, source, destination)
            task["Status"] = "COMPLETED"
    return ActionResult({"TaskHandle": task["TaskHandle"]})


def list_message_move_tasks(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.sqs.exceptions import InvalidParameterValue, QueueDoesNotExist, SQSException

    source_arn = str(self._get_param("SourceArn") or "")
    limit = self._get_param("MaxResults")
    limit = 1 if limit is None else int(limit)
    if not 1 <= limit <= 10:
        raise InvalidParameterValue("MaxResults must be from 1 to 10.")
    backend = self.sqs_backend
    try:
        source = backend.get_queue(_queue_name(source_arn))
    except QueueDoesNotExist:
        raise SQSException(
            "ResourceNotFoundException",
            "The resource that you specified for the SourceArn parameter doesn't exist.",
        ) from None
    with _LOCK:
        tasks = list(_tasks(backend).get(source.queue_arn, []))[:limit]
    results = []
    for task in tasks:
        shown = dict(task)
        if shown["Status"] != "RUNNING":
            shown.pop("TaskHandle", None)  # SQS only returns the handle of a running task
        results.append(shown)
    return ActionResult({"Results": results})


def cancel_message_move_task(self: Any) -> Any:
    from moto.sqs.exceptions import SQSException

    raise SQSException(
        "ResourceNotFoundException",
        "No running task has this handle (the local stack's move tasks complete at once).",
    )


def enable_moto_message_move_tasks() -> Callable[[], None]:
    """Add the move-task actions to moto's SQS handler; returns the function that removes them."""
    from moto.sqs.responses import SQSResponse

    if hasattr(SQSResponse, "start_message_move_task"):
        return lambda: None  # already added, or a moto that has its own
    added = {
        "start_message_move_task": start_message_move_task,
        "list_message_move_tasks": list_message_move_tasks,
        "cancel_message_move_task": cancel_message_move_task,
    }
    for name, function in added.items():
        setattr(SQSResponse, name, function)

    def restore() -> None:
        for name in _ACTIONS:
            if name in vars(SQSResponse):
                delattr(SQSResponse, name)

    return restore
