"""events/*.json are real Lambda-shaped events that agree with the template and the contracts.

Validated with Powertools' pydantic event models (the shapes AWS sends), then checked against the
names in template.yaml and the message contracts of docs/architecture.md.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventV2Model,
    S3Model,
    SqsModel,
)

from tests.template.cfn import TEMPLATE_PATH, load_template

EVENTS = TEMPLATE_PATH.parent / "events"
STACK = "tiktok-connector"
ACCOUNT = "123456789012"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


def stack_name(template: dict[str, Any], logical_id: str, prop: str) -> str:
    pattern = template["Resources"][logical_id]["Properties"][prop]["Fn::Sub"]
    return str(pattern).replace("${AWS::StackName}", STACK).replace("${AWS::AccountId}", ACCOUNT)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


def test_every_sample_event_is_covered() -> None:
    assert {p.name for p in EVENTS.glob("*.json")} == {
        "s3_segment_created.json",
        "sqs_chunk_jobs.json",
        "sqs_events_mparticle.json",
        "http_connect.json",
        "http_oauth_callback.json",
    }


def s3_job_id(record: dict[str, Any]) -> str:
    """docs/architecture.md: sha256 of bucket/key@version_id (key decoded), first 32 hex chars."""
    key = unquote_plus(record["s3"]["object"]["key"])
    source = f"{record['s3']['bucket']['name']}/{key}@{record['s3']['object']['versionId']}"
    return hashlib.sha256(source.encode()).hexdigest()[:32]


def test_s3_event_is_a_url_encoded_segment_drop(template: dict[str, Any]) -> None:
    event = load("s3_segment_created.json")
    S3Model.model_validate(event)
    record = event["Records"][0]
    assert record["eventName"].startswith("ObjectCreated:")
    assert record["s3"]["bucket"]["name"] == stack_name(template, "SegmentsBucket", "BucketName")
    raw_key = record["s3"]["object"]["key"]
    # S3 sends keys URL-encoded; handlers must decode them (STYLE.md: no raw S3 keys).
    assert raw_key == "segments/7100000000000000001/Spring%20Buyers/create/list.csv"
    assert unquote_plus(raw_key).split("/") == [
        "segments",
        "7100000000000000001",
        "Spring Buyers",
        "create",
        "list.csv",
    ]
    assert record["s3"]["object"]["versionId"]


def sqs_records(name: str, queue: str) -> list[dict[str, Any]]:
    event = load(name)
    SqsModel.model_validate(event)
    for record in event["Records"]:
        assert record["eventSourceARN"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue}"
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()  # noqa: S324
    records: list[dict[str, Any]] = event["Records"]
    return records


def test_chunk_event_follows_the_chunk_message_contract(template: dict[str, Any]) -> None:
    records = sqs_records("sqs_chunk_jobs.json", stack_name(template, "ChunkQueue", "QueueName"))
    assert len(records) == 2
    assert len({r["messageId"] for r in records}) == 2
    # The chunks belong to the job of the sample S3 drop.
    job_id = s3_job_id(load("s3_segment_created.json")["Records"][0])
    # Chunk files of the three sample emails (hashes only), as ingest writes them.
    emails = [["jane.doe@example.com", "john.smith@example.org"], ["ana.garcia@example.net"]]
    for seq, (record, chunk_emails) in enumerate(zip(records, emails, strict=True)):
        body = json.loads(record["body"])
        assert set(body) == {"type", "job_id", "chunk_key", "rows", "md5"}
        assert body["type"] == "chunk"
        assert body["job_id"] == job_id
        assert body["chunk_key"] == f"chunks/{job_id}/0000-{seq:05d}.csv"
        content = "EMAIL_SHA256\n" + "".join(
            hashlib.sha256(e.encode()).hexdigest() + "\n" for e in chunk_emails
        )
        assert body["rows"] == len(chunk_emails)
        assert body["md5"] == hashlib.md5(content.encode()).hexdigest()  # noqa: S324


def test_events_queue_event_carries_an_mparticle_batch(template: dict[str, Any]) -> None:
    records = sqs_records(
        "sqs_events_mparticle.json", stack_name(template, "EventsQueue", "QueueName")
    )
    assert len(records) == 1
    attribute = records[0]["messageAttributes"]["connection"]
    assert attribute == {
        "stringValue": "default",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    batch = json.loads(records[0]["body"])
    for key in ("events", "user_identities", "user_attributes", "device_info", "ip"):
        assert key in batch
    assert batch["consent_state"]["ccpa"]["data_sale_opt_out"]["consented"] is False
    assert batch["partner_identities"]["tiktok_cookie_id"]
    actions = []
    for item in batch["events"]:
        assert item["event_type"] == "commerce_event"
        data = item["data"]
        assert isinstance(data["timestamp_unixtime_ms"], int)
        assert data["custom_flags"]["TikTok.URL"].startswith("https://")
        assert data["source_message_id"]
        actions.append(data["product_action"]["action"])
    assert actions == ["purchase", "add_to_cart"]


@pytest.mark.parametrize(
    ("name", "route", "query_keys"),
    [
        ("http_connect.json", "GET /connect", {"ticket", "label"}),
        ("http_oauth_callback.json", "GET /oauth/callback", {"auth_code", "code", "state"}),
    ],
)
def test_http_api_events_match_the_template_routes(
    template: dict[str, Any], name: str, route: str, query_keys: set[str]
) -> None:
    event = load(name)
    APIGatewayProxyEventV2Model.model_validate(event)
    assert event["version"] == "2.0"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == route
    method, path = route.split(" ")
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == path
    assert event["requestContext"]["http"]["method"] == method
    routes = {
        (e["Properties"]["Method"], e["Properties"]["Path"])
        for e in template["Resources"]["OAuthFunction"]["Properties"]["Events"].values()
    }
    assert (method, path) in routes
    # rawQueryString and queryStringParameters say the same thing.
    parsed = {k: v[0] for k, v in parse_qs(event["rawQueryString"]).items()}
    assert parsed == event["queryStringParameters"]
    assert set(parsed) == query_keys
    assert event["headers"]["host"] == event["requestContext"]["domainName"]


def test_sample_pii_is_reserved_example_data() -> None:
    """Chunk messages carry no raw identifiers; sample PII uses reserved example values only."""
    assert "@" not in (EVENTS / "sqs_chunk_jobs.json").read_text(encoding="utf-8")
    batch = json.loads(load("sqs_events_mparticle.json")["Records"][0]["body"])
    assert batch["user_identities"]["email"].lower().endswith("@example.com")
    assert "555-01" in batch["user_identities"]["mobile_number"]  # fictional 555-01xx range
    assert batch["ip"].startswith("203.0.113.")  # TEST-NET-3 (RFC 5737)
