"""The OAuth handler maps routes to the flow and typed errors to pages (sample events, fake flow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from oauth_function import app
from tests.conftest import lambda_context
from tiktok_connector.oauth.errors import (
    DisconnectError,
    StateRejectedError,
    TicketRejectedError,
    TikTokRefusedError,
)
from tiktok_connector.oauth.models import ConnectResult, DisconnectResult

EVENTS = Path(__file__).resolve().parents[3] / "events"


class FakeFlow:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[tuple[str, Any]] = []

    def _maybe_fail(self) -> None:
        if self.error is not None:
            raise self.error

    def connect(self, *, ticket: str | None, label: str | None, domain_name: str) -> str:
        self.calls.append(("connect", (ticket, label, domain_name)))
        self._maybe_fail()
        return "https://tiktok.example/portal/auth?app_id=1&state=s&redirect_uri=r"

    def callback(self, params: dict[str, str]) -> ConnectResult:
        self.calls.append(("callback", dict(params)))
        self._maybe_fail()
        return ConnectResult(
            authorization_id="acme",
            secret_name="s/authorizations/acme",
            advertiser_ids=["7100000000000000001"],
            advertiser_names={"7100000000000000001": "Shop <One>"},
            scope=[3],
            warnings=["Measurement was not granted."],
        )

    def disconnect(self, **kwargs: str | None) -> DisconnectResult:
        self.calls.append(("disconnect", kwargs))
        self._maybe_fail()
        return DisconnectResult("acme", ["7100000000000000001"], True)


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


def invoke(
    monkeypatch: pytest.MonkeyPatch, flow: FakeFlow, event: dict[str, Any]
) -> dict[str, Any]:
    monkeypatch.setattr(app, "default_flow", lambda: flow)
    return app.handler(event, lambda_context("oauth", timeout_s=15, memory_mb=256))


def header(response: dict[str, Any], name: str) -> str:
    headers = {k.lower(): v for k, v in response["headers"].items()}
    return str(headers[name.lower()])


def test_connect_event_redirects(monkeypatch: pytest.MonkeyPatch) -> None:
    event = load("http_connect.json")
    flow = FakeFlow()
    response = invoke(monkeypatch, flow, event)
    assert response["statusCode"] == 302
    assert header(response, "Location").startswith("https://tiktok.example/portal/auth?")
    assert header(response, "Referrer-Policy") == "no-referrer"
    assert header(response, "Cache-Control") == "no-store"
    ticket = event["queryStringParameters"]["ticket"]
    assert flow.calls == [
        ("connect", (ticket, "spring-campaign", event["requestContext"]["domainName"]))
    ]


def test_callback_event_answers_the_success_page(monkeypatch: pytest.MonkeyPatch) -> None:
    event = load("http_oauth_callback.json")
    flow = FakeFlow()
    response = invoke(monkeypatch, flow, event)
    assert response["statusCode"] == 200
    assert header(response, "Content-Type") == "text/html; charset=utf-8"
    assert "default-src 'none'" in header(response, "Content-Security-Policy")
    assert "Shop &lt;One&gt;</span> (<code>7100000000000000001</code>)" in response["body"]
    assert 'role="alert">Measurement was not granted.' in response["body"]
    assert flow.calls[0][1]["state"] == event["queryStringParameters"]["state"]


@pytest.mark.parametrize(
    ("event_file", "error", "status", "phrase"),
    [
        (
            "http_connect.json",
            TicketRejectedError("Link used.", reason="x", hint="Ask again."),
            403,
            "Link used.",
        ),
        (
            "http_oauth_callback.json",
            StateRejectedError("Bad <state>.", reason="x"),
            400,
            "Bad &lt;state&gt;.",
        ),
        (
            "http_oauth_callback.json",
            TikTokRefusedError(
                "Code used.", reason="x", status=400, code=40110, request_id="rid-9"
            ),
            400,
            "TikTok code 40110, request id rid-9",
        ),
        ("http_oauth_callback.json", RuntimeError("boom"), 500, "unexpected error"),
    ],
)
def test_errors_become_html_pages(
    monkeypatch: pytest.MonkeyPatch, event_file: str, error: Exception, status: int, phrase: str
) -> None:
    response = invoke(monkeypatch, FakeFlow(error), load(event_file))
    assert response["statusCode"] == status
    assert header(response, "Content-Type") == "text/html; charset=utf-8"
    assert header(response, "Cache-Control") == "no-store"
    assert phrase in response["body"]
    assert "boom" not in response["body"]


def _disconnect_event(body: str) -> dict[str, Any]:
    event = load("http_oauth_callback.json")
    event.update(
        routeKey="POST /disconnect",
        rawPath="/disconnect",
        rawQueryString="",
        body=body,
        isBase64Encoded=False,
    )
    event.pop("queryStringParameters", None)
    event["requestContext"]["http"].update(method="POST", path="/disconnect")
    event["requestContext"]["routeKey"] = "POST /disconnect"
    return event


def test_disconnect_answers_json(monkeypatch: pytest.MonkeyPatch) -> None:
    flow = FakeFlow()
    response = invoke(
        monkeypatch, flow, _disconnect_event('{"advertiser_id": "7100000000000000001"}')
    )
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {
        "authorization_id": "acme",
        "advertiser_ids": ["7100000000000000001"],
        "revoked": True,
    }
    assert flow.calls == [
        ("disconnect", {"authorization_id": None, "advertiser_id": "7100000000000000001"})
    ]


@pytest.mark.parametrize(
    "body",
    ["not json", "[1, 2]", '{"authorization_id": 5}', '{"other": "x"}', '{"authorization_id": ""}'],
)
def test_disconnect_rejects_a_bad_body(monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    flow = FakeFlow()
    response = invoke(monkeypatch, flow, _disconnect_event(body))
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"] == "bad_request"
    assert flow.calls == []


def test_disconnect_errors_are_json(monkeypatch: pytest.MonkeyPatch) -> None:
    flow = FakeFlow(DisconnectError("No such authorization.", reason="not_found", status=404))
    response = invoke(monkeypatch, flow, _disconnect_event('{"authorization_id": "nobody"}'))
    assert response["statusCode"] == 404
    assert json.loads(response["body"]) == {
        "error": "not_found",
        "message": "No such authorization.",
    }


def test_unknown_route_is_404(monkeypatch: pytest.MonkeyPatch) -> None:
    event = load("http_connect.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/elsewhere"
    response = invoke(monkeypatch, FakeFlow(), event)
    assert response["statusCode"] == 404
    assert "no such page" in response["body"]
