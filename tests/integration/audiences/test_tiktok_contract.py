"""The upload path against TikTok's real contract (issue 17) and follow-up files (issue 12 item 2).

Every test here failed with the product as it was before: it created MAID-only audiences as
``MAID_SHA256`` (not in ``/create/``'s enum), named file headers ``IDFA_SHA256`` (TikTok documents
``MAID_SHA256``), looked for a lost create by the label "Customer File" (TikTok says "Customer
File Audience"), uploaded follow-up files with their own calculate type (TikTok: 40909), and
failed a job on TikTok's passing states (an audience still processing, a partner audience not
ready yet).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tiktok_connector.audiences.failures import RetryLaterError
from tiktok_connector.contract.job import Shape
from tiktok_connector.contract.messages import ChunkMessage

from .conftest import ADV, World, emails, one_column, sha256

CREATE = "dmp/custom_audience/create/"
UPDATE = "dmp/custom_audience/update/"
UPLOAD = "dmp/custom_audience/file/upload/"
GET = "dmp/custom_audience/get/"


def phones(start: int, stop: int) -> list[str]:
    return [sha256(f"1555{i:07d}") for i in range(start, stop)]


def maids(start: int, stop: int) -> list[str]:
    return [sha256(f"6d92078a-8246-4ba4-ae5b-{i:012d}") for i in range(start, stop)]


def run(world: World, bodies: list[ChunkMessage]) -> None:
    for body in bodies:
        world.deliver(body)


def job(world: World, name: str, action: str, rows: list[list[str]], **kwargs: Any) -> str:
    """Run a job whose chunks hold ``rows`` (200 a chunk); return its id."""
    size = kwargs.pop("chunk_rows", 200)
    chunks = [rows[i : i + size] for i in range(0, len(rows), size)]
    job_id, bodies = world.new_job(name=name, action=action, chunks=chunks, **kwargs)
    run(world, bodies)
    return job_id


def succeeded(world: World, job_id: str) -> dict[str, Any]:
    report = world.report(job_id)
    assert report["status"] == "succeeded", report["error"]
    return report


def calculate_type(world: World, audience_id: str) -> str | None:
    for audience in world.emu.state.audiences_for(ADV):
        if audience["audience_id"] == audience_id:
            return audience["calculate_type"]
    return None


# ---------------------------------------------------------------- CF-03: create's enum
def test_a_maid_only_audience_is_created_as_first_sha256(world: World) -> None:
    ids = maids(0, 1000)
    job_id = job(world, "Devices", "create", [[m] for m in ids], columns=("MAID_SHA256",))
    report = succeeded(world, job_id)
    audience_id = report["tiktok"]["audience_id"]
    assert calculate_type(world, audience_id) == "FIRST_SHA256"
    assert world.members(audience_id) == set(ids)


# ---------------------------------------------------------------- CF-05..CF-07: headers
def test_mobile_id_columns_go_under_tiktoks_maid_headers(world: World) -> None:
    e, i, g = emails(0, 1000), maids(0, 1000), maids(5000, 6000)
    rows = [[a, b, c] for a, b, c in zip(e, i, g, strict=True)]
    job_id = job(
        world, "Mixed", "create", rows, columns=("EMAIL_SHA256", "IDFA_SHA256", "GAID_SHA256")
    )
    report = succeeded(world, job_id)
    assert world.members(report["tiktok"]["audience_id"]) == set(e) | set(i) | set(g)


# ---------------------------------------------------------------- CF-09: follow-up files fit
@pytest.mark.parametrize("action", ["append", "remove", "replace"])
def test_an_emails_only_follow_up_fits_an_email_and_phone_audience(
    world: World, action: str
) -> None:
    e, p = emails(0, 1500), phones(0, 1500)
    created = job(
        world,
        "Both",
        "create",
        [[a, b] for a, b in zip(e, p, strict=True)],
        columns=("EMAIL_SHA256", "PHONE_SHA256"),
    )
    audience_id = succeeded(world, created)["tiktok"]["audience_id"]
    follow = {"append": emails(5000, 5300), "remove": e[:300], "replace": emails(7000, 8200)}
    follow_id = job(world, "Both", action, [[x] for x in follow[action]])

    assert world.report(follow_id)["error"] is None
    succeeded(world, follow_id)
    expected = {
        "append": set(e) | set(p) | set(follow["append"]),
        "remove": (set(e) | set(p)) - set(e[:300]),
        "replace": set(follow["replace"]),
    }[action]
    assert world.members(audience_id) == expected
    assert calculate_type(world, audience_id) == "MULTIPLE_TYPES"


def test_a_headed_phone_file_after_a_headerless_one(world: World) -> None:
    """A header-less file of phones is a phone audience (typed by its one type); a headed
    phone file appends to it."""
    p = phones(0, 1200)
    headerless = job(
        world,
        "Callers",
        "create",
        [["", x, ""] for x in p],
        columns=("EMAIL_SHA256", "PHONE_SHA256", "MAID_SHA256"),
        headerless=True,
    )
    audience_id = succeeded(world, headerless)["tiktok"]["audience_id"]
    assert calculate_type(world, audience_id) == "PHONE_SHA256"
    appended = job(
        world, "Callers", "append", [[x] for x in phones(2000, 2100)], columns=("PHONE_SHA256",)
    )
    succeeded(world, appended)
    assert world.members(audience_id) == set(p) | set(phones(2000, 2100))


def test_a_headerless_file_after_a_headed_phone_audience(world: World) -> None:
    p = phones(0, 1200)
    created = job(world, "Dialers", "create", [[x] for x in p], columns=("PHONE_SHA256",))
    audience_id = succeeded(world, created)["tiktok"]["audience_id"]
    more = phones(3000, 3100)
    appended = job(
        world,
        "Dialers",
        "append",
        [["", x, ""] for x in more],
        columns=("EMAIL_SHA256", "PHONE_SHA256", "MAID_SHA256"),
        headerless=True,
    )
    succeeded(world, appended)
    assert world.members(audience_id) == set(p) | set(more)


def test_a_file_that_cannot_fit_fails_with_a_sentence_before_anything_is_uploaded(
    world: World,
) -> None:
    created = job(
        world, "Phones only", "create", [[x] for x in phones(0, 1200)], columns=("PHONE_SHA256",)
    )
    audience_id = succeeded(world, created)["tiktok"]["audience_id"]
    uploads = world.calls(UPLOAD)

    failed = job(
        world, "Phones only", "append", [[m] for m in maids(0, 300)], columns=("MAID_SHA256",)
    )

    report = world.report(failed)
    assert report["status"] == "failed"
    assert report["error"]["code"] == "audience_type_mismatch"
    assert "mobile ad id" in report["error"]["message"]
    assert "'Phones only'" in report["error"]["message"]
    assert world.calls(UPLOAD) == uploads  # nothing was uploaded
    assert world.members(audience_id) == set(phones(0, 1200))


# ---------------------------------------------------------------- CF-11: a lost create answer
@pytest.mark.parametrize("api", ["file", "segment"])
def test_a_lost_create_answer_is_found_by_name_type_and_time_not_the_label(
    world: World, api: str
) -> None:
    path = "/segment/audience/" if api == "segment" else f"/{CREATE}"
    world.emu.faults.add("drop_after_apply", path=path, count=1)
    job_id = job(world, "Lost answer", "create", [[x] for x in emails(0, 1000)], api=api)
    report = succeeded(world, job_id)
    found = world.emu.state.find_audiences(ADV, "Lost answer")
    assert len(found) == 1
    assert report["tiktok"]["audience_id"] == found[0]["audience_id"]


# ---------------------------------------------------------------- TM-01/TM-02: processing
def processing(world: World, seconds: float) -> None:
    world.emu.config.audience_processing_seconds = seconds


def test_an_update_while_tiktok_processes_waits_then_applies(world: World) -> None:
    created = job(world, "Busy", "create", [[x] for x in emails(0, 1200)])
    audience_id = succeeded(world, created)["tiktok"]["audience_id"]
    processing(world, 3600)
    world.emu.state.advance_time(0)  # (the audience above was created with processing off)
    # the next update starts processing; the one after it meets it
    first = job(world, "Busy", "append", [[x] for x in emails(2000, 2100)])
    succeeded(world, first)

    second = job(world, "Busy", "append", [[x] for x in emails(3000, 3100)])

    report = world.report(second)
    assert report["status"] == "waiting_for_tiktok"
    assert report["error"] is None
    assert report["waiting"]["reason"] == "audience_processing"
    assert report["waiting"]["audience_id"] == audience_id
    assert report["waiting"]["gives_up_at"] is not None
    assert world.jobs.get(second).status == "running"  # type: ignore[union-attr]  # the conditions still hold
    assert [json.loads(body)["type"] for body, _ in world.requeued] == ["finalize"]
    assert world.requeued[0][1] == world.settings.tiktok_wait_first_delay_seconds

    world.deliver_requeued()  # still processing: waits again, a longer delay
    assert world.report(second)["status"] == "waiting_for_tiktok"
    world.emu.state.advance_time(3601)
    world.deliver_requeued()

    report = succeeded(world, second)
    assert report["waiting"] is None
    assert world.members(audience_id) == set(emails(0, 1200)) | set(emails(2000, 2100)) | set(
        emails(3000, 3100)
    )


def test_without_a_queue_to_come_back_on_the_record_is_handed_back_to_sqs(world: World) -> None:
    created = job(world, "Busy", "create", [[x] for x in emails(0, 1200)])
    succeeded(world, created)
    processing(world, 3600)
    job(world, "Busy", "append", [[x] for x in emails(2000, 2100)])
    job_id, bodies = world.new_job(name="Busy", action="append", chunks=one_column(emails(5, 9), 9))
    uploader = world.make_uploader(requeue=None)
    with pytest.raises(RetryLaterError):
        uploader.handle(bodies[0], remaining_seconds=30)
    assert world.jobs.get(job_id).status == "running"  # type: ignore[union-attr]


def test_a_wait_longer_than_the_bound_fails_with_a_clear_sentence(world: World) -> None:
    clock = [1_900_000_000.0]
    uploader = world.make_uploader(clock=lambda: clock[0])
    world.uploader = uploader
    created = job(world, "Stuck", "create", [[x] for x in emails(0, 1200)])
    audience_id = succeeded(world, created)["tiktok"]["audience_id"]
    processing(world, 10 * 86400)
    job(world, "Stuck", "append", [[x] for x in emails(2000, 2100)])  # starts processing
    stuck = job(world, "Stuck", "append", [[x] for x in emails(3000, 3100)])
    assert world.report(stuck)["status"] == "waiting_for_tiktok"

    clock[0] += 47 * 3600
    world.deliver_requeued()
    assert world.report(stuck)["status"] == "waiting_for_tiktok"
    clock[0] += 2 * 3600  # 49 h since the first refusal: past TIKTOK_MAX_WAIT_HOURS (48)
    world.deliver_requeued()

    report = world.report(stuck)
    assert report["status"] == "failed"
    assert report["error"]["code"] == "tiktok_still_processing"
    assert audience_id in report["error"]["message"]
    assert "48 hours" in report["error"]["message"]
    assert world.requeued == []


def test_processing_is_told_from_the_1000_member_rule_by_tiktoks_status(world: World) -> None:
    """Both answer 40002; only the audience's own status (is_valid) tells them apart."""
    processing(world, 3600)
    created = job(world, "Small", "create", [[x] for x in emails(0, 1000)])
    audience_id = succeeded(world, created)["tiktok"]["audience_id"]
    removal = job(world, "Small", "remove", [[x] for x in emails(0, 200)])
    assert world.report(removal)["status"] == "waiting_for_tiktok"  # processing: a wait

    world.emu.state.advance_time(3601)
    world.deliver_requeued()  # processing over: now the 1,000-member rule refuses it

    report = world.report(removal)
    assert report["status"] == "failed"
    assert report["error"]["code"] == "40002"
    assert "1,000 members" in report["error"]["message"]
    assert world.members(audience_id) == set(emails(0, 1000))
    assert world.calls(GET) >= 2


@pytest.mark.parametrize("action", ["create", "replace"])
def test_more_than_50_files_survive_processing_between_their_calls(
    world: World, action: str
) -> None:
    base = None
    if action == "replace":
        base = succeeded(world, job(world, "Many", "create", [[x] for x in emails(0, 1000)]))
    processing(world, 3600)
    # 120 files of 25 ids: three groups of ≤ 50 files, each over 1,000 members
    rows = [[x] for x in emails(10_000, 13_000)]
    job_id = job(world, "Many", action, rows, chunk_rows=25)
    waits = 0
    while world.report(job_id)["status"] == "waiting_for_tiktok":
        waits += 1
        assert waits < 10
        world.emu.state.advance_time(3601)
        world.deliver_requeued()

    report = succeeded(world, job_id)
    audience_id = report["tiktok"]["audience_id"]
    if base is not None:
        assert audience_id == base["tiktok"]["audience_id"]
    assert world.members(audience_id) == {r[0] for r in rows}
    # one call per group, each refused once while the previous one was processed
    assert waits == 2
    history = [h["action"] for h in world.emu.state.audience_history(audience_id)]
    tail = (
        ["REPLACE", "APPEND", "APPEND"] if action == "replace" else ["CREATE", "APPEND", "APPEND"]
    )
    assert history[-3:] == tail
    assert len(world.report(job_id)["tiktok"]["request_ids"]) == 3


# ---------------------------------------------------------------- TM-03: partner readiness
def test_a_partner_audience_not_ready_yet_is_waited_for(world: World) -> None:
    world.emu.config.partner_ready_seconds = 3600
    e = emails(0, 300)
    job_id, bodies = world.new_job(
        name="Fresh partner", action="create", chunks=one_column(e, 100), api="segment"
    )
    run(world, bodies)
    report = world.report(job_id)
    assert report["status"] == "waiting_for_tiktok"
    assert report["waiting"]["reason"] == "partner_audience_not_ready"
    # each chunk comes back
    assert sorted(json.loads(b)["chunk_key"] for b, _ in world.requeued) == sorted(
        b.chunk_key for b in bodies
    )

    world.emu.state.advance_time(3601)
    world.deliver_requeued()

    report = succeeded(world, job_id)
    assert world.members(report["tiktok"]["audience_id"]) == set(e)
    assert len(world.emu.state.find_audiences(ADV, "Fresh partner")) == 1


def test_a_partner_refusal_after_the_readiness_window_fails_the_job(world: World) -> None:
    world.emu.config.partner_ready_seconds = 3600
    world.uploader = world.make_uploader(settings={"partner_ready_window_seconds": 0})
    job_id = job(world, "Never ready", "create", [[x] for x in emails(0, 10)], api="segment")
    report = world.report(job_id)
    assert report["status"] == "failed"
    assert report["error"]["code"] == "40002"
    assert world.requeued == []


def test_a_follow_up_waits_for_its_audience_to_be_created_to_learn_its_shape(
    world: World,
) -> None:
    claim = world.registry.claim(
        ADV, "file#Racing", name="Racing", api="file", job_id="creator", lease_seconds=300
    )
    assert claim.won
    job_id, bodies = world.new_job(
        name="Racing", action="append", chunks=one_column(emails(0, 10), 10)
    )
    uploads = world.calls(UPLOAD)
    with pytest.raises(RetryLaterError):
        world.deliver(bodies[0])
    assert world.calls(UPLOAD) == uploads

    e, p = emails(100, 1200), phones(100, 1200)
    created = world.emu.state.add_audience(ADV, "Racing", "customer_file", "MULTIPLE_TYPES")
    world.registry.complete(
        ADV,
        "file#Racing",
        job_id="creator",
        audience_id=created.audience_id,
        shape=Shape(calculate_type="MULTIPLE_TYPES", columns=("EMAIL_SHA256", "PHONE_SHA256")),
    )
    created.members = {("EMAIL_SHA256", x) for x in e} | {("PHONE_SHA256", x) for x in p}
    world.deliver(bodies[0])

    succeeded(world, job_id)
    assert world.members(created.audience_id) == set(e) | set(p) | set(emails(0, 10))
