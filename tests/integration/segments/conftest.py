"""Segment-ingest integration fixtures: the template's resources in moto (in-process, no sockets)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Any

import pytest
from pydantic import TypeAdapter

from tests.conftest import TemplateAws
from tiktok_connector.contract.messages import RangesQueueMessage
from tiktok_connector.segments.ingest import IngestResult, SegmentIngest
from tiktok_connector.segments.jobs import JobStore
from tiktok_connector.segments.settings import IngestSettings

BUCKET = "tiktok-connector-segments-123456789012"
TABLE = "tiktok-connector-jobs"
RANGES_QUEUE: TypeAdapter[RangesQueueMessage] = TypeAdapter(RangesQueueMessage)


@pytest.fixture
def aws(template_aws: TemplateAws) -> dict[str, Any]:
    """The template's bucket (versioned), chunk + ranges queues and jobs table in moto."""
    ddb = template_aws.client("dynamodb")
    assert template_aws.bucket == BUCKET
    assert template_aws.table("JobsTable") == TABLE
    return {
        "s3": template_aws.client("s3"),
        "sqs": template_aws.client("sqs"),
        "dynamodb": ddb,
        "chunk_queue_url": template_aws.queue_url("ChunkQueue"),
        "ranges_queue_url": template_aws.queue_url("RangesQueue"),
        "jobs": JobStore(TABLE, dynamodb=ddb),
    }


class Harness:
    """Drop files in the moto bucket, run ingest, read back reports, chunks, messages."""

    def __init__(self, aws: dict[str, Any], **overrides: Any) -> None:
        self.aws = aws
        self.s3 = aws["s3"]
        self.sqs = aws["sqs"]
        self.jobs: JobStore = aws["jobs"]
        self.settings = IngestSettings(
            segments_bucket=BUCKET,
            chunk_queue_url=aws["chunk_queue_url"],
            ranges_queue_url=aws["ranges_queue_url"],
            jobs_table=TABLE,
            **overrides,
        )
        self.ingest = SegmentIngest(
            s3=self.s3, sqs=self.sqs, jobs=self.jobs, settings=self.settings
        )

    def put(self, key: str, body: bytes | str, metadata: dict[str, str] | None = None) -> str:
        data = body.encode() if isinstance(body, str) else body
        resp = self.s3.put_object(Bucket=BUCKET, Key=key, Body=data, Metadata=metadata or {})
        return str(resp["VersionId"])

    def drop(
        self, key: str, body: bytes | str, metadata: dict[str, str] | None = None
    ) -> IngestResult:
        """Put the object and deliver its notification (then drain range messages)."""
        version = self.put(key, body, metadata)
        result = self.ingest.object_created(BUCKET, key, version)
        self.drain_ranges()
        return result

    def drain_ranges(self) -> list[IngestResult]:
        results = []
        while True:
            msgs = self.sqs.receive_message(
                QueueUrl=self.aws["ranges_queue_url"], MaxNumberOfMessages=10
            ).get("Messages", [])
            if not msgs:
                return results
            for m in msgs:
                results.append(self.ingest.queued(RANGES_QUEUE.validate_json(m["Body"])))
                self.sqs.delete_message(
                    QueueUrl=self.aws["ranges_queue_url"], ReceiptHandle=m["ReceiptHandle"]
                )

    def report(self, job_id: str) -> dict[str, Any]:
        body = self.s3.get_object(Bucket=BUCKET, Key=f"reports/{job_id}.json")["Body"].read()
        return dict(json.loads(body))

    def rejects(self, job_id: str) -> list[list[str]]:
        body = self.s3.get_object(Bucket=BUCKET, Key=f"rejects/{job_id}.csv")["Body"].read()
        return list(csv.reader(io.StringIO(body.decode())))

    def chunk_messages(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            msgs = self.sqs.receive_message(
                QueueUrl=self.aws["chunk_queue_url"], MaxNumberOfMessages=10
            ).get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.aws["chunk_queue_url"], ReceiptHandle=m["ReceiptHandle"]
                )

    def chunk_rows(self, messages: list[dict[str, Any]]) -> tuple[str, list[str]]:
        """(header, data lines) over every chunk named by ``messages`` (sorted by key)."""
        header = ""
        rows: list[str] = []
        for m in sorted(messages, key=lambda m: m.get("chunk_key", "")):
            if m["type"] != "chunk":
                continue
            body = self.s3.get_object(Bucket=BUCKET, Key=m["chunk_key"])["Body"].read()
            assert hashlib.md5(body, usedforsecurity=False).hexdigest() == m["md5"]
            lines = body.decode("ascii").split("\n")
            assert lines[-1] == ""
            header = lines[0]
            rows.extend(lines[1:-1])
            assert len(lines) - 2 == m["rows"]
        return header, rows


@pytest.fixture
def harness(aws: dict[str, Any]) -> Harness:
    return Harness(aws)
