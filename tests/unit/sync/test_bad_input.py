"""A diff that cannot read its inputs fails with a sentence naming the object — never an empty
difference (which would mean "remove everyone") or a partial one."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.unit.sync.fakes import FakeS3
from tests.unit.sync.support import BUCKET, lines_for, run_sync
from tiktok_connector.sync import diff, planning, snapshot
from tiktok_connector.sync.records import CorruptSyncObject, MissingSyncObject

COLS = ("EMAIL_SHA256",)
PREFIX = snapshot.snapshot_prefix("7", "segment", "segment#audience")


def h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _synced(n: int = 40, bits: int = 3) -> FakeS3:
    s3 = FakeS3()
    members = {("EMAIL_SHA256", h(f"u{i}")) for i in range(n)}
    run_sync(
        s3, job_id="g1", lines=lines_for(members, COLS), columns=COLS, bits=bits, group_records=15
    )
    return s3


def _plan(s3: FakeS3, job_id: str = "g2") -> planning.DiffPlan:
    lines = [h(f"u{i}") for i in range(5, 45)]
    run = run_sync(s3, job_id="tmp", lines=lines, columns=COLS, bits=3)  # runs to diff with
    return planning.plan_diff(
        s3,
        BUCKET,
        job_id=job_id,
        prefix=PREFIX,
        base_generation="g1",
        run_keys=run.run_keys,
        group_records=15,
    )


def _segments(s3: FakeS3) -> list[str]:
    return sorted(k for k in s3.objects if k.startswith(f"{PREFIX}/g1/s"))


def test_a_base_generation_without_a_manifest_is_missing() -> None:
    s3 = _synced()
    del s3.objects[snapshot.manifest_key(PREFIX, "g1")]
    with pytest.raises(MissingSyncObject, match="g1 has no manifest"):
        _plan(s3)


def test_a_manifest_that_names_a_missing_segment_fails_the_plan() -> None:
    s3 = _synced()
    del s3.objects[_segments(s3)[1]]
    with pytest.raises(MissingSyncObject, match=r"s\d{5}\.bin does not exist"):
        _plan(s3)


def test_a_segment_lost_after_planning_fails_its_group() -> None:
    s3 = _synced()
    plan = _plan(s3)
    del s3.objects[_segments(s3)[0]]
    with pytest.raises(MissingSyncObject, match="does not exist"):
        diff.diff_group(s3, BUCKET, plan, 0)


def test_a_truncated_segment_is_corrupt() -> None:
    s3 = _synced()
    key = _segments(s3)[0]
    s3.objects[key] = s3.objects[key][:-33]
    with pytest.raises(CorruptSyncObject, match=key):
        _plan(s3)


def test_a_segment_replaced_by_another_is_corrupt() -> None:
    s3 = _synced()
    first, second = _segments(s3)[:2]
    s3.objects[first] = s3.objects[second]
    with pytest.raises(CorruptSyncObject, match="does not match its manifest"):
        _plan(s3)


def test_a_truncated_run_part_is_corrupt() -> None:
    s3 = _synced()
    run = run_sync(s3, job_id="tmp", lines=[h("x"), h("y")], columns=COLS, bits=3)
    key = run.run_keys[0]
    s3.objects[key] = s3.objects[key][:-1]
    with pytest.raises(CorruptSyncObject, match="bytes"):
        planning.plan_diff(
            s3, BUCKET, job_id="g2", prefix=PREFIX, base_generation="g1", run_keys=[key]
        )


def test_a_missing_run_part_is_missing() -> None:
    s3 = _synced()
    with pytest.raises(MissingSyncObject, match="run-0000-000"):
        planning.plan_diff(
            s3,
            BUCKET,
            job_id="g2",
            prefix=PREFIX,
            base_generation="g1",
            run_keys=["chunks/g2/sync/run-0000-000.bin"],
        )


def test_run_parts_of_different_widths_are_refused() -> None:
    s3 = _synced()
    a = run_sync(s3, job_id="a", lines=[h("x")], columns=COLS, bits=3).run_keys
    b = run_sync(s3, job_id="b", lines=[h("y")], columns=COLS, bits=4).run_keys
    with pytest.raises(CorruptSyncObject, match="different partition bits"):
        planning.plan_diff(
            s3, BUCKET, job_id="g2", prefix=PREFIX, base_generation="g1", run_keys=a + b
        )


def test_an_unsorted_segment_is_corrupt() -> None:
    s3 = _synced(n=40, bits=0)
    (key,) = _segments(s3)
    body = bytearray(s3.objects[key])
    start = 20 + 16
    first, second = body[start : start + 33], body[start + 33 : start + 66]
    body[start : start + 66] = second + first
    s3.objects[key] = bytes(body)
    plan = _plan(s3)
    with pytest.raises(CorruptSyncObject, match="not sorted"):
        diff.diff_all(s3, BUCKET, plan)


def test_finishing_before_every_group_is_done_is_an_error() -> None:
    s3 = _synced()
    plan = _plan(s3)
    assert len(plan.groups) > 1
    diff.diff_group(s3, BUCKET, plan, 0)
    with pytest.raises(MissingSyncObject, match="group 1"):
        diff.finish_diff(s3, BUCKET, plan)
    assert snapshot.manifest_key(PREFIX, "g2") not in s3.objects  # nothing half-staged


def test_group_results_that_do_not_match_the_plan_are_refused() -> None:
    s3 = _synced()
    plan = _plan(s3)
    results = [diff.diff_group(s3, BUCKET, plan, g) for g in range(len(plan.groups))]
    with pytest.raises(CorruptSyncObject, match="do not match the diff plan"):
        diff.finish_diff(s3, BUCKET, plan, results[:-1])


def test_a_manifest_whose_counts_are_off_is_refused() -> None:
    s3 = _synced()
    key = snapshot.manifest_key(PREFIX, "g1")
    data = json.loads(s3.objects[key])
    data["members"]["EMAIL_SHA256"] += 1
    s3.objects[key] = json.dumps(data).encode()
    with pytest.raises(CorruptSyncObject, match="add up to 41"):
        _plan(s3)


def test_a_diff_whose_base_counts_lie_does_not_commit_a_manifest() -> None:
    """Members per type are carried from manifest to manifest: a base that says fewer removals
    were possible than the diff found is caught before the new manifest is written."""
    s3 = _synced()
    plan = _plan(s3)
    assert plan.base is not None
    lying = planning.DiffPlan(
        job_id=plan.job_id,
        prefix=plan.prefix,
        bits=plan.bits,
        runs=plan.runs,
        base=snapshot.Manifest(
            generation="g1",
            previous=None,
            bits=plan.base.bits,
            segments=plan.base.segments,
            members={"EMAIL_SHA256": 3},  # the segments hold 40
        ),
        groups=plan.groups,
    )
    with pytest.raises(CorruptSyncObject):
        diff.diff_all(s3, BUCKET, lying)
    assert snapshot.manifest_key(PREFIX, "g2") not in s3.objects


def test_a_record_of_an_unknown_member_type_is_corrupt() -> None:
    s3 = _synced()
    run = run_sync(s3, job_id="tmp", lines=[h("x")], columns=COLS, bits=3)
    key = run.run_keys[0]
    body = bytearray(s3.objects[key])
    body[-1] = 99  # the type byte of the only record
    s3.objects[key] = bytes(body)
    plan = planning.plan_diff(
        s3, BUCKET, job_id="g2", prefix=PREFIX, base_generation="g1", run_keys=[key]
    )
    with pytest.raises(CorruptSyncObject, match="unknown member type code 99"):
        diff.diff_all(s3, BUCKET, plan)
    assert not [k for k in s3.objects if k.startswith(f"{PREFIX}/g2/")]  # nothing staged
