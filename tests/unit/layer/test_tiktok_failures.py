"""One home for TikTok failure handling: the code enum (each code with its contract row), the
retry helper (back-off with jitter inside a deadline, and the check whether a step whose answer
was lost went through) and the token-refetch wrapper."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from tiktok_connector import tiktok
from tiktok_connector.tiktok import (
    HTTP_ERROR_CODE,
    NETWORK_ERROR_CODE,
    Code,
    PermanentTikTokError,
    RetryableTikTokError,
    RetryPolicy,
    TokenRejectedError,
    error_for,
    retry_step,
    with_token_refetch,
)

ROOT = Path(__file__).resolve().parents[3]
POLICY = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=4.0, deadline_margin=1.0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def lost() -> RetryableTikTokError:
    return RetryableTikTokError(NETWORK_ERROR_CODE, "network error: ConnectionError", path="p")


def throttled() -> RetryableTikTokError:
    return RetryableTikTokError(Code.TOO_FREQUENT, "too frequent", path="p")


# --------------------------------------------------------------------------- the code enum


def test_every_code_names_contract_rows_that_exist() -> None:
    source = (ROOT / "layers/connector/tiktok_connector/tiktok/codes.py").read_text()
    contract = (ROOT / "docs/tiktok-contract.md").read_text()
    rows = set(re.findall(r"^\| ([A-Z]{2}-\d\d) \|", contract, flags=re.MULTILINE))
    for member in Code:
        line = next(ln for ln in source.splitlines() if re.match(rf"\s+{member.name} = ", ln))
        named = re.findall(r"[A-Z]{2}-\d\d", line.partition("# contract:")[2])
        assert named, f"{member.name} has no contract row"
        assert set(named) <= rows, f"{member.name} names unknown rows {set(named) - rows}"
        # the row really speaks of this code (0 and 20001 are the success row's)
        first = next(ln for ln in contract.splitlines() if ln.startswith(f"| {named[0]} |"))
        assert str(member.value) in first, f"{named[0]} does not mention {member.value}"


def test_codes_are_plain_ints_to_comparisons_and_sets() -> None:
    assert Code.PARAM_ERROR == 40002
    assert 40002 in frozenset({Code.PARAM_ERROR})
    assert Code(40105) is Code.TOKEN_INVALID


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (Code.TOKEN_INVALID, TokenRejectedError),
        (Code.TOKEN_EXPIRED, TokenRejectedError),
        (Code.TOO_FREQUENT, RetryableTikTokError),
        (Code.ADVERTISER_QPS_LIMITED, RetryableTikTokError),
        (Code.MAINTENANCE, RetryableTikTokError),
        (51003, RetryableTikTokError),
        (Code.PARAM_ERROR, PermanentTikTokError),
        (Code.SCOPE_NOT_AUTHORIZED, PermanentTikTokError),
        (Code.FILE_CALCULATE_TYPE, PermanentTikTokError),
    ],
)
def test_error_for_types_each_code(code: int, kind: type) -> None:
    assert type(error_for(code, "m")) is kind


def test_answer_lost_means_no_tiktok_answer_arrived() -> None:
    assert lost().answer_lost
    assert RetryableTikTokError(HTTP_ERROR_CODE, "HTTP 502").answer_lost
    assert not throttled().answer_lost
    assert not RetryableTikTokError(Code.TASK_NOT_READY, "later").answer_lost


# --------------------------------------------------------------------------- retry_step


def run(step, clock: Clock, **kwargs):  # type: ignore[no-untyped-def]
    return retry_step(
        step, policy=POLICY, rng=random.Random(7), clock=clock, sleep=clock.sleep, **kwargs
    )


def test_retry_step_retries_retryable_failures_with_growing_jittered_waits() -> None:
    clock = Clock()
    answers: list[object] = [throttled(), throttled(), throttled(), "done"]

    def step() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    assert run(step, clock) == "done"
    assert len(clock.slept) == 3
    # full jitter below base × 2^(n-1), bounded by max_delay
    for n, waited in enumerate(clock.slept, start=1):
        assert 0 <= waited <= min(POLICY.max_delay, POLICY.base_delay * 2 ** (n - 1))


def test_retry_step_gives_up_after_max_attempts_and_raises_the_last_failure() -> None:
    clock = Clock()
    calls = []

    def step() -> str:
        calls.append(1)
        raise throttled()

    with pytest.raises(RetryableTikTokError):
        run(step, clock)
    assert len(calls) == POLICY.max_attempts
    assert len(clock.slept) == POLICY.max_attempts - 1


def test_retry_step_never_waits_past_the_deadline() -> None:
    clock = Clock()
    calls = []

    def step() -> str:
        calls.append(clock.now)
        raise throttled()

    with pytest.raises(RetryableTikTokError):
        run(step, clock, deadline=1.0)  # any wait + the 1 s margin reaches it
    assert calls == [0.0]
    assert clock.slept == []


def test_retry_step_lets_other_errors_through_at_once() -> None:
    clock = Clock()

    def step() -> str:
        raise PermanentTikTokError(Code.PARAM_ERROR, "bad")

    with pytest.raises(PermanentTikTokError):
        run(step, clock)
    assert clock.slept == []


def test_retry_step_reports_failures_and_retries_to_its_hooks() -> None:
    clock = Clock()
    answers: list[object] = [throttled(), lost(), "ok"]
    failures: list[int] = []
    waits: list[float] = []

    def step() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    run(step, clock, on_failure=lambda exc: failures.append(exc.code), on_retry=waits.append)
    assert failures == [Code.TOO_FREQUENT, NETWORK_ERROR_CODE]
    assert waits == clock.slept


class FakeAudiences:
    """TikTok's side of a create whose answer can be lost: the create applies, the answer does
    not arrive (``drop_answers`` times), and the audience list shows what was created."""

    def __init__(self, drop_answers: int, *, apply_when_dropped: bool = True) -> None:
        self.drop_answers = drop_answers
        self.apply_when_dropped = apply_when_dropped
        self.created: list[str] = []
        self.looks = 0

    def create(self, name: str) -> tuple[str, str]:
        if self.drop_answers and not self.apply_when_dropped:
            self.drop_answers -= 1
            raise lost()
        audience_id = f"aud-{len(self.created) + 1}"
        self.created.append(name)
        if self.drop_answers:
            self.drop_answers -= 1
            raise lost()  # applied at TikTok, answer lost on the way back
        return audience_id, "req-create"

    def find(self, name: str) -> str | None:
        self.looks += 1
        for n, created in enumerate(self.created, start=1):
            if created == name:
                return f"aud-{n}"
        return None


def create_once(tiktok_side: FakeAudiences, clock: Clock, name: str = "VIP") -> tuple[str, str]:
    """The audience create step as the uploader's create call runs it (the issue-13 protocol):
    retried by ``retry_step``; after a lost answer, TikTok's list is checked before retrying."""

    def went_through(exc: RetryableTikTokError) -> tuple[str, str] | None:
        if not exc.answer_lost:
            return None
        found = tiktok_side.find(name)
        return (found, exc.request_id) if found is not None else None

    return run(lambda: tiktok_side.create(name), clock, went_through=went_through)


def test_a_create_whose_answer_was_lost_is_found_not_created_twice() -> None:
    clock = Clock()
    tiktok_side = FakeAudiences(drop_answers=1)
    audience_id, _ = create_once(tiktok_side, clock)
    assert tiktok_side.created == ["VIP"]  # one audience at TikTok
    assert audience_id == "aud-1"
    assert clock.slept == []  # found at once: no wait, no second create


def test_a_lost_create_that_did_not_apply_is_retried_after_a_wait() -> None:
    clock = Clock()
    tiktok_side = FakeAudiences(drop_answers=2, apply_when_dropped=False)
    audience_id, request_id = create_once(tiktok_side, clock)
    assert tiktok_side.created == ["VIP"]
    assert (audience_id, request_id) == ("aud-1", "req-create")
    assert tiktok_side.looks == 2  # looked after each lost answer
    assert len(clock.slept) == 2


def test_went_through_is_asked_even_after_the_last_attempt() -> None:
    clock = Clock()
    # every answer lost, and the last create applied: the look after it finds the audience
    tiktok_side = FakeAudiences(drop_answers=POLICY.max_attempts, apply_when_dropped=False)
    original = tiktok_side.create

    def create(name: str) -> tuple[str, str]:
        if tiktok_side.drop_answers == 1:
            tiktok_side.created.append(name)
        return original(name)

    tiktok_side.create = create  # type: ignore[method-assign]
    audience_id, _ = create_once(tiktok_side, clock)
    assert audience_id == "aud-1"
    assert tiktok_side.created == ["VIP"]


def test_a_throttled_create_is_retried_without_looking() -> None:
    clock = Clock()
    answers: list[object] = [throttled(), ("aud-9", "r")]
    looks: list[int] = []

    def step() -> tuple[str, str]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    def went_through(exc: RetryableTikTokError) -> tuple[str, str] | None:
        if not exc.answer_lost:
            return None
        looks.append(1)
        return None

    assert run(step, clock, went_through=went_through) == ("aud-9", "r")
    assert looks == []


# --------------------------------------------------------------------------- with_token_refetch


def test_a_rejected_token_is_refetched_once_and_the_call_repeated() -> None:
    sent: list[str] = []

    def call(token: str) -> str:
        sent.append(token)
        if token == "old":
            raise TokenRejectedError(Code.TOKEN_INVALID, "revoked")
        return "ok"

    assert with_token_refetch(call, fetch=lambda: "old", refetch=lambda: "new") == "ok"
    assert sent == ["old", "new"]


def test_a_second_rejection_is_raised_never_retried_again() -> None:
    sent: list[str] = []

    def call(token: str) -> str:
        sent.append(token)
        raise TokenRejectedError(Code.TOKEN_EXPIRED, f"no {len(sent)}")

    with pytest.raises(TokenRejectedError) as info:
        with_token_refetch(call, fetch=lambda: "a", refetch=lambda: "b")
    assert sent == ["a", "b"]
    assert info.value.message == "no 2"


def test_nothing_new_to_try_raises_the_first_rejection_without_calling_again() -> None:
    sent: list[str] = []

    def call(token: str) -> str:
        sent.append(token)
        raise TokenRejectedError(Code.TOKEN_INVALID, "first")

    with pytest.raises(TokenRejectedError) as info:
        with_token_refetch(call, fetch=lambda: "a", refetch=lambda: None)
    assert sent == ["a"]
    assert info.value.message == "first"


def test_other_errors_are_not_a_reason_to_refetch() -> None:
    refetched: list[int] = []

    def call(token: str) -> str:
        raise PermanentTikTokError(Code.NO_PERMISSION, "no")

    def refetch() -> str:
        refetched.append(1)
        return "b"

    with pytest.raises(PermanentTikTokError):
        with_token_refetch(call, fetch=lambda: "a", refetch=refetch)
    assert refetched == []


def test_the_package_exports_every_public_name() -> None:
    for name in tiktok.__all__:
        assert getattr(tiktok, name) is not None
