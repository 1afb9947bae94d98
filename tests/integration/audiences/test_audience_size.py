"""The audience's size at TikTok in the report (issue 14): read once a job's calls are done, a
failed read that never fails the job, and a later refresh once TikTok has computed it."""

from __future__ import annotations

import json

import pytest

from tiktok_connector.audiences.api import AudienceApi
from tiktok_connector.audiences.size import refresh_size

from .conftest import BUCKET, World, emails, one_column, sha256

GET = "dmp/custom_audience/get/"


def create(world: World, name: str, members: list[str]) -> str:
    job_id, bodies = world.new_job(name=name, action="create", chunks=one_column(members, 500))
    for body in bodies:
        world.deliver(body)
    return job_id


def api_of(world: World) -> AudienceApi:
    return AudienceApi(world.uploader.client, world.uploader.tokens)


def test_a_finished_job_reports_the_size_tiktok_gives(world: World) -> None:
    job_id = create(world, "Sized", emails(0, 1200))

    tiktok = world.report(job_id)["tiktok"]
    assert world.report(job_id)["status"] == "succeeded"
    audience = world.emu.state.find_audience(world.jobs.get(job_id).advertiser_id, "Sized")  # type: ignore[union-attr]
    assert audience is not None
    assert tiktok["audience_size"] == 1200 == len(world.members(tiktok["audience_id"]))
    assert tiktok["is_valid"] is True
    assert tiktok["status_checked_at"].endswith("Z")
    assert tiktok["size_unknown_reason"] is None
    # one read, made once the audience was built (after the create's own calls)
    gets = [r for r in world.emu.state.requests if r["path"].endswith(GET)]
    assert len(gets) == 1
    assert world.emu.state.requests[-1]["path"].endswith(GET)


def test_a_partner_audience_reports_its_size_too(world: World) -> None:
    rows = [[sha256(f"p{i}@example.com"), sha256(f"+1555{i:07d}")] for i in range(120)]
    job_id, bodies = world.new_job(
        name="Partner sized",
        action="create",
        api="segment",
        columns=("EMAIL_SHA256", "PHONE_SHA256"),
        chunks=[rows[:60], rows[60:]],
    )
    for body in bodies:
        world.deliver(body)

    tiktok = world.report(job_id)["tiktok"]
    assert world.report(job_id)["status"] == "succeeded"
    assert tiktok["audience_size"] == len(world.emu.state.audience_members(tiktok["audience_id"]))
    assert tiktok["audience_size"] == 240  # an e-mail and a phone per row
    assert tiktok["size_unknown_reason"] is None


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"kind": "http_500"}, "TikTok answered HTTP 500"),
        ({"kind": "code_50002"}, "TikTok answered code 50002"),
        ({"kind": "throttle"}, "TikTok answered code 40100"),
    ],
)
def test_a_failed_read_is_reported_and_never_fails_the_job(
    world: World, fault: dict[str, str], reason: str
) -> None:
    world.emu.faults.add(fault["kind"], path="/" + GET)

    job_id = create(world, "Unread", emails(0, 1000))

    report = world.report(job_id)
    assert report["status"] == "succeeded"
    assert report["error"] is None
    assert report["tiktok"]["audience_size"] is None
    assert report["tiktok"]["is_valid"] is None
    assert report["tiktok"]["status_checked_at"] is not None
    assert report["tiktok"]["size_unknown_reason"].startswith(reason)
    # one attempt: a failed read is not retried
    assert sum(1 for r in world.emu.state.requests if r["path"].endswith(GET)) == 1


def test_an_audience_deleted_at_tiktok_gets_tiktoks_reason_on_refresh(world: World) -> None:
    job_id = create(world, "Gone", emails(0, 1000))
    audience_id = world.report(job_id)["tiktok"]["audience_id"]
    world.emu.state.remove_audience(audience_id)

    size = refresh_size(world.jobs, job_id, api_of(world), s3=world.s3, bucket=BUCKET)

    assert size is not None
    assert size.audience_size is None
    assert (
        size.size_unknown_reason
        == f"TikTok answered code 40007: Audience {audience_id} does not exist."
    )
    assert world.report(job_id)["tiktok"]["size_unknown_reason"] == size.size_unknown_reason
    assert world.report(job_id)["status"] == "succeeded"


def test_refresh_updates_the_report_once_tiktok_has_computed_the_audience(world: World) -> None:
    world.emu.config.audience_processing_seconds = 3600
    job_id = create(world, "Computing", emails(0, 1500))

    first = world.report(job_id)["tiktok"]
    assert world.report(job_id)["status"] == "succeeded"
    assert first["is_valid"] is False  # TikTok is still computing it (contract TM-02)

    world.emu.state.advance_time(3601)
    size = refresh_size(world.jobs, job_id, api_of(world), s3=world.s3, bucket=BUCKET)

    assert size is not None
    assert size.is_valid is True
    stored = json.loads(
        world.s3.get_object(Bucket=BUCKET, Key=f"reports/{job_id}.json")["Body"].read()
    )
    assert stored["tiktok"]["is_valid"] is True
    assert stored["tiktok"]["audience_size"] == 1500
    assert stored["tiktok"]["status_checked_at"] >= first["status_checked_at"]
    assert stored["status"] == "succeeded"


def test_refresh_of_a_job_without_an_audience_changes_nothing(world: World) -> None:
    assert refresh_size(world.jobs, "f" * 32, api_of(world), s3=world.s3, bucket=BUCKET) is None
    job_id, _ = world.new_job(name="Not yet", action="create", chunks=one_column(emails(0, 9), 5))
    # no chunk delivered: the job runs and has no audience yet
    assert refresh_size(world.jobs, job_id, api_of(world), s3=world.s3, bucket=BUCKET) is None
    assert not any(r["path"].endswith(GET) for r in world.emu.state.requests)
