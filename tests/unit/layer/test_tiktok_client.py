"""The TikTok client: envelope handling, error typing, retry and deadline behaviour."""

from __future__ import annotations

import random
from typing import Any

import pytest
import requests

from tiktok_connector.tiktok import (
    NETWORK_ERROR_CODE,
    PermanentTikTokError,
    RetryableTikTokError,
    RetryPolicy,
    TikTokClient,
    TokenRejectedError,
)

TOKEN = "tok-SECRET-123"


class FakeResponse:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code = status
        self._body = body

    def json(self) -> Any:
        if isinstance(self._body, Exception):
            raise self._body
        return self._body


class FakeSession:
    """Answers from a script; records what was sent."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.sent: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
        self.sent.append({"method": method, "url": url, **kwargs})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def ok(data: Any = None, code: int = 0) -> FakeResponse:
    return FakeResponse(
        200, {"code": code, "message": "OK", "request_id": "r1", "data": data or {}}
    )


def err(code: int, message: str = "nope") -> FakeResponse:
    return FakeResponse(200, {"code": code, "message": message, "request_id": "rid-9", "data": {}})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make(session: FakeSession, clock: Clock | None = None, attempts: int = 4) -> TikTokClient:
    clock = clock or Clock()
    return TikTokClient(
        "http://tiktok.test/open_api/v1.3/",
        session=session,  # type: ignore[arg-type]
        retry=RetryPolicy(
            max_attempts=attempts, base_delay=0.5, max_delay=4.0, deadline_margin=1.0
        ),
        sleep=clock.sleep,
        clock=clock,
        rng=random.Random(7),
    )


def test_success_returns_data_and_sends_token_header_and_trailing_slash() -> None:
    session = FakeSession(ok({"x": 1}))
    resp = make(session).call("POST", "/event/track", access_token=TOKEN, json={"a": 1})
    assert resp.data == {"x": 1}
    assert resp.request_id == "r1"
    sent = session.sent[0]
    assert sent["url"] == "http://tiktok.test/open_api/v1.3/event/track/"
    assert sent["headers"] == {"Access-Token": TOKEN}
    assert sent["json"] == {"a": 1}


def test_partial_success_20001_is_success() -> None:
    assert make(FakeSession(ok({"n": 2}, code=20001))).call("GET", "x").code == 20001


@pytest.mark.parametrize("code", [40100, 40133, 40132, 40016, 61000, 50000, 50002, 51003, 40200])
def test_retryable_codes_are_retried_then_succeed(code: int) -> None:
    clock = Clock()
    session = FakeSession(err(code), err(code), ok({"done": True}))
    client = make(session, clock)
    assert client.call("POST", "p").data == {"done": True}
    assert len(session.sent) == 3
    assert len(clock.slept) == 2
    assert client.stats.retries == 2


def test_backoff_grows_and_is_bounded_by_attempts() -> None:
    clock = Clock()
    session = FakeSession(*[err(40100)] * 4)
    client = make(session, clock, attempts=4)
    with pytest.raises(RetryableTikTokError) as info:
        client.call("POST", "p")
    assert info.value.code == 40100
    assert info.value.throttled
    assert len(session.sent) == 4
    # full jitter: each delay within its exponential cap
    for attempt, delay in enumerate(clock.slept, start=1):
        assert 0 <= delay <= min(4.0, 0.5 * 2 ** (attempt - 1))
    assert client.stats.throttled == 4


def test_deadline_stops_retries_early() -> None:
    clock = Clock()
    session = FakeSession(*[err(50002)] * 10)
    client = make(session, clock, attempts=10)
    with pytest.raises(RetryableTikTokError):
        client.call("POST", "p", deadline=1.0)
    # any retry would end past the deadline minus the margin; only the first attempt was made
    assert len(session.sent) == 1
    assert clock.slept == []


@pytest.mark.parametrize("code", [40102, 40104, 40105, 40106])
def test_token_codes_raise_token_rejected_without_retry(code: int) -> None:
    session = FakeSession(err(code))
    with pytest.raises(TokenRejectedError):
        make(session).call("GET", "p", access_token=TOKEN)
    assert len(session.sent) == 1


@pytest.mark.parametrize("code", [40001, 40002, 40062, 40900, 40909, 40110, 40101])
def test_permanent_codes_are_not_retried_and_keep_request_id(code: int) -> None:
    session = FakeSession(err(code, "bad thing"))
    with pytest.raises(PermanentTikTokError) as info:
        make(session).call("POST", "dmp/custom_audience/create", access_token=TOKEN)
    assert len(session.sent) == 1
    assert info.value.as_report() == {"code": code, "message": "bad thing", "request_id": "rid-9"}
    assert info.value.path == "dmp/custom_audience/create"


def test_http_5xx_and_network_errors_are_retryable() -> None:
    session = FakeSession(
        FakeResponse(503, ValueError("no json")),
        requests.ConnectionError("reset"),
        requests.Timeout("slow"),
        ok(),
    )
    assert make(session).call("GET", "p").code == 0
    assert len(session.sent) == 4


def test_network_error_code_and_message_name_the_failure() -> None:
    session = FakeSession(*[requests.ConnectionError("reset by peer")] * 2)
    with pytest.raises(RetryableTikTokError) as info:
        make(session, attempts=2).call("GET", "p")
    assert info.value.code == NETWORK_ERROR_CODE
    assert "ConnectionError" in info.value.message


def test_http_404_without_envelope_is_permanent() -> None:
    session = FakeSession(FakeResponse(404, ValueError("html")))
    with pytest.raises(PermanentTikTokError) as info:
        make(session).call("GET", "missing")
    assert info.value.http_status == 404


def test_token_never_appears_in_errors() -> None:
    session = FakeSession(err(40105, "Access token is invalid"))
    with pytest.raises(TokenRejectedError) as info:
        make(session).call("GET", "p", access_token=TOKEN)
    assert TOKEN not in str(info.value)
    assert TOKEN not in repr(info.value.as_report())
