"""TikTok calls on behalf of one advertiser: token look-up, pacing and the invocation's deadline.

:class:`AudienceApi` wraps the shared :class:`~tiktok_connector.tiktok.TikTokClient` for the
audience paths. It looks the advertiser's token up (cached by the token store), refetches it once
when TikTok rejects it (40105 after a re-authorization), paces rate-limited endpoints per
advertiser and passes the invocation's deadline so retries stop in time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from tiktok_connector.tiktok import TikTokClient, TikTokResponse, TokenRejectedError


class TokenSource(Protocol):
    """What the API needs from the token store."""

    def token_for(self, advertiser_id: str, *, refresh: bool = False) -> str: ...


class DeadlineExceeded(Exception):
    """The invocation's time budget would run out before the call could start."""


class Pacer:
    """A minimum interval between calls per key (here: advertiser and endpoint), process-wide.

    SQS ``MaximumConcurrency`` bounds how many processes run; this bounds each one, so the
    advertiser's total pace stays under the app tier's QPS and throttling stays the exception.
    """

    def __init__(
        self,
        max_qps: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / max_qps
        self.clock = clock
        self.sleep = sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, key: str, *, deadline: float | None = None) -> None:
        """Block until a call for ``key`` may start; raise :class:`DeadlineExceeded` if that is
        past ``deadline``."""
        with self._lock:
            now = self.clock()
            start = max(now, self._next.get(key, now))
            if deadline is not None and start >= deadline:
                raise DeadlineExceeded(f"paced call would start after the deadline ({key})")
            self._next[key] = start + self.interval
        if start > now:
            self.sleep(start - now)


class AudienceApi:
    """TikTok calls for the audience paths, bound to one invocation's ``deadline``."""

    def __init__(
        self,
        client: TikTokClient,
        tokens: TokenSource,
        *,
        pacer: Pacer | None = None,
        deadline: float | None = None,
    ) -> None:
        self.client = client
        self.tokens = tokens
        self.pacer = pacer
        self.deadline = deadline

    def call(
        self,
        method: str,
        path: str,
        advertiser_id: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        paced: bool = True,
        retry: bool = True,
    ) -> TikTokResponse:
        """One logical call with the advertiser's token; a rejected token is refetched once.

        Raises the client's typed errors (a second token rejection as :class:`TokenRejectedError`),
        :class:`~tiktok_connector.tokens.TokenNotFoundError` or :class:`DeadlineExceeded`.
        ``retry=False`` makes a single attempt (for calls that must not repeat blindly).
        """
        refresh = False
        while True:
            token = self.tokens.token_for(advertiser_id, refresh=refresh)
            if paced and self.pacer is not None:
                # TikTok counts QPS per endpoint (reference §2.2, 40100), so pace per endpoint.
                self.pacer.wait(f"{advertiser_id} {path}", deadline=self.deadline)
            try:
                return self.client.call(
                    method,
                    path,
                    access_token=token,
                    json=json,
                    params=params,
                    files=files,
                    data=data,
                    deadline=self.deadline,
                    retry=retry,
                )
            except TokenRejectedError:
                if refresh:
                    raise
                refresh = True
