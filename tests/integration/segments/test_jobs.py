"""JobStore against moto: conditional writes make every step safe to run twice."""

from __future__ import annotations

import json
from typing import Any

from tiktok_connector.contract.job import FAILED, RUNNING, SUCCEEDED, JobError, job_id_for
from tiktok_connector.contract.report import JobReport
from tiktok_connector.segments.jobs import JobSpec, JobStore
from tiktok_connector.segments.report import report_key
from tiktok_connector.segments.stats import RangeStats

from .conftest import BUCKET

REPORT_KEYS = [
    # DESIGN §3.7
    "job_id", "source", "advertiser_id", "audience_name", "action", "api", "status", "rows",
    "identifiers", "rejected_by_reason", "chunks", "tiktok", "error", "waiting", "started_at",
    "finished_at",
    # DESIGN §6b
    "encoding", "columns", "options", "warnings",
    # issue 15: a sync job's difference and state (null for other actions)
    "changes", "sync",
]  # fmt: skip


def _spec(ranges: int = 1) -> JobSpec:
    key = "segments/7100000000000000001/VIP buyers/append/list.csv"
    return JobSpec(
        job_id=job_id_for(BUCKET, key, "v1"),
        bucket=BUCKET,
        key=key,
        version_id="v1",
        advertiser_id="7100000000000000001",
        audience_name="VIP buyers",
        action="append",
        api="file",
        phone_region="US",
        columns=("EMAIL_SHA256",),
        calculate_type="EMAIL_SHA256",
        ranges_total=ranges,
    )


def _stats(chunks: int, accepted: int = 10, rejected: int = 2) -> RangeStats:
    return RangeStats(
        lines=accepted + rejected + 1,
        read=accepted + rejected,
        accepted=accepted,
        rejected=rejected,
        chunks=chunks,
        identifiers={"email": [accepted, rejected]},
        rejected_by_reason={"invalid_email": rejected},
    )


def test_job_id_is_stable_per_object_version() -> None:
    assert job_id_for("b", "k", "v1") == job_id_for("b", "k", "v1")
    assert job_id_for("b", "k", "v1") != job_id_for("b", "k", "v2")
    assert len(job_id_for("b", "k", "v1")) == 32


def test_create_is_idempotent(aws: dict[str, Any]) -> None:
    jobs: JobStore = aws["jobs"]
    created, item = jobs.create(_spec())
    assert created
    assert item.status == RUNNING
    again, existing = jobs.create(_spec())
    assert not again
    assert existing.job_id == item.job_id
    assert existing.started_at == item.started_at


def test_fan_in_counts_each_range_and_chunk_once(aws: dict[str, Any]) -> None:
    jobs: JobStore = aws["jobs"]
    spec = _spec(ranges=2)
    jobs.create(spec)
    first = jobs.record_range(spec.job_id, 0, _stats(chunks=2))
    assert first is not None
    assert first.ranges_done == 1
    assert first.chunks_total == 2
    assert jobs.record_range(spec.job_id, 0, _stats(chunks=2)) is None  # redelivered range
    done = jobs.mark_chunk_done(spec.job_id, "chunks/x/0000-00000.csv", "fp-a")
    assert done is not None
    assert not JobStore.ready_to_finalize(done)
    assert jobs.mark_chunk_done(spec.job_id, "chunks/x/0000-00000.csv", "fp-a") is None
    done = jobs.mark_chunk_done(spec.job_id, "chunks/x/0000-00001.csv", "fp-b")
    assert done is not None
    assert not JobStore.ready_to_finalize(done)
    last = jobs.record_range(spec.job_id, 1, _stats(chunks=1))
    assert last is not None
    assert last.ranges_done == 2
    assert last.chunks_total == 3
    done = jobs.mark_chunk_done(spec.job_id, "chunks/x/0001-00000.csv", "fp-c")
    assert done is not None
    assert JobStore.ready_to_finalize(done)
    assert done.chunks_done == 3


def test_finalization_is_claimed_once_with_a_lease(aws: dict[str, Any]) -> None:
    jobs: JobStore = aws["jobs"]
    spec = _spec()
    jobs.create(spec)
    assert jobs.claim_finalization(spec.job_id, owner="a", now=1000, lease_seconds=60)
    assert not jobs.claim_finalization(spec.job_id, owner="b", now=1030, lease_seconds=60)
    assert jobs.claim_finalization(spec.job_id, owner="b", now=1100, lease_seconds=60)


def test_finish_first_outcome_wins_and_report_has_fixed_keys(aws: dict[str, Any]) -> None:
    jobs: JobStore = aws["jobs"]
    spec = _spec()
    jobs.create(spec)
    jobs.record_range(spec.job_id, 0, _stats(chunks=1))
    jobs.mark_chunk_done(spec.job_id, "chunks/x/0000-00000.csv", "fp-a")
    jobs.record_tiktok(spec.job_id, request_ids=["req-1"])
    final = jobs.finish(spec.job_id, status=SUCCEEDED, audience_id="999", request_ids=["req-2"])
    assert final is not None
    assert final.status == SUCCEEDED
    assert jobs.fail(spec.job_id, "late", "too late") is None
    report = jobs.write_report(spec.job_id, s3=aws["s3"], bucket=BUCKET).as_json()
    stored = json.loads(
        aws["s3"].get_object(Bucket=BUCKET, Key=report_key(spec.job_id))["Body"].read()
    )
    assert stored == report
    assert list(report) == REPORT_KEYS
    assert list(JobReport.model_fields) == REPORT_KEYS
    assert report["rows"] == {
        "read": 12, "accepted": 10, "rejected": 2, "blank": 0, "duplicates": 0,
    }  # fmt: skip
    assert report["identifiers"] == {"email": {"accepted": 10, "rejected": 2}}
    assert report["tiktok"] == {
        "audience_id": "999", "file_paths": ["fp-a"], "request_ids": ["req-1", "req-2"],
        # the audience's size at TikTok (issue 14): null until the upload reads it
        "audience_size": None, "is_valid": None, "status_checked_at": None,
        "size_unknown_reason": None,
    }  # fmt: skip
    assert report["chunks"] == {"total": 1, "done": 1}
    assert report["error"] is None
    assert (report["changes"], report["sync"]) == (None, None)  # not a sync job
    assert report["finished_at"]


def test_failed_job_reports_error_and_blocks_further_progress(aws: dict[str, Any]) -> None:
    jobs: JobStore = aws["jobs"]
    spec = _spec()
    jobs.create(spec)
    item = jobs.finish(spec.job_id, status=FAILED, error=JobError("audience_exists", "use append"))
    assert item is not None
    assert item.error is not None
    assert item.error.code == "audience_exists"
    assert jobs.record_range(spec.job_id, 0, _stats(chunks=1)) is None
    assert jobs.mark_chunk_done(spec.job_id, "chunks/x/0000-00000.csv", "fp") is None
    assert not jobs.claim_finalization(spec.job_id, owner="a", now=1)


def test_a_stale_running_report_never_overwrites_the_final_one(aws: dict[str, Any]) -> None:
    # Ingest renders a "running" report; before its put lands, upload ends the job and writes
    # the final report. The stale copy must not be what stays in S3.
    jobs: JobStore = aws["jobs"]
    spec = _spec()
    jobs.create(spec)
    jobs.record_range(spec.job_id, 0, _stats(chunks=1))
    stale = jobs.get(spec.job_id)
    assert stale is not None
    assert stale.status == "running"
    jobs.finish(spec.job_id, status=SUCCEEDED, audience_id="42")
    jobs.write_report(spec.job_id, s3=aws["s3"], bucket=BUCKET)  # upload's final report

    jobs.write_report(stale, s3=aws["s3"], bucket=BUCKET)  # ingest's late "running" copy

    stored = json.loads(
        aws["s3"].get_object(Bucket=BUCKET, Key=report_key(spec.job_id))["Body"].read()
    )
    assert stored["status"] == SUCCEEDED
    assert stored["tiktok"]["audience_id"] == "42"
