"""The Lambda handler end to end over moto SQS: partial batch failures and the poison → DLQ path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import pytest

from audience_upload_function import app
from tests.conftest import EVENTS, TemplateAws, lambda_context, sqs_record
from tiktok_connector import aws
from tiktok_connector.segments.jobs import JobSpec
from tiktok_connector.segments.stats import RangeStats
from tiktok_connector.settings import reset_settings
from tiktok_local.dispatcher import lambda_sqs_record

from .conftest import BUCKET, REGION, World, emails, one_column, sha256


@pytest.fixture
def queues(
    world: World, template_aws: TemplateAws, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """The function's environment as the template sets it (TikTok: the emulator), and the
    template's chunk queue and DLQ — visible again at once, dead-lettered after 2 receives so a
    test sees poison arrive there in a few polls."""
    environment = template_aws.environment("AudienceUploadFunction")
    environment.update(
        TIKTOK_API_BASE_URL=world.emu.api_base_url,
        POWERTOOLS_METRICS_NAMESPACE="TikTokConnectorTest",
        POWERTOOLS_SERVICE_NAME="audience-upload-test",
    )
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    # The layer's Metrics may have been built before this environment.
    monkeypatch.setattr(app.metrics, "namespace", "TikTokConnectorTest")
    reset_settings()
    aws.reset_clients()
    sqs = template_aws.client("sqs")
    queue, dlq = (
        template_aws.queue_url("ChunkQueue"),
        template_aws.queue_url("ChunkDeadLetterQueue"),
    )
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sqs.set_queue_attributes(
        QueueUrl=queue,
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
        },
    )
    yield {"sqs": sqs, "queue": queue, "dlq": dlq, "arn": dlq_arn.replace("-dlq", "")}
    reset_settings()
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
    event = {"Records": [lambda_sqs_record(m, queue_arn=q["arn"], region=REGION) for m in got]}
    response: dict[str, Any] = app.handler(event, lambda_context("audience-upload"))
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
    for body in [*(b.body() for b in bodies), *poison]:
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
    event = {"Records": [sqs_record(bodies[0].body(), message_id="m-1")]}

    # 0.5 s of budget after the 3 s margin
    response = app.handler(event, lambda_context("audience-upload", timeout_s=3.5))

    assert response["batchItemFailures"] == [{"itemIdentifier": "m-1"}]
    job = world.jobs.get(job_id)
    assert job is not None
    assert job.status == "running"
    assert job.chunks_done == 0


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

    response = app.handler(event, lambda_context("audience-upload"))

    assert response["batchItemFailures"] == []
    report = world.report(job_id)
    assert report["status"] == "succeeded"
    assert report["audience_name"] == "Spring Buyers"
    expected = {sha256(e) for chunk in emails_by_chunk for e in chunk}
    assert world.members(report["tiktok"]["audience_id"]) == expected


def test_the_hourly_schedule_reads_unsettled_sizes_again(
    world: World, queues: dict[str, Any]
) -> None:
    """The deployed wiring: the handler's uploader reads the size after the job (here refused
    once by TikTok), and the RefreshAudienceSizes event reads it again into the report."""
    world.emu.faults.add("http_500", path="/dmp/custom_audience/get/", count=1)
    job_id, bodies = world.new_job(
        name="Hourly", action="create", chunks=one_column(emails(0, 12), 12)
    )
    for body in bodies:
        queues["sqs"].send_message(QueueUrl=queues["queue"], MessageBody=body.body())
    while poll_once(queues) is not None:
        pass
    before = world.report(job_id)
    assert before["status"] == "succeeded"
    assert before["tiktok"]["audience_size"] is None
    assert before["tiktok"]["size_unknown_reason"] == "TikTok answered HTTP 500"

    result = app.handler({"type": "RefreshAudienceSizes"}, lambda_context("audience-upload"))

    assert result == {"checked": 1, "settled": 1, "unknown": 0, "left": 0}
    after = world.report(job_id)["tiktok"]
    assert (after["audience_size"], after["is_valid"], after["size_unknown_reason"]) == (
        12,
        True,
        None,
    )
    assert after["status_checked_at"] >= before["tiktok"]["status_checked_at"]
