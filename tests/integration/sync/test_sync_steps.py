"""The sync_plan / sync_group steps on moto: lock, plan, group messages, wait, give up."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

import pytest

from tests.conftest import TemplateAws
from tiktok_connector.contract.job import RUNNING, JobItem, JobSource, RangeRecord, StoredPlan
from tiktok_connector.contract.messages import SyncGroupMessage, SyncPlanMessage
from tiktok_connector.segments.fanout import send_batches
from tiktok_connector.segments.ingest import SegmentIngest
from tiktok_connector.segments.jobs import JobStore
from tiktok_connector.segments.options import parse_options
from tiktok_connector.segments.planning import plan_file
from tiktok_connector.segments.ranges import process_range
from tiktok_connector.segments.settings import IngestSettings
from tiktok_connector.sync.handover import hand_over
from tiktok_connector.sync.jobstate import SyncJobs
from tiktok_connector.sync.lock import SyncLock, lock_key
from tiktok_connector.sync.runs import RunWriter
from tiktok_connector.sync.steps import SyncSteps

BUCKET = "tiktok-connector-segments-123456789012"
JOBS = "tiktok-connector-jobs"
AUDIENCES = "tiktok-connector-audiences"
ADV = "7001"


def job_id(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()[:32]


@pytest.fixture
def steps(template_aws: TemplateAws) -> SyncSteps:
    """The steps over the template's own bucket, tables and ranges queue (moto)."""
    assert (template_aws.bucket, template_aws.table("JobsTable")) == (BUCKET, JOBS)
    assert template_aws.table("AudiencesTable") == AUDIENCES
    ddb = template_aws.client("dynamodb")
    return SyncSteps(
        s3=template_aws.client("s3"),
        sqs=template_aws.client("sqs"),
        jobs=JobStore(JOBS, dynamodb=ddb),
        sync_jobs=SyncJobs(JOBS, dynamodb=ddb),
        lock=SyncLock(table=AUDIENCES, dynamodb=ddb),
        bucket=BUCKET,
        ranges_queue_url=template_aws.queue_url("RangesQueue"),
        send=send_batches,
        clock=lambda: 2_000_000_000.0,
    )


def new_job(
    steps: SyncSteps, job: str, rows: int, started_at: str = "2033-05-18T03:33:20Z"
) -> None:
    writer = RunWriter(
        s3=steps.s3, bucket=BUCKET, job_id=job, range_index=0, columns=["email_sha256"],
        api="file", bits=0,
    )  # fmt: skip
    writer.write([hashlib.sha256(f"u{i}".encode()).hexdigest() for i in range(rows)])
    parts = writer.close()
    item = JobItem(
        job_id=job, status=RUNNING, source=JobSource(bucket=BUCKET, key="k"),
        advertiser_id=ADV, audience_name="Fans", action="sync", api="file",
        columns=["email_sha256"], ranges={"0": RangeRecord(run_parts=len(parts))},
        ranges_done=1, started_at=started_at,
    )  # fmt: skip
    steps.jobs._ddb.put_item(TableName=JOBS, Item=item.creation_attributes())


def messages(steps: SyncSteps) -> list[dict[str, Any]]:
    got = steps.sqs.receive_message(QueueUrl=steps.ranges_queue_url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def test_plan_takes_the_lock_and_fans_out_groups_and_the_last_group_completes(
    steps: SyncSteps,
) -> None:
    new_job(steps, job_id(1), 50)
    assert steps.plan(SyncPlanMessage(job_id=job_id(1))) == RUNNING
    sent = messages(steps)
    assert sent == [{"type": "sync_group", "job_id": job_id(1), "group": 0}]
    state = steps.lock.get(ADV, lock_key("file", "Fans"))
    assert state is not None
    assert state.holder == job_id(1)
    done = steps.group(SyncGroupMessage(job_id=job_id(1), group=0))
    assert done is not None
    assert done.sync is not None
    assert done.sync.groups["0"].added == 50
    assert steps.group(SyncGroupMessage(job_id=job_id(1), group=0)) is None  # redelivery


def test_a_sync_waits_while_another_sends_and_gives_up_after_a_week(steps: SyncSteps) -> None:
    new_job(steps, job_id(1), 10)
    new_job(steps, job_id(2), 10)
    steps.plan(SyncPlanMessage(job_id=job_id(1)))
    assert steps.lock.start_sending(ADV, lock_key("file", "Fans"), job_id(1))
    messages(steps)
    assert steps.plan(SyncPlanMessage(job_id=job_id(2))) == "waiting"
    assert messages(steps) == []  # delayed: not visible yet
    late = replace(steps, clock=lambda: 2_000_000_000.0 + 8 * 86400)
    assert late.plan(SyncPlanMessage(job_id=job_id(2))) == "failed"
    item = steps.jobs.get(job_id(2))
    assert item is not None
    assert item.error is not None
    assert item.error.code == "sync_in_progress"
    assert "7 days" in item.error.message


def chunk_queue(steps: SyncSteps) -> str:
    return str(steps.sqs.create_queue(QueueName="chunks")["QueueUrl"])


def run_to_handover(steps: SyncSteps, job: str, rows: int) -> str:
    new_job(steps, job, rows)
    steps.plan(SyncPlanMessage(job_id=job))
    messages(steps)
    done = steps.group(SyncGroupMessage(job_id=job, group=0))
    assert done is not None
    return hand_over(steps, done, chunk_queue_url=chunk_queue(steps))


def test_the_handover_writes_change_chunks_and_sends_them_once_sending(steps: SyncSteps) -> None:
    assert run_to_handover(steps, job_id(1), 1_200) == RUNNING
    got = steps.sqs.receive_message(QueueUrl=chunk_queue(steps), MaxNumberOfMessages=10)
    bodies = [json.loads(m["Body"]) for m in got["Messages"]]
    assert [b["chunk_key"] for b in bodies] == [f"chunks/{job_id(1)}/sync-add-00000.csv"]
    assert bodies[0]["rows"] == 1_200
    item = steps.jobs.get(job_id(1))
    assert item is not None
    assert item.sync is not None
    assert item.chunks_total == 1
    assert item.sync.changes == {"EMAIL_SHA256": {"added": 1_200, "removed": 0, "unchanged": 0}}
    state = steps.lock.get(ADV, lock_key("file", "Fans"))
    assert state is not None
    assert state.phase == "sending"


def test_a_customer_file_sync_under_1000_ids_fails_with_the_state_unchanged(
    steps: SyncSteps,
) -> None:
    assert run_to_handover(steps, job_id(1), 50) == "failed"
    item = steps.jobs.get(job_id(1))
    assert item is not None
    assert item.error is not None
    assert item.error.code == "too_few_members"
    assert "1,000" in item.error.message
    state = steps.lock.get(ADV, lock_key("file", "Fans"))
    assert state is not None
    assert (state.holder, state.generation) == (None, None)
    listed = steps.s3.list_objects_v2(Bucket=BUCKET, Prefix="sync/")
    assert listed.get("KeyCount", 0) == 0


def test_a_sync_jobs_ranges_write_runs_and_the_last_one_sends_sync_plan(steps: SyncSteps) -> None:
    body = "email\n" + "".join(f"user{i}@example.com\n" for i in range(300))
    steps.s3.put_object(Bucket=BUCKET, Key="in/f.csv", Body=body.encode())
    options = parse_options({}, default_phone_region="US")
    planned = plan_file(
        steps.s3, BUCKET, "in/f.csv", None, filename="f.csv", size=len(body),
        options=options, range_bytes=1024,
    )  # fmt: skip
    assert len(planned.ranges) > 1
    settings = IngestSettings(
        segments_bucket=BUCKET, chunk_queue_url=chunk_queue(steps), jobs_table=JOBS,
        ranges_queue_url=steps.ranges_queue_url,
    )  # fmt: skip
    item = JobItem(
        job_id=job_id(9), status=RUNNING, source=JobSource(bucket=BUCKET, key="in/f.csv"),
        advertiser_id=ADV, audience_name="Fans", action="sync", api="file",
        columns=planned.plan.columns, ranges_total=len(planned.ranges),
        plan=StoredPlan(columns=planned.plan.as_dict(), ranges=planned.ranges),
    )  # fmt: skip
    steps.jobs._ddb.put_item(TableName=JOBS, Item=item.creation_attributes())
    for i in range(len(planned.ranges)):
        current = steps.jobs.get(job_id(9))
        assert current is not None
        process_range(current, i, s3=steps.s3, sqs=steps.sqs, jobs=steps.jobs, settings=settings)
    done = steps.jobs.get(job_id(9))
    assert done is not None
    assert done.running
    assert done.chunks_total == 0
    assert sum(r.run_parts for r in done.ranges.values()) >= 1
    assert messages(steps) == [{"type": "sync_plan", "job_id": job_id(9)}]
    assert steps.plan(SyncPlanMessage(job_id=job_id(9))) == RUNNING
    finished = steps.group(SyncGroupMessage(job_id=job_id(9), group=0))
    assert finished is not None
    assert finished.sync is not None
    assert finished.sync.groups["0"].added == 300


def test_the_ingest_function_runs_sync_messages_through_the_steps(steps: SyncSteps) -> None:
    settings = IngestSettings(
        segments_bucket=BUCKET, chunk_queue_url=chunk_queue(steps), jobs_table=JOBS,
        ranges_queue_url=steps.ranges_queue_url,
    )  # fmt: skip
    ingest = SegmentIngest(s3=steps.s3, sqs=steps.sqs, jobs=steps.jobs, settings=settings)
    with pytest.raises(ValueError, match="AUDIENCES_TABLE"):
        ingest.queued(SyncPlanMessage(job_id=job_id(1)))
    ingest = replace(ingest, sync=steps)
    new_job(steps, job_id(1), 1_500)
    assert ingest.queued(SyncPlanMessage(job_id=job_id(1))).status == RUNNING
    assert messages(steps) == [{"type": "sync_group", "job_id": job_id(1), "group": 0}]
    assert ingest.queued(SyncGroupMessage(job_id=job_id(1), group=0)).status == RUNNING
    item = steps.jobs.get(job_id(1))
    assert item is not None
    assert item.sync is not None
    assert item.sync.members == 1_500
