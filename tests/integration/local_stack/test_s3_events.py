"""S3 notifications reach the S3-triggered function as Lambda's asynchronous S3 events."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import pytest

from tiktok_local.stack import LocalStack

from .support import RecordingHandler

MAXIMUM_RETRY_ATTEMPTS = 2  # SegmentIngestFunction's EventInvokeConfig in template.yaml


@pytest.fixture(autouse=True)
def _fresh_handler(s3_handler: RecordingHandler) -> None:
    s3_handler.reset()


def _s3_records(handler: RecordingHandler) -> list[dict[str, Any]]:
    return [r for e in handler.events if "Records" in e for r in e["Records"] if "s3" in r]


def test_put_under_prefix_delivers_an_s3_event_with_url_encoded_key(
    stack: LocalStack, s3_handler: RecordingHandler
) -> None:
    bucket = stack.names["segments_bucket"]
    key = "segments/7100000000000000001/Spring Sale+VIP/create/émails 1.csv"
    put = stack.client("s3").put_object(Bucket=bucket, Key=key, Body=b"email\na@example.com\n")
    stack.client("s3").put_object(Bucket=bucket, Key="reports/not-a-segment.json", Body=b"{}")

    assert stack.wait_idle(20)

    [record] = _s3_records(s3_handler)
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"].startswith("ObjectCreated:")
    assert record["awsRegion"] == "us-east-1"
    assert record["s3"]["bucket"]["name"] == bucket
    raw_key = record["s3"]["object"]["key"]
    # URL-encoded like S3: spaces as "+", "+" and non-ASCII escaped, "/" kept.
    assert raw_key == quote_plus(key, safe="/")
    assert raw_key.startswith("segments/7100000000000000001/Spring+Sale%2BVIP/create/")
    assert unquote_plus(raw_key) == key
    assert record["s3"]["object"]["versionId"] == put["VersionId"]
    assert record["s3"]["object"]["size"] == len(b"email\na@example.com\n")
    assert record["s3"]["object"]["sequencer"]
    [context] = s3_handler.contexts
    assert context.function_name == "tiktok-connector-segment-ingest"


def test_failing_async_invocation_is_retried_then_sent_to_on_failure_queue(
    stack: LocalStack, s3_handler: RecordingHandler
) -> None:
    s3_handler.should_raise = lambda event: "poison" in json.dumps(event)
    bucket = stack.names["segments_bucket"]
    key = "segments/7100000000000000001/poison/create/file.csv"
    stack.client("s3").put_object(Bucket=bucket, Key=key, Body=b"email\n")

    assert stack.wait_idle(20)

    records = _s3_records(s3_handler)
    assert len(records) == 1 + MAXIMUM_RETRY_ATTEMPTS
    assert {unquote_plus(r["s3"]["object"]["key"]) for r in records} == {key}
    sqs = stack.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=stack.names["ingest_failures_queue_url"], MaxNumberOfMessages=10
    ).get("Messages", [])
    [message] = messages
    destination = json.loads(message["Body"])
    assert destination["requestContext"]["condition"] == "RetriesExhausted"
    assert destination["requestContext"]["approximateInvokeCount"] == 1 + MAXIMUM_RETRY_ATTEMPTS
    assert destination["requestContext"]["functionArn"].endswith(
        ":function:tiktok-connector-segment-ingest:$LATEST"
    )
    assert (
        destination["requestPayload"]["Records"][0]["s3"]["object"]["key"]
        == records[0]["s3"]["object"]["key"]
    )
    assert destination["responsePayload"]["errorType"] == "RuntimeError"
    sqs.delete_message(
        QueueUrl=stack.names["ingest_failures_queue_url"], ReceiptHandle=message["ReceiptHandle"]
    )


def test_success_after_a_retry_sends_nothing_to_on_failure_queue(
    stack: LocalStack, s3_handler: RecordingHandler
) -> None:
    attempts: list[int] = []

    def fail_once(event: dict[str, Any]) -> bool:
        attempts.append(1)
        return len(attempts) == 1

    s3_handler.should_raise = fail_once
    bucket = stack.names["segments_bucket"]
    stack.client("s3").put_object(
        Bucket=bucket, Key="segments/7100000000000000001/flaky/create/f.csv", Body=b"x\n"
    )

    assert stack.wait_idle(20)

    assert len(_s3_records(s3_handler)) == 2
    messages = stack.client("sqs").receive_message(
        QueueUrl=stack.names["ingest_failures_queue_url"], MaxNumberOfMessages=10
    )
    assert messages.get("Messages", []) == []
