"""Connection settings by name, from Secrets Manager, re-read within ``CONNECTIONS_MAX_AGE``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import (
    GetParameterError,
    TransformParameterError,
)
from botocore.exceptions import ClientError
from pydantic import ValidationError

from tiktok_connector.events.messages import (
    REASON_INVALID_CONNECTION,
    REASON_UNKNOWN_CONNECTION,
    REASON_UNREADABLE_CONNECTION,
)
from tiktok_connector.events.settings import ConnectionSettings


class ConnectionUnavailable(LookupError):
    """A connection cannot be used: ``reason`` is ``unknown_connection`` (no secret),
    ``invalid_connection`` (its settings are invalid) — both permanent until an operator acts —
    or ``connection_unreadable`` (Secrets Manager failed for now)."""

    def __init__(self, name: str, reason: str, detail: str = "") -> None:
        self.name = name
        self.reason = reason
        self.detail = detail
        super().__init__(
            f"connection {name!r} unavailable: {reason}{': ' if detail else ''}{detail}"
        )

    @property
    def permanent(self) -> bool:
        return self.reason != REASON_UNREADABLE_CONNECTION


class ConnectionSource(Protocol):
    def get(self, name: str, *, refresh: bool = False) -> ConnectionSettings: ...


class ConnectionStore:
    """Connection settings by name: secret ``<prefix><name>``, re-read after ``max_age`` seconds.

    A changed secret is therefore in use within ``max_age`` (60 s at most in a deployed stack;
    docs/architecture.md "Event forwarding"). An unchanged secret keeps its settings object, so
    per-connection state built from it (the mapper) survives the re-read.
    """

    def __init__(
        self,
        *,
        prefix: str,
        secrets_client: Any,
        max_age: float = 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._prefix = prefix
        self._provider = SecretsProvider(boto3_client=secrets_client)
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        # name -> (when it was read, its settings)
        self._cache: dict[str, tuple[float, ConnectionSettings]] = {}

    def secret_name(self, name: str) -> str:
        return f"{self._prefix}{name}"

    def get(self, name: str, *, refresh: bool = False) -> ConnectionSettings:
        """The validated settings of connection ``name`` (``refresh`` bypasses the cache)."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(name)
        if cached is not None and not refresh and now - cached[0] < self._max_age:
            return cached[1]
        settings = self._read(name)
        if cached is not None and cached[1] == settings:
            settings = cached[1]
        with self._lock:
            self._cache[name] = (now, settings)
        return settings

    def _read(self, name: str) -> ConnectionSettings:
        try:
            raw = self._provider.get(self.secret_name(name), transform="json", force_fetch=True)
        except TransformParameterError:
            raise ConnectionUnavailable(
                name, REASON_INVALID_CONNECTION, "the secret is not a JSON object"
            ) from None
        except GetParameterError as exc:
            # Powertools wraps every SDK error: only a missing secret means "no such connection".
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") in (
                "ResourceNotFoundException",
            ):
                raise ConnectionUnavailable(name, REASON_UNKNOWN_CONNECTION) from None
            detail = (
                cause.response.get("Error", {}).get("Code", "")
                if isinstance(cause, ClientError)
                else type(cause).__name__
            )
            raise ConnectionUnavailable(name, REASON_UNREADABLE_CONNECTION, detail) from None
        try:
            return ConnectionSettings.model_validate(raw)
        except ValidationError as exc:
            # Locations and messages only: the inputs may hold the access token.
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            )
            raise ConnectionUnavailable(name, REASON_INVALID_CONNECTION, detail) from None
