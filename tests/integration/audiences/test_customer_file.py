"""Customer-file path against the emulator: every action, out-of-order and duplicate chunks."""

from __future__ import annotations

import pytest

from tiktok_connector.contract.messages import ChunkMessage

from .conftest import ADV, World, emails, one_column

CREATE = "dmp/custom_audience/create/"
UPDATE = "dmp/custom_audience/update/"
UPLOAD = "dmp/custom_audience/file/upload/"


def run(world: World, bodies: list[ChunkMessage], order: list[int] | None = None) -> None:
    for i in order if order is not None else range(len(bodies)):
        world.deliver(bodies[i])


def created(world: World, name: str, members: list[str]) -> str:
    """Create ``name`` through a job; return the audience id."""
    job_id, bodies = world.new_job(name=name, action="create", chunks=one_column(members, 500))
    run(world, bodies)
    report = world.report(job_id)
    assert report["status"] == "succeeded", report["error"]
    return str(report["tiktok"]["audience_id"])


def test_create_from_chunks_delivered_out_of_order(world: World) -> None:
    members = emails(0, 1200)
    job_id, bodies = world.new_job(
        name="Spring buyers", action="create", chunks=one_column(members, 400)
    )

    outcomes = [world.deliver(bodies[i]).result for i in (2, 0, 1)]

    assert outcomes == ["uploaded", "uploaded", "finalized"]
    report = world.report(job_id)
    assert report["status"] == "succeeded"
    assert report["error"] is None
    audience_id = report["tiktok"]["audience_id"]
    assert world.members(audience_id) == set(members)
    assert len(report["tiktok"]["file_paths"]) == 3
    assert report["tiktok"]["request_ids"]  # the create call's request id
    assert report["chunks"] == {"total": 3, "done": 3}
    entry = world.registry.get(ADV, "file#Spring buyers")
    assert entry is not None
    assert entry.audience_id == audience_id
    assert world.calls(CREATE) == 1
    summary = world.emu.state.find_audience(ADV, "Spring buyers")
    assert summary is not None
    assert summary["calculate_type"] == "EMAIL_SHA256"


def test_duplicate_chunk_delivery_uploads_once_and_never_double_applies(world: World) -> None:
    audience_id = created(world, "Loyal", emails(0, 1000))
    job_id, bodies = world.new_job(
        name="Loyal", action="append", chunks=one_column(emails(1000, 1300), 100)
    )

    world.deliver(bodies[0])
    assert world.deliver(bodies[0]).result == "duplicate"  # redelivered before fan-in
    uploads_before = world.calls(UPLOAD)
    world.deliver(bodies[1])
    world.deliver(bodies[2])
    updates = world.calls(UPDATE)
    assert world.deliver(bodies[2]).result == "job_ended"  # redelivered after the job ended

    assert world.calls(UPLOAD) == uploads_before + 2
    assert world.calls(UPDATE) == updates == 1
    assert world.members(audience_id) == set(emails(0, 1300))
    history = world.emu.state.audience_history(audience_id)
    assert [h["action"] for h in history] == ["CREATE", "APPEND"]
    assert world.report(job_id)["status"] == "succeeded"


def test_remove(world: World) -> None:
    audience_id = created(world, "Churned", emails(0, 1500))
    job_id, bodies = world.new_job(
        name="Churned", action="remove", chunks=one_column(emails(0, 200), 100)
    )
    run(world, bodies, [1, 0])
    assert world.report(job_id)["status"] == "succeeded"
    assert world.members(audience_id) == set(emails(200, 1500))


def test_replace_is_applied_once_whatever_the_chunk_order(world: World) -> None:
    audience_id = created(world, "Weekly", emails(0, 1100))
    new = emails(5000, 6300)
    job_id, bodies = world.new_job(name="Weekly", action="replace", chunks=one_column(new, 300))

    for i in (4, 2, 0, 3):
        world.deliver(bodies[i])
        # Nothing is applied until the last chunk is in: never half-replaced.
        assert world.members(audience_id) == set(emails(0, 1100))
    world.deliver(bodies[1])

    assert world.members(audience_id) == set(new)
    assert [h["action"] for h in world.emu.state.audience_history(audience_id)] == [
        "CREATE",
        "REPLACE",
    ]
    report = world.report(job_id)
    assert report["status"] == "succeeded"
    assert report["tiktok"]["audience_id"] == audience_id


def test_replace_of_an_unknown_name_creates_it(world: World) -> None:
    job_id, bodies = world.new_job(
        name="Fresh", action="replace", chunks=one_column(emails(0, 50), 25)
    )
    run(world, bodies)
    report = world.report(job_id)
    assert report["status"] == "succeeded"
    assert world.members(report["tiktok"]["audience_id"]) == set(emails(0, 50))


def test_create_on_a_held_name_fails_with_audience_exists(world: World) -> None:
    created(world, "Taken", emails(0, 10))
    uploads = world.calls(UPLOAD)
    job_id, bodies = world.new_job(
        name="Taken", action="create", chunks=one_column(emails(10, 20), 5)
    )

    outcome = world.deliver(bodies[0])

    assert outcome.result == "failed"
    report = world.report(job_id)
    assert report["status"] == "failed"
    assert report["error"]["code"] == "audience_exists"
    assert "append or replace" in report["error"]["message"]
    assert world.calls(UPLOAD) == uploads  # failed before uploading anything
    assert world.deliver(bodies[1]).result == "job_ended"
    assert len(world.emu.state.find_audiences(ADV, "Taken")) == 1


@pytest.mark.parametrize("action", ["append", "remove"])
def test_append_or_remove_on_an_unknown_name_fails(world: World, action: str) -> None:
    job_id, bodies = world.new_job(
        name="Nobody", action=action, chunks=one_column(emails(0, 10), 10)
    )
    assert world.deliver(bodies[0]).result == "failed"
    error = world.report(job_id)["error"]
    assert error["code"] == "audience_not_found"
    assert world.emu.state.find_audience(ADV, "Nobody") is None


def test_append_on_an_unknown_name_creates_it_when_allowed(world: World) -> None:
    uploader = world.make_uploader(settings={"allow_create_on_append": True})
    job_id, bodies = world.new_job(
        name="Lenient", action="append", chunks=one_column(emails(0, 10), 10)
    )
    uploader.handle(bodies[0], remaining_seconds=60)
    report = world.report(job_id)
    assert report["status"] == "succeeded"
    assert world.members(report["tiktok"]["audience_id"]) == set(emails(0, 10))


def test_update_below_1000_members_fails_with_tiktoks_code_and_the_rule(world: World) -> None:
    audience_id = created(world, "Small", emails(0, 1000))
    job_id, bodies = world.new_job(
        name="Small", action="remove", chunks=one_column(emails(0, 10), 10)
    )

    outcome = world.deliver(bodies[0])

    assert outcome.result == "failed"
    error = world.report(job_id)["error"]
    assert error["code"] == "40002"
    assert "1,000 members" in error["message"]
    assert error["request_id"]
    assert world.members(audience_id) == set(emails(0, 1000))


def test_multiple_identifier_types_become_one_audience(world: World) -> None:
    rows = [[e, p] for e, p in zip(emails(0, 30), emails(0, 30, prefix="phone"), strict=True)]
    rows.append([emails(99, 100)[0], ""])
    job_id, bodies = world.new_job(
        name="Mixed",
        action="create",
        columns=("EMAIL_SHA256", "PHONE_SHA256"),
        chunks=[rows[:16], rows[16:]],
    )
    run(world, bodies)
    report = world.report(job_id)
    assert report["status"] == "succeeded", report["error"]
    members = world.emu.state.audience_members(report["tiktok"]["audience_id"])
    assert {t for t, _ in members} == {"EMAIL_SHA256", "PHONE_SHA256"}
    assert len(members) == 61
    assert world.emu.state.find_audience(ADV, "Mixed")["calculate_type"] == "MULTIPLE_TYPES"


def test_the_audience_cap_gets_an_actionable_message(world: World) -> None:
    created(world, "First", emails(0, 10))
    cap = world.emu.config.max_audiences_per_advertiser
    world.emu.config.max_audiences_per_advertiser = 1
    try:
        job_id, bodies = world.new_job(
            name="Second", action="create", chunks=one_column(emails(0, 10), 10)
        )
        assert world.deliver(bodies[0]).result == "failed"
    finally:
        world.emu.config.max_audiences_per_advertiser = cap
    error = world.report(job_id)["error"]
    assert error["code"] == "40002"
    assert "400 custom audiences" in error["message"]
    assert world.registry.get(ADV, "file#Second") is None  # the claim was released


def test_an_audience_deleted_at_tiktok_fails_clearly_and_frees_the_name(world: World) -> None:
    audience_id = created(world, "Gone", emails(0, 1000))
    world.emu.state.remove_audience(audience_id)  # deleted in Ads Manager
    job_id, bodies = world.new_job(name="Gone", action="append", chunks=one_column(emails(0, 5), 5))

    assert world.deliver(bodies[0]).result == "failed"

    error = world.report(job_id)["error"]
    assert error["code"] == "40007"
    assert "create or replace" in error["message"]
    assert world.registry.get(ADV, "file#Gone") is None
    new_id = created(world, "Gone", emails(0, 20))  # the name can be created again
    assert new_id != audience_id
