"""SQS's redrive API on the local stack's moto server (tiktok_local.sqs_move_tasks).

boto3 talks to a moto server over HTTP, the way the CLI does against ``make up``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from tiktok_local.sqs_move_tasks import enable_moto_message_move_tasks


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    restore = enable_moto_message_move_tasks()
    try:
        yield url
    finally:
        restore()
        requests.post(f"{url}/moto-api/reset", timeout=10)
        server.stop()


@pytest.fixture
def sqs(endpoint: str) -> Any:
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _queues(sqs: Any, *, max_receive: int = 2) -> tuple[str, str, str]:
    """(source url, DLQ url, DLQ ARN)."""
    dlq = sqs.create_queue(QueueName="work-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    source = sqs.create_queue(
        QueueName="work",
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive}
            ),
        },
    )["QueueUrl"]
    return source, dlq, dlq_arn


def _arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    got = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=30
    )
    return list(got.get("Messages", []))


def test_a_move_task_returns_dead_letters_with_body_and_attributes(sqs: Any) -> None:
    source, dlq, dlq_arn = _queues(sqs)
    attributes = {
        "connection": {"DataType": "String", "StringValue": "shop"},
        "failure_reason": {"DataType": "String", "StringValue": "unknown_connection"},
    }
    sent = {
        sqs.send_message(QueueUrl=dlq, MessageBody=f"body {i}", MessageAttributes=attributes)[
            "MessageId"
        ]
        for i in range(3)
    }

    handle = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=_arn(sqs, source))[
        "TaskHandle"
    ]

    assert handle
    moved = _drain(sqs, source)
    assert sorted(m["Body"] for m in moved) == ["body 0", "body 1", "body 2"]
    assert all(
        {k: v["StringValue"] for k, v in m["MessageAttributes"].items()}
        == {"connection": "shop", "failure_reason": "unknown_connection"}
        for m in moved
    )
    assert not sent & {m["MessageId"] for m in moved}  # new messages, as SQS makes them
    assert _drain(sqs, dlq) == []
    [task] = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert task["Status"] == "COMPLETED"
    assert task["ApproximateNumberOfMessagesMoved"] == 3
    assert task["ApproximateNumberOfMessagesToMove"] == 3
    assert "TaskHandle" not in task  # only a running task shows its handle


def test_messages_dead_lettered_by_the_redrive_policy_go_back_to_their_queue(sqs: Any) -> None:
    source, dlq, dlq_arn = _queues(sqs, max_receive=1)
    sqs.send_message(QueueUrl=source, MessageBody="poison")
    first = sqs.receive_message(QueueUrl=source, VisibilityTimeout=0)["Messages"]
    assert [m["Body"] for m in first] == ["poison"]  # received once, not deleted
    # its receive count is maxReceiveCount: the next receive moves it (moto's own redrive)
    assert sqs.receive_message(QueueUrl=source, VisibilityTimeout=0).get("Messages", []) == []

    # Without a destination: the one queue whose redrive policy names the DLQ.
    sqs.start_message_move_task(SourceArn=dlq_arn)

    assert [m["Body"] for m in _drain(sqs, source)] == ["poison"]
    assert _drain(sqs, dlq) == []


def test_the_source_must_be_a_dead_letter_queue(sqs: Any) -> None:
    source, _, _ = _queues(sqs)
    with pytest.raises(ClientError) as err:
        sqs.start_message_move_task(SourceArn=_arn(sqs, source))
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "Dead Letter Queue" in err.value.response["Error"]["Message"]


def test_unknown_queues_are_refused(sqs: Any) -> None:
    _, _, dlq_arn = _queues(sqs)
    with pytest.raises(ClientError) as err:
        sqs.start_message_move_task(SourceArn="arn:aws:sqs:us-east-1:123456789012:nope")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        sqs.start_message_move_task(
            SourceArn=dlq_arn, DestinationArn="arn:aws:sqs:us-east-1:123456789012:nope"
        )
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=11)
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_tasks_are_listed_newest_first(sqs: Any) -> None:
    source, dlq, dlq_arn = _queues(sqs)
    sqs.send_message(QueueUrl=dlq, MessageBody="one")
    sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=_arn(sqs, source))
    sqs.send_message(QueueUrl=dlq, MessageBody="two")
    sqs.send_message(QueueUrl=dlq, MessageBody="three")
    sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=_arn(sqs, source))

    tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10)["Results"]

    assert [t["ApproximateNumberOfMessagesMoved"] for t in tasks] == [2, 1]
    assert tasks[0]["StartedTimestamp"] >= tasks[1]["StartedTimestamp"]


def test_without_the_patch_moto_does_not_know_the_action(endpoint: str, sqs: Any) -> None:
    """The reason the local stack adds it: moto 5.2.5 has no move tasks of its own."""
    _, _, dlq_arn = _queues(sqs)
    from moto.sqs.responses import SQSResponse

    saved = {
        name: vars(SQSResponse)[name]
        for name in ("start_message_move_task", "list_message_move_tasks")
    }
    for name in saved:
        delattr(SQSResponse, name)
    try:
        with pytest.raises(ClientError):
            sqs.start_message_move_task(SourceArn=dlq_arn)
    finally:
        for name, function in saved.items():
            setattr(SQSResponse, name, function)
