"""The TikTok Marketing API client: one logical call = the envelope read into a
:class:`TikTokResponse` or a typed error, with the retryable ones retried (:func:`retry_step`)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import requests

from tiktok_connector.tiktok.codes import HTTP_ERROR_CODE, NETWORK_ERROR_CODE, OK_CODES
from tiktok_connector.tiktok.errors import (
    PermanentTikTokError,
    RetryableTikTokError,
    error_for,
)
from tiktok_connector.tiktok.retry import ONE_ATTEMPT, RetryPolicy, retry_step


class TikTokResponse(NamedTuple):
    """A successful answer (``code`` 0, or 20001 for partial success)."""

    code: int
    message: str
    request_id: str
    data: dict[str, Any]


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
        """The full URL of an endpoint path (TikTok paths always end in ``/``, contract EN-01)."""
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

        ``deadline`` is a ``clock()`` value after which no new attempt starts; ``retry=False``
        makes a single attempt.
        """
        return retry_step(
            lambda: self._once(method, path, access_token, json, params, files, data),
            policy=self.retry if retry else ONE_ATTEMPT,
            rng=self.rng,
            deadline=deadline,
            clock=self.clock,
            sleep=self.sleep,
            on_failure=self._failed,
            on_retry=self._retrying,
        )

    def _failed(self, exc: RetryableTikTokError) -> None:
        if exc.throttled:
            self.stats.throttled += 1

    def _retrying(self, _delay: float) -> None:
        self.stats.retries += 1

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
        # contract: EN-02 — the token travels in the Access-Token header.
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
        # contract: EN-03 — the body's code decides, not the HTTP status.
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
