"""Retrying TikTok, written once: back-off with full jitter inside a deadline
(:func:`retry_step`, used by the client for every call and by callers that must retry a whole
step themselves), and the one token refetch (:func:`with_token_refetch`)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from tiktok_connector.tiktok.errors import RetryableTikTokError, TokenRejectedError

T = TypeVar("T")
C = TypeVar("C")


class RetryPolicy(NamedTuple):
    """Exponential backoff with full jitter, bounded by attempts and by the caller's deadline
    (contract EN-04: throttling is retried with backoff and jitter)."""

    max_attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 8.0
    # Leave this much of the deadline for the caller to record the failure.
    deadline_margin: float = 1.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return rng.uniform(0, min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))


ONE_ATTEMPT = RetryPolicy(max_attempts=1)
"""A policy that never retries (calls that must not repeat blindly)."""


def retry_step(
    step: Callable[[], T],
    *,
    policy: RetryPolicy,
    rng: random.Random,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    went_through: Callable[[RetryableTikTokError], T | None] | None = None,
    on_failure: Callable[[RetryableTikTokError], None] | None = None,
    on_retry: Callable[[float], None] | None = None,
) -> T:
    """Run ``step`` until it returns; a :class:`RetryableTikTokError` is retried after a jittered,
    growing delay while ``policy``'s attempts allow and the retry would start more than
    ``policy.deadline_margin`` before ``deadline`` (a ``clock()`` value); then it is raised.
    Other errors pass through at once.

    After every retryable failure, before deciding to wait or give up: ``on_failure(exc)``
    (bookkeeping), then ``went_through(exc)``, which may look whether the step took effect at
    TikTok although its answer was lost — a result other than ``None`` is returned as the
    step's. ``on_retry(delay)`` runs before each wait.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return step()
        except RetryableTikTokError as exc:
            if on_failure is not None:
                on_failure(exc)
            if went_through is not None:
                result = went_through(exc)
                if result is not None:
                    return result
            if attempt >= policy.max_attempts:
                raise
            delay = policy.delay(attempt, rng)
            if deadline is not None and clock() + delay + policy.deadline_margin >= deadline:
                raise
            if on_retry is not None:
                on_retry(delay)
            sleep(delay)


def with_token_refetch(
    call: Callable[[C], T], *, fetch: Callable[[], C], refetch: Callable[[], C | None]
) -> T:
    """``call(fetch())``; when TikTok rejects the token (:class:`TokenRejectedError`, contract
    EN-05), ``call(refetch())`` once more — a re-authorization rotates the token, so a cached
    one can be stale. ``refetch()`` returning ``None`` (nothing new to try) raises the first
    rejection; a second rejection is raised as is, never retried again.

    ``C`` is whatever carries the token: the token itself, or a connection's settings.
    """
    try:
        return call(fetch())
    except TokenRejectedError:
        fresh = refetch()
        if fresh is None:
            raise
        return call(fresh)
