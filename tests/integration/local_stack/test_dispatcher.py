"""The dispatcher honours batchItemFailures, visibility timeouts, maxReceiveCount and DLQ redrive."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from typing import Any

import pytest

from tiktok_local.dispatcher import FunctionBinding, failed_item_ids
from tiktok_local.stack import LocalStack

from .support import ScriptedBatchHandler

MAX_RECEIVE_COUNT = 3


def _queue_with_dlq(
    stack: LocalStack, max_receive_count: int = MAX_RECEIVE_COUNT
) -> tuple[str, str]:
    sqs = stack.client("sqs")
    name = f"test-{uuid.uuid4().hex[:12]}"
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
            ),
        },
    )["QueueUrl"]
    return url, dlq


def _send(stack: LocalStack, url: str, *bodies: dict[str, Any]) -> list[str]:
    entries = [{"Id": str(i), "MessageBody": json.dumps(b)} for i, b in enumerate(bodies)]
    result = stack.client("sqs").send_message_batch(QueueUrl=url, Entries=entries)
    assert not result.get("Failed")
    by_id = {e["Id"]: e["MessageId"] for e in result["Successful"]}
    return [by_id[str(i)] for i in range(len(bodies))]


def _drain(stack: LocalStack, url: str) -> list[dict[str, Any]]:
    response = stack.client("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]
    )
    return response.get("Messages", [])


def _attach(stack: LocalStack, url: str, handler: Any, name: str) -> FunctionBinding:
    function = FunctionBinding(function_name=name, handler=handler, timeout=30)
    assert stack.dispatcher.add_sqs_source(function, queue_url=url, batch_size=10)
    return function


def test_message_failing_max_receive_count_times_lands_in_dlq(stack: LocalStack) -> None:
    url, dlq = _queue_with_dlq(stack)
    [poison] = _send(stack, url, {"fail_times": -1, "n": "poison"})
    handler = ScriptedBatchHandler()
    _attach(stack, url, handler, "test-dlq")

    assert stack.wait_idle(30)

    assert handler.deliveries[poison] == MAX_RECEIVE_COUNT
    receive_counts = [
        r["attributes"]["ApproximateReceiveCount"] for batch in handler.batches for r in batch
    ]
    assert receive_counts == ["1", "2", "3"]
    [dead] = _drain(stack, dlq)
    assert dead["MessageId"] == poison
    assert json.loads(dead["Body"]) == {"fail_times": -1, "n": "poison"}
    assert _drain(stack, url) == []


def test_partial_batch_failure_redelivers_only_the_failed_records(stack: LocalStack) -> None:
    url, dlq = _queue_with_dlq(stack)
    ok1, flaky, ok2 = _send(stack, url, {"n": 1}, {"fail_times": 1, "n": 2}, {"n": 3})
    handler = ScriptedBatchHandler()
    _attach(stack, url, handler, "test-partial")

    assert stack.wait_idle(30)

    batches = handler.batch_ids()
    assert sorted(batches[0]) == sorted([ok1, flaky, ok2])
    assert batches[1:] == [[flaky]]  # only the failed record came back
    assert handler.deliveries == {ok1: 1, ok2: 1, flaky: 2}  # successes deleted exactly once
    redelivered = handler.batches[1][0]
    assert redelivered["attributes"]["ApproximateReceiveCount"] == "2"
    assert _drain(stack, dlq) == []
    outcomes = [
        i.outcome for i in stack.dispatcher.invocations if i.function_name == "test-partial"
    ]
    assert outcomes == ["partial", "ok"]


def test_exception_fails_the_whole_batch(stack: LocalStack) -> None:
    url, dlq = _queue_with_dlq(stack)
    good, bad = _send(stack, url, {"n": 1}, {"raise_times": 1, "n": 2})
    handler = ScriptedBatchHandler()
    _attach(stack, url, handler, "test-raise")

    assert stack.wait_idle(30)

    assert handler.deliveries == {good: 2, bad: 2}  # nothing was deleted after the exception
    assert sorted(handler.batch_ids()[1]) == sorted([good, bad])
    outcomes = [i.outcome for i in stack.dispatcher.invocations if i.function_name == "test-raise"]
    assert outcomes == ["error", "ok"]
    assert _drain(stack, dlq) == []


def test_injected_timeout_discards_the_result_and_redelivers(stack: LocalStack) -> None:
    url, _dlq = _queue_with_dlq(stack)
    [message] = _send(stack, url, {"n": 1})
    handler = ScriptedBatchHandler()
    stack.dispatcher.inject_timeout("test-timeout", 1)
    _attach(stack, url, handler, "test-timeout")

    assert stack.wait_idle(30)

    assert handler.deliveries == {message: 2}  # the handler ran, but its result was dropped
    outcomes = [
        i.outcome for i in stack.dispatcher.invocations if i.function_name == "test-timeout"
    ]
    assert outcomes == ["timeout", "ok"]


def test_record_has_lambdas_sqs_shape(stack: LocalStack) -> None:
    url, _dlq = _queue_with_dlq(stack)
    body = json.dumps({"n": 1})
    sent = stack.client("sqs").send_message(
        QueueUrl=url,
        MessageBody=body,
        MessageAttributes={
            "connection": {"DataType": "String", "StringValue": "default"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    handler = ScriptedBatchHandler()
    function = _attach(stack, url, handler, "test-shape")

    assert stack.wait_idle(30)

    [[record]] = handler.batches
    queue_arn = stack.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    assert record["messageId"] == sent["MessageId"]
    assert record["body"] == body
    assert record["md5OfBody"] == hashlib.md5(body.encode()).hexdigest()  # noqa: S324
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue_arn
    assert record["awsRegion"] == "us-east-1"
    assert record["receiptHandle"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert "SentTimestamp" in record["attributes"]
    assert record["messageAttributes"]["connection"] == {
        "stringValue": "default",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    blob = record["messageAttributes"]["blob"]
    assert blob["dataType"] == "Binary"
    assert base64.b64decode(blob["binaryValue"]) == b"\x00\x01"
    assert function.function_name == "test-shape"


def test_batch_size_and_context_come_from_the_binding(stack: LocalStack) -> None:
    url, _dlq = _queue_with_dlq(stack)
    _send(stack, url, *({"n": i} for i in range(5)))
    seen: list[tuple[int, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        seen.append((len(event["Records"]), context))

    function = FunctionBinding(function_name="test-batch", handler=handler, timeout=42)
    assert stack.dispatcher.add_sqs_source(function, queue_url=url, batch_size=2)
    assert stack.wait_idle(30)

    assert sum(n for n, _ in seen) == 5
    assert max(n for n, _ in seen) <= 2
    context = seen[0][1]
    assert context.function_name == "test-batch"
    assert context.invoked_function_arn.endswith(":function:test-batch")
    assert 0 < context.get_remaining_time_in_millis() <= 42_000
    assert context.aws_request_id != seen[-1][1].aws_request_id or len(seen) == 1


def test_missing_handler_module_is_skipped(stack: LocalStack) -> None:
    url, _dlq = _queue_with_dlq(stack)
    function = FunctionBinding(
        function_name="test-missing", handler="no_such_module_xyz.app.handler"
    )
    assert not stack.dispatcher.add_sqs_source(function, queue_url=url)
    assert "test-missing" in stack.dispatcher.skipped


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (None, []),
        ({}, []),
        ({"batchItemFailures": []}, []),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, ["b"]),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, None),  # unknown id
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{}]}, None),
        ({"batchItemFailures": "b"}, None),
        ("not a dict", None),
    ],
)
def test_failed_item_ids_follows_lambda(response: Any, expected: list[str] | None) -> None:
    assert failed_item_ids(response, ["a", "b"]) == expected


def test_a_slow_invocation_is_not_redelivered_while_it_runs(stack: LocalStack) -> None:
    url, _dlq = _queue_with_dlq(stack)  # visibility timeout 1 s
    [message] = _send(stack, url, {"n": 1})
    deliveries: list[str] = []

    def slow(event: dict[str, Any], context: Any) -> None:
        deliveries.extend(r["messageId"] for r in event["Records"])
        time.sleep(2.5)  # well past the visibility timeout

    function = FunctionBinding(function_name="test-slow", handler=slow, timeout=30)
    assert stack.dispatcher.add_sqs_source(function, queue_url=url, maximum_concurrency=2)
    assert stack.wait_idle(30)

    assert deliveries == [message]


def test_maximum_concurrency_bounds_parallel_invocations(stack: LocalStack) -> None:
    url, _dlq = _queue_with_dlq(stack)
    _send(stack, url, *({"n": i} for i in range(6)))
    lock = threading.Lock()
    running = [0]
    peak = [0]

    def handler(event: dict[str, Any], context: Any) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.5)
        with lock:
            running[0] -= 1

    function = FunctionBinding(function_name="test-concurrency", handler=handler)
    assert stack.dispatcher.add_sqs_source(
        function, queue_url=url, batch_size=1, maximum_concurrency=2
    )
    assert stack.wait_idle(30)

    assert peak[0] == 2
