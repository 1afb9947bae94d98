"""Partner (segment API) path against the emulator: every action, aligned id_schema rows."""

from __future__ import annotations

import json

from tiktok_connector.contract.messages import ChunkMessage

from .conftest import ADV, World, emails, sha256

MAPPING = "segment/mapping/"
COLUMNS = ("EMAIL_SHA256", "PHONE_SHA256", "GAID_SHA256")


def rows(start: int, stop: int) -> list[list[str]]:
    """Three-column rows; every third row lacks a phone, every fourth lacks a GAID."""
    out = []
    for i in range(start, stop):
        out.append(
            [
                sha256(f"user{i}@example.com"),
                "" if i % 3 == 0 else sha256(f"+1555{i:07d}"),
                "" if i % 4 == 0 else sha256(f"gaid-{i}"),
            ]
        )
    return out


def expected(start: int, stop: int) -> set[tuple[str, str]]:
    members = set()
    for row in rows(start, stop):
        for schema, value in zip(("EMAIL_SHA256", "PHONE_SHA256", "AAID_SHA256"), row, strict=True):
            if value:
                members.add((schema, value))
    return members


def partner_job(
    world: World, name: str, action: str, start: int, stop: int, size: int = 40
) -> tuple[str, list[ChunkMessage]]:
    data = rows(start, stop)
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    return world.new_job(name=name, action=action, api="segment", columns=COLUMNS, chunks=chunks)


def test_create_maps_every_row_aligned_with_id_schema_in_batches(world: World) -> None:
    uploader = world.make_uploader(settings={"segment_batch_size": 25})
    job_id, bodies = partner_job(world, "Partners", "create", 0, 120)

    for i in (2, 0, 1):
        uploader.handle(bodies[i], remaining_seconds=30)

    report = world.report(job_id)
    assert report["status"] == "succeeded", report["error"]
    audience_id = report["tiktok"]["audience_id"]
    assert world.emu.state.audience_members(audience_id) == expected(0, 120)
    assert world.calls(MAPPING) == 6  # 3 chunks x ceil(40 / 25)
    assert len(world.emu.state.find_audiences(ADV, "Partners")) == 1
    assert report["tiktok"]["file_paths"] == []
    assert len(report["tiktok"]["request_ids"]) == 1  # the partner audience create


def test_append_and_remove_use_add_and_delete(world: World) -> None:
    create_id, bodies = partner_job(world, "Seg", "create", 0, 80)
    for body in bodies:
        world.deliver(body)
    audience_id = world.report(create_id)["tiktok"]["audience_id"]

    append_id, bodies = partner_job(world, "Seg", "append", 80, 120)
    for body in bodies:
        world.deliver(body)
    remove_id, bodies = partner_job(world, "Seg", "remove", 0, 40)
    for body in bodies:
        world.deliver(body)

    assert world.report(append_id)["status"] == "succeeded"
    assert world.report(remove_id)["status"] == "succeeded"
    assert world.report(remove_id)["tiktok"]["audience_id"] == audience_id
    assert world.emu.state.audience_members(audience_id) == expected(40, 120)


def test_duplicate_chunk_is_not_mapped_twice(world: World) -> None:
    job_id, bodies = partner_job(world, "Dup", "create", 0, 80)
    world.deliver(bodies[0])
    calls = world.calls(MAPPING)
    assert world.deliver(bodies[0]).result == "duplicate"
    assert world.calls(MAPPING) == calls
    world.deliver(bodies[1])
    assert world.report(job_id)["status"] == "succeeded"


def test_replace_builds_a_new_audience_and_moves_the_name_when_complete(world: World) -> None:
    create_id, bodies = partner_job(world, "Swap", "create", 0, 40)
    for body in bodies:
        world.deliver(body)
    old_id = world.report(create_id)["tiktok"]["audience_id"]

    job_id, bodies = partner_job(world, "Swap", "replace", 100, 180)
    world.deliver(bodies[1])
    entry = world.registry.get(ADV, "segment#Swap")
    assert entry is not None
    assert entry.audience_id == old_id  # the name still points at the complete old audience
    world.deliver(bodies[0])

    report = world.report(job_id)
    assert report["status"] == "succeeded"
    new_id = report["tiktok"]["audience_id"]
    assert new_id != old_id
    assert world.emu.state.audience_members(new_id) == expected(100, 180)
    entry = world.registry.get(ADV, "segment#Swap")
    assert entry is not None
    assert entry.audience_id == new_id
    assert world.registry.get(ADV, f"segment#Swap#job#{job_id}") is None


def test_create_on_a_held_name_fails(world: World) -> None:
    _first, bodies = partner_job(world, "Held", "create", 0, 10)
    world.deliver(bodies[0])
    job_id, bodies = partner_job(world, "Held", "create", 10, 20)
    assert world.deliver(bodies[0]).result == "failed"
    assert world.report(job_id)["error"]["code"] == "audience_exists"
    assert len(world.emu.state.find_audiences(ADV, "Held")) == 1


def test_unknown_platform_maids_fail_with_a_clear_reason(world: World) -> None:
    job_id, bodies = world.new_job(
        name="Maids",
        action="create",
        api="segment",
        columns=("MAID_SHA256",),
        chunks=[[[h] for h in emails(0, 5)]],
    )
    assert world.deliver(bodies[0]).result == "failed"
    error = world.report(job_id)["error"]
    assert error["code"] == "unsupported_id_type"
    assert "IDFA or GAID" in error["message"]
    assert json.dumps(error)  # serializable


def test_a_lost_replace_create_answer_never_adopts_the_audience_the_name_points_at(
    world: World,
) -> None:
    # A partner replace builds a second TikTok audience of the same name. When the answer to its
    # create is lost, the lookup for "the audience my create made" must not take the name's
    # current audience, created moments before (within the lookup's clock-skew allowance).
    create_id, bodies = partner_job(world, "Twins", "create", 0, 40)
    for body in bodies:
        world.deliver(body)
    old_id = world.report(create_id)["tiktok"]["audience_id"]
    world.emu.faults.add("drop_after_apply", path="/segment/audience/", count=1)

    job_id, bodies = partner_job(world, "Twins", "replace", 100, 180)
    for body in bodies:
        world.deliver(body)

    report = world.report(job_id)
    assert report["status"] == "succeeded"
    new_id = report["tiktok"]["audience_id"]
    assert new_id != old_id
    assert world.emu.state.audience_members(new_id) == expected(100, 180)
    assert world.emu.state.audience_members(old_id) == expected(0, 40)
    assert len(world.emu.state.find_audiences(ADV, "Twins")) == 2
