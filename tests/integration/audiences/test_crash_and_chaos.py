"""Exactly once under crashes and a steady rate of injected failures (DESIGN §6 last row)."""

from __future__ import annotations

import random
import time
from collections import deque
from typing import Any

import pytest

from tiktok_connector.audiences.failures import RetryLaterError
from tiktok_connector.audiences.registry import AudienceRegistry
from tiktok_connector.audiences.upload import AudienceUploader
from tiktok_connector.contract.messages import ChunkMessage

from .conftest import ADV, AUDIENCES, World, emails, one_column, sha256


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class ProcessKilled(BaseException):
    """The Lambda process dies: nothing runs after this (no except/finally clean-up)."""


class CrashingRegistry(AudienceRegistry):
    """Fails once right after TikTok created the audience, before the registry records it."""

    def __init__(self, *args: Any, failure: BaseException, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failure: BaseException | None = failure

    def complete(self, advertiser_id: str, key: str, **kwargs: Any) -> None:
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure
        super().complete(advertiser_id, key, **kwargs)


def crash_once(world: World, failure: BaseException) -> tuple[AudienceUploader, Clock]:
    clock = Clock()
    registry = CrashingRegistry(table=AUDIENCES, dynamodb=world.ddb, clock=clock, failure=failure)
    return world.make_uploader(registry=registry, clock=clock), clock


def assert_one_audience_of(world: World, name: str, job_id: str, members: list[str]) -> None:
    found = world.emu.state.find_audiences(ADV, name)
    assert len(found) == 1
    report = world.report(job_id)
    assert report["status"] == "succeeded"
    assert report["tiktok"]["audience_id"] == found[0]["audience_id"]
    assert world.members(found[0]["audience_id"]) == set(members)
    entry = world.registry.get(ADV, f"file#{name}")
    assert entry is not None
    assert entry.ready
    assert entry.audience_id == found[0]["audience_id"]


def test_an_error_after_create_is_recovered_at_once_without_a_second_audience(
    world: World,
) -> None:
    uploader, _ = crash_once(world, RuntimeError("DynamoDB unavailable"))
    members = emails(0, 90)
    job_id, bodies = world.new_job(name="Hiccup", action="create", chunks=one_column(members, 30))
    for body in bodies[:2]:
        uploader.handle(body, remaining_seconds=30)
    with pytest.raises(RuntimeError):
        uploader.handle(bodies[2], remaining_seconds=30)

    outcome = uploader.handle(bodies[2], remaining_seconds=30)  # the redelivery

    assert outcome.result == "finalized"
    assert_one_audience_of(world, "Hiccup", job_id, members)


def test_a_claimant_that_dies_after_create_is_taken_over_without_a_second_audience(
    world: World,
) -> None:
    uploader, clock = crash_once(world, ProcessKilled())
    members = emails(0, 90)
    job_id, bodies = world.new_job(name="Phoenix", action="create", chunks=one_column(members, 30))
    for body in bodies[:2]:
        uploader.handle(body, remaining_seconds=30)

    with pytest.raises(ProcessKilled):
        uploader.handle(bodies[2], remaining_seconds=30)
    assert len(world.emu.state.find_audiences(ADV, "Phoenix")) == 1  # created at TikTok
    with pytest.raises(RetryLaterError):  # redelivered while the dead claim's lease runs
        uploader.handle(bodies[2], remaining_seconds=30)

    clock.now += 400  # both leases expired
    outcome = uploader.handle(bodies[2], remaining_seconds=30)

    assert outcome.result == "finalized"
    assert_one_audience_of(world, "Phoenix", job_id, members)


def drain(uploader: AudienceUploader, bodies: list[ChunkMessage], rng: random.Random) -> int:
    """Deliver like SQS under failures: shuffled, short budgets, deferred records come back."""
    pending = deque(rng.sample(bodies, len(bodies)))
    deliveries = 0
    while pending:
        body = pending.popleft()
        deliveries += 1
        assert deliveries < 400, "records keep failing"
        try:
            uploader.handle(body, remaining_seconds=1.5)
        except RetryLaterError:
            pending.append(body)
        if rng.random() < 0.2:  # SQS delivers at least once: some records arrive again
            pending.append(body)
    return deliveries


def faults(world: World, rate: float) -> None:
    for kind in ("http_500", "throttle", "drop", "drop_after_apply", "code_50002"):
        world.emu.faults.add(kind, rate=rate)


def test_customer_file_sequence_under_20_percent_failures_is_exact(world: World) -> None:
    rng = random.Random(7)
    uploader = world.make_uploader(settings={"deadline_margin_seconds": 0.2})
    faults(world, 0.04)  # five kinds at 4 % each: about 20 % of calls fail
    steps: list[tuple[str, list[str]]] = [
        ("create", emails(0, 1200)),
        ("append", emails(1200, 1500)),
        ("remove", emails(0, 100)),
        ("replace", emails(5000, 6250)),
    ]
    expected: set[str] = set()
    for action, hashes in steps:
        job_id, bodies = world.new_job(name="Chaos", action=action, chunks=one_column(hashes, 60))
        drain(uploader, bodies, rng)
        report = world.report(job_id)
        assert report["status"] == "succeeded", (action, report["error"])
        if action == "create":
            expected = set(hashes)
        elif action == "append":
            expected |= set(hashes)
        elif action == "remove":
            expected -= set(hashes)
        else:
            expected = set(hashes)
        assert world.members(report["tiktok"]["audience_id"]) == expected, action
    assert len(world.emu.state.find_audiences(ADV, "Chaos")) == 1
    fired = sum(1 for r in world.emu.state.requests if r.get("fault"))
    assert fired >= 5, fired  # faults did fire


def test_partner_sequence_under_20_percent_failures_is_exact(world: World) -> None:
    rng = random.Random(11)
    uploader = world.make_uploader(
        settings={"deadline_margin_seconds": 0.2, "segment_batch_size": 40}
    )
    faults(world, 0.04)

    def rows(start: int, stop: int) -> list[list[str]]:
        return [[sha256(f"p{i}@example.com"), sha256(f"+1555{i:07d}")] for i in range(start, stop)]

    def members(start: int, stop: int) -> set[Any]:
        return {("EMAIL_SHA256", r[0]) for r in rows(start, stop)} | {
            ("PHONE_SHA256", r[1]) for r in rows(start, stop)
        }

    columns = ("EMAIL_SHA256", "PHONE_SHA256")
    job_id, bodies = world.new_job(
        name="PChaos",
        action="create",
        api="segment",
        columns=columns,
        chunks=[rows(i, i + 100) for i in range(0, 400, 100)],
    )
    drain(uploader, bodies, rng)
    job_id2, bodies = world.new_job(
        name="PChaos",
        action="remove",
        api="segment",
        columns=columns,
        chunks=[rows(0, 50), rows(50, 100)],
    )
    drain(uploader, bodies, rng)

    for job in (job_id, job_id2):
        assert world.report(job)["status"] == "succeeded", world.report(job)["error"]
    audience_id = world.report(job_id)["tiktok"]["audience_id"]
    assert world.emu.state.audience_members(audience_id) == members(100, 400)
    assert len(world.emu.state.find_audiences(ADV, "PChaos")) == 1
