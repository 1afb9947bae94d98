"""Waiting out TikTok's passing states: delays that grow, a bound that holds (contract TM-04/05)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tiktok_connector.audiences.waiting import (
    AUDIENCE_PROCESSING,
    PARTNER_NOT_READY,
    TikTokNotReady,
    WaitPolicy,
    waiting_record,
)

POLICY = WaitPolicy(first_delay=60, max_delay=900, max_wait=48 * 3600.0)


def processing(audience_id: str = "A") -> TikTokNotReady:
    return TikTokNotReady(AUDIENCE_PROCESSING, "processing", audience_id=audience_id)


def test_the_delay_is_the_time_already_waited_between_the_first_and_the_max() -> None:
    assert [POLICY.delay(w) for w in (0, 30, 60, 61.2, 240, 899, 5000)] == [
        60, 60, 60, 62, 240, 899, 900,
    ]  # fmt: skip
    # SQS delays end at 900 s whatever the setting
    assert WaitPolicy(first_delay=60, max_delay=5000).delay(10_000) == 900


@given(steps=st.lists(st.floats(min_value=0, max_value=4000), min_size=1, max_size=30))
def test_looks_follow_each_other_at_growing_delays_until_the_bound(steps: list[float]) -> None:
    record, now, last_delay = None, 1_000_000.0, 0
    for step in steps:
        record, give_up = waiting_record(record, processing(), now=now, policy=POLICY)
        assert record.since == 1_000_000
        assert give_up == (now >= 1_000_000 + POLICY.max_wait)
        assert record.delay >= min(last_delay, 900)  # never shorter than the last one
        last_delay = record.delay
        now += step


def test_another_reason_or_audience_starts_a_new_wait_and_a_partner_wait_ends_sooner() -> None:
    first, _ = waiting_record(None, processing("A"), now=100.0, policy=POLICY)
    later, _ = waiting_record(first, processing("B"), now=5000.0, policy=POLICY)
    assert later.since == 5000
    assert later.looks == 1
    again, _ = waiting_record(later, processing("B"), now=6000.0, policy=POLICY)
    assert (again.since, again.looks) == (5000, 2)
    partner = TikTokNotReady(PARTNER_NOT_READY, "not ready", audience_id="P", gives_up_at=700.0)
    record, give_up = waiting_record(None, partner, now=100.0, policy=POLICY)
    assert record.gives_up_at == 700
    assert not give_up
    assert waiting_record(record, partner, now=700.0, policy=POLICY)[1] is True
