"""AudienceApi: one token refetch after a rejection, deadline passed through (in-memory fakes)."""

from __future__ import annotations

from typing import Any

import pytest

from tiktok_connector.audiences.api import AudienceApi, DeadlineExceeded
from tiktok_connector.tiktok import TikTokResponse, TokenRejectedError


class Tokens:
    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.calls: list[bool] = []

    def token_for(self, advertiser_id: str, *, refresh: bool = False) -> str:
        self.calls.append(refresh)
        return self.tokens[min(len(self.calls), len(self.tokens)) - 1]


class Client:
    """Rejects every token in ``bad``; records what each call carried."""

    def __init__(self, bad: set[str]) -> None:
        self.bad = bad
        self.seen: list[dict[str, Any]] = []

    def call(self, method: str, path: str, **kwargs: Any) -> TikTokResponse:
        self.seen.append(kwargs)
        if kwargs["access_token"] in self.bad:
            raise TokenRejectedError(40105, "invalid token", request_id="r", path=path)
        return TikTokResponse(0, "OK", "r-ok", {"ok": True})


def test_a_rejected_token_is_refetched_once_and_the_call_repeated() -> None:
    tokens = Tokens("old", "new")
    client = Client(bad={"old"})
    api = AudienceApi(client, tokens, deadline=123.0, clock=lambda: 0.0)  # type: ignore[arg-type]

    response = api.call("POST", "dmp/custom_audience/create", "adv", json={"a": 1})

    assert response.data == {"ok": True}
    assert tokens.calls == [False, True]
    assert [c["access_token"] for c in client.seen] == ["old", "new"]
    assert {c["deadline"] for c in client.seen} == {123.0}


def test_a_second_rejection_is_raised_not_retried_forever() -> None:
    tokens = Tokens("old", "still-bad")
    client = Client(bad={"old", "still-bad"})
    api = AudienceApi(client, tokens)  # type: ignore[arg-type]

    with pytest.raises(TokenRejectedError) as raised:
        api.call("POST", "segment/mapping", "adv", paced=False)

    assert len(client.seen) == 2
    assert "still-bad" not in str(raised.value)


def test_no_call_starts_once_the_deadline_has_passed() -> None:
    now = [100.0]
    client = Client(bad=set())
    api = AudienceApi(client, Tokens("t"), deadline=110.0, clock=lambda: now[0])  # type: ignore[arg-type]

    api.call("POST", "segment/mapping", "adv", paced=False)
    now[0] = 110.0
    with pytest.raises(DeadlineExceeded):
        api.call("POST", "segment/mapping", "adv", paced=False)

    assert len(client.seen) == 1
