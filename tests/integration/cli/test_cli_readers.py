"""The CLI's readers against moto (in-process) and the TikTok emulator: a deployed stack's names
from CloudFormation, the jobs list's filters, reports after the job item expired, long rejects
files, audiences TikTok cannot describe, and redrive planning of copies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tiktok_connector.tiktok import RetryPolicy, TikTokClient
from tiktok_connector.tokens import TokenStore
from tiktok_connector_cli.audiences import list_audiences
from tiktok_connector_cli.dlq import plan_redrive, scan
from tiktok_connector_cli.jobs import REJECTS_READ_BYTES, first_rejects, get_job, list_jobs
from tiktok_connector_cli.stack import OUTPUTS, StackError, deployed_stack, local_stack
from tiktok_local.emulator import EmulatorConfig, EmulatorServer

REGION = "us-east-1"
ADV = "7100000000000000001"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


# ---------------------------------------------------------------------------- the stack


def test_a_deployed_stack_is_read_from_its_outputs_and_parameters(aws: None) -> None:
    outputs = {output: {"Value": f"value-of-{output}"} for output in OUTPUTS}
    template = {
        "Parameters": {"TikTokApiBaseUrl": {"Type": "String", "Default": "https://default"}},
        "Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q"}}},
        "Outputs": outputs,
    }
    boto3.client("cloudformation").create_stack(
        StackName="prod",
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "TikTokApiBaseUrl", "ParameterValue": "https://tiktok.test"}],
    )

    stack = deployed_stack("prod")

    assert stack.description == f"stack prod in {REGION}"
    assert stack.name("jobs_table") == "value-of-JobsTableName"
    assert stack.name("events_dlq_url") == "value-of-EventsDeadLetterQueueUrl"
    assert stack.name("event_stats_table") == "value-of-EventStatsTableName"
    assert stack.name("tiktok_api_base_url") == "https://tiktok.test"
    assert not stack.local


def test_a_missing_deployed_stack_is_named(aws: None) -> None:
    with pytest.raises(StackError, match=f"cannot read stack nope in {REGION}"):
        deployed_stack("nope")


def test_a_stack_file_without_a_running_stack_says_start_make_up(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="start `make up` first"):
        local_stack(tmp_path / "stack.json")
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps({"aws_endpoint_url": "http://127.0.0.1:9", "region": REGION}))
    with pytest.raises(StackError, match="does not answer"):
        local_stack(stale)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(StackError, match="cannot read"):
        local_stack(broken)


# ------------------------------------------------------------------------------- jobs


def _jobs_table(dynamodb: Any) -> str:
    dynamodb.create_table(
        TableName="jobs",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
    )
    return "jobs"


def _job(job_id: str, advertiser: str, audience: str, started: datetime) -> dict[str, Any]:
    return {
        "job_id": {"S": job_id},
        "status": {"S": "succeeded"},
        "source": {
            "M": {
                "bucket": {"S": "tiktok-connector-segments-123456789012"},
                "key": {"S": f"segments/{advertiser}/{audience}/create/f.csv"},
            }
        },
        "advertiser_id": {"S": advertiser},
        "audience_name": {"S": audience},
        "action": {"S": "create"},
        "ranges": {
            "M": {
                "0": {"M": {"read": {"N": "10"}, "accepted": {"N": "9"}, "rejected": {"N": "1"}}},
                "1": {"M": {"read": {"N": "5"}, "accepted": {"N": "5"}, "rejected": {"N": "0"}}},
            }
        },
        "chunks_total": {"N": "2"},
        "chunks_done": {"N": "2"},
        "done_chunks": {"SS": ["a", "b"]},
        "tiktok": {"M": {"audience_id": {"S": "8000000000000000001"}}},
        "started_at": {"S": started.isoformat(timespec="milliseconds").replace("+00:00", "Z")},
    }


def test_jobs_are_listed_newest_first_within_the_window_and_filters(aws: None) -> None:
    dynamodb = boto3.client("dynamodb")
    table = _jobs_table(dynamodb)
    now = datetime(2026, 11, 20, 14, tzinfo=UTC)
    for job_id, advertiser, audience, hours in [
        ("a" * 32, ADV, "Buyers", 1),
        ("b" * 32, ADV, "Buyers", 30),  # outside a 1-day window
        ("c" * 32, ADV, "Leads", 2),
        ("d" * 32, "7100000000000000002", "Buyers", 3),
    ]:
        dynamodb.put_item(
            TableName=table, Item=_job(job_id, advertiser, audience, now - timedelta(hours=hours))
        )
    since = now - timedelta(days=1)

    assert [r.job_id[0] for r in list_jobs(dynamodb, table, since=since)] == ["a", "c", "d"]
    assert [r.job_id[0] for r in list_jobs(dynamodb, table, since=since, advertiser=ADV)] == [
        "a",
        "c",
    ]
    [buyers] = list_jobs(dynamodb, table, since=since, advertiser=ADV, audience="Buyers")
    assert (buyers.read, buyers.accepted, buyers.rejected) == (15, 14, 1)  # summed over ranges
    assert (buyers.chunks_done, buyers.chunks_total) == (2, 2)
    assert buyers.audience_id == "8000000000000000001"
    assert buyers.filename == "f.csv"


def test_a_job_whose_item_expired_is_read_from_its_report(aws: None) -> None:
    dynamodb = boto3.client("dynamodb")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="segments-bucket")
    table = _jobs_table(dynamodb)
    report = {"job_id": "e" * 32, "status": "succeeded", "rows": {"read": 3}}
    s3.put_object(
        Bucket="segments-bucket", Key=f"reports/{'e' * 32}.json", Body=json.dumps(report).encode()
    )

    view = get_job(dynamodb, s3, table=table, bucket="segments-bucket", job_id="e" * 32)

    assert view is not None
    assert view.report == report
    assert not view.from_table
    assert get_job(dynamodb, s3, table=table, bucket="segments-bucket", job_id="f" * 32) is None


def test_the_first_rejects_of_a_long_file_are_read_from_its_start(aws: None) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="segments-bucket")
    lines = ["line,reason,column"] + [f"{i},invalid_email,email" for i in range(2, 40_000)]
    body = ("\n".join(lines) + "\n").encode()
    assert len(body) > REJECTS_READ_BYTES
    s3.put_object(Bucket="segments-bucket", Key=f"rejects/{'a' * 32}.csv", Body=body)

    rejects = first_rejects(s3, bucket="segments-bucket", job_id="a" * 32, limit=3)

    assert rejects is not None
    assert rejects.rows == [
        ("2", "invalid_email", "email"),
        ("3", "invalid_email", "email"),
        ("4", "invalid_email", "email"),
    ]
    assert rejects.more
    small = first_rejects(s3, bucket="segments-bucket", job_id="a" * 32, limit=100_000)
    assert small is not None
    assert all(row[1] == "invalid_email" for row in small.rows)  # no cut last line
    assert first_rejects(s3, bucket="segments-bucket", job_id="b" * 32, limit=3) is None


# ----------------------------------------------------------------------------- audiences


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(qps={})).start(port=0) as emu:
        yield emu


def _registry(dynamodb: Any, rows: list[tuple[str, str, str | None]]) -> str:
    dynamodb.create_table(
        TableName="audiences",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "advertiser_id", "AttributeType": "S"},
            {"AttributeName": "audience_key", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "advertiser_id", "KeyType": "HASH"},
            {"AttributeName": "audience_key", "KeyType": "RANGE"},
        ],
    )
    for advertiser, key, audience_id in rows:
        item = {
            "advertiser_id": {"S": advertiser},
            "audience_key": {"S": key},
            "name": {"S": key.split("#")[1]},
            "api": {"S": key.split("#")[0]},
            "state": {"S": "ready" if audience_id else "creating"},
            "updated_at": {"N": "1700000000.000"},
        }
        if audience_id:
            item["audience_id"] = {"S": audience_id}
        dynamodb.put_item(TableName="audiences", Item=item)
    return "audiences"


def _tokens(emulator: EmulatorServer, advertisers: list[str]) -> TokenStore:
    secrets = boto3.client("secretsmanager")
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="oauth",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    token = emulator.state.issue_token(advertiser_ids=advertisers)
    secrets.create_secret(Name="auth/one", SecretString=json.dumps({"access_token": token}))
    for advertiser in advertisers:
        dynamodb.put_item(
            TableName="oauth",
            Item={"pk": {"S": f"advertiser#{advertiser}"}, "secret_name": {"S": "auth/one"}},
        )
    return TokenStore(
        oauth_table="oauth",
        secrets_client=secrets,
        dynamodb_resource=boto3.resource("dynamodb"),
    )


def test_sizes_come_from_tiktok_and_a_deleted_audience_does_not_hide_the_others(
    aws: None, emulator: EmulatorServer
) -> None:
    emulator.reset()
    state = emulator.state
    members = {("EMAIL_SHA256", f"{i:064x}") for i in range(1500)}
    kept = state.add_audience(ADV, "Kept", "customer_file", "EMAIL_SHA256", members=members)
    gone = state.add_audience(ADV, "Gone", "customer_file", "EMAIL_SHA256")
    state.remove_audience(gone.audience_id)  # deleted in Ads Manager
    dynamodb = boto3.client("dynamodb")
    table = _registry(
        dynamodb,
        [
            (ADV, "file#Kept", kept.audience_id),
            (ADV, "file#Gone", gone.audience_id),
            (ADV, "file#Starting", None),
            (ADV, f"segment#Swap#job#{'a' * 32}", "8000000000000000999"),
            ("7100000000000000009", "file#Elsewhere", "8000000000000000998"),
        ],
    )

    listing = list_audiences(
        dynamodb=dynamodb,
        table=table,
        tokens=_tokens(emulator, [ADV]),
        client=TikTokClient(emulator.api_base_url, retry=RetryPolicy(max_attempts=1)),
    )

    by_name = {row.name: row for row in listing.rows}
    assert by_name["Kept"].tiktok is not None
    assert by_name["Kept"].tiktok.cover_num == 1500
    assert by_name["Kept"].tiktok.is_valid is True
    assert by_name["Gone"].tiktok is None
    assert "does not exist" in listing.audience_problems[gone.audience_id]
    assert by_name["Starting"].state == "creating"
    assert "Swap" not in by_name  # a replace still building its audience
    assert listing.staging == 1
    assert "not connected" in listing.problems["7100000000000000009"]
    # one call for both, then one call each after TikTok refused the pair
    gets = [r for r in state.requests if "custom_audience/get" in r["path"]]
    assert len(gets) == 3


# ----------------------------------------------------------------------------------- dlq


def test_a_redrive_plan_finds_every_extra_copy_and_leaves_the_queue_as_it_was(aws: None) -> None:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="events-dlq")["QueueUrl"]
    target = sqs.create_queue(QueueName="events")["QueueUrl"]
    for original, copies in (("m-1", 3), ("m-2", 1), ("m-3", 2)):
        for _ in range(copies):
            sqs.send_message(
                QueueUrl=url,
                MessageBody="{}",
                MessageAttributes={
                    "original_message_id": {"DataType": "String", "StringValue": original}
                },
            )
    sqs.send_message(QueueUrl=url, MessageBody="{}")  # SQS-moved: its own id

    plan = plan_redrive(sqs, "events", url, target)

    assert (plan.messages, plan.distinct, len(plan.copies_to_delete)) == (7, 4, 3)
    assert plan.complete
    # the plan only looked: every message is visible again
    seen = scan(sqs, url, "events", limit=100)
    assert seen.messages == 7
    assert sorted(letter.copies for letter in seen.letters) == [1, 1, 2, 3]
    limited = plan_redrive(sqs, "events", url, target, limit=4)
    assert not limited.complete


def test_sync_lock_items_mark_their_audiences_and_are_not_listed_as_audiences(aws: None) -> None:
    from tiktok_connector_cli.audiences import registry_rows

    dynamodb = boto3.client("dynamodb")
    table = _registry(
        dynamodb,
        [
            (ADV, "file#Daily", "8000000000000000001"),
            (ADV, "segment#Stream", "8000000000000000002"),
            (ADV, "file#Hourly", "8000000000000000003"),
            (ADV, "file#Plain", "8000000000000000004"),
        ],
    )
    locks = {
        "sync#file#Daily": {"generation": {"S": "a" * 32}},
        "sync#segment#Stream": {"lock": {"M": {"job_id": {"S": "b" * 32}}}},
        "sync#file#Hourly": {"uncertain": {"L": [{"S": "c" * 32}]}},
    }
    for key, attributes in locks.items():
        item = {"advertiser_id": {"S": ADV}, "audience_key": {"S": key}, **attributes}
        dynamodb.put_item(TableName=table, Item=item)

    rows, _ = registry_rows(dynamodb, table, ADV)

    assert [(r.name, r.api, r.sync) for r in rows] == [
        ("Daily", "file", "synced"),
        ("Hourly", "file", "sync failed"),
        ("Plain", "file", None),
        ("Stream", "segment", "syncing"),
    ]
