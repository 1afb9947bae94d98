"""The Lambda handler end to end over moto SQS: partial batch failures and the poison → DLQ path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest

from audience_upload_function import app
from tiktok_connector import aws
from tiktok_connector.audiences.upload import reset_uploader
from tiktok_connector.segments.jobs import JobSpec, RangeStats
from tiktok_connector.settings import reset_settings

from .conftest import AUDIENCES, BUCKET, JOBS, OAUTH, REGION, World, emails, one_column, sha256


@dataclass
class FakeContext:
    function_name: str = "tiktok-connector-audience-upload"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:tiktok-connector-audience-upload"
    )
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def queues(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in {
        "SEGMENTS_BUCKET": BUCKET,
        "JOBS_TABLE": JOBS,
        "AUDIENCES_TABLE": AUDIENCES,
        "OAUTH_TABLE": OAUTH,
        "TIKTOK_API_BASE_URL": world.emu.api_base_url,
        "POWERTOOLS_METRICS_NAMESPACE": "TikTokConnectorTest",
        "POWERTOOLS_SERVICE_NAME": "audience-upload-test",
    }.items():
        monkeypatch.setenv(name, value)
    # The handler module (and its Metrics) may have been imported before this environment.
    monkeypatch.setattr(app.metrics, "namespace", "TikTokConnectorTest")
    reset_settings()
    reset_uploader()
    aws.reset_clients()
    sqs = boto3.client("sqs", region_name=REGION)
    dlq = sqs.create_queue(QueueName="tiktok-connector-chunks-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue = sqs.create_queue(
        QueueName="tiktok-connector-chunks",
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
        },
    )["QueueUrl"]
    yield {"sqs": sqs, "queue": queue, "dlq": dlq, "arn": dlq_arn.replace("-dlq", "")}
    reset_settings()
    reset_uploader()
    aws.reset_clients()


def poll_once(q: dict[str, Any]) -> dict[str, Any] | None:
    """Receive a batch, invoke the handler like Lambda, delete the records that succeeded."""
    got = (
        q["sqs"]
        .receive_message(QueueUrl=q["queue"], MaxNumberOfMessages=10, AttributeNames=["All"])
        .get("Messages", [])
    )
    if not got:
        return None
    event = {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": q["arn"],
                "awsRegion": REGION,
            }
            for m in got
        ]
    }
    response: dict[str, Any] = app.handler(event, FakeContext())  # type: ignore[arg-type]
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    for m in got:
        if m["MessageId"] not in failed:
            q["sqs"].delete_message(QueueUrl=q["queue"], ReceiptHandle=m["ReceiptHandle"])
    return response


def test_poison_messages_reach_the_dlq_while_good_records_complete(
    world: World,
    queues: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    job_id, bodies = world.new_job(
        name="Handled", action="create", chunks=one_column(emails(0, 30), 10)
    )
    poison = [
        "not json at all",
        json.dumps({"type": "mystery", "job_id": job_id}),
        json.dumps({"type": "chunk", "job_id": "f" * 32, "chunk_key": f"chunks/{'f' * 32}/x.csv"}),
    ]
    for body in [*bodies, *poison]:
        queues["sqs"].send_message(QueueUrl=queues["queue"], MessageBody=body)

    first = poll_once(queues)
    assert first is not None
    for _ in range(10):
        if poll_once(queues) is None:
            break

    dead = queues["sqs"].receive_message(QueueUrl=queues["dlq"], MaxNumberOfMessages=10)
    assert sorted(m["Body"] for m in dead.get("Messages", [])) == sorted(poison)
    report = world.report(job_id)
    assert report["status"] == "succeeded"
    assert world.members(report["tiktok"]["audience_id"]) == set(emails(0, 30))
    logs = "\n".join(str(vars(r)) for r in caplog.records)  # messages and structured extras
    assert "poison chunk message" in logs
    assert "chunk message body is not JSON" in logs
    assert world.token not in logs
    assert emails(0, 1)[0] not in logs  # no hashes (or raw ids) in logs
    assert "not json at all" not in logs  # bodies are never logged
    out = capsys.readouterr().out
    assert "TikTokCallsByCode" in out  # EMF metrics: TikTok calls by code
    assert '"code":"0"' in out


def test_a_throttled_record_is_reported_as_a_batch_item_failure(
    world: World, queues: dict[str, Any]
) -> None:
    job_id, bodies = world.new_job(
        name="Later", action="create", chunks=one_column(emails(0, 5), 5)
    )
    world.emu.faults.add("throttle", path="/dmp/custom_audience/file/upload/", count=10_000)
    event = {
        "Records": [
            {
                "messageId": "m-1",
                "receiptHandle": "r-1",
                "body": bodies[0],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queues["arn"],
                "awsRegion": REGION,
            }
        ]
    }

    class ShortContext(FakeContext):
        def get_remaining_time_in_millis(self) -> int:
            return 3_500  # 0.5 s of budget after the 3 s margin

    response = app.handler(event, ShortContext())  # type: ignore[arg-type]

    assert response["batchItemFailures"] == [{"itemIdentifier": "m-1"}]
    job = world.jobs.get(job_id)
    assert job is not None
    assert job["status"] == "running"
    assert job["chunks_done"] == 0


EVENTS = Path(__file__).resolve().parents[3] / "events"


def test_the_sample_chunk_event_becomes_an_audience(world: World, queues: dict[str, Any]) -> None:
    """``events/sqs_chunk_jobs.json`` (the chunks of the sample S3 drop) through the handler."""
    event = json.loads((EVENTS / "sqs_chunk_jobs.json").read_text(encoding="utf-8"))
    s3_record = json.loads((EVENTS / "s3_segment_created.json").read_text(encoding="utf-8"))[
        "Records"
    ][0]["s3"]
    key = unquote_plus(s3_record["object"]["key"])
    _, advertiser_id, name, action, _ = key.split("/")
    emails_by_chunk = [
        ["jane.doe@example.com", "john.smith@example.org"],
        ["ana.garcia@example.net"],
    ]
    bodies = [json.loads(r["body"]) for r in event["Records"]]
    job_id = bodies[0]["job_id"]
    world.jobs.create(
        JobSpec(
            job_id=job_id,
            bucket=BUCKET,
            key=key,
            version_id=s3_record["object"]["versionId"],
            advertiser_id=advertiser_id,
            audience_name=name,
            action=action,
            api="file",
            columns=("EMAIL_SHA256",),
            calculate_type="EMAIL_SHA256",
        )
    )
    world.jobs.record_range(job_id, 0, RangeStats(read=3, accepted=3, chunks=2))
    for body, chunk_emails in zip(bodies, emails_by_chunk, strict=True):
        content = "EMAIL_SHA256\n" + "".join(sha256(e) + "\n" for e in chunk_emails)
        world.s3.put_object(Bucket=BUCKET, Key=body["chunk_key"], Body=content.encode())

    response = app.handler(event, FakeContext())  # type: ignore[arg-type]

    assert response["batchItemFailures"] == []
    report = world.report(job_id)
    assert report["status"] == "succeeded"
    assert report["audience_name"] == "Spring Buyers"
    expected = {sha256(e) for chunk in emails_by_chunk for e in chunk}
    assert world.members(report["tiktok"]["audience_id"]) == expected
