"""The job item in its DynamoDB layout: what creation writes, what a read gives back."""

from __future__ import annotations

import json

from tiktok_connector.contract.job import (
    ADDED_LATER,
    JobError,
    JobItem,
    JobSource,
    Reading,
    ReportWarning,
    StoredPlan,
    Waiting,
    ddb_values,
)

JOB = "0db80f5796069b705933465126059467"


def created() -> JobItem:
    return JobItem(
        job_id=JOB,
        status="running",
        source=JobSource(bucket="b", key="segments/1/A/create/a.csv", version_id="v1"),
        advertiser_id="1",
        audience_name="A",
        action="create",
        api="file",
        columns=["EMAIL_SHA256"],
        plan=StoredPlan(columns={"header": True}, ranges=[(0, 10), (10, 20)]),
        reading=Reading(warnings=[ReportWarning(code="c", message="m")]),
        ranges_total=2,
        started_at="2026-01-01T00:00:00.000Z",
        expires_at=1_800_000_000,
    )


def test_creation_writes_none_of_the_attributes_later_conditions_test() -> None:
    """``attribute_not_exists(finalizing)`` and friends hold only while the attribute is absent:
    a created item that held ``finalizing: null`` could never be claimed."""
    attributes = created().creation_attributes()
    assert set(attributes).isdisjoint(ADDED_LATER)
    assert {"finalizing", "waiting", "applied_groups", "shape", "done_chunks"} <= ADDED_LATER
    assert attributes["plan"]["S"].startswith("{")  # a JSON string, as ingest always stored it
    assert json.loads(attributes["plan"]["S"])["ranges"] == [[0, 10], [10, 20]]
    assert attributes["error"] == {"NULL": True}
    assert attributes["tiktok"] == {
        "M": {"audience_id": {"NULL": True}, "request_ids": {"L": []}, "size": {"NULL": True}}
    }


def test_a_created_item_reads_back_as_itself() -> None:
    item = created()
    assert JobItem.from_ddb(item.creation_attributes()) == item


def test_a_read_turns_dynamodb_values_into_the_models() -> None:
    attributes = created().creation_attributes()
    attributes.update(
        ddb_values(
            {
                "status": "failed",
                "error": {"code": "40002", "message": "no", "request_id": None},
                "ranges": {"0": {"read": 3, "identifiers": {"email": {"accepted": 2}}}},
                "done_chunks": {f"chunks/{JOB}/0000-00000.csv"},
                "waiting": Waiting(
                    reason="audience_processing", audience_id="7", message="m", since=1,
                    next_look_at=61, gives_up_at=172_801, delay=60,
                ).model_dump(mode="json"),
                "applied_groups": 2,
                "a_newer_attribute": {"kept": "out"},
            }
        )
    )  # fmt: skip
    item = JobItem.from_ddb(attributes)
    assert item.status == "failed"
    assert item.error == JobError("40002", "no")
    assert item.ranges["0"].read == 3
    assert item.ranges["0"].identifiers["email"].accepted == 2
    assert item.done_chunks == frozenset({f"chunks/{JOB}/0000-00000.csv"})
    assert item.waiting is not None
    assert item.waiting.next_look_at == 61
    assert item.applied_groups == 2
    assert item.plan.ranges == [(0, 10), (10, 20)]
    assert not item.running


def test_file_paths_keep_chunk_key_order_and_skip_partner_chunks() -> None:
    item = created().model_copy(
        update={"file_paths": {"chunks/j/0001-00000.csv": "b", "chunks/j/0000-00001.csv": "a",
                               "chunks/j/0000-00002.csv": ""}}
    )  # fmt: skip
    assert item.uploaded_file_paths == ["a", "b"]
