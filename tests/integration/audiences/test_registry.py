"""The audience registry's conditional writes (moto DynamoDB)."""

from __future__ import annotations

from tiktok_connector.audiences.registry import AudienceRegistry

from .conftest import ADV, AUDIENCES, World


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def registry(world: World, clock: Clock) -> AudienceRegistry:
    return AudienceRegistry(table=AUDIENCES, dynamodb=world.ddb, clock=clock)


def test_one_claim_wins_and_the_loser_sees_it(world: World) -> None:
    clock = Clock()
    reg = registry(world, clock)
    assert reg.claim(ADV, "file#A", name="A", api="file", job_id="j1", lease_seconds=30).won
    lost = reg.claim(ADV, "file#A", name="A", api="file", job_id="j2", lease_seconds=30)
    assert not lost.won
    assert lost.entry is not None
    assert lost.entry.owner_job_id == "j1"
    assert lost.entry.state == "creating"
    # Even the same job cannot claim twice while the lease runs (two workers of one job).
    assert not reg.claim(ADV, "file#A", name="A", api="file", job_id="j1", lease_seconds=30).won


def test_an_expired_creating_claim_can_be_taken_over_but_a_ready_entry_never(world: World) -> None:
    clock = Clock()
    reg = registry(world, clock)
    reg.claim(ADV, "file#B", name="B", api="file", job_id="j1", lease_seconds=30)
    clock.now += 31
    assert reg.claim(ADV, "file#B", name="B", api="file", job_id="j2", lease_seconds=30).won
    reg.complete(ADV, "file#B", job_id="j2", audience_id="77")
    clock.now += 10_000
    again = reg.claim(ADV, "file#B", name="B", api="file", job_id="j3", lease_seconds=30)
    assert not again.won
    assert again.entry is not None
    assert again.entry.ready
    assert again.entry.audience_id == "77"


def test_release_only_drops_our_own_unfinished_claim(world: World) -> None:
    clock = Clock()
    reg = registry(world, clock)
    reg.claim(ADV, "file#C", name="C", api="file", job_id="j1", lease_seconds=30)
    reg.release(ADV, "file#C", job_id="j2")  # not ours: no-op
    assert reg.get(ADV, "file#C") is not None
    reg.release(ADV, "file#C", job_id="j1")
    assert reg.get(ADV, "file#C") is None
    reg.claim(ADV, "file#C", name="C", api="file", job_id="j3", lease_seconds=30)
    reg.complete(ADV, "file#C", job_id="j3", audience_id="5")
    reg.release(ADV, "file#C", job_id="j3")  # ready entries are never released
    entry = reg.get(ADV, "file#C")
    assert entry is not None
    assert entry.audience_id == "5"


def test_the_same_name_is_separate_per_advertiser_and_api(world: World) -> None:
    reg = registry(world, Clock())
    assert reg.claim(ADV, "file#D", name="D", api="file", job_id="j", lease_seconds=30).won
    assert reg.claim(ADV, "segment#D", name="D", api="segment", job_id="j", lease_seconds=30).won
    assert reg.claim(
        "7100000000000000002", "file#D", name="D", api="file", job_id="j", lease_seconds=30
    ).won
