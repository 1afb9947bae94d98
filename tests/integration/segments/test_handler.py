"""The Lambda handler: S3 events with URL-encoded keys, SQS range messages with partial failure."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from segment_ingest_function import app
from segment_ingest_function.app import handler
from tests.conftest import lambda_context, sqs_record
from tiktok_connector import aws as aws_clients
from tiktok_connector.settings import reset_settings
from tiktok_local.dispatcher import lambda_sqs_record

from .conftest import BUCKET, TABLE, Harness

EVENTS = Path(__file__).resolve().parents[3] / "events"


@pytest.fixture
def env(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("SEGMENTS_BUCKET", BUCKET)
    monkeypatch.setenv("CHUNK_QUEUE_URL", aws["chunk_queue_url"])
    monkeypatch.setenv("RANGES_QUEUE_URL", aws["ranges_queue_url"])
    monkeypatch.setenv("JOBS_TABLE", TABLE)
    monkeypatch.setenv("INGEST_RANGE_BYTES", "1024")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TikTokConnectorTest")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "segment-ingest")
    monkeypatch.setattr(app.metrics, "namespace", "TikTokConnectorTest")
    reset_settings()
    aws_clients.reset_clients()
    yield aws
    reset_settings()
    aws_clients.reset_clients()


def _s3_event(key_in_event: str, version_id: str) -> dict[str, Any]:
    event = json.loads((EVENTS / "s3_segment_created.json").read_text())
    record = event["Records"][0]
    record["s3"]["bucket"]["name"] = BUCKET
    record["s3"]["object"]["key"] = key_in_event
    record["s3"]["object"]["versionId"] = version_id
    return dict(event)


def test_url_encoded_key_with_spaces_is_decoded(env: dict[str, Any]) -> None:
    h = Harness(env)
    key = "segments/7100000000000000001/Spring Buyers (EU)+/create/my list.csv"
    version = h.put(key, "email\na@b.co\n")
    encoded = "segments/7100000000000000001/Spring+Buyers+%28EU%29%2B/create/my+list.csv"
    out = handler(_s3_event(encoded, version), lambda_context("segment-ingest", timeout_s=900))  # type: ignore[arg-type]
    job_id = out["jobs"][0]["job_id"]
    report = h.report(job_id)
    assert report["audience_name"] == "Spring Buyers (EU)+"
    assert report["source"]["key"] == key
    assert report["status"] == "running"
    assert len(h.chunk_messages()) == 1


def test_duplicate_s3_event_is_a_no_op(env: dict[str, Any]) -> None:
    h = Harness(env)
    key = "segments/7100000000000000001/VIP/append/a.csv"
    version = h.put(key, "email\na@b.co\n")
    event = _s3_event(key, version)
    first = handler(copy.deepcopy(event), lambda_context("segment-ingest", timeout_s=900))  # type: ignore[arg-type]
    second = handler(copy.deepcopy(event), lambda_context("segment-ingest", timeout_s=900))  # type: ignore[arg-type]
    assert first["jobs"][0]["job_id"] == second["jobs"][0]["job_id"]
    assert second["jobs"][0]["status"] == "skipped"
    assert len(h.chunk_messages()) == 1


def test_unreadable_file_does_not_raise(env: dict[str, Any]) -> None:
    h = Harness(env)
    key = "segments/7100000000000000001/VIP/create/a.csv.gz"
    version = h.put(key, b"not gzip at all")
    out = handler(_s3_event(key, version), lambda_context("segment-ingest", timeout_s=900))  # type: ignore[arg-type]
    assert out["jobs"][0]["status"] == "failed"
    assert h.report(out["jobs"][0]["job_id"])["error"]["code"] == "not_gzip"


def test_range_messages_with_partial_batch_failure(env: dict[str, Any]) -> None:
    h = Harness(env)
    key = "segments/7100000000000000001/Big/create/a.csv"
    body = "email\n" + "".join(f"user{i}@example.com\n" for i in range(200))
    version = h.put(key, body)
    out = handler(_s3_event(key, version), lambda_context("segment-ingest", timeout_s=900))  # type: ignore[arg-type]
    job_id = out["jobs"][0]["job_id"]
    msgs = h.sqs.receive_message(
        QueueUrl=env["ranges_queue_url"], MaxNumberOfMessages=10, AttributeNames=["All"]
    )
    arn = "arn:aws:sqs:us-east-1:123456789012:tiktok-connector-ranges"
    records = [lambda_sqs_record(m, queue_arn=arn, region="us-east-1") for m in msgs["Messages"]]
    assert len(records) > 1
    poison = dict(records[0], messageId="poison", body="not json")
    resp = handler({"Records": [*records, poison]}, lambda_context("segment-ingest", timeout_s=900))  # type: ignore[arg-type]
    assert resp["batchItemFailures"] == [{"itemIdentifier": "poison"}]
    report = h.report(job_id)
    assert report["rows"]["read"] == 200
    _, rows = h.chunk_rows(h.chunk_messages())
    assert len(rows) == 200


def test_a_body_that_is_not_a_range_message_fails_its_record_with_the_reason_logged(
    env: dict[str, Any], function_logs: io.StringIO
) -> None:
    job = "0" * 32
    bodies = {
        "not-json": "not json alice@example.com",
        "chunk": json.dumps({"type": "finalize", "job_id": job}),
        "no-end": json.dumps({"type": "range", "job_id": job, "range": 0, "start": 0}),
    }
    records = [sqs_record(b, queue="ranges", message_id=i) for i, b in bodies.items()]
    resp = handler({"Records": records}, lambda_context("segment-ingest", timeout_s=900))  # type: ignore[arg-type]
    assert sorted(f["itemIdentifier"] for f in resp["batchItemFailures"]) == sorted(bodies)
    lines = [json.loads(line) for line in function_logs.getvalue().splitlines()]
    reasons = {
        line["message_id"]: line["reason"]
        for line in lines
        if line.get("message") == "poison range message"
    }
    assert reasons == {
        "not-json": "range message body is not JSON",
        "chunk": "unknown range message type 'finalize'",
        "no-end": "range message has no end",
    }
    assert "alice@example.com" not in function_logs.getvalue()


def test_logs_metrics_and_reports_carry_no_raw_identifiers(
    env: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    function_logs: io.StringIO,
) -> None:
    h = Harness(env)
    pii = ["alice.secret@example.com", "+12125550199", "6D92078A-8246-4BA4-AE5B-76104861E7DC"]
    body = "email,phone,idfa\n" + f"{pii[0]},{pii[1]},{pii[2]}\nnot-an-email-bob,555,zz\n"
    key = "segments/7100000000000000001/VIP/create/a.csv"
    version = h.put(key, body)
    caplog.set_level("DEBUG")
    out = handler(_s3_event(key, version), lambda_context("segment-ingest", timeout_s=900))  # type: ignore[arg-type]
    job_id = out["jobs"][0]["job_id"]
    texts = [capsys.readouterr().out, caplog.text, function_logs.getvalue()]
    assert '"range processed"' in texts[2]  # the logs were read (the check below is not vacuous)
    texts.append(json.dumps(h.report(job_id)))
    texts.append(json.dumps(h.rejects(job_id)))
    texts.append(json.dumps(h.chunk_messages()))
    for text in texts:
        for value in [*pii, "not-an-email-bob", "2125550199", pii[2].lower()]:
            assert value not in text


def test_ingest_lines_reach_the_functions_log_as_structured_json(
    env: dict[str, Any], function_logs: io.StringIO
) -> None:
    """The layer logs through Powertools (stdout JSON with its fields), not the standard library's
    logger, whose INFO lines and ``extra=`` fields Lambda's runtime handler drops."""
    h = Harness(env)
    key = "segments/7100000000000000001/VIP/create/a.csv"
    version = h.put(key, "email\na@b.co\nc@d.co\n")
    out = handler(_s3_event(key, version), lambda_context("segment-ingest", timeout_s=900))
    job_id = out["jobs"][0]["job_id"]
    lines = [json.loads(line) for line in function_logs.getvalue().splitlines()]
    [processed] = [line for line in lines if line.get("message") == "range processed"]
    assert processed["job_id"] == job_id
    assert processed["rows"] == 2
    assert processed["level"] == "INFO"
    assert processed["function_name"] == "tiktok-connector-segment-ingest"
