"""The TikTok Marketing API client: envelope, typed errors, retries with backoff and jitter.

TikTok answers most errors with HTTP 200 and a non-zero body ``code``; success is ``code`` 0 or 20001
(partial). This module turns every answer into either a :class:`TikTokResponse` or one of three typed
errors, so callers decide retry-or-report on the type, never on message text:

* :class:`RetryableTikTokError` — throttling (40100, 40133, 40132, 40016, 61000), TikTok-side faults
  (5xxxx, 40200–40202, 60001), HTTP 5xx, timeouts and dropped connections. The client retries these
  itself with exponential backoff and full jitter while the caller's deadline allows, then raises.
* :class:`TokenRejectedError` — the access token is missing, expired, revoked or wrong (40102, 40104,
  40105, 40106). Not retried here: the caller refetches the token once, then gives up.
* :class:`PermanentTikTokError` — everything else (parameters, permissions, files, hashes).

Errors carry TikTok's ``code``, ``message``, ``request_id`` and the API path — never the token.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

# docs/tiktok-contract.md: EN-03 (success), EN-04 (throttling), EN-05 (token), EN-06 (retryable)
OK_CODES = frozenset({0, 20001})
THROTTLE_CODES = frozenset({40100, 40133, 40132, 40016, 61000})
TOKEN_CODES = frozenset({40102, 40104, 40105, 40106})
_RETRYABLE_CODES = frozenset({40200, 40201, 40202, 60001}) | THROTTLE_CODES

# Our own codes for failures that never reached TikTok's logic.
HTTP_ERROR_CODE = -1
NETWORK_ERROR_CODE = -2


def is_retryable_code(code: int) -> bool:
    """True for codes worth retrying later: throttling, TikTok-side faults (5xxxx), async-not-ready."""
    return code in _RETRYABLE_CODES or 50000 <= code < 60000


class TikTokError(Exception):
    """A TikTok call failed. ``str()`` is safe to log: it never contains the access token."""

    def __init__(
        self, code: int, message: str, *, request_id: str = "", path: str = "", http_status: int = 0
    ) -> None:
        self.code = code
        self.message = message
        self.request_id = request_id
        self.path = path
        self.http_status = http_status
        super().__init__(
            f"TikTok {path} failed: code {code}: {message} (request_id {request_id or '-'})"
        )

    def as_report(self) -> dict[str, Any]:
        """The ``error`` object reports use: ``{code, message, request_id}``."""
        return {"code": self.code, "message": self.message, "request_id": self.request_id}


class RetryableTikTokError(TikTokError):
    """Worth trying again later (throttling, TikTok or network fault)."""

    @property
    def throttled(self) -> bool:
        return self.code in THROTTLE_CODES


class TokenRejectedError(TikTokError):
    """The access token was refused; refetch it once, then report the connection as broken."""


class PermanentTikTokError(TikTokError):
    """Retrying the same request cannot succeed."""


def error_for(
    code: int, message: str, *, request_id: str = "", path: str = "", http_status: int = 0
) -> TikTokError:
    """Build the typed error for a TikTok body ``code``."""
    kind: type[TikTokError]
    if code in TOKEN_CODES:
        kind = TokenRejectedError
    elif is_retryable_code(code):
        kind = RetryableTikTokError
    else:
        kind = PermanentTikTokError
    return kind(code, message, request_id=request_id, path=path, http_status=http_status)


@dataclass(frozen=True, slots=True)
class TikTokResponse:
    """A successful answer (``code`` 0, or 20001 for partial success)."""

    code: int
    message: str
    request_id: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by attempts and by the caller's deadline."""

    max_attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 8.0
    # Leave this much of the deadline for the caller to record the failure.
    deadline_margin: float = 1.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return rng.uniform(0, min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))


@dataclass
class CallStats:
    """Counters a caller can read for metrics (calls, retries, throttles, codes seen)."""

    calls: int = 0
    retries: int = 0
    throttled: int = 0
    codes: dict[int, int] = field(default_factory=dict)

    def saw(self, code: int) -> None:
        self.codes[code] = self.codes.get(code, 0) + 1


class TikTokClient:
    """Calls ``<base_url>/<path>/`` with TikTok's conventions.

    ``session`` is reused across calls (connection pooling); ``sleep``, ``clock`` and ``rng`` are
    injectable so tests control time.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()
        self.stats = CallStats()

    def url(self, path: str) -> str:
        """The full URL of an endpoint path (TikTok paths always end in ``/``)."""
        return f"{self.base_url}/{path.strip('/')}/"

    def call(
        self,
        method: str,
        path: str,
        *,
        access_token: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        deadline: float | None = None,
        retry: bool = True,
    ) -> TikTokResponse:
        """Make one logical call, retrying retryable failures while attempts and deadline allow.

        ``deadline`` is a ``clock()`` value after which no new attempt starts.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._once(method, path, access_token, json, params, files, data)
            except RetryableTikTokError as exc:
                if exc.throttled:
                    self.stats.throttled += 1
                if not retry or attempt >= self.retry.max_attempts:
                    raise
                delay = self.retry.delay(attempt, self.rng)
                if (
                    deadline is not None
                    and self.clock() + delay + self.retry.deadline_margin >= deadline
                ):
                    raise
                self.stats.retries += 1
                self.sleep(delay)

    def _once(
        self,
        method: str,
        path: str,
        access_token: str | None,
        json: Any,
        params: Mapping[str, Any] | None,
        files: Mapping[str, Any] | None,
        data: Mapping[str, Any] | None,
    ) -> TikTokResponse:
        headers = {"Access-Token": access_token} if access_token is not None else {}
        self.stats.calls += 1
        try:
            http = self.session.request(
                method,
                self.url(path),
                headers=headers,
                json=json,
                params=params,
                files=files,
                data=data,
                timeout=self.timeout,
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            self.stats.saw(NETWORK_ERROR_CODE)
            raise RetryableTikTokError(
                NETWORK_ERROR_CODE, f"network error: {type(exc).__name__}", path=path
            ) from None
        if http.status_code >= 500:
            self.stats.saw(HTTP_ERROR_CODE)
            raise RetryableTikTokError(
                HTTP_ERROR_CODE, f"HTTP {http.status_code}", path=path, http_status=http.status_code
            )
        try:
            body = http.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("code"), int):
            self.stats.saw(HTTP_ERROR_CODE)
            raise PermanentTikTokError(
                HTTP_ERROR_CODE,
                f"HTTP {http.status_code} without a TikTok envelope",
                path=path,
                http_status=http.status_code,
            )
        code = body["code"]
        self.stats.saw(code)
        message = str(body.get("message", ""))
        request_id = str(body.get("request_id", ""))
        if code in OK_CODES:
            payload = body.get("data")
            return TikTokResponse(
                code, message, request_id, payload if isinstance(payload, dict) else {}
            )
        raise error_for(
            code, message, request_id=request_id, path=path, http_status=http.status_code
        )
