"""A sync job's upload side against the emulator (docs/sync.md, "Wiring plan → Upload").

Each job is laid down the way ingest hands a sync over (:mod:`tiktok_connector.sync.handover`):
the lock taken and moved to ``sending``, the ``sync`` record planned and its changes recorded,
change chunks ``sync-add-*`` / ``sync-remove-*`` in S3 — then its chunk messages are delivered.
Expected memberships are plain set arithmetic on the test's own hashes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from tiktok_connector.contract.job import SyncChunk
from tiktok_connector.contract.messages import ChunkMessage, FinalizeMessage
from tiktok_connector.sync.jobstate import SyncJobs
from tiktok_connector.sync.lock import SyncLock, Taken, lock_key

from .conftest import ADV, AUDIENCES, BUCKET, JOBS, World, emails, one_column

UPDATE = "dmp/custom_audience/update/"
UPLOAD = "dmp/custom_audience/file/upload/"
MAPPING = "segment/mapping/"
ROWS = 400  # rows per change chunk here


def lock(world: World) -> SyncLock:
    return SyncLock(table=AUDIENCES, dynamodb=world.ddb)


def sync_job(
    world: World,
    name: str,
    *,
    adds: Sequence[str],
    removes: Sequence[str] = (),
    api: str = "file",
    unchanged: int = 0,
) -> tuple[str, list[ChunkMessage]]:
    """Hand a sync job over as ingest does; the chunk messages ingest would send now (for a
    partner sync with adds, its removes are held back on the job)."""
    job_id, _ = world.new_job(name=name, action="sync", chunks=[], api=api)
    key = lock_key(api, name)
    state = lock(world).get(ADV, key)
    taken = lock(world).take(ADV, key, job_id, running=lambda other: False)
    assert isinstance(taken, Taken)
    assert lock(world).start_sending(ADV, key, job_id)
    sync_jobs = SyncJobs(JOBS, dynamodb=world.ddb)
    sync_jobs.planned(
        job_id,
        bits=8,
        base=state.generation if state else None,
        groups_total=1,
        uncertain=state.uncertain if state else (),
    )
    written: dict[str, list[ChunkMessage]] = {"add": [], "remove": []}
    for action, values in (("add", list(adds)), ("remove", list(removes))):
        for index, chunk in enumerate(one_column(values, ROWS)):
            chunk_key = f"chunks/{job_id}/sync-{action}-{index:05d}.csv"
            body = ("EMAIL_SHA256\n" + "".join(f"{row[0]}\n" for row in chunk)).encode()
            world.s3.put_object(Bucket=BUCKET, Key=chunk_key, Body=body)
            md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
            written[action].append(
                ChunkMessage(job_id=job_id, chunk_key=chunk_key, rows=len(chunk), md5=md5)
            )
    held = written["remove"] if api == "segment" and written["add"] else []
    members = unchanged + len(adds)
    sync_jobs.record_changes(
        job_id,
        changes={
            "EMAIL_SHA256": {"added": len(adds), "removed": len(removes), "unchanged": unchanged}
        },
        members=members,
        chunks_total=len(written["add"]) + len(written["remove"]),
        remove_chunks=[SyncChunk(key=m.chunk_key, rows=m.rows, md5=m.md5) for m in held],
    )
    now = [m for m in written["add"] + written["remove"] if m not in held]
    return job_id, now


def deliver_all(world: World, job_id: str, bodies: list[ChunkMessage]) -> None:
    """Deliver the messages, then whatever the uploader sent on (a partner sync's removes)."""
    for body in bodies or [FinalizeMessage(job_id=job_id)]:
        world.deliver(body)
    while world.requeued:
        world.deliver_requeued()


def test_customer_file_syncs_create_then_send_only_the_difference(world: World) -> None:
    first = emails(0, 1200)
    job1, bodies = sync_job(world, "Synced", adds=first)
    deliver_all(world, job1, bodies)
    report = world.report(job1)
    assert report["status"] == "succeeded", report["error"]
    audience_id = report["tiktok"]["audience_id"]
    assert world.members(audience_id) == set(first)
    assert report["sync"] == {
        "previous_generation": None,
        "reconciled_generations": [],
        "members": 1200,
        "committed": True,
    }
    state = lock(world).get(ADV, lock_key("file", "Synced"))
    assert state is not None
    assert (state.generation, state.holder) == (job1, None)

    added, removed = emails(1200, 1260), first[:36]
    uploads, history = world.calls(UPLOAD), len(world.emu.state.audience_history(audience_id))
    job2, bodies = sync_job(world, "Synced", adds=added, removes=removed, unchanged=1164)
    deliver_all(world, job2, bodies)

    report = world.report(job2)
    assert report["status"] == "succeeded", report["error"]
    assert report["tiktok"]["audience_id"] == audience_id
    assert world.members(audience_id) == (set(first) | set(added)) - set(removed)
    assert world.calls(UPLOAD) - uploads == 2  # one add chunk, one remove chunk
    actions = [h["action"] for h in world.emu.state.audience_history(audience_id)[history:]]
    assert actions == ["APPEND", "REMOVE"]  # adds first: never under 1,000 on the way
    assert report["changes"] == {"EMAIL_SHA256": {"added": 60, "removed": 36, "unchanged": 1164}}
    assert report["sync"]["previous_generation"] == job1
    assert lock(world).get(ADV, lock_key("file", "Synced")).generation == job2  # type: ignore[union-attr]


def test_a_sync_with_no_change_finishes_without_touching_tiktok(world: World) -> None:
    job1, bodies = sync_job(world, "Still", adds=emails(0, 1000))
    deliver_all(world, job1, bodies)
    before = len(world.emu.state.requests)

    job2, bodies = sync_job(world, "Still", adds=[], unchanged=1000)
    assert bodies == []  # ingest sends a finalize message only
    deliver_all(world, job2, bodies)

    report = world.report(job2)
    assert report["status"] == "succeeded", report["error"]
    paths = [r.get("path", "") for r in world.emu.state.requests[before:]]
    assert all(p.endswith("dmp/custom_audience/get/") for p in paths), paths  # the size read
    assert report["chunks"] == {"total": 0, "done": 0}
    assert lock(world).get(ADV, lock_key("file", "Still")).generation == job2  # type: ignore[union-attr]


def test_first_sync_of_an_audience_made_by_create_replaces_its_members(world: World) -> None:
    job0, bodies = world.new_job(
        name="Older", action="create", chunks=one_column(emails(0, 1500), 500)
    )
    for body in bodies:
        world.deliver(body)
    audience_id = world.report(job0)["tiktok"]["audience_id"]

    wanted = emails(500, 1700)
    job1, bodies = sync_job(world, "Older", adds=wanted)
    deliver_all(world, job1, bodies)

    report = world.report(job1)
    assert report["status"] == "succeeded", report["error"]
    assert report["tiktok"]["audience_id"] == audience_id  # the same audience, exact members
    assert world.members(audience_id) == set(wanted)


def test_partner_sync_sends_its_removes_only_after_every_add(world: World) -> None:
    first = emails(0, 900)
    job1, bodies = sync_job(world, "Stream", adds=first, api="segment")
    deliver_all(world, job1, bodies)
    audience_id = world.report(job1)["tiktok"]["audience_id"]
    assert world.emu.state.audience_hashes(audience_id) == set(first)

    added, removed = emails(900, 1700), first[:450]
    job2, bodies = sync_job(world, "Stream", adds=added, removes=removed, api="segment")
    assert len(bodies) == 2  # the two add chunks; the two remove chunks are held back
    world.deliver(bodies[0])
    assert world.requeued == []  # one add still to go: no remove yet
    world.deliver(bodies[0])  # a redelivery changes nothing
    assert world.requeued == []
    world.deliver(bodies[1])
    held = [json.loads(body)["chunk_key"] for body, _ in world.requeued]
    assert held == [f"chunks/{job2}/sync-remove-00000.csv", f"chunks/{job2}/sync-remove-00001.csv"]
    world.deliver(bodies[1])  # a redelivery of the last add does not send them twice
    assert len(world.requeued) == 2
    deliver_all(world, job2, [])

    report = world.report(job2)
    assert report["status"] == "succeeded", report["error"]
    assert world.emu.state.audience_hashes(audience_id) == (set(first) | set(added)) - set(removed)
    history = world.emu.state.audience_history(audience_id)
    sent = [(h["action"], h["action_detail"]) for h in history if h["action"] in ("ADD", "DELETE")]
    second = sent[-4:]  # two add chunks, then two remove chunks (400 + 400, 400 + 50)
    assert [a for a, _ in second] == ["ADD", "ADD", "DELETE", "DELETE"], sent


def test_partner_sync_of_an_audience_made_by_create_moves_the_name_to_a_new_one(
    world: World,
) -> None:
    job0, bodies = world.new_job(
        name="Made", action="create", api="segment", chunks=one_column(emails(0, 300), 300)
    )
    for body in bodies:
        world.deliver(body)
    old_id = world.report(job0)["tiktok"]["audience_id"]

    wanted = emails(100, 500)
    job1, bodies = sync_job(world, "Made", adds=wanted, api="segment")
    deliver_all(world, job1, bodies)

    report = world.report(job1)
    assert report["status"] == "succeeded", report["error"]
    new_id = report["tiktok"]["audience_id"]
    assert new_id != old_id  # TikTok's mapping API has no replace: unknown members stay behind
    assert world.emu.state.audience_hashes(new_id) == set(wanted)
    assert world.emu.state.audience_hashes(old_id) == set(emails(0, 300))
    entry = world.registry.get(ADV, "segment#Made")
    assert entry is not None
    assert entry.audience_id == new_id


def test_append_remove_and_replace_of_a_synced_audience_are_refused(world: World) -> None:
    job1, bodies = sync_job(world, "Kept", adds=emails(0, 1000))
    deliver_all(world, job1, bodies)
    audience_id = world.report(job1)["tiktok"]["audience_id"]
    for action in ("append", "remove", "replace"):
        before = len(world.emu.state.requests)
        job_id, bodies = world.new_job(
            name="Kept", action=action, chunks=one_column(emails(2000, 2010), 10)
        )
        assert world.deliver(bodies[0]).result == "failed"
        error = world.report(job_id)["error"]
        assert error["code"] == "audience_synced"
        assert "next sync file" in error["message"]
        assert len(world.emu.state.requests) == before  # nothing reached TikTok
    assert world.members(audience_id) == set(emails(0, 1000))


def test_a_sync_failing_while_sending_leaves_its_generation_uncertain(world: World) -> None:
    job1, bodies = sync_job(world, "Shaky", adds=emails(0, 1000))
    deliver_all(world, job1, bodies)

    job2, bodies = sync_job(world, "Shaky", adds=emails(1000, 1100), removes=emails(0, 10))
    world.deliver(bodies[0])
    world.emu.state.revoke_token(world.token)
    world.deliver(bodies[1])

    report = world.report(job2)
    assert report["status"] == "failed"
    assert report["sync"]["committed"] is False
    state = lock(world).get(ADV, lock_key("file", "Shaky"))
    assert state is not None
    assert (state.generation, state.uncertain, state.holder) == (job1, (job2,), None)


def test_a_synced_audience_gone_from_the_registry_clears_the_sync_state(world: World) -> None:
    job1, bodies = sync_job(world, "Gone", adds=emails(0, 1000), api="segment")
    deliver_all(world, job1, bodies)
    world.registry.delete(ADV, "segment#Gone")

    job2, bodies = sync_job(world, "Gone", adds=emails(1000, 1010), api="segment")
    deliver_all(world, job2, bodies)

    error = world.report(job2)["error"]
    assert error["code"] == "synced_audience_missing"
    state = lock(world).get(ADV, lock_key("segment", "Gone"))
    assert state is not None
    assert (state.generation, state.uncertain) == (None, ())
