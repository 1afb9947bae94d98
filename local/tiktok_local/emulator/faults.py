"""Fault injection: deterministic (seeded) failures that hit API requests before they apply.

Kinds:

- ``http_500``: answer HTTP ``status`` (500 default; 502/503 allowed) with a plain-text body.
- ``code_50002``: HTTP 200 with TikTok's envelope ``code`` 50002 (SYS_TIMEOUT, retryable).
- ``throttle``: HTTP 200 with ``code`` 40100 (or ``code=`` 40133 / 40132 / 40016 / 61000).
- ``slow``: sleep ``delay`` seconds, then answer normally (client timeouts).
- ``drop``: close the connection without any response; the request is not applied.
- ``drop_after_apply``: apply the request (state changes), then close the connection without a
  response — "the call succeeded but the answer was lost", for exactly-once tests.
- ``revoke_token``: revoke ``token`` (or, without it, the token of the matching request); the
  request and every later call with that token get 40105.

Every kind except ``slow`` and ``drop_after_apply`` stops the request before it touches state.
``path`` is a prefix of the API path, given with or without ``/open_api/v1.3`` (``None`` = every
API path); ``count`` caps how often a fault fires; ``rate`` is the probability per matching
request, drawn from a ``random.Random(seed)`` so runs repeat.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

from tiktok_local.emulator.rules import THROTTLE_CODES

API_PREFIX = "/open_api/v1.3"
FAULT_KINDS = {
    "http_500",
    "code_50002",
    "throttle",
    "slow",
    "drop",
    "drop_after_apply",
    "revoke_token",
}
HTTP_FAULT_STATUSES = {500, 502, 503, 504}


@dataclass
class Fault:
    kind: str
    path: str | None = None
    count: int | None = None
    rate: float | None = None
    delay: float = 0.0
    code: int | None = None
    status: int = 500
    token: str | None = None
    fired: int = 0
    fault_id: int = 0

    def matches(self, api_path: str) -> bool:
        return self.path is None or api_path.startswith(self.path)

    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.fault_id,
            "kind": self.kind,
            "path": self.path,
            "count": self.count,
            "rate": self.rate,
            "delay": self.delay,
            "code": self.code,
            "status": self.status,
            "token_set": self.token is not None,
            "fired": self.fired,
        }


def _api_path(path: str) -> str:
    if path.startswith(API_PREFIX):
        return path[len(API_PREFIX) :] or "/"
    return path


class Faults:
    """The active faults of one emulator; thread-safe."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._rng = random.Random(seed)
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._next_id = 1

    def add(
        self,
        kind: str,
        *,
        path: str | None = None,
        count: int | None = None,
        rate: float | None = None,
        delay: float | None = None,
        code: int | None = None,
        status: int | None = None,
        token: str | None = None,
    ) -> Fault:
        """Arm a fault (see the module docstring for the kinds); returns it."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if rate is not None and not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1")
        if kind == "throttle" and code is not None and code not in THROTTLE_CODES:
            raise ValueError(f"throttle code must be one of {sorted(THROTTLE_CODES)}")
        if kind == "http_500" and status is not None and status not in HTTP_FAULT_STATUSES:
            raise ValueError(f"http_500 status must be one of {sorted(HTTP_FAULT_STATUSES)}")
        if kind == "slow" and (delay is None or delay < 0):
            raise ValueError("slow faults need a non-negative delay")
        if kind == "revoke_token" and count is None:
            count = 1
        with self._lock:
            fault = Fault(
                kind=kind,
                path=_api_path(path) if path is not None else None,
                count=count,
                rate=rate,
                delay=delay or 0.0,
                code=code,
                status=status or 500,
                token=token,
                fault_id=self._next_id,
            )
            self._next_id += 1
            self._faults.append(fault)
            return fault

    def clear(self) -> None:
        """Remove every fault (ends an outage)."""
        with self._lock:
            self._faults.clear()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self.seed = seed
            self._rng = random.Random(seed)

    @property
    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self._faults if not f.exhausted()]

    def draw(self, path: str) -> list[Fault]:
        """The faults that fire for this request, in the order they were added.

        ``slow`` faults combine with whatever else fires; among the others only the first that
        fires counts (one request cannot both throttle and 500).
        """
        api_path = _api_path(path)
        fired: list[Fault] = []
        terminal = False
        with self._lock:
            for fault in self._faults:
                if fault.exhausted() or not fault.matches(api_path):
                    continue
                if terminal and fault.kind != "slow":
                    continue
                if fault.rate is not None and self._rng.random() >= fault.rate:
                    continue
                fault.fired += 1
                fired.append(fault)
                if fault.kind != "slow":
                    terminal = True
        return fired
