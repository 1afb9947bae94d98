"""``job_for_object``: a file's job from its pointer first, from a HEAD of the file otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tiktok_connector.contract.job import JobItem, JobSource, job_id_for
from tiktok_connector.segments.pointer import pointer_for, write_pointer
from tiktok_connector_cli.jobs import ObjectNotFound, job_for_object

BUCKET = "tiktok-connector-segments-123456789012"
KEY = "segments/7100000000000000001/Buyers/append/list.csv"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def point(s3: Any, job_id: str, version: str, sequencer: str = "0A") -> None:
    item = JobItem(
        job_id=job_id,
        status="running",
        source=JobSource(bucket=BUCKET, key=KEY, version_id=version),
    )
    write_pointer(
        s3, BUCKET, pointer_for(item, version=version, sequencer=sequencer, last_modified=None)
    )


def test_the_pointer_names_the_job_of_the_current_upload(s3: Any) -> None:
    version = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"email\na@b.co\n")["VersionId"]
    point(s3, "p" * 32, version)  # a pointer's id is taken as written, not recomputed
    ref = job_for_object(s3, BUCKET, KEY)
    assert (ref.job_id, ref.version_id) == ("p" * 32, version)


def test_a_deleted_file_is_still_found_by_its_pointer(s3: Any) -> None:
    version = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"email\na@b.co\n")["VersionId"]
    point(s3, "p" * 32, version)
    s3.delete_object(Bucket=BUCKET, Key=KEY)
    assert job_for_object(s3, BUCKET, KEY).job_id == "p" * 32


def test_without_a_pointer_the_id_is_computed_from_the_version(s3: Any) -> None:
    version = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"email\na@b.co\n")["VersionId"]
    assert job_for_object(s3, BUCKET, KEY).job_id == job_id_for(BUCKET, KEY, version)


def test_an_upload_not_ingested_yet_maps_to_the_job_it_will_get(s3: Any) -> None:
    old = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"email\na@b.co\n")["VersionId"]
    point(s3, "p" * 32, old)
    new = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"email\nc@d.co\n")["VersionId"]
    assert job_for_object(s3, BUCKET, KEY).job_id == job_id_for(BUCKET, KEY, new)
    # asked by version id: the pointer answers for the upload it names only
    assert job_for_object(s3, BUCKET, KEY, old).job_id == "p" * 32
    assert job_for_object(s3, BUCKET, KEY, new).job_id == job_id_for(BUCKET, KEY, new)


def test_an_unversioned_object_is_matched_by_etag(s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    etag = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"email\na@b.co\n")["ETag"].strip('"')
    point(s3, "e" * 32, etag)
    assert job_for_object(s3, BUCKET, KEY).job_id == "e" * 32


def test_no_pointer_and_no_file_is_not_found(s3: Any) -> None:
    with pytest.raises(ObjectNotFound):
        job_for_object(s3, BUCKET, KEY)
    s3.put_object(
        Bucket=BUCKET,
        Key="reports/by-key/7100000000000000001/Buyers/append/list.csv.json",
        Body=b"junk",
    )
    with pytest.raises(ObjectNotFound):  # an unreadable pointer is no pointer
        job_for_object(s3, BUCKET, KEY)
