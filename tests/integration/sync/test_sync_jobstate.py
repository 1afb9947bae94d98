"""A sync job's record on its job item (moto DynamoDB): each step recorded once."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from tiktok_connector.contract.job import FAILED, RUNNING, JobItem, JobSource, SyncChunk
from tiktok_connector.sync.jobstate import SyncJobs

TABLE = "sync-jobs-tests"
JOB = "a" * 32


@pytest.fixture
def store() -> Iterator[tuple[SyncJobs, object]]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
        )
        item = JobItem(job_id=JOB, status=RUNNING, source=JobSource(bucket="b", key="k"))
        ddb.put_item(TableName=TABLE, Item=item.creation_attributes())
        yield SyncJobs(TABLE, dynamodb=ddb), ddb


def test_plan_groups_and_changes_are_recorded_once(store: tuple[SyncJobs, object]) -> None:
    jobs, _ = store
    assert jobs.planned(JOB, bits=4, base=None, groups_total=2)
    assert not jobs.planned(JOB, bits=5, base="x", groups_total=9)  # redelivery
    first = jobs.record_group(JOB, 0, added=3, removed=1)
    assert first is not None
    assert first.sync is not None
    assert (first.sync.bits, first.sync.base, first.sync.groups_total) == (4, None, 2)
    assert jobs.record_group(JOB, 0, added=3, removed=1) is None
    second = jobs.record_group(JOB, 1, added=2, removed=0)
    assert second is not None
    assert second.sync is not None
    assert sorted(second.sync.groups) == ["0", "1"]
    chunk = SyncChunk(key=f"chunks/{JOB}/sync-remove-00000.csv", rows=1, md5="0" * 32)
    done = jobs.record_changes(
        JOB,
        changes={"EMAIL_SHA256": {"added": 5, "removed": 1, "unchanged": 10}},
        members=15,
        chunks_total=1,
        remove_chunks=[chunk],
    )
    assert done is not None
    assert done.sync is not None
    assert (done.chunks_total, done.sync.members, done.sync.remove_chunks) == (1, 15, [chunk])
    assert jobs.record_changes(JOB, changes={}, members=0, chunks_total=0, remove_chunks=[]) is None
    assert jobs.mark_removes_sent(JOB)
    assert not jobs.mark_removes_sent(JOB)


def test_nothing_is_recorded_on_a_job_that_ended(store: tuple[SyncJobs, object]) -> None:
    jobs, ddb = store
    ddb.update_item(  # type: ignore[attr-defined]
        TableName=TABLE,
        Key={"job_id": {"S": JOB}},
        UpdateExpression="SET #s = :f",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":f": {"S": FAILED}},
    )
    assert not jobs.planned(JOB, bits=4, base=None, groups_total=1)
