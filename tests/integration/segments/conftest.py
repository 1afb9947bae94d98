"""moto fixtures for segment-ingest integration tests (in-process, no sockets)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tiktok_connector.segments.jobs import JobStore

REGION = "us-east-1"
BUCKET = "tiktok-connector-segments-123456789012"
TABLE = "tiktok-connector-jobs"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """S3 bucket (versioned), chunk + ranges queues and the jobs table in moto."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        ddb = boto3.client("dynamodb", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        chunk_q = sqs.create_queue(QueueName="tiktok-connector-chunks")["QueueUrl"]
        ranges_q = sqs.create_queue(QueueName="tiktok-connector-ranges")["QueueUrl"]
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield {
            "s3": s3,
            "sqs": sqs,
            "dynamodb": ddb,
            "chunk_queue_url": chunk_q,
            "ranges_queue_url": ranges_q,
            "jobs": JobStore(TABLE, dynamodb=ddb),
        }
