"""Pacing learned from throttling: unpaced endpoints slow to the admitted rate, then probe back."""

from __future__ import annotations

from typing import Any

import pytest

from tiktok_connector.audiences.api import AudienceApi, DeadlineExceeded, Pacer
from tiktok_connector.tiktok import CallStats, RetryableTikTokError, TikTokResponse


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class LimitedClient:
    """A sliding one-second window of ``limit`` calls; a throttled attempt is retried by the
    client itself after ``retry_after`` (like TikTokClient), counting ``stats.throttled``."""

    def __init__(self, t: FakeTime, limit: int, retry_after: float = 0.2) -> None:
        self.t = t
        self.limit = limit
        self.retry_after = retry_after
        self.stats = CallStats()
        self.admitted: list[float] = []

    def call(self, method: str, path: str, **kwargs: Any) -> TikTokResponse:
        while True:
            now = self.t.now
            self.admitted = [a for a in self.admitted if a > now - 1.0]
            if len(self.admitted) < self.limit:
                self.admitted.append(now)
                return TikTokResponse(0, "OK", "r", {})
            self.stats.throttled += 1
            self.t.sleep(self.retry_after)


class Tokens:
    def token_for(self, advertiser_id: str, *, refresh: bool = False) -> str:
        return "token"


def _api(t: FakeTime, client: LimitedClient, pacer: Pacer) -> AudienceApi:
    return AudienceApi(client, Tokens(), pacer=pacer)  # type: ignore[arg-type]


def _spend(t: FakeTime, seconds: float = 0.01) -> None:
    t.now += seconds  # the request itself takes a little time


def test_an_unpaced_endpoint_learns_the_admitted_rate_from_one_throttle() -> None:
    t = FakeTime()
    client = LimitedClient(t, limit=10)
    pacer = Pacer(2.0, clock=t.clock, sleep=t.sleep)
    api = _api(t, client, pacer)

    throttled_calls = 0
    for _ in range(60):
        before = client.stats.throttled
        api.call("POST", "segment/mapping", "adv", paced=False)
        throttled_calls += client.stats.throttled > before
        _spend(t)

    # the call that overran the window waited in its own retries; every later one was paced
    assert throttled_calls == 1
    learned = pacer.learned_qps("adv segment/mapping")
    assert learned is not None
    assert 9.0 <= learned < 10.0  # headroom under the limit of 10
    assert pacer.learned_qps("adv dmp/custom_audience/upload") is None  # per endpoint


def test_without_throttling_an_unpaced_endpoint_never_waits() -> None:
    t = FakeTime()
    client = LimitedClient(t, limit=1_000)
    pacer = Pacer(2.0, clock=t.clock, sleep=t.sleep)
    api = _api(t, client, pacer)

    for _ in range(50):
        api.call("POST", "segment/mapping", "adv", paced=False)

    assert t.slept == []
    assert pacer.learned_qps("adv segment/mapping") is None


def test_successes_probe_the_learned_rate_back_up_slowly() -> None:
    t = FakeTime()
    pacer = Pacer(2.0, clock=t.clock, sleep=t.sleep, recovery=0.01)
    for _ in range(11):
        pacer.wait("k", fixed=False)
    pacer.throttled("k", admitted=10)
    first = pacer.learned_qps("k")
    assert first == pytest.approx(10 * pacer.headroom)
    for _ in range(10):
        pacer.succeeded("k")
    second = pacer.learned_qps("k")
    assert first is not None
    assert second is not None
    assert first < second < first * 1.15


def test_a_fixed_pace_is_kept_when_the_learned_one_is_faster() -> None:
    t = FakeTime()
    pacer = Pacer(1.0, clock=t.clock, sleep=t.sleep)
    pacer.wait("k")
    pacer.throttled("k", admitted=50)  # learned ~47 QPS, the fixed 1 QPS still rules
    t.slept.clear()
    pacer.wait("k")
    assert sum(t.slept) >= 0.99


def test_a_learned_slot_past_the_deadline_is_refused() -> None:
    t = FakeTime()
    pacer = Pacer(2.0, clock=t.clock, sleep=t.sleep)
    pacer.wait("k", fixed=False)
    pacer.throttled("k", admitted=1)  # about one call a second from now on
    with pytest.raises(DeadlineExceeded):
        pacer.wait("k", deadline=t.now + 0.5, fixed=False)
    # with nothing learned, an unpaced key is never refused by the pacer
    pacer.wait("other", deadline=t.now, fixed=False)


def test_a_throttle_that_fails_the_call_is_still_learned() -> None:
    t = FakeTime()
    pacer = Pacer(2.0, clock=t.clock, sleep=t.sleep)

    class Refusing(LimitedClient):
        def call(self, method: str, path: str, **kwargs: Any) -> TikTokResponse:
            self.stats.throttled += 1
            raise RetryableTikTokError(40100, "too many requests", path=path)

    api = _api(t, Refusing(t, limit=0), pacer)
    for _ in range(3):
        with pytest.raises(RetryableTikTokError):
            api.call("POST", "segment/mapping", "adv", paced=False)
    assert pacer.learned_qps("adv segment/mapping") is not None


def test_a_throttle_while_paced_steps_down_from_the_pace() -> None:
    t = FakeTime()
    pacer = Pacer(2.0, clock=t.clock, sleep=t.sleep)
    pacer.throttled("k", admitted=20)  # a burst: 20 went through
    assert pacer.learned_qps("k") == pytest.approx(20 * pacer.headroom)
    pacer.throttled("k", admitted=20)  # probing overshot: one step under the pace
    assert pacer.learned_qps("k") == pytest.approx(20 * pacer.headroom**2)
    pacer.throttled("k", admitted=4)  # calls slower than the pace: what went through rules
    assert pacer.learned_qps("k") == pytest.approx(5 * pacer.headroom)
