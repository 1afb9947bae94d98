"""The stack creates the template's resources, seeds secrets and publishes stack.json when ready."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tiktok_local import stack as stack_module
from tiktok_local.resources import scaled_visibility
from tiktok_local.stack import REQUIRED_KEYS, LocalStack, write_json_atomically

from .conftest import TIME_SCALE

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
EXTRA_KEYS = (
    "ranges_queue_url",
    "oauth_table",
    "connections_secret_prefix",
    "emulator_url",
    "time_scale",
)


class _Tagged(yaml.SafeLoader):
    """Reads the template with every CFN tag kept as plain data (independent of resources.py)."""


_Tagged.add_multi_constructor(
    "!",
    lambda loader, suffix, node: {
        suffix: loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_sequence(node, deep=True)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node, deep=True)
    },
)


def _template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_Tagged)  # noqa: S506


def _name(value: dict[str, str]) -> str:
    """Resolve the template's `!Sub "${AWS::StackName}-..."` names by hand."""
    return (
        value["Sub"]
        .replace("${AWS::StackName}", "tiktok-connector")
        .replace("${AWS::AccountId}", "123456789012")
    )


def _of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in _template()["Resources"].items() if r["Type"] == kind}


def test_stack_json_has_every_key_and_matches_the_stack(stack: LocalStack) -> None:
    published = json.loads(stack.stack_json_path.read_text())
    for key in (*REQUIRED_KEYS, *EXTRA_KEYS):
        assert published.get(key) not in (None, ""), key
    assert published == json.loads(json.dumps(stack.names))
    assert published["aws_endpoint_url"] == stack.aws_endpoint_url
    assert published["region"] == "us-east-1"
    assert published["tiktok_api_base_url"] == stack.emulator.api_base_url
    assert published["tiktok_auth_url"] == stack.emulator.auth_url
    assert published["emulator_url"] == stack.emulator.base_url
    assert published["connect_url"] == f"{stack.http_front_url}/connect"
    assert published["connections_secret_prefix"] == "tiktok-connector/connections/"
    assert published["time_scale"] == TIME_SCALE
    leftovers = [p.name for p in stack.stack_json_path.parent.iterdir() if p.name != "stack.json"]
    assert leftovers == []


def test_queues_match_the_template(stack: LocalStack) -> None:
    sqs = stack.client("sqs")
    queues = _of_type("AWS::SQS::Queue")
    urls = {u.rsplit("/", 1)[-1]: u for u in sqs.list_queues()["QueueUrls"]}
    arns = {}
    for props in queues.values():
        name = _name(props["QueueName"])
        assert name in urls, name
        arns[name] = f"arn:aws:sqs:us-east-1:123456789012:{name}"
    for logical_id, props in queues.items():
        name = _name(props["QueueName"])
        attrs = sqs.get_queue_attributes(QueueUrl=urls[name], AttributeNames=["All"])["Attributes"]
        expected_visibility = scaled_visibility(props.get("VisibilityTimeout", 30), TIME_SCALE)
        assert int(attrs["VisibilityTimeout"]) == expected_visibility, logical_id
        if "RedrivePolicy" in props:
            policy = json.loads(attrs["RedrivePolicy"])
            dlq_logical = props["RedrivePolicy"]["deadLetterTargetArn"]["GetAtt"]
            dlq_name = _name(queues[dlq_logical.split(".")[0]]["QueueName"])
            assert policy == {
                "deadLetterTargetArn": arns[dlq_name],
                "maxReceiveCount": props["RedrivePolicy"]["maxReceiveCount"],
            }
        else:
            assert "RedrivePolicy" not in attrs
    assert stack.names["chunk_queue_url"] == urls["tiktok-connector-chunks"]
    assert stack.names["events_dlq_url"] == urls["tiktok-connector-events-dlq"]


def test_bucket_tables_and_secrets_match_the_template(stack: LocalStack) -> None:
    buckets = _of_type("AWS::S3::Bucket")
    bucket_props = buckets["SegmentsBucket"]
    bucket = _name(bucket_props["BucketName"])
    assert stack.names["segments_bucket"] == bucket
    # The access-log bucket is deliberately not created: S3 access logging is not emulated.
    assert set(buckets) == {"SegmentsBucket", "AccessLogsBucket"}
    created = {b["Name"] for b in stack.client("s3").list_buckets()["Buckets"]}
    assert _name(buckets["AccessLogsBucket"]["BucketName"]) not in created
    versioning = stack.client("s3").get_bucket_versioning(Bucket=bucket)
    assert versioning.get("Status") == bucket_props["VersioningConfiguration"]["Status"]

    dynamodb = stack.client("dynamodb")
    for props in _of_type("AWS::DynamoDB::Table").values():
        name = _name(props["TableName"])
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["KeySchema"] == props["KeySchema"]
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "ENABLED"
        assert ttl["AttributeName"] == props["TimeToLiveSpecification"]["AttributeName"]

    secrets = stack.client("secretsmanager")

    def secret(name: str) -> str:
        return str(secrets.get_secret_value(SecretId=name)["SecretString"])

    for props in _of_type("AWS::SecretsManager::Secret").values():
        assert secret(_name(props["Name"]))
    app = json.loads(secret(stack.names["app_secret_name"]))
    assert app == {
        "app_id": stack.emulator.config.app_id,
        "secret": stack.emulator.config.app_secret,
    }
    state_key = secret(stack.names["state_key_secret_name"])
    assert re.fullmatch(r"[0-9a-f]{64}", state_key)
    connection = json.loads(secret("tiktok-connector/connections/default"))
    assert connection["event_source"] == "web"
    assert connection["event_source_id"] == "CDEMOPIXEL000000000A"
    assert stack.emulator.state.token_record(connection["access_token"]) is not None


def test_function_environment_points_at_the_local_stack(stack: LocalStack) -> None:
    assert os.environ["AWS_ENDPOINT_URL"] == stack.aws_endpoint_url
    assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert os.environ["SEGMENTS_BUCKET"] == stack.names["segments_bucket"]
    assert os.environ["CHUNK_QUEUE_URL"] == stack.names["chunk_queue_url"]
    assert os.environ["RANGES_QUEUE_URL"] == stack.names["ranges_queue_url"]
    assert os.environ["JOBS_TABLE"] == stack.names["jobs_table"]
    assert os.environ["AUDIENCES_TABLE"] == stack.names["audiences_table"]
    assert os.environ["OAUTH_TABLE"] == stack.names["oauth_table"]
    assert os.environ["APP_SECRET_NAME"] == stack.names["app_secret_name"]
    assert os.environ["CONNECTIONS_SECRET_PREFIX"] == "tiktok-connector/connections/"
    assert os.environ["TIKTOK_API_BASE_URL"] == stack.emulator.api_base_url
    assert os.environ["TIKTOK_AUTH_URL"] == stack.emulator.auth_url
    assert os.environ["OAUTH_REDIRECT_URI"] == f"{stack.http_front_url}/oauth/callback"
    assert os.environ["DEFAULT_PHONE_REGION"] == "US"


def test_template_event_sources_drive_the_dispatcher(stack: LocalStack) -> None:
    sources = {s.queue_url: s for s in stack.dispatcher.sqs_sources}
    ranges = sources[stack.names["ranges_queue_url"]]  # the overridden ingest function
    assert ranges.batch_size == 1
    assert ranges.report_batch_item_failures
    assert ranges.function.function_name == "tiktok-connector-segment-ingest"
    assert ranges.function.timeout == 900
    [s3_source] = stack.dispatcher.s3_sources
    assert s3_source.maximum_retry_attempts == 2
    assert s3_source.on_failure_queue_url == stack.names["ingest_failures_queue_url"]


def test_write_json_atomically_replaces_in_one_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / ".local" / "stack.json"
    write_json_atomically(target, {"v": 1})
    seen: list[tuple[dict[str, Any], dict[str, Any]]] = []
    real_replace = os.replace

    def spy(src: str | Path, dst: str | Path) -> None:
        # At the moment of the swap the new file is complete and the old one untouched.
        seen.append((json.loads(Path(src).read_text()), json.loads(Path(dst).read_text())))
        real_replace(src, dst)

    monkeypatch.setattr(stack_module.os, "replace", spy)
    write_json_atomically(target, {"v": 2, "big": "x" * 100_000})
    assert seen == [({"v": 2, "big": "x" * 100_000}, {"v": 1})]
    assert json.loads(target.read_text())["v"] == 2
    assert sorted(p.name for p in target.parent.iterdir()) == ["stack.json"]
