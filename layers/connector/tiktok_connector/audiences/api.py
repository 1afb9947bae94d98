"""TikTok calls on behalf of one advertiser: token look-up, pacing and the invocation's deadline.

:class:`AudienceApi` wraps the shared :class:`~tiktok_connector.tiktok.TikTokClient` for the
audience paths. It looks the advertiser's token up (cached by the token store), refetches it once
when TikTok rejects it (``Code.TOKEN_INVALID`` after a re-authorization: ``with_token_refetch``), paces rate-limited endpoints per
advertiser and passes the invocation's deadline so retries stop in time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from tiktok_connector.tiktok import TikTokClient, TikTokResponse, with_token_refetch


class TokenSource(Protocol):
    """What the API needs from the token store."""

    def token_for(self, advertiser_id: str, *, refresh: bool = False) -> str: ...


class DeadlineExceeded(Exception):
    """The invocation's time budget would run out before the call could start."""


# A learned interval this short (over 1,000 calls a second) is no constraint left.
_FORGET_INTERVAL = 0.001


class Pacer:
    """A minimum interval between calls per key (here: advertiser and endpoint), process-wide,
    that also adapts to throttling.

    SQS ``MaximumConcurrency`` bounds how many processes run; ``max_qps`` bounds each one, so the
    advertiser's total pace stays under the app tier's QPS and throttling stays the exception.

    Adaptive part (every key, also the ones called unpaced): when TikTok throttles a call
    (:meth:`throttled`), the calls the pacer had let start for that key in the ``window``
    seconds before it are about what the endpoint's limit admits, and from then on the pacer
    spaces that key's calls at ``headroom`` × that rate. Each call that goes through unthrottled narrows the
    learned interval by the fraction ``recovery`` (a slow probe), so a limit that rises, or a share
    freed by another worker, is found again. One throttled answer per learning step, not a storm.
    """

    def __init__(
        self,
        max_qps: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        window: float = 1.0,
        headroom: float = 0.97,
        recovery: float = 0.0002,
    ) -> None:
        self.interval = 1.0 / max_qps
        self.clock = clock
        self.sleep = sleep
        self.window = window
        self.headroom = headroom
        self.recovery = recovery
        self._next: dict[str, float] = {}
        self._learned: dict[str, float] = {}  # key -> interval learned from throttling
        self._starts: dict[str, deque[float]] = {}  # key -> call starts in the last window
        self._lock = threading.Lock()

    def wait(self, key: str, *, deadline: float | None = None, fixed: bool = True) -> int:
        """Block until a call for ``key`` may start; raise :class:`DeadlineExceeded` if that is
        past ``deadline``. ``fixed=False``: only the interval learned from throttling applies
        (the endpoint is not paced at ``max_qps``). Returns how many calls for ``key`` started
        in the ``window`` before this one (pass it to :meth:`throttled`)."""
        with self._lock:
            now = self.clock()
            interval = max(self.interval if fixed else 0.0, self._learned.get(key, 0.0))
            start = max(now, self._next.get(key, now)) if interval else now
            if deadline is not None and start >= deadline and (fixed or start > now):
                raise DeadlineExceeded(f"paced call would start after the deadline ({key})")
            self._next[key] = start + interval
            starts = self._starts.setdefault(key, deque())
            starts.append(start)
            while starts and starts[0] <= start - self.window:
                starts.popleft()
            before = len(starts) - 1
        if start > now:
            self.sleep(start - now)
        return before

    def throttled(self, key: str, admitted: int) -> None:
        """TikTok throttled a call for ``key`` that started after ``admitted`` others in the
        window (what :meth:`wait` returned): space its calls under that rate.

        Unpaced so far, ``admitted`` is what the limit let through. Already paced, the pace
        overshot while probing: step down to ``headroom`` × the pace (or × what was admitted
        with this call, when that is lower: calls slower than the pace)."""
        with self._lock:
            now = self.clock()
            admitted_rate = max(1, admitted) / self.window
            current = self._learned.get(key)
            if current is not None:
                admitted_rate = min(1.0 / current, (admitted + 1) / self.window)
            self._learned[key] = 1.0 / (self.headroom * admitted_rate)
            # and nothing more until the window that refused it has drained
            starts = self._starts.get(key)
            drained = starts[0] + self.window if starts else now
            self._next[key] = max(self._next.get(key, now), now + self._learned[key], drained)

    def succeeded(self, key: str) -> None:
        """A call for ``key`` went through unthrottled: probe a little faster."""
        with self._lock:
            learned = self._learned.get(key)
            if learned is not None:
                learned *= 1.0 - self.recovery
                if learned < _FORGET_INTERVAL:
                    del self._learned[key]  # faster than any limit we could meet: forget it
                else:
                    self._learned[key] = learned

    def learned_qps(self, key: str) -> float | None:
        """The rate learned for ``key`` from throttling, None when nothing was learned."""
        learned = self._learned.get(key)
        return 1.0 / learned if learned else None


class AudienceApi:
    """TikTok calls for the audience paths, bound to one invocation's ``deadline``."""

    def __init__(
        self,
        client: TikTokClient,
        tokens: TokenSource,
        *,
        pacer: Pacer | None = None,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.tokens = tokens
        self.pacer = pacer
        self.deadline = deadline
        self.clock = clock

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
        key = f"{advertiser_id} {path}"

        def token(refresh: bool) -> str:
            if self.deadline is not None and self.clock() >= self.deadline:
                # A call started now could outlive the invocation (a partner chunk is many
                # unpaced mapping calls); stop here and let the record come back later.
                raise DeadlineExceeded(f"no time left in this invocation for {path}")
            return self.tokens.token_for(advertiser_id, refresh=refresh)

        def send(access_token: str) -> TikTokResponse:
            return self._paced(
                key,
                paced,
                lambda: self.client.call(
                    method,
                    path,
                    access_token=access_token,
                    json=json,
                    params=params,
                    files=files,
                    data=data,
                    deadline=self.deadline,
                    retry=retry,
                ),
            )

        return with_token_refetch(send, fetch=lambda: token(False), refetch=lambda: token(True))

    def _paced(self, key: str, paced: bool, send: Callable[[], TikTokResponse]) -> TikTokResponse:
        """``send()`` when the pacer lets ``key`` start, telling the pacer how it went."""
        pacer = self.pacer
        if pacer is None:
            return send()
        # TikTok counts QPS per endpoint (contract EN-04, 40100), so pace per endpoint; an
        # unpaced endpoint still gets the pace learned from its throttling.
        admitted = pacer.wait(key, deadline=self.deadline, fixed=paced)
        throttled_before = self.client.stats.throttled
        try:
            response = send()
        finally:
            if self.client.stats.throttled > throttled_before:
                pacer.throttled(key, admitted)
        pacer.succeeded(key)
        return response
