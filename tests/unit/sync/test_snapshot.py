"""Snapshot generations: keys, manifests, TikTok's 1,000-member rule, cleanup."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.unit.sync.fakes import FakeS3
from tests.unit.sync.support import BUCKET, lines_for, run_sync
from tiktok_connector.sync import snapshot
from tiktok_connector.sync.records import CorruptSyncObject
from tiktok_connector.sync.snapshot import Manifest, too_few_members

COLS = ("EMAIL_SHA256", "PHONE_SHA256")
PREFIX = snapshot.snapshot_prefix("7", "segment", "segment#audience")


def h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _members(n: int) -> set[tuple[str, str]]:
    return {("EMAIL_SHA256", h(f"e{i}")) for i in range(n)} | {("PHONE_SHA256", h("p"))}


def test_keys_hold_no_audience_name() -> None:
    prefix = snapshot.snapshot_prefix("123", "file", "file#Kunden Café")
    assert prefix.startswith("sync/123/file/")
    assert "Kunden" not in prefix
    assert len(prefix.rsplit("/", 1)[1]) == 32
    assert prefix != snapshot.snapshot_prefix("123", "segment", "segment#Kunden Café")
    assert snapshot.manifest_key(prefix, "j") == f"{prefix}/j/manifest.json"


def test_the_manifest_lists_segments_members_and_changes() -> None:
    s3 = FakeS3()
    run_sync(
        s3, job_id="g1", lines=lines_for(_members(30), COLS), columns=COLS, bits=2, group_records=10
    )
    run = run_sync(
        s3,
        job_id="g2",
        lines=lines_for(_members(25), COLS),
        columns=COLS,
        base="g1",
        bits=3,
        group_records=10,
    )

    manifest = snapshot.read_manifest(s3, BUCKET, PREFIX, "g2")

    assert manifest == run.result.manifest
    assert (manifest.generation, manifest.previous, manifest.bits) == ("g2", "g1", 3)
    assert manifest.records == 26
    assert dict(manifest.members) == {"EMAIL_SHA256": 25, "PHONE_SHA256": 1}
    assert run.result.changes_report() == {
        "EMAIL_SHA256": {"added": 0, "removed": 5, "unchanged": 25},
        "PHONE_SHA256": {"added": 0, "removed": 0, "unchanged": 1},
    }
    assert len(manifest.segments) == len(run.plan.groups) > 1


def test_a_membership_under_1000_is_told_before_anything_is_sent() -> None:
    s3 = FakeS3()
    run = run_sync(s3, job_id="g1", lines=lines_for(_members(998), COLS), columns=COLS)
    sentence = too_few_members(run.result.manifest)
    assert sentence is not None
    assert "999 ids" in sentence
    assert "at least 1,000 members" in sentence
    assert "nothing was sent" in sentence
    run = run_sync(s3, job_id="g2", lines=lines_for(_members(999), COLS), columns=COLS, base="g1")
    assert too_few_members(run.result.manifest) is None


def _manifest_json(s3: FakeS3) -> dict[str, object]:
    run_sync(
        s3, job_id="g1", lines=lines_for(_members(30), COLS), columns=COLS, bits=2, group_records=10
    )
    data: dict[str, object] = json.loads(s3.objects[snapshot.manifest_key(PREFIX, "g1")])
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["segments"].pop(1), "does not follow on"),
        (lambda d: d["segments"].pop(), "stop at prefix"),
        (lambda d: d.update(format=9), "format 9 unknown"),
        (lambda d: d["members"].update(ZIP_SHA256=0), "unknown member type"),
        (lambda d: d.pop("members"), "not a snapshot manifest"),
        (lambda d: d["segments"][0].update(records="many"), "not a snapshot manifest"),
    ],
)
def test_a_manifest_that_does_not_add_up_is_refused(change, message: str) -> None:  # type: ignore[no-untyped-def]
    s3 = FakeS3()
    data = _manifest_json(s3)
    change(data)
    with pytest.raises(CorruptSyncObject, match=message):
        Manifest.from_json(data)


def test_a_manifest_of_another_generation_is_refused() -> None:
    s3 = FakeS3()
    data = _manifest_json(s3)
    s3.objects[snapshot.manifest_key(PREFIX, "g9")] = json.dumps(data).encode()
    with pytest.raises(CorruptSyncObject, match="names generation 'g1'"):
        snapshot.read_manifest(s3, BUCKET, PREFIX, "g9")
    s3.objects[snapshot.manifest_key(PREFIX, "g8")] = b"{not json"
    with pytest.raises(CorruptSyncObject, match="not JSON"):
        snapshot.read_manifest(s3, BUCKET, PREFIX, "g8")


def test_generations_are_listed_and_deleted_whole() -> None:
    s3 = FakeS3()
    lines = lines_for(_members(30), COLS)
    run_sync(s3, job_id="g1", lines=lines, columns=COLS, group_records=10)
    run_sync(s3, job_id="g2", lines=lines, columns=COLS, base="g1", group_records=10)
    assert snapshot.list_generations(s3, BUCKET, PREFIX) == ["g1", "g2"]

    deleted = snapshot.delete_generation(s3, BUCKET, PREFIX, "g1")

    assert deleted > 1
    assert snapshot.list_generations(s3, BUCKET, PREFIX) == ["g2"]
    assert not [k for k in s3.objects if k.startswith(f"{PREFIX}/g1/")]
    assert snapshot.delete_generation(s3, BUCKET, PREFIX, "g1") == 0  # twice is fine
    snapshot.read_manifest(s3, BUCKET, PREFIX, "g2")  # the other generation is untouched
