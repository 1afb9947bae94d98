"""End to end on the local stack: issue 15's ``sync`` action (docs/sync.md).

The real template, moto, the dispatcher, the real ingest and upload handlers, the emulator. For a
customer-file audience and a partner audience, three sync files of one name (create; the same
list with 3 % dropped and 5 % new; the identical file again) must each leave TikTok's membership
exactly equal to the file, the second sending only the changes and the third nothing at all.
What TikTok saw is read from the emulator: its request log, the customer files uploaded to it,
and each audience's history of applied changes (one entry per applied update or mapping call,
with the number of ids a mapping carried).

Also: an ``append`` to a synced audience is refused (``audience_synced``) before anything is
sent, and a customer-file sync that would leave fewer than 1,000 ids fails (``too_few_members``)
with TikTok and the synced state untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.audiences.sync_scenario import (
    SyncFile,
    SyncScenario,
    Traffic,
    TrafficMark,
    raw_email,
    run_sync,
)
from tests.e2e.connected import connect_advertiser
from tiktok_local.stack import LocalStack

ADV = "7100000000000000015"
TIME_SCALE = 0.002
APIS = ("file", "segment")
SEGMENT_PATHS = ("/segment/audience/", "/segment/mapping/")
FILE_PATHS = (
    "/dmp/custom_audience/file/upload/",
    "/dmp/custom_audience/create/",
    "/dmp/custom_audience/update/",
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack.start(
        workdir=tmp_path_factory.mktemp("stack"), time_scale=TIME_SCALE, write_stack_json=False
    ) as running:
        connect_advertiser(running, ADV, "e2e-sync")
        yield running


def assert_succeeded_exactly(
    stack: LocalStack, scenario: SyncScenario, sync: SyncFile, report: dict[str, Any]
) -> str:
    """The job succeeded, TikTok holds exactly the file's ids, the report counts the changes;
    the audience id."""
    label = f"{scenario.name} {sync.label}"
    assert report["status"] == "succeeded", (label, report.get("error"))
    assert report["action"] == "sync", label
    audience_id = report["tiktok"]["audience_id"]
    assert audience_id, label
    held = scenario.tiktok_members(stack.emulator.state, audience_id)
    expected = scenario.expected(sync)
    assert held == expected, (
        f"{label}: TikTok holds {len(held)} ids, the file {len(expected)} "
        f"({len(held - expected)} extra, {len(expected - held)} missing)"
    )
    assert report.get("changes") == sync.changes, label
    assert (report.get("sync") or {}).get("members") == len(sync.members), (
        label,
        report.get("sync"),
    )
    return str(audience_id)


@pytest.mark.parametrize("api", APIS)
def test_three_syncs_leave_tiktok_equal_to_each_file_and_send_only_the_difference(
    stack: LocalStack, api: str
) -> None:
    scenario = SyncScenario(ADV, f"E2E Sync {api}", api, tag=f"e2e{api}", n=2000)
    create, churn, unchanged = scenario.files
    seen: set[str] = set()

    # 1. the first sync creates the audience with every id of the file
    mark = TrafficMark.take(stack.emulator.state, None)
    report = run_sync(stack, create, seen_jobs=seen)
    audience_id = assert_succeeded_exactly(stack, scenario, create, report)
    assert report["rows"]["read"] == scenario.n + 2
    assert report["rows"]["rejected"] == 1
    assert (report["sync"] or {}).get("previous_generation") is None
    first_job = report["job_id"]
    first = Traffic.since(stack.emulator.state, mark, audience_id)
    added, removed = create.sent()
    assert (added, removed) == (len(create.members), 0)
    if api == "file":
        assert first.actions()[0] == "CREATE"
        assert "REMOVE" not in first.actions()
        assert first.uploaded_ids == added  # every id went to TikTok once
    else:
        assert first.actions()[0] == "CREATE"
        assert first.history_ids("ADD") == added
        assert "DELETE" not in first.actions()

    # 2. +5 % / -3 %: only the difference goes out, adds before removes
    mark = TrafficMark.take(stack.emulator.state, audience_id)
    report = run_sync(stack, churn, seen_jobs=seen)
    assert assert_succeeded_exactly(stack, scenario, churn, report) == audience_id
    assert report["sync"].get("previous_generation") == first_job
    second = Traffic.since(stack.emulator.state, mark, audience_id)
    added, removed = churn.sent()
    people_added, people_removed = scenario.n * 5 // 100, scenario.n * 3 // 100
    assert churn.changes["EMAIL_SHA256"]["added"] == people_added  # the scenario is what it says
    assert churn.changes["EMAIL_SHA256"]["removed"] == people_removed
    if api == "file":
        assert second.actions() == ["APPEND", "REMOVE"], second.history
        assert second.uploaded_ids == added + removed, (second.uploaded_ids, added, removed)
        assert second.calls.get("/dmp/custom_audience/update/") == 2, second.calls
        assert not any(second.all_calls.get(p) for p in SEGMENT_PATHS)
        assert not second.all_calls.get("/dmp/custom_audience/create/")
    else:
        assert second.history_ids("ADD") == added, second.history
        assert second.history_ids("DELETE") == removed, second.history
        actions = second.actions()
        assert set(actions) == {"ADD", "DELETE"}
        assert max(i for i, a in enumerate(actions) if a == "ADD") < actions.index("DELETE")
        assert not any(second.all_calls.get(p) for p in FILE_PATHS)
        assert not second.all_calls.get("/segment/audience/")
    # the traffic is the change: 8 % of the list, not the list
    assert added + removed < 0.1 * len(create.members)

    # 3. the identical file again: nothing to send, no TikTok call at all
    mark = TrafficMark.take(stack.emulator.state, audience_id)
    report = run_sync(stack, unchanged, seen_jobs=seen)
    assert assert_succeeded_exactly(stack, scenario, unchanged, report) == audience_id
    third = Traffic.since(stack.emulator.state, mark, audience_id)
    assert unchanged.sent() == (0, 0)
    assert all(c["unchanged"] > 0 for c in unchanged.changes.values())
    assert third.all_calls == {}, third.all_calls
    assert third.uploads == 0
    assert third.history == []

    # one audience of that name all along
    assert len(stack.emulator.state.find_audiences(ADV, scenario.name)) == 1


@pytest.mark.parametrize("api", APIS)
def test_append_to_a_synced_audience_is_refused_and_sends_nothing(
    stack: LocalStack, api: str
) -> None:
    scenario = SyncScenario(ADV, f"E2E Synced Append {api}", api, tag=f"app{api}", n=1100)
    create = scenario.files[0]
    seen: set[str] = set()
    report = run_sync(stack, create, seen_jobs=seen)
    audience_id = assert_succeeded_exactly(stack, scenario, create, report)

    mark = TrafficMark.take(stack.emulator.state, audience_id)
    append = SyncFile(
        "append",
        f"segments/{ADV}/{scenario.name}/append/more.csv",
        ("email\n" + "\n".join(raw_email("appended", i) for i in range(50)) + "\n").encode(),
        scenario.metadata,
        frozenset(),
        frozenset(),
        {},
    )
    refused = run_sync(stack, append, seen_jobs=seen, timeout=60)

    assert refused["status"] == "failed", refused
    assert (refused["error"] or {}).get("code") == "audience_synced", refused["error"]
    assert "sync" in refused["error"]["message"]
    traffic = Traffic.since(stack.emulator.state, mark, audience_id)
    assert traffic.all_calls == {}, traffic.all_calls
    assert traffic.uploads == 0
    assert traffic.history == []
    assert scenario.tiktok_members(stack.emulator.state, audience_id) == scenario.expected(create)


def test_a_customer_file_sync_under_1000_ids_fails_and_changes_nothing(stack: LocalStack) -> None:
    scenario = SyncScenario(ADV, "E2E Sync Too Few", "file", tag="few", n=1100)
    create, churn, _ = scenario.files
    seen: set[str] = set()
    report = run_sync(stack, create, seen_jobs=seen)
    audience_id = assert_succeeded_exactly(stack, scenario, create, report)

    # 300 people: ~560 ids, under TikTok's 1,000 (contract CF-10)
    shrink = scenario.sync_file(
        "shrink",
        f"segments/{ADV}/{scenario.name}/sync/few-small.csv",
        scenario.body(list(range(300))),
        frozenset(range(300)),
        frozenset(range(scenario.n)),
    )
    assert len(shrink.members) < 1000
    mark = TrafficMark.take(stack.emulator.state, audience_id)
    refused = run_sync(stack, shrink, seen_jobs=seen, timeout=60)

    assert refused["status"] == "failed", refused
    assert (refused["error"] or {}).get("code") == "too_few_members", refused["error"]
    assert "1,000" in refused["error"]["message"]
    traffic = Traffic.since(stack.emulator.state, mark, audience_id)
    assert traffic.all_calls == {}, traffic.all_calls
    assert traffic.uploads == 0
    assert scenario.tiktok_members(stack.emulator.state, audience_id) == scenario.expected(create)

    # the synced state stayed the first file's: the next sync's difference is against it
    report = run_sync(stack, churn, seen_jobs=seen)
    assert assert_succeeded_exactly(stack, scenario, churn, report) == audience_id


@pytest.mark.parametrize("api", APIS)
def test_the_first_sync_of_an_audience_made_by_create_makes_tiktok_exact(
    stack: LocalStack, api: str
) -> None:
    """An audience made by ``create`` (never synced): TikTok's membership is not known to the
    connector, so the first sync cannot diff. Customer file: it replaces the members of the same
    audience; partner (no replace in the mapping API): it builds a new audience and the name
    moves to it. Either way TikTok holds exactly the sync file, and the next sync diffs."""
    scenario = SyncScenario(ADV, f"E2E Made By Create {api}", api, tag=f"made{api}", n=1100)
    first, second, _ = scenario.files
    seen: set[str] = set()
    created = SyncFile(
        "create",
        f"segments/{ADV}/{scenario.name}/create/old.csv",
        # the same columns (a customer-file audience keeps the id types it was made with)
        SyncScenario(ADV, scenario.name, api, tag="old", n=1200).body(list(range(1200))),
        scenario.metadata,
        frozenset(),
        frozenset(),
        {},
    )
    report = run_sync(stack, created, seen_jobs=seen)
    assert report["status"] == "succeeded", report.get("error")
    old_audience = str(report["tiktok"]["audience_id"])

    mark = TrafficMark.take(stack.emulator.state, old_audience)
    report = run_sync(stack, first, seen_jobs=seen)
    audience_id = assert_succeeded_exactly(stack, scenario, first, report)
    state = stack.emulator.state
    if api == "file":
        assert audience_id == old_audience
        assert Traffic.since(state, mark, audience_id).actions() == ["REPLACE"]
    else:
        assert audience_id != old_audience
        assert len(state.find_audiences(ADV, scenario.name)) == 2

    report = run_sync(stack, second, seen_jobs=seen)
    assert assert_succeeded_exactly(stack, scenario, second, report) == audience_id
