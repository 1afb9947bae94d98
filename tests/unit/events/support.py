"""Fakes for the forwarder's tests: TikTok behind a fake HTTP session (no sockets)."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any

from tiktok_connector.events.connections import ConnectionUnavailable
from tiktok_connector.events.forwarder import EventForwarder
from tiktok_connector.events.messages import SqsMessage
from tiktok_connector.events.settings import ConnectionSettings
from tiktok_connector.tiktok import RetryPolicy, TikTokClient

BASE_URL = "https://tiktok.test/open_api/v1.3"
PIXEL = "CDEMOPIXEL000000000A"
APP_ID = "7200000000000000001"
TOKEN = "tok-secret-abc123"


@dataclass
class SentRequest:
    method: str
    path: str
    token: str | None
    body: Any


class _Response:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status_code = status
        self._body = body

    def json(self) -> dict[str, Any]:
        return self._body


@dataclass
class FakeTikTok:
    """A ``requests.Session`` stand-in: records requests, answers codes from ``script`` (then 0)."""

    script: list[int] = field(default_factory=list)
    requests: list[SentRequest] = field(default_factory=list)

    def request(
        self, method: str, url: str, *, headers: dict[str, str], json: Any, **_: Any
    ) -> _Response:
        path = url.removeprefix(BASE_URL + "/").rstrip("/")
        self.requests.append(
            SentRequest(method, path, headers.get("Access-Token"), copy.deepcopy(json))
        )
        code = self.script.pop(0) if self.script else 0
        n = len(self.requests)
        return _Response(
            200,
            {
                "code": code,
                "message": "OK" if code == 0 else f"error {code}",
                "request_id": f"req-{n}",
                "data": {},
            },
        )

    @property
    def bodies(self) -> list[Any]:
        return [r.body for r in self.requests]


class StaticConnections:
    """Connection settings by name, with a count of refetches (``refresh=True``)."""

    def __init__(
        self,
        connections: dict[str, ConnectionSettings],
        refreshed: dict[str, ConnectionSettings] | None = None,
    ) -> None:
        self.connections = connections
        self.refreshed = refreshed or {}
        self.refreshes = 0

    def get(self, name: str, *, refresh: bool = False) -> ConnectionSettings:
        if refresh:
            self.refreshes += 1
            if name in self.refreshed:
                return self.refreshed[name]
        if name not in self.connections:
            raise ConnectionUnavailable(name, "unknown_connection")
        return self.connections[name]


def connection(**overrides: Any) -> ConnectionSettings:
    values: dict[str, Any] = {
        "access_token": TOKEN,
        "event_source_type": "web",
        "event_source_id": PIXEL,
    }
    values.update(overrides)
    return ConnectionSettings.model_validate(values)


def make_forwarder(
    fake: FakeTikTok, connections: dict[str, ConnectionSettings] | StaticConnections, **kwargs: Any
) -> EventForwarder:
    client = TikTokClient(
        BASE_URL,
        session=fake,  # type: ignore[arg-type]
        sleep=lambda _s: None,
        retry=RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0, deadline_margin=0.0),
    )
    source = (
        connections
        if isinstance(connections, StaticConnections)
        else StaticConnections(connections)
    )
    kwargs.setdefault("max_in_flight", 1)  # scripted answers are consumed in request order
    return EventForwarder(
        client=client, connections=source, logger=logging.getLogger("test.forwarder"), **kwargs
    )


def message(body: str, message_id: str = "m-1", connection_name: str = "default") -> SqsMessage:
    return SqsMessage(message_id=message_id, body=body, connection=connection_name)
