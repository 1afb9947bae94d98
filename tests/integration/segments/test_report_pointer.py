"""The file's pointer (``reports/by-key/…``): written by ingest when it creates a job, moved only
to a newer upload of the same key — an older notification processed late leaves it alone, and a
writer that loses a race reads again."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tiktok_connector.contract.job import job_id_for
from tiktok_connector.contract.pointer import pointer_key
from tiktok_connector.segments.pointer import read_pointer, write_pointer

from .conftest import BUCKET, Harness

ADV = "7100000000000000001"


def stored(h: Harness, key: str) -> dict[str, Any]:
    body = h.s3.get_object(Bucket=BUCKET, Key=pointer_key(key))["Body"].read()
    return dict(json.loads(body))


def test_ingest_writes_the_pointer_to_the_job_and_its_report(harness: Harness) -> None:
    key = f"segments/{ADV}/Buyers/create/list.csv"
    version = harness.put(key, "email\na@b.co\n")
    result = harness.ingest.object_created(BUCKET, key, version, "0A")

    pointer = stored(harness, key)
    assert pointer_key(key) == f"reports/by-key/{ADV}/Buyers/create/list.csv.json"
    assert pointer["job_id"] == result.job_id == job_id_for(BUCKET, key, version)
    assert pointer["report_key"] == f"reports/{result.job_id}.json"
    assert harness.report(pointer["job_id"])["job_id"] == result.job_id
    assert (pointer["bucket"], pointer["key"], pointer["version_id"]) == (BUCKET, key, version)
    assert pointer["sequencer"] == "0A"
    assert pointer["last_modified"].endswith("Z")


def test_a_refused_file_is_pointed_at_too(harness: Harness) -> None:
    key = f"segments/{ADV}/Buyers/explode/list.csv"  # not an action
    version = harness.put(key, "email\na@b.co\n")
    result = harness.ingest.object_created(BUCKET, key, version, "01")
    assert result.status == "failed"
    assert stored(harness, key)["job_id"] == result.job_id


def test_an_older_upload_processed_late_does_not_move_the_pointer(harness: Harness) -> None:
    key = f"segments/{ADV}/Late/append/list.csv"
    old = harness.put(key, "email\na@b.co\n")
    new = harness.put(key, "email\nc@d.co\n")
    newer = harness.ingest.object_created(BUCKET, key, new, "00000000000000000B")
    older = harness.ingest.object_created(BUCKET, key, old, "0A")  # shorter, smaller

    assert older.job_id != newer.job_id
    assert older.status != "skipped"  # its job ran all the same
    assert stored(harness, key)["job_id"] == newer.job_id
    assert stored(harness, key)["version_id"] == new


def test_a_newer_upload_moves_the_pointer(harness: Harness) -> None:
    key = f"segments/{ADV}/Moves/append/list.csv"
    first = harness.ingest.object_created(BUCKET, key, harness.put(key, "email\na@b.co\n"), "0A")
    assert stored(harness, key)["job_id"] == first.job_id
    second = harness.ingest.object_created(BUCKET, key, harness.put(key, "email\nx@y.co\n"), "0C")
    assert stored(harness, key)["job_id"] == second.job_id


def test_without_sequencers_last_modified_orders_uploads(harness: Harness) -> None:
    key = f"segments/{ADV}/NoSeq/append/list.csv"
    old = harness.put(key, "email\na@b.co\n")
    first = harness.ingest.object_created(BUCKET, key, old)
    item = harness.jobs.get(first.job_id or "")
    assert item is not None
    from tiktok_connector.segments.pointer import pointer_for

    # a later upload without a sequencer, then the first one again: the later one stays
    later = pointer_for(
        item, version="v-later", sequencer=None, last_modified="2999-01-01T00:00:00Z"
    )
    assert write_pointer(harness.s3, BUCKET, later)
    again = pointer_for(item, version=old, sequencer=None, last_modified="2000-01-01T00:00:00Z")
    assert not write_pointer(harness.s3, BUCKET, again)
    assert stored(harness, key)["version"] == "v-later"


class RacingS3:
    """S3 whose first conditional put is preceded by another writer's newer pointer."""

    def __init__(self, s3: Any, rival: bytes) -> None:
        self.s3 = s3
        self.rival = rival
        self.puts = 0

    def get_object(self, **kwargs: Any) -> Any:
        return self.s3.get_object(**kwargs)

    def put_object(self, **kwargs: Any) -> Any:
        self.puts += 1
        if self.puts == 1:
            self.s3.put_object(Bucket=kwargs["Bucket"], Key=kwargs["Key"], Body=self.rival)
        return self.s3.put_object(**kwargs)


def test_a_writer_that_loses_the_race_reads_again_and_keeps_the_newer(harness: Harness) -> None:
    key = f"segments/{ADV}/Race/append/list.csv"
    version = harness.put(key, "email\na@b.co\n")
    harness.ingest.object_created(BUCKET, key, version, "0A")
    found = read_pointer(harness.s3, BUCKET, key)
    assert found is not None
    mine = found[0].model_copy(update={"version": "mine", "job_id": "m" * 32, "sequencer": "0B"})
    rival = found[0].model_copy(update={"version": "rival", "job_id": "r" * 32, "sequencer": "0C"})
    racing = RacingS3(harness.s3, rival.model_dump_json().encode())

    assert not write_pointer(racing, BUCKET, mine)  # If-Match failed, re-read, rival is newer
    assert racing.puts == 1
    assert stored(harness, key)["job_id"] == "r" * 32


def test_first_writers_race_on_if_none_match(harness: Harness) -> None:
    key = f"segments/{ADV}/First/append/list.csv"
    version = harness.put(key, "email\na@b.co\n")
    harness.ingest.object_created(BUCKET, key, version, "0A")
    found = read_pointer(harness.s3, BUCKET, key)
    assert found is not None
    harness.s3.delete_object(Bucket=BUCKET, Key=pointer_key(key))
    older = found[0].model_copy(update={"version": "old", "job_id": "o" * 32, "sequencer": "01"})
    newer = found[0].model_copy(update={"version": "new", "job_id": "n" * 32, "sequencer": "02"})
    racing = RacingS3(harness.s3, newer.model_dump_json().encode())

    assert not write_pointer(racing, BUCKET, older)
    assert stored(harness, key)["job_id"] == "n" * 32
    # S3 refuses the blind first write once a pointer exists
    with pytest.raises(ClientError, match="PreconditionFailed"):
        harness.s3.put_object(Bucket=BUCKET, Key=pointer_key(key), Body=b"{}", IfNoneMatch="*")


def test_an_unreadable_pointer_is_replaced(harness: Harness) -> None:
    key = f"segments/{ADV}/Broken/append/list.csv"
    harness.s3.put_object(Bucket=BUCKET, Key=pointer_key(key), Body=b"not json")
    result = harness.ingest.object_created(BUCKET, key, harness.put(key, "email\na@b.co\n"), "0A")
    assert stored(harness, key)["job_id"] == result.job_id
