"""Deliver SQS batches and S3 notifications to the real handlers, the way Lambda does.

One poller thread per event source. For an **SQS source** the poller receives up to the template's
``BatchSize`` (``AttributeNames=["All"]``, ``MessageAttributeNames=["All"]``), builds Lambda's SQS
event (``Records[]`` with ``messageId``, ``receiptHandle``, ``body``, ``attributes``,
``messageAttributes`` in Lambda's ``stringValue``/``dataType`` shape, ``md5OfBody``,
``eventSource``, ``eventSourceARN``, ``awsRegion``), invokes the handler with a fake Lambda context
and then deletes exactly the records that succeeded:

* with ``ReportBatchItemFailures``: every record not named in ``batchItemFailures``; a malformed
  response (unknown or empty ``itemIdentifier``) fails the whole batch, as Lambda does;
* an exception, a timeout (the invocation outlived the function's ``Timeout``, or one injected with
  :meth:`Dispatcher.inject_timeout`) deletes nothing.

Records left undeleted come back after the queue's visibility timeout. The DLQ redrive is moto's
own: on ``ReceiveMessage`` moto moves a message whose receive count reached ``maxReceiveCount`` to
the queue's DLQ, exactly where SQS does it. While an invocation runs, the dispatcher keeps its
messages invisible (``ChangeMessageVisibility`` heartbeats) — on AWS the visibility timeout of
≥ 6× the function timeout gives that guarantee; locally visibility timeouts are scaled down (see
``tiktok_local.resources``), so a batch is received with a hold of its own (30 s, renewed by the
heartbeat) and only its failed records are then given the queue's scaled timeout. Up to ``MaximumConcurrency`` batches of one
source run at once, capped by ``concurrency_cap`` to spare the machine. A batch is what one
long poll returns, topped up without waiting to ``BatchSize`` (``MaximumBatchingWindowInSeconds``
is not emulated: locally it would only add latency).

**S3 notifications** are moto's own: the stack configures the bucket's notification
(``s3:ObjectCreated:*`` with the template's key filter) to an internal queue, and the poller hands
each notification to the S3-triggered function as an asynchronous invocation: on an exception it
retries up to ``MaximumRetryAttempts`` (waits of 60 s and 120 s, times ``time_scale``) and then
sends Lambda's destination record to the ``OnFailure`` queue. moto's notification record lacks
``versionId`` and ``sequencer`` and encodes "/" in keys; :func:`enrich_moto_s3_events` fixes that
(moto runs in this process).

**Schedules** (the template's ``Schedule`` events, :mod:`tiktok_local.schedules`) run only when
added with :meth:`Dispatcher.add_schedule`: every ``rate()`` period times ``time_scale``, one
invocation with the rule's event, recorded like the others (kind ``"schedule"``).

Each finished invocation is recorded (:attr:`Dispatcher.invocations`) and handed to
:attr:`Dispatcher.on_invocation` when set (``make up`` prints a line for each).

:meth:`Dispatcher.wait_idle` returns once every source queue is empty (visible, in flight and
delayed), no invocation or async retry is pending, and that held for a short settle period.

Handlers are imported lazily (``importlib.import_module``) on first use; a source whose handler
module does not exist yet is skipped with a log line.
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import json
import logging
import os
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from tiktok_local.schedules import ScheduleEventSource

log = logging.getLogger("tiktok_local.dispatcher")

Handler = Callable[[dict[str, Any], Any], Any]

# Lambda's asynchronous invocation waits about one minute before the first retry, two before the
# second.
ASYNC_RETRY_DELAYS = (60.0, 120.0)
_IMPORT_LOCK = threading.Lock()


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    _started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        self.log_stream_name = f"{day}/[$LATEST]{uuid.uuid4().hex}"

    def get_remaining_time_in_millis(self) -> int:
        left = self.timeout_s - (time.monotonic() - self._started)
        return max(0, int(left * 1000))


@dataclass
class FunctionBinding:
    """A function as the dispatcher invokes it."""

    function_name: str
    handler: str | Handler
    timeout: int = 30
    memory_size: int = 128
    region: str = "us-east-1"
    account_id: str = "123456789012"
    # Set in os.environ while the handler module is first imported (e.g. the Powertools
    # service name, which differs per function and is read at import time).
    import_env: dict[str, str] = field(default_factory=dict)
    _resolved: Handler | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    def available(self) -> bool:
        """False when the handler's module does not exist (yet)."""
        if callable(self.handler):
            return True
        module = self.handler.rsplit(".", 1)[0]
        try:
            return importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            return False

    def resolve(self) -> Handler:
        if callable(self.handler):
            return self.handler
        with _IMPORT_LOCK:
            if self._resolved is None:
                module, attr = self.handler.rsplit(".", 1)
                saved = {key: os.environ.get(key) for key in self.import_env}
                os.environ.update(self.import_env)
                try:
                    self._resolved = getattr(importlib.import_module(module), attr)
                finally:
                    for key, value in saved.items():
                        if value is None:
                            os.environ.pop(key, None)
                        else:
                            os.environ[key] = value
            return self._resolved

    def context(self) -> LambdaContext:
        return LambdaContext(self.function_name, self.memory_size, self.arn, self.timeout)


@dataclass
class Invocation:
    """One handler invocation, recorded for tests and the demo."""

    function_name: str
    kind: str  # "sqs", "s3" or "schedule"
    outcome: str  # "ok", "partial", "error", "timeout", "invalid_response"
    message_ids: list[str]
    failed_ids: list[str]
    error: str | None = None
    seconds: float = 0.0  # how long the handler ran
    queue_url: str = ""  # the SQS source's queue ("" for S3 notifications)


@dataclass
class SqsSource:
    function: FunctionBinding
    queue_url: str
    queue_arn: str
    batch_size: int = 10
    concurrency: int = 1
    report_batch_item_failures: bool = True
    visibility_timeout: int = 30


@dataclass
class S3Source:
    function: FunctionBinding
    notification_queue_url: str
    maximum_retry_attempts: int = 2
    on_failure_queue_url: str | None = None


def lambda_sqs_record(message: dict[str, Any], *, queue_arn: str, region: str) -> dict[str, Any]:
    """Turn an SQS ``ReceiveMessage`` message into the record Lambda hands to a handler."""
    attributes = {}
    for name, attr in (message.get("MessageAttributes") or {}).items():
        shaped: dict[str, Any] = {
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": attr["DataType"],
        }
        if "StringValue" in attr:
            shaped["stringValue"] = attr["StringValue"]
        if "BinaryValue" in attr:
            shaped["binaryValue"] = base64.b64encode(attr["BinaryValue"]).decode("ascii")
        attributes[name] = shaped
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_item_ids(response: Any, message_ids: list[str]) -> list[str] | None:
    """The ids a ``ReportBatchItemFailures`` response names; ``None`` if it is malformed."""
    if response is None:
        return []
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        return None
    ids = []
    for item in failures:
        item_id = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(item_id, str) or item_id not in message_ids:
            return None
        ids.append(item_id)
    return ids


class Dispatcher:
    """Background pollers that feed Lambda-shaped events to handlers (see the module docstring)."""

    def __init__(
        self,
        sqs_client: Any,
        *,
        region: str = "us-east-1",
        time_scale: float = 0.005,
        concurrency_cap: int = 4,
        poll_wait_seconds: int = 1,
    ) -> None:
        self._sqs = sqs_client
        self.region = region
        self.time_scale = time_scale
        self.concurrency_cap = concurrency_cap
        self.poll_wait_seconds = poll_wait_seconds
        self.sqs_sources: list[SqsSource] = []
        self.s3_sources: list[S3Source] = []
        self.schedules: list[tuple[FunctionBinding, ScheduleEventSource]] = []
        self.skipped: list[str] = []
        # The most recent invocations (bounded: `up` may run for days).
        self.invocations: deque[Invocation] = deque(maxlen=10_000)
        # Called (on the invoking thread) with each recorded invocation; must not raise.
        self.on_invocation: Callable[[Invocation], None] | None = None
        self._lock = threading.Lock()
        self._busy = 0
        self._timeouts: dict[str, int] = {}
        self._stop = threading.Event()
        self._started = False
        self._threads: list[threading.Thread] = []
        self._pools: list[ThreadPoolExecutor] = []

    # -- configuration ------------------------------------------------------------------------
    def add_sqs_source(
        self,
        function: FunctionBinding,
        *,
        queue_url: str,
        batch_size: int = 10,
        maximum_concurrency: int | None = None,
        report_batch_item_failures: bool = True,
    ) -> bool:
        """Poll ``queue_url`` for ``function``. False (and a log line) if its handler is missing."""
        if not function.available():
            self._skip(function)
            return False
        attrs = self._sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn", "VisibilityTimeout"]
        )["Attributes"]
        concurrency = min(maximum_concurrency or self.concurrency_cap, self.concurrency_cap)
        source = SqsSource(
            function,
            queue_url,
            attrs["QueueArn"],
            batch_size,
            max(1, concurrency),
            report_batch_item_failures,
            int(attrs["VisibilityTimeout"]),
        )
        self.sqs_sources.append(source)
        if self._started:
            self._start_sqs(source)
        return True

    def add_s3_source(
        self,
        function: FunctionBinding,
        *,
        notification_queue_url: str,
        maximum_retry_attempts: int = 2,
        on_failure_queue_url: str | None = None,
    ) -> bool:
        """Invoke ``function`` asynchronously with each S3 notification put on the queue."""
        if not function.available():
            self._skip(function)
            return False
        source = S3Source(
            function, notification_queue_url, maximum_retry_attempts, on_failure_queue_url
        )
        self.s3_sources.append(source)
        if self._started:
            self._start_s3(source)
        return True

    def add_schedule(self, function: FunctionBinding, schedule: ScheduleEventSource) -> bool:
        """Invoke ``function`` with ``schedule``'s event every scaled period (first after one
        period, as EventBridge does after a rule is created)."""
        if not function.available():
            self._skip(function)
            return False
        schedule.period_seconds  # noqa: B018 - refuses an expression that cannot run here
        self.schedules.append((function, schedule))
        if self._started:
            self._spawn(self._run_schedule, function, schedule)
        return True

    def _run_schedule(self, function: FunctionBinding, schedule: ScheduleEventSource) -> None:
        period = max(0.05, schedule.period_seconds * self.time_scale)
        while not self._stop.wait(period):
            started = time.monotonic()
            outcome, _response, error = self._invoke(function, schedule.event(region=self.region))
            self._record(
                Invocation(
                    function.function_name,
                    "schedule",
                    outcome,
                    [schedule.expression],
                    [] if outcome == "ok" else [schedule.expression],
                    error or None,
                    seconds=time.monotonic() - started,
                )
            )

    def _skip(self, function: FunctionBinding) -> None:
        if function.function_name in self.skipped:
            return
        log.warning(
            "skipping %s: handler %s does not exist yet", function.function_name, function.handler
        )
        self.skipped.append(function.function_name)

    def inject_timeout(self, function_name: str, count: int = 1) -> None:
        """Make the next ``count`` invocations of ``function_name`` time out.

        The handler still runs (its side effects happen) but its result is discarded and no
        record is deleted, as when Lambda kills a function at its timeout.
        """
        with self._lock:
            self._timeouts[function_name] = self._timeouts.get(function_name, 0) + count

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Dispatcher:
        """Start polling every source (sources added later start at once)."""
        self._started = True
        for sqs_source in self.sqs_sources:
            self._start_sqs(sqs_source)
        for s3_source in self.s3_sources:
            self._start_s3(s3_source)
        for function, schedule in self.schedules:
            self._spawn(self._run_schedule, function, schedule)
        return self

    def _start_sqs(self, source: SqsSource) -> None:
        pool = ThreadPoolExecutor(source.concurrency, thread_name_prefix="invoke")
        self._pools.append(pool)
        self._spawn(self._poll_sqs, source, pool)

    def _start_s3(self, source: S3Source) -> None:
        # Asynchronous invocations of one function may overlap (S3 does not wait).
        pool = ThreadPoolExecutor(2, thread_name_prefix="invoke-async")
        self._pools.append(pool)
        self._spawn(self._poll_s3, source, pool)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="dispatcher-poller")
        thread.start()
        self._threads.append(thread)

    def signal_stop(self) -> None:
        """Ask the pollers to finish (returns at once; :meth:`stop` waits for them)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.poll_wait_seconds + 5)
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)
        self._threads.clear()
        self._pools.clear()

    # -- idleness -----------------------------------------------------------------------------
    def _queue_depth(self, queue_url: str) -> int:
        attrs = self._sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(v) for v in attrs.values())

    def is_idle(self) -> bool:
        with self._lock:
            if self._busy:
                return False
        urls = [s.queue_url for s in self.sqs_sources] + [
            s.notification_queue_url for s in self.s3_sources
        ]
        return all(self._queue_depth(url) == 0 for url in urls)

    def wait_idle(self, timeout: float = 30.0, settle: float = 0.3) -> bool:
        """Wait until nothing is queued, in flight or running for ``settle`` seconds."""
        deadline = time.monotonic() + timeout
        idle_since: float | None = None
        while time.monotonic() < deadline:
            if self.is_idle():
                now = time.monotonic()
                idle_since = idle_since if idle_since is not None else now
                if now - idle_since >= settle:
                    return True
            else:
                idle_since = None
            time.sleep(0.1)
        return False

    # -- invocation ---------------------------------------------------------------------------
    def _invoke(self, function: FunctionBinding, event: dict[str, Any]) -> tuple[str, Any, str]:
        """Run the handler: ("ok", response, "") | ("error"|"timeout", None, description)."""
        with self._lock:
            injected = self._timeouts.get(function.function_name, 0) > 0
            if injected:
                self._timeouts[function.function_name] -= 1
        context = function.context()
        started = time.monotonic()
        try:
            response = function.resolve()(event, context)
        except Exception as exc:
            log.warning(
                "%s raised %s (request %s)",
                function.function_name,
                type(exc).__name__,
                context.aws_request_id,
            )
            return "error", None, "".join(traceback.format_exception_only(type(exc), exc)).strip()
        if injected or time.monotonic() - started > function.timeout:
            log.warning("%s timed out (request %s)", function.function_name, context.aws_request_id)
            return "timeout", None, f"Task timed out after {function.timeout} seconds"
        return "ok", response, ""

    def _record(self, invocation: Invocation) -> None:
        with self._lock:
            self.invocations.append(invocation)
        observer = self.on_invocation
        if observer is not None:
            try:
                observer(invocation)
            except Exception:
                log.exception("the invocation observer failed")

    # -- SQS ----------------------------------------------------------------------------------
    def _receive(self, source: SqsSource) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        wait = self.poll_wait_seconds
        while len(messages) < source.batch_size and not self._stop.is_set():
            response = self._sqs.receive_message(
                QueueUrl=source.queue_url,
                MaxNumberOfMessages=min(10, source.batch_size - len(messages)),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                # held while the batch is assembled and runs; what fails is then given the
                # queue's (scaled) timeout, see _deliver_sqs_batch
                VisibilityTimeout=_held(source),
            )
            got = response.get("Messages") or []
            if not got:
                break
            messages.extend(got)
            wait = 0  # top up the batch with what is there now, then go
        return messages

    def _poll_sqs(self, source: SqsSource, pool: ThreadPoolExecutor) -> None:
        slots = threading.Semaphore(source.concurrency)
        while not self._stop.is_set():
            if not slots.acquire(timeout=0.2):
                continue
            try:
                messages = self._receive(source)
            except Exception:
                slots.release()
                if not self._stop.is_set():
                    log.exception("receive from %s failed", source.queue_url)
                    self._stop.wait(0.5)
                continue
            if not messages:
                slots.release()
                continue
            with self._lock:
                self._busy += 1
            pool.submit(self._run_sqs_batch, source, messages, slots)

    def _run_sqs_batch(
        self, source: SqsSource, messages: list[dict[str, Any]], slots: threading.Semaphore
    ) -> None:
        try:
            self._deliver_sqs_batch(source, messages)
        except Exception:
            log.exception("delivering a batch from %s failed", source.queue_url)
        finally:
            with self._lock:
                self._busy -= 1
            slots.release()

    def _deliver_sqs_batch(self, source: SqsSource, messages: list[dict[str, Any]]) -> None:
        records = [
            lambda_sqs_record(m, queue_arn=source.queue_arn, region=self.region) for m in messages
        ]
        ids = [r["messageId"] for r in records]
        heartbeat = _VisibilityHeartbeat(self._sqs, source, messages)
        heartbeat.start()
        started = time.monotonic()
        try:
            outcome, response, error = self._invoke(source.function, {"Records": records})
        finally:
            heartbeat.stop()
        seconds = time.monotonic() - started
        failed: list[str] | None
        if outcome != "ok":
            failed = list(ids)
        elif source.report_batch_item_failures:
            failed = failed_item_ids(response, ids)
            if failed is None:
                outcome, failed, error = (
                    "invalid_response",
                    list(ids),
                    "malformed batchItemFailures",
                )
            elif failed:
                outcome = "partial"
        else:
            failed = []
        done = [m for m in messages if m["MessageId"] not in failed]
        # Records left undeleted come back after the queue's visibility timeout, counted from
        # now: locally that is seconds, too short to hold a batch through its assembly and run.
        self._change_visibility(
            source, [m for m in messages if m["MessageId"] in failed], source.visibility_timeout
        )
        for start in range(0, len(done), 10):
            part = done[start : start + 10]
            self._sqs.delete_message_batch(
                QueueUrl=source.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(part)
                ],
            )
        self._record(
            Invocation(
                source.function.function_name,
                "sqs",
                outcome,
                ids,
                failed,
                error or None,
                seconds=seconds,
                queue_url=source.queue_url,
            )
        )

    def _change_visibility(
        self, source: SqsSource, messages: list[dict[str, Any]], timeout: int
    ) -> None:
        for start in range(0, len(messages), 10):
            part = messages[start : start + 10]
            try:
                self._sqs.change_message_visibility_batch(
                    QueueUrl=source.queue_url,
                    Entries=[
                        {
                            "Id": str(i),
                            "ReceiptHandle": m["ReceiptHandle"],
                            "VisibilityTimeout": timeout,
                        }
                        for i, m in enumerate(part)
                    ],
                )
            except Exception:  # they come back when the hold ends instead
                log.warning("could not release failed records of %s", source.queue_url)

    # -- S3 (asynchronous invocation) -----------------------------------------------------------
    def _poll_s3(self, source: S3Source, pool: ThreadPoolExecutor) -> None:
        while not self._stop.is_set():
            try:
                response = self._sqs.receive_message(
                    QueueUrl=source.notification_queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=self.poll_wait_seconds,
                )
            except Exception:
                if not self._stop.is_set():
                    log.exception("receive from %s failed", source.notification_queue_url)
                    self._stop.wait(0.5)
                continue
            for message in response.get("Messages") or []:
                with self._lock:
                    self._busy += 1
                # S3 has handed the event to Lambda's internal queue: it is ours now.
                self._sqs.delete_message(
                    QueueUrl=source.notification_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
                pool.submit(self._run_async, source, message["Body"])

    def _run_async(self, source: S3Source, body: str) -> None:
        try:
            event = json.loads(body)
            if event.get("Event") == "s3:TestEvent":
                return
            self._deliver_async(source, event)
        except Exception:
            log.exception("asynchronous delivery to %s failed", source.function.function_name)
        finally:
            with self._lock:
                self._busy -= 1

    def _deliver_async(self, source: S3Source, event: dict[str, Any]) -> None:
        attempts = 0
        while True:
            attempts += 1
            started = time.monotonic()
            outcome, _response, error = self._invoke(source.function, event)
            seconds = time.monotonic() - started
            keys = [r.get("s3", {}).get("object", {}).get("key", "") for r in event["Records"]]
            self._record(
                Invocation(
                    source.function.function_name,
                    "s3",
                    outcome,
                    keys,
                    [] if outcome == "ok" else keys,
                    error or None,
                    seconds=seconds,
                )
            )
            if outcome == "ok":
                return
            if attempts > source.maximum_retry_attempts:
                break
            delay = ASYNC_RETRY_DELAYS[min(attempts, len(ASYNC_RETRY_DELAYS)) - 1]
            if self._stop.wait(delay * self.time_scale):
                return
        if source.on_failure_queue_url:
            self._sqs.send_message(
                QueueUrl=source.on_failure_queue_url,
                MessageBody=json.dumps(
                    _destination_record(source.function, event, attempts, outcome, error)
                ),
            )
        log.warning(
            "%s failed %d times; event sent to the OnFailure destination",
            source.function.function_name,
            attempts,
        )


def _destination_record(
    function: FunctionBinding, event: dict[str, Any], attempts: int, outcome: str, error: str
) -> dict[str, Any]:
    """Lambda's OnFailure destination record for an asynchronous invocation."""
    error_type = error.split(":", 1)[0] if outcome == "error" else "Sandbox.Timedout"
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"{function.arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        # The exception's type only: messages may carry data we never want in a queue.
        "responsePayload": {"errorType": error_type, "errorMessage": error_type},
    }


class _VisibilityHeartbeat:
    """Keep a batch invisible while its invocation runs (what ≥ 6× timeout gives on AWS)."""

    def __init__(self, sqs: Any, source: SqsSource, messages: list[dict[str, Any]]) -> None:
        self._sqs = sqs
        self._source = source
        self._messages = messages
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="visibility")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        timeout = _held(self._source)
        # Lambda stops a function at its timeout; past that, let the messages come back.
        give_up = time.monotonic() + self._source.function.timeout
        while not self._done.wait(max(0.25, timeout / 2)) and time.monotonic() < give_up:
            try:
                for start in range(0, len(self._messages), 10):
                    part = self._messages[start : start + 10]
                    self._sqs.change_message_visibility_batch(
                        QueueUrl=self._source.queue_url,
                        Entries=[
                            {
                                "Id": str(i),
                                "ReceiptHandle": m["ReceiptHandle"],
                                "VisibilityTimeout": timeout,
                            }
                            for i, m in enumerate(part)
                        ],
                    )
            except Exception:
                log.warning("visibility heartbeat failed for %s", self._source.queue_url)


# How long a received batch stays invisible while it is assembled and its invocation runs (the
# heartbeat renews it). The queue's own timeout, scaled down to seconds locally, would let a busy
# machine see a batch that is still running come back and be delivered a second time.
_HOLD_SECONDS = 30


def _held(source: SqsSource) -> int:
    return max(source.visibility_timeout, _HOLD_SECONDS)


def enrich_moto_s3_events() -> Callable[[], None]:
    """Make moto's S3 notification records carry ``versionId`` and ``sequencer`` like S3's.

    moto builds the record in ``moto.s3.notifications._get_s3_event``; we wrap it (moto runs in
    this process). Returns the function that puts moto's original back.
    """
    from moto.s3 import notifications

    original = notifications._get_s3_event

    def restore() -> None:
        notifications._get_s3_event = original

    if getattr(original, "_tiktok_local", False):
        return lambda: None

    def with_version(event_name: str, bucket: Any, key: Any, notification_id: str) -> Any:
        event = original(event_name, bucket, key, notification_id)
        for record in event["Records"]:
            obj = record["s3"]["object"]
            # S3 form-encodes the key but leaves "/" alone; moto encodes "/" as %2F.
            obj["key"] = quote_plus(key.name, safe="/")
            version = getattr(key, "version_id", None)
            if version and version != "null" and getattr(bucket, "is_versioned", False):
                obj["versionId"] = version
            obj["sequencer"] = f"{time.time_ns():X}"
            record.setdefault("userIdentity", {"principalId": "AWS:LOCAL"})
            record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
            record.setdefault(
                "responseElements",
                {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": "local"},
            )
        return event

    with_version._tiktok_local = True  # type: ignore[attr-defined]
    notifications._get_s3_event = with_version
    return restore
