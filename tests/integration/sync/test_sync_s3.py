"""The sync engine against S3 (moto, in-process): snapshots written, diffed against and read back
through real boto3 calls — ranged GETs, ContentRange, NoSuchKey, a versioned, encrypted bucket
like the template's."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.unit.sync.support import chunk_members, lines_for, run_sync
from tiktok_connector.audiences.file_format import HEADER_OF, FileShape, conform
from tiktok_connector.sync import diff, planning, records, snapshot
from tiktok_connector.sync.records import CorruptSyncObject, MissingSyncObject

REGION = "us-east-1"
BUCKET = "tiktok-connector-segments-123456789012"
SHAPE = FileShape.of_columns(["EMAIL_SHA256", "PHONE_SHA256", "IDFA_SHA256"])
COLUMNS = SHAPE.columns
PREFIX = snapshot.snapshot_prefix("7", "file", "file#Daily buyers")


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        client.put_bucket_encryption(
            Bucket=BUCKET,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        yield client


def h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def population(rng: random.Random, n: int, tag: str) -> set[tuple[str, str]]:
    """Members of three column types (an IDFA column: a MAID member of the customer file)."""
    kinds = ("EMAIL_SHA256", "PHONE_SHA256", "IDFA_SHA256")
    return {(kinds[i % 3], h(f"{tag}-{i}-{rng.random()}")) for i in range(n)}


class TikTokAudience:
    """TikTok's side as set operations on what upload would send: each change chunk conformed
    to the audience's shape (as the customer-file path does), APPEND files before REMOVE files."""

    def __init__(self) -> None:
        self.members: set[tuple[str, str]] = set()
        self.rows_sent = 0

    def apply(self, s3: Any, adds: list[Any], removes: list[Any]) -> None:
        for chunks, add in ((adds, True), (removes, False)):
            for chunk in chunks:
                body = s3.get_object(Bucket=BUCKET, Key=chunk.key)["Body"].read()
                header, *rows = conform(body, SHAPE, name="Daily buyers").decode().splitlines()
                for row in rows:
                    self.rows_sent += 1
                    for name, value in zip(header.split(","), row.split(","), strict=True):
                        if value:
                            (self.members.add if add else self.members.discard)((name, value))


def tiktok_view(members: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(HEADER_OF[column], value) for column, value in members}


def test_three_syncs_leave_tiktok_equal_to_each_file_and_send_only_changes(s3: Any) -> None:
    rng = random.Random(15)
    day1 = population(rng, 6_000, "a")
    ordered = sorted(day1)
    rng.shuffle(ordered)
    day2 = set(ordered[int(0.03 * len(ordered)) :]) | population(rng, 300, "b")  # -3 %, +5 %
    tiktok = TikTokAudience()
    kw: dict[str, Any] = {
        "columns": COLUMNS,
        "api": "file",
        "prefix": PREFIX,
        "bucket": BUCKET,
        "chunk_rows": 2_500,
        "group_records": 4_000,
    }

    first = run_sync(s3, job_id="job1", lines=lines_for(day1, COLUMNS), bits=2, ranges=3, **kw)
    tiktok.apply(s3, first.adds, first.removes)
    assert tiktok.members == tiktok_view(day1)
    assert tiktok.rows_sent == len(day1)

    sent_before = tiktok.rows_sent
    second = run_sync(
        s3, job_id="job2", lines=lines_for(day2, COLUMNS), base="job1", bits=4, ranges=4, **kw
    )
    tiktok.apply(s3, second.adds, second.removes)
    assert tiktok.members == tiktok_view(day2)
    assert tiktok.rows_sent - sent_before == len(day1 ^ day2)  # only the changes
    assert second.result.added == 300
    assert second.result.removed == int(0.03 * 6_000)
    assert len(second.plan.groups) > 1  # fanned out, and re-cut: k changed from 2 to 4

    third = run_sync(
        s3, job_id="job3", lines=lines_for(day2, COLUMNS), base="job2", bits=3, ranges=2, **kw
    )
    assert (third.adds, third.removes) == ([], [])  # nothing to send
    assert third.result.changes_report() == {
        t: {"added": 0, "removed": 0, "unchanged": n}
        for t, n in sorted(third.result.manifest.members.items())
    }
    stored = diff.current_members(s3, BUCKET, snapshot.read_manifest(s3, BUCKET, PREFIX, "job3"))
    assert {(records.BY_CODE[r[32]].name, records.record_hex(r)) for r in stored} == {
        (HEADER_OF[c].upper(), v) for c, v in day2
    }


def test_sync_objects_are_hashes_only_and_encrypted_like_chunks(s3: Any) -> None:
    emails = [f"person{i}@example.com" for i in range(50)]
    members = {("EMAIL_SHA256", h(e)) for e in emails}
    run_sync(
        s3,
        job_id="job1",
        lines=lines_for(members, COLUMNS),
        columns=COLUMNS,
        api="file",
        prefix=PREFIX,
        bucket=BUCKET,
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert any(k.startswith(PREFIX) for k in keys)
    assert all(k.startswith(("sync/", "chunks/job1/")) for k in keys)
    for key in keys:
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert head["ServerSideEncryption"] == "AES256"
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert b"@example.com" not in body
        assert b"Daily buyers" not in body


def test_a_redelivered_diff_rewrites_the_same_objects(s3: Any) -> None:
    rng = random.Random(3)
    day1, day2 = population(rng, 900, "a"), population(rng, 900, "b")
    kw: dict[str, Any] = {
        "columns": COLUMNS,
        "api": "file",
        "prefix": PREFIX,
        "bucket": BUCKET,
        "group_records": 500,
    }
    run_sync(s3, job_id="job1", lines=lines_for(day1, COLUMNS), **kw)
    second = run_sync(s3, job_id="job2", lines=lines_for(day2 | day1, COLUMNS), base="job1", **kw)
    etags = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}

    # the worker died after group 0, and everything is delivered again
    plan = planning.read_plan(s3, BUCKET, "job2")
    assert plan == second.plan
    diff.diff_group(s3, BUCKET, plan, 0)
    again = diff.diff_all(
        s3,
        BUCKET,
        planning.plan_diff(
            s3,
            BUCKET,
            job_id="job2",
            prefix=PREFIX,
            base_generation="job1",
            run_keys=second.run_keys,
            group_records=500,
        ),
    )

    assert again == second.result == diff.read_result(s3, BUCKET, "job2")
    after = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert after == etags


def test_a_missing_segment_is_an_error_through_s3(s3: Any) -> None:
    rng = random.Random(4)
    members = population(rng, 500, "a")
    kw: dict[str, Any] = {
        "columns": COLUMNS,
        "api": "file",
        "prefix": PREFIX,
        "bucket": BUCKET,
        "group_records": 200,
    }
    first = run_sync(s3, job_id="job1", lines=lines_for(members, COLUMNS), **kw)
    lost = first.result.manifest.segments[1].key
    s3.delete_object(Bucket=BUCKET, Key=lost)
    with pytest.raises(MissingSyncObject, match=lost):
        run_sync(s3, job_id="job2", lines=lines_for(members, COLUMNS), base="job1", **kw)

    segment = first.result.manifest.segments[0]
    body = s3.get_object(Bucket=BUCKET, Key=segment.key)["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=segment.key, Body=body[:-10])
    manifest = snapshot.read_manifest(s3, BUCKET, PREFIX, "job1")
    with pytest.raises(CorruptSyncObject, match=segment.key):
        list(diff.current_members(s3, BUCKET, manifest))


def test_superseded_generations_are_deleted_and_the_current_one_is_kept(s3: Any) -> None:
    members = population(random.Random(5), 300, "a")
    kw: dict[str, Any] = {"columns": COLUMNS, "api": "file", "prefix": PREFIX, "bucket": BUCKET}
    run_sync(s3, job_id="job1", lines=lines_for(members, COLUMNS), **kw)
    second = run_sync(s3, job_id="job2", lines=lines_for(members, COLUMNS), base="job1", **kw)
    assert snapshot.list_generations(s3, BUCKET, PREFIX) == ["job1", "job2"]

    snapshot.delete_generation(s3, BUCKET, PREFIX, "job1")

    assert snapshot.list_generations(s3, BUCKET, PREFIX) == ["job2"]
    assert snapshot.read_manifest(s3, BUCKET, PREFIX, "job2") == second.result.manifest
    with pytest.raises(MissingSyncObject, match="job1 has no manifest"):
        snapshot.read_manifest(s3, BUCKET, PREFIX, "job1")
    assert [v for _, v in chunk_members(s3, second.adds, BUCKET)] == []
