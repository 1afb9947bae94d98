"""The audience's size at TikTok in the job's report: read once the job succeeded, a failed
read recorded with its reason (the job still succeeds), refreshed until TikTok settles it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tiktok_connector.audiences.api import AudienceApi
from tiktok_connector.audiences.refresh import REFRESH_EVENT, SizeRefresh, is_refresh_event
from tiktok_connector.audiences.status import AudienceSizes

from .conftest import JOBS, World, emails, one_column

GET_PATH = "/dmp/custom_audience/get/"


def run_job(world: World, name: str, hashes: list[str], **kw: Any) -> dict[str, Any]:
    job_id, bodies = world.new_job(name=name, action="create", chunks=one_column(hashes, 50), **kw)
    for body in bodies:
        world.deliver(body)
    report = world.report(job_id)
    assert report["status"] == "succeeded", report["error"]
    return report


def refresh(world: World) -> SizeRefresh:
    sizes = world.uploader.sizes
    assert isinstance(sizes, AudienceSizes)
    uploader = world.uploader
    return SizeRefresh(
        dynamodb=world.ddb,
        table=JOBS,
        sizes=sizes,
        api=lambda deadline: AudienceApi(uploader.client, uploader.tokens, deadline=deadline),
    )


def emf_sizes(text: str) -> list[dict[str, Any]]:
    blobs = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [b for b in blobs if "AudienceSize" in b]


def test_the_report_holds_the_size_tiktok_reports(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    report = run_job(world, "Sized", emails(0, 120))

    tiktok = report["tiktok"]
    audience_id = tiktok["audience_id"]
    assert tiktok["audience_size"] == 120 == len(world.members(audience_id))
    assert tiktok["is_valid"] is True
    assert tiktok["status_checked_at"].endswith("Z")
    assert tiktok["size_unknown_reason"] is None
    assert world.calls(GET_PATH) >= 1
    # one AudienceSize metric for this audience, with its own dimensions
    [blob] = emf_sizes(capsys.readouterr().out)
    assert blob["AudienceSize"] == [120.0]
    assert (blob["advertiser"], blob["audience_id"]) == (report["advertiser_id"], audience_id)
    assert blob["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "AudienceSize", "Unit": "Count"}
    ]


def test_a_partner_audience_reports_its_mapped_size(world: World) -> None:
    columns = ("EMAIL_SHA256",)
    report = run_job(world, "PartnerSized", emails(0, 30), api="segment", columns=columns)
    assert report["tiktok"]["audience_size"] == 30
    assert report["tiktok"]["is_valid"] is True


def test_a_failed_read_is_recorded_with_its_reason_and_the_job_succeeds(world: World) -> None:
    world.emu.faults.add("http_500", path=GET_PATH, count=1)  # once: no retry may hide it
    report = run_job(world, "Unread", emails(0, 10))

    tiktok = report["tiktok"]
    assert tiktok["audience_size"] is None
    assert tiktok["is_valid"] is None
    assert tiktok["size_unknown_reason"] == "TikTok did not answer: HTTP 500"
    assert tiktok["status_checked_at"]
    assert report["error"] is None
    assert world.calls(GET_PATH) == 1  # one attempt: no retries for a size


def test_a_permission_error_names_tiktoks_code(world: World) -> None:
    world.emu.faults.add("revoke_token", path=GET_PATH, count=1)
    report = run_job(world, "Revoked", emails(0, 10))
    assert report["status"] == "succeeded"
    assert report["tiktok"]["audience_size"] is None
    reason = report["tiktok"]["size_unknown_reason"]
    assert reason.startswith("TikTok answered 40105: "), reason


def test_refresh_updates_a_size_tiktok_had_not_settled(world: World) -> None:
    world.emu.faults.add("http_500", path=GET_PATH, count=1)
    report = run_job(world, "Later", emails(0, 40))
    assert report["tiktok"]["audience_size"] is None

    done = refresh(world).run(remaining_seconds=60)

    assert (done.checked, done.settled, done.unknown) == (1, 1, 0)
    again = world.report(report["job_id"])["tiktok"]
    assert (again["audience_size"], again["is_valid"]) == (40, True)
    assert again["size_unknown_reason"] is None
    # settled now: the next refresh looks at nothing
    calls = world.calls(GET_PATH)
    assert refresh(world).run().checked == 0
    assert world.calls(GET_PATH) == calls


def test_refresh_keeps_the_last_known_size_when_a_read_fails(world: World) -> None:
    report = run_job(world, "Kept", emails(0, 25))
    job_id = report["job_id"]
    sizes = world.uploader.sizes
    assert sizes is not None
    # TikTok said "still computing" last time (a customer file takes 24-48 h)
    world.ddb.update_item(
        TableName=JOBS,
        Key={"job_id": {"S": job_id}},
        UpdateExpression="SET tiktok.is_valid = :f",
        ExpressionAttributeValues={":f": {"BOOL": False}},
    )
    world.emu.faults.add("http_500", path=GET_PATH, count=1)
    done = refresh(world).run()
    assert (done.checked, done.settled, done.unknown) == (1, 0, 1)
    tiktok = world.report(job_id)["tiktok"]
    assert tiktok["audience_size"] == 25  # last known, kept
    assert tiktok["is_valid"] is False
    assert tiktok["size_unknown_reason"] == "TikTok did not answer: HTTP 500"


def test_refresh_ignores_failed_and_old_jobs(world: World) -> None:
    report = run_job(world, "Old", emails(0, 5))
    world.ddb.update_item(
        TableName=JOBS,
        Key={"job_id": {"S": report["job_id"]}},
        UpdateExpression="SET finished_at = :old, tiktok.is_valid = :f",
        ExpressionAttributeValues={":old": {"S": "2000-01-01T00:00:00Z"}, ":f": {"BOOL": False}},
    )
    assert refresh(world).unsettled() == []


def test_refresh_stops_before_the_invocation_ends(world: World) -> None:
    world.emu.faults.add("http_500", path=GET_PATH, count=2)
    run_job(world, "A", emails(0, 5))
    run_job(world, "B", emails(5, 10))
    done = refresh(world).run(remaining_seconds=1.0)  # less than the margin: look at none
    assert (done.checked, done.left) == (0, 2)


def test_refresh_of_one_job_reads_again_even_when_settled(world: World) -> None:
    report = run_job(world, "One", emails(0, 7))
    calls = world.calls(GET_PATH)
    item = refresh(world).refresh_job(report["job_id"])
    assert item is not None
    assert item.tiktok.audience_size == 7
    assert world.calls(GET_PATH) == calls + 1
    assert refresh(world).refresh_job("f" * 32) is None


def test_the_schedule_event_is_told_apart_from_queue_batches() -> None:
    assert is_refresh_event({"type": REFRESH_EVENT})
    assert not is_refresh_event({"Records": []})
    assert not is_refresh_event({"type": "something else"})
    assert not is_refresh_event(["type"])
