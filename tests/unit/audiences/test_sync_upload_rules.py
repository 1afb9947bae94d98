"""The pure rules of a sync job's upload side (audiences.sync_upload)."""

from __future__ import annotations

from typing import Any

import pytest

from tiktok_connector.audiences.job import JobFailure
from tiktok_connector.audiences.sync_upload import (
    chunk_action,
    file_steps,
    split_paths,
    sync_ready,
    takes_over,
)
from tiktok_connector.contract.job import JobItem

JOB = "a" * 32


def item(**overrides: Any) -> JobItem:
    values: dict[str, Any] = {
        "job_id": JOB,
        "status": "running",
        "source": {"bucket": "b", "key": "segments/1/A/sync/f.csv"},
        "action": "sync",
        "sync": {"base": "b" * 32, "changes": {}},
    }
    values.update(overrides)
    return JobItem.model_validate(values)


def test_a_change_chunk_says_by_its_name_what_it_does() -> None:
    assert chunk_action(f"chunks/{JOB}/sync-add-00003.csv") == "add"
    assert chunk_action(f"chunks/{JOB}/sync-remove-00000.csv") == "remove"
    with pytest.raises(JobFailure) as raised:
        chunk_action(f"chunks/{JOB}/0000-00000.csv")  # an ingest chunk in a sync job
    assert raised.value.error.code == "invalid_job"


def test_customer_file_steps_send_adds_before_removes_in_chunk_order() -> None:
    paths = {
        f"chunks/{JOB}/sync-remove-00000.csv": "r0",
        f"chunks/{JOB}/sync-add-00001.csv": "a1",
        f"chunks/{JOB}/sync-add-00000.csv": "a0",
    }
    job = item(file_paths=paths)
    assert split_paths(job) == (["a0", "a1"], ["r0"])
    assert file_steps(job) == [("APPEND", ["a0", "a1"]), ("REMOVE", ["r0"])]
    assert file_steps(item(file_paths={f"chunks/{JOB}/sync-remove-00000.csv": "r0"})) == [
        ("REMOVE", ["r0"])
    ]
    assert file_steps(item(file_paths={})) == []  # nothing changed: no call


def test_without_a_synced_state_the_adds_replace_the_audience() -> None:
    paths = {f"chunks/{JOB}/sync-add-00000.csv": "a0", f"chunks/{JOB}/sync-remove-00000.csv": "r0"}
    job = item(file_paths=paths, sync={"base": None, "uncertain": ["c" * 32]})
    assert file_steps(job) == [("REPLACE", ["a0"])]  # the uncertain removes are covered


@pytest.mark.parametrize(
    ("owner", "base", "uncertain", "expected"),
    [
        (None, None, [], False),  # nothing of that name: create it
        (JOB, None, [], False),  # our own audience (a rerun)
        ("c" * 32, "b" * 32, [], False),  # synced before: the synced audience
        ("c" * 32, None, [], True),  # made by create/: unknown members, take the name over
        ("c" * 32, None, ["c" * 32], False),  # made by a failed sync this one reconciles
        ("d" * 32, None, ["c" * 32], True),  # made by someone else, still unknown
    ],
)
def test_a_partner_sync_takes_the_name_over_only_from_an_audience_of_unknown_members(
    owner: str | None, base: str | None, uncertain: list[str], expected: bool
) -> None:
    job = item(sync={"base": base, "uncertain": uncertain})
    assert takes_over(job, owner) is expected


def test_a_sync_with_no_chunk_is_ready_once_its_changes_are_recorded() -> None:
    assert sync_ready(item(chunks_total=0, chunks_done=0))
    assert not sync_ready(item(sync={"base": None}))  # diff not finished
    assert not sync_ready(item(chunks_total=2, chunks_done=1))
    assert not sync_ready(item(status="failed"))
