"""Races, throttling, lost answers and permanent errors against the emulator."""

from __future__ import annotations

import threading

import pytest

from tiktok_connector.audiences.failures import RetryLaterError
from tiktok_connector.audiences.outcome import Outcome

from .conftest import ADV, World, emails, one_column

CREATE_PATH = "/dmp/custom_audience/create/"
UPLOAD_PATH = "/dmp/custom_audience/file/upload/"


def test_two_jobs_racing_to_create_one_name_create_it_once(world: World) -> None:
    job_a, bodies_a = world.new_job(
        name="Race", action="create", chunks=one_column(emails(0, 20), 10)
    )
    job_b, bodies_b = world.new_job(
        name="Race", action="create", chunks=one_column(emails(20, 40), 10)
    )
    world.deliver(bodies_a[0])
    world.deliver(bodies_b[0])
    # Slow creates so the two finalizations overlap.
    world.emu.faults.add("slow", path=CREATE_PATH, delay=0.5)
    results: dict[str, Outcome | Exception] = {}

    def last_chunk(name: str, body: str) -> None:
        try:
            results[name] = world.make_uploader().handle(body, remaining_seconds=30)
        except Exception as exc:  # surfaced by the assertions below
            results[name] = exc

    threads = [
        threading.Thread(target=last_chunk, args=("a", bodies_a[1])),
        threading.Thread(target=last_chunk, args=("b", bodies_b[1])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert len(world.emu.state.find_audiences(ADV, "Race")) == 1
    reports = {job: world.report(job) for job in (job_a, job_b)}
    statuses = sorted(r["status"] for r in reports.values())
    assert statuses == ["failed", "succeeded"], results
    loser = next(r for r in reports.values() if r["status"] == "failed")
    winner = next(r for r in reports.values() if r["status"] == "succeeded")
    assert loser["error"]["code"] == "audience_exists"
    entry = world.registry.get(ADV, "file#Race")
    assert entry is not None
    assert entry.audience_id == winner["tiktok"]["audience_id"]


def test_throttling_past_the_budget_defers_the_record_and_loses_no_chunk(world: World) -> None:
    members = emails(0, 300)
    job_id, bodies = world.new_job(
        name="Throttled", action="create", chunks=one_column(members, 100)
    )
    uploader = world.make_uploader(settings={"deadline_margin_seconds": 0.0})
    world.emu.faults.add("throttle", path=UPLOAD_PATH, count=1000)

    with pytest.raises(RetryLaterError):
        uploader.handle(bodies[0], remaining_seconds=0.3)

    world.emu.faults.clear()
    world.emu.faults.add("throttle", path=UPLOAD_PATH, count=2)  # retried inside the call
    world.emu.faults.add("throttle", path=CREATE_PATH, count=1000)
    for body in bodies[1:]:
        uploader.handle(body, remaining_seconds=30)
    with pytest.raises(RetryLaterError):  # last chunk uploads, but the create is throttled
        uploader.handle(bodies[0], remaining_seconds=0.5)
    assert world.jobs.get(job_id).status == "running"  # type: ignore[union-attr]
    assert world.jobs.get(job_id).finalizing is None  # type: ignore[union-attr]  # released

    world.emu.faults.clear()
    outcome = uploader.handle(bodies[0], remaining_seconds=30)  # SQS redelivers it

    assert outcome.result == "finalized"
    report = world.report(job_id)
    assert report["status"] == "succeeded"
    assert world.members(report["tiktok"]["audience_id"]) == set(members)
    assert len(world.emu.state.find_audiences(ADV, "Throttled")) == 1


def test_a_lost_create_answer_does_not_create_twice(world: World) -> None:
    job_id, bodies = world.new_job(
        name="Lost", action="create", chunks=one_column(emails(0, 10), 10)
    )
    world.emu.faults.add("drop_after_apply", path=CREATE_PATH, count=1)

    world.deliver(bodies[0])

    found = world.emu.state.find_audiences(ADV, "Lost")
    assert len(found) == 1
    report = world.report(job_id)
    assert report["status"] == "succeeded"
    assert report["tiktok"]["audience_id"] == found[0]["audience_id"]


def test_tiktok_5xx_on_update_is_retried_within_the_call(world: World) -> None:
    job_id, bodies = world.new_job(
        name="Flaky", action="replace", chunks=one_column(emails(0, 1000), 500)
    )
    world.emu.faults.add("http_500", path="/dmp/custom_audience/", count=2)
    world.emu.faults.add("code_50002", path="/dmp/custom_audience/", count=2)
    for body in bodies:
        world.deliver(body)
    report = world.report(job_id)
    assert report["status"] == "succeeded"
    assert world.members(report["tiktok"]["audience_id"]) == set(emails(0, 1000))


def test_a_revoked_token_fails_the_job_with_tiktoks_code_not_retried_forever(world: World) -> None:
    job_id, bodies = world.new_job(
        name="Revoked", action="create", chunks=one_column(emails(0, 10), 10)
    )
    world.emu.state.revoke_token(world.token)

    outcome = world.deliver(bodies[0])  # processed: no exception, so SQS deletes it

    assert outcome.result == "failed"
    report = world.report(job_id)
    assert report["status"] == "failed"
    assert report["error"]["code"] == "40105"
    assert report["error"]["request_id"]
    assert "reconnect" in report["error"]["message"]
    assert world.token not in str(report)
    assert world.deliver(bodies[0]).result == "job_ended"


def test_a_rejected_token_is_refetched_once(world: World) -> None:
    job_id, bodies = world.new_job(
        name="Reauth", action="create", chunks=one_column(emails(0, 10), 10)
    )
    uploader = world.uploader
    assert uploader.tokens.token_for(ADV) == world.token  # cached from here on
    # The advertiser re-authorized: the old token is revoked, the secret holds a new one.
    world.emu.state.revoke_token(world.token)
    fresh = world.emu.state.issue_token()
    world.sm.put_secret_value(
        SecretId="tiktok-connector/authorizations/auth-1",
        SecretString='{"access_token": "' + fresh + '"}',
    )

    outcome = uploader.handle(bodies[0], remaining_seconds=30)

    assert outcome.tiktok_codes.get(40105) == 1  # one rejection, then the refetched token
    assert outcome.result == "finalized"
    assert world.report(job_id)["status"] == "succeeded"


def test_more_than_50_files_go_in_groups_of_50(world: World) -> None:
    members = emails(0, 1100)
    job_id, bodies = world.new_job(name="Big", action="create", chunks=one_column(members, 20))
    assert len(bodies) == 55
    for body in reversed(bodies):
        world.deliver(body)
    report = world.report(job_id)
    assert report["status"] == "succeeded"
    audience_id = report["tiktok"]["audience_id"]
    assert world.members(audience_id) == set(members)
    history = world.emu.state.audience_history(audience_id)
    assert [(h["action"], h["action_detail"]) for h in history] == [
        ("CREATE", "50 file(s)"),
        ("APPEND", "5 file(s)"),
    ]
    assert len(report["tiktok"]["request_ids"]) == 2
