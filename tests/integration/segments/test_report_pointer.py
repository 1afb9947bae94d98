"""The report pointer on moto: written by ingest, compare-and-swap between uploads of one key,
and the CLI finding a job from its key once the file is gone."""

from __future__ import annotations

import json
import random
import threading
from typing import Any

import pytest

from tiktok_connector.contract.pointer import ReportPointer, pointer_key
from tiktok_connector.segments.pointer import read_pointer, write_pointer
from tiktok_connector_cli.jobs import ObjectNotFound, job_for_object

from .conftest import BUCKET, Harness

KEY = "segments/7100/Pointer Buyers/create/buyers.csv"


def stored(s3: Any, key: str = KEY) -> dict[str, Any]:
    where = pointer_key(key)
    assert where is not None
    return dict(json.loads(s3.get_object(Bucket=BUCKET, Key=where)["Body"].read()))


def test_ingest_points_the_files_key_at_its_job(harness: Harness) -> None:
    result = harness.drop(KEY, "email\na@example.com\n")

    found = stored(harness.s3)
    assert found["job_id"] == result.job_id
    assert found["report_key"] == f"reports/{result.job_id}.json"
    assert found["rejects_key"] == f"rejects/{result.job_id}.csv"
    assert found["key"] == KEY
    # the pointer leads to the report
    report = harness.s3.get_object(Bucket=BUCKET, Key=found["report_key"])["Body"].read()
    assert json.loads(report)["source"]["key"] == KEY


def test_a_refused_file_is_pointed_at_its_failed_report_too(harness: Harness) -> None:
    key = "segments/7100/Pointer Buyers/frobnicate/buyers.csv"  # no such action
    result = harness.drop(key, "email\na@example.com\n")
    assert harness.report(str(result.job_id))["status"] == "failed"
    assert stored(harness.s3, key)["job_id"] == result.job_id


def test_an_older_upload_processed_late_does_not_take_the_pointer_back(harness: Harness) -> None:
    old_version = harness.put(KEY, "email\nold@example.com\n")
    new_version = harness.put(KEY, "email\nnew@example.com\n")
    newer = harness.ingest.object_created(BUCKET, KEY, new_version, "0062E99A88DC407460")
    older = harness.ingest.object_created(BUCKET, KEY, old_version, "0062E99A88DC407450")

    assert older.job_id != newer.job_id
    assert stored(harness.s3)["job_id"] == newer.job_id
    assert read_pointer(harness.s3, BUCKET, KEY).job_id == newer.job_id  # type: ignore[union-attr]


def test_concurrent_writers_leave_the_newest_upload(harness: Harness) -> None:
    sequencers = [f"00{n:016X}" for n in random.Random(7).sample(range(1, 10**9), 12)]
    pointers = [
        ReportPointer(
            bucket=BUCKET,
            key=KEY,
            version_id=f"v{i}",
            job_id=f"{i:032x}",
            report_key=f"reports/{i:032x}.json",
            rejects_key=f"rejects/{i:032x}.csv",
            sequencer=seq,
        )
        for i, seq in enumerate(sequencers)
    ]
    start = threading.Barrier(len(pointers))

    def write(p: ReportPointer) -> None:
        start.wait()
        write_pointer(harness.s3, BUCKET, p)

    threads = [threading.Thread(target=write, args=(p,)) for p in pointers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    newest = max(pointers, key=lambda p: p.sequencer or "")
    assert stored(harness.s3)["job_id"] == newest.job_id


def test_the_cli_finds_the_job_of_a_file_deleted_after_its_job(harness: Harness) -> None:
    first = harness.drop(KEY, "email\na@example.com\n")
    assert job_for_object(harness.s3, BUCKET, KEY).job_id == first.job_id  # from the object
    second = harness.drop(KEY, "email\nb@example.com\n")
    harness.s3.delete_object(Bucket=BUCKET, Key=KEY)  # a delete marker: the file is gone

    ref = job_for_object(harness.s3, BUCKET, KEY)

    assert ref.job_id == second.job_id  # the newest upload's job, from the pointer
    with pytest.raises(ObjectNotFound, match="does not exist"):  # neither object nor pointer
        job_for_object(harness.s3, BUCKET, "segments/7100/Never/create/x.csv")


def test_a_new_upload_not_yet_ingested_is_found_by_its_object_not_the_pointer(
    harness: Harness,
) -> None:
    """`watch` right after `aws s3 cp`: ingest has not run for the new upload, so the pointer
    still names the previous upload's job; the CLI follows the object there is now."""
    first = harness.drop(KEY, "email\na@example.com\n")
    [first_version] = [
        v["VersionId"]
        for v in harness.s3.list_object_versions(Bucket=BUCKET)["Versions"]
        if v["Key"] == KEY
    ]
    harness.put(KEY, "email\nb@example.com\n")  # uploaded again, not ingested yet
    assert stored(harness.s3)["job_id"] == first.job_id

    waiting = job_for_object(harness.s3, BUCKET, KEY)

    assert waiting.job_id != first.job_id
    assert harness.jobs.get(waiting.job_id) is None  # the job ingest is about to start
    # an older version asked for by id is that version's job, pointer or not
    assert job_for_object(harness.s3, BUCKET, KEY, first_version).job_id == first.job_id
