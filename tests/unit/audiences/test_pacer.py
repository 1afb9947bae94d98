"""Client-side pacing per advertiser."""

from __future__ import annotations

import pytest

from tiktok_connector.audiences.api import DeadlineExceeded, Pacer


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_calls_for_one_advertiser_are_spaced_and_others_are_independent() -> None:
    t = FakeTime()
    pacer = Pacer(4.0, clock=t.clock, sleep=t.sleep)
    for _ in range(3):
        pacer.wait("adv-1")
    pacer.wait("adv-2")
    assert t.slept == [pytest.approx(0.25), pytest.approx(0.25)]
    assert t.now == pytest.approx(100.5)


def test_a_slot_past_the_deadline_is_refused_without_sleeping() -> None:
    t = FakeTime()
    pacer = Pacer(1.0, clock=t.clock, sleep=t.sleep)
    pacer.wait("adv")
    with pytest.raises(DeadlineExceeded):
        pacer.wait("adv", deadline=100.5)
    assert t.slept == []
