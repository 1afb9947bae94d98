"""The scheduled size refresh (issue 14): succeeded jobs of the last 7 days whose size TikTok
had not settled are read again, their reports rewritten and the size published as a metric;
settled, failed and older jobs are left alone, and a run out of time leaves the rest for later."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tiktok_connector.audiences.api import AudienceApi
from tiktok_connector.audiences.refresh import (
    REFRESH_EVENT,
    is_refresh_event,
    refresh_sizes,
    unsettled,
)
from tiktok_connector.contract.job import JobError

from .conftest import ADV, BUCKET, JOBS, World, emails, one_column

GET = "dmp/custom_audience/get/"
DAY = 86400.0


class Metrics:
    """A fake metrics sink for add_count (add_count_by prints its EMF line to stdout)."""

    service = "audience-upload-test"
    namespace = "TikTokConnectorTest"

    def __init__(self) -> None:
        self.counts: dict[str, float] = {}

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.counts[name] = self.counts.get(name, 0) + value


def create(world: World, name: str, n: int) -> str:
    job_id, bodies = world.new_job(name=name, action="create", chunks=one_column(emails(0, n), 500))
    for body in bodies:
        world.deliver(body)
    return job_id


def run(world: World, **kwargs: Any) -> Any:
    api = AudienceApi(world.uploader.client, world.uploader.tokens)
    ddb = world.uploader.jobs._ddb
    return refresh_sizes(
        world.jobs, api, dynamodb=ddb, table=JOBS, s3=world.s3, bucket=BUCKET, **kwargs
    )


def gets(world: World) -> int:
    return sum(1 for r in world.emu.state.requests if r["path"].endswith(GET))


def test_the_schedule_event_is_recognised_and_nothing_else() -> None:
    assert is_refresh_event({"type": REFRESH_EVENT})
    assert not is_refresh_event({"Records": []})
    assert not is_refresh_event({"type": "something else"})
    assert not is_refresh_event(None)


def test_unsettled_sizes_are_read_again_and_published(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.emu.config.audience_processing_seconds = 3600
    computing = create(world, "Computing", 700)
    assert world.report(computing)["tiktok"]["is_valid"] is False
    world.emu.config.audience_processing_seconds = 0.0
    done = create(world, "Done", 300)
    assert world.report(done)["tiktok"]["is_valid"] is True
    ddb = world.uploader.jobs._ddb
    assert [i.job_id for i in unsettled(ddb, JOBS, now=time.time())] == [computing]

    world.emu.state.advance_time(3601)
    before = gets(world)
    metrics = Metrics()
    capsys.readouterr()
    result = run(world, metrics=metrics)

    assert (result.checked, result.settled, result.unknown, result.left) == (1, 1, 0, 0)
    assert gets(world) == before + 1  # the settled job is not read again
    report = world.report(computing)["tiktok"]
    assert (report["audience_size"], report["is_valid"]) == (700, True)
    assert world.report(computing)["status"] == "succeeded"
    audience = report["audience_id"]
    out = capsys.readouterr().out.splitlines()
    emf = [json.loads(line) for line in out if '"_aws"' in line]
    sizes = [
        (m["advertiser"], m["audience_id"], m["AudienceSize"]) for m in emf if "AudienceSize" in m
    ]
    assert sizes == [(ADV, audience, [700.0])]
    assert metrics.counts == {
        "AudienceSizesChecked": 1,
        "AudienceSizesUnknown": 0,
        "AudienceSizesLeftForLater": 0,
    }
    # settled now: the next run reads nothing
    assert run(world).checked == 0
    assert gets(world) == before + 1


def test_a_failed_read_stays_unsettled_with_its_reason(world: World) -> None:
    world.emu.faults.add("http_500", path="/" + GET, count=2)
    job_id = create(world, "Refused", 200)  # the job's own read: refused
    result = run(world)  # and the refresh's: refused again

    assert (result.checked, result.settled, result.unknown) == (1, 0, 1)
    tiktok = world.report(job_id)["tiktok"]
    assert tiktok["size_unknown_reason"] == "TikTok answered HTTP 500"
    assert world.report(job_id)["status"] == "succeeded"
    assert run(world).settled == 1  # TikTok answers again
    assert world.report(job_id)["tiktok"]["audience_size"] == 200


def test_failed_jobs_and_jobs_older_than_seven_days_are_not_read(world: World) -> None:
    world.emu.config.audience_processing_seconds = 3600
    create(world, "Old", 100)
    job_id, _ = world.new_job(name="Broken", action="create", chunks=one_column(emails(0, 5), 5))
    world.jobs.finish(job_id, status="failed", error=JobError(code="X", message="broken"))
    before = gets(world)

    result = run(world, clock=lambda: time.time() + 8 * DAY)

    assert (result.checked, result.left) == (0, 0)
    assert gets(world) == before


def test_a_run_out_of_time_leaves_the_rest_for_the_next(world: World) -> None:
    world.emu.config.audience_processing_seconds = 3600
    create(world, "A", 100)
    create(world, "B", 100)
    before = gets(world)

    result = run(world, remaining_seconds=5.0)  # less than the margin kept free

    assert (result.checked, result.left) == (0, 2)
    assert gets(world) == before
