"""The OAuth routes are served as API Gateway HTTP API v2 events."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests

from tiktok_local.stack import LocalStack

from .support import RecordingHandler


@pytest.fixture(autouse=True)
def _fresh_handler(http_handler: RecordingHandler) -> None:
    http_handler.reset()
    http_handler.response = {"statusCode": 200, "body": "ok"}


def test_get_becomes_a_v2_event(stack: LocalStack, http_handler: RecordingHandler) -> None:
    http_handler.response = {
        "statusCode": 302,
        "headers": {"Location": "https://example.test/next", "Content-Type": "text/html"},
        "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
        "body": "<p>moved</p>",
    }
    response = requests.get(
        f"{stack.http_front_url}/oauth/callback?auth_code=abc&state=s%2B1&x=1&x=2",
        headers={"User-Agent": "pytest-agent", "X-Custom": "Yes", "Cookie": "c1=v1; c2=v2"},
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "https://example.test/next"
    assert response.raw.headers.getlist("Set-Cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    assert response.text == "<p>moved</p>"
    [event] = http_handler.events
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /oauth/callback"
    assert event["rawPath"] == "/oauth/callback"
    assert event["rawQueryString"] == "auth_code=abc&state=s%2B1&x=1&x=2"
    assert event["queryStringParameters"] == {"auth_code": "abc", "state": "s+1", "x": "1,2"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-custom"] == "Yes"
    assert event["headers"]["user-agent"] == "pytest-agent"
    assert all(name == name.lower() for name in event["headers"])
    http = event["requestContext"]["http"]
    assert http == {
        "method": "GET",
        "path": "/oauth/callback",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "pytest-agent",
    }
    host = stack.http_front_url.removeprefix("http://")
    assert event["requestContext"]["domainName"] == host
    assert event["requestContext"]["routeKey"] == "GET /oauth/callback"
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    [context] = http_handler.contexts
    assert context.function_name == "tiktok-connector-oauth"


def test_unknown_route_or_method_is_404_without_invoking(
    stack: LocalStack, http_handler: RecordingHandler
) -> None:
    assert requests.get(f"{stack.http_front_url}/nope", timeout=10).status_code == 404
    missing = requests.post(f"{stack.http_front_url}/connect", timeout=10)
    assert missing.status_code == 404
    assert missing.json() == {"message": "Not Found"}
    assert http_handler.events == []


def test_iam_route_needs_a_signed_request(
    stack: LocalStack, http_handler: RecordingHandler
) -> None:
    unsigned = requests.post(f"{stack.http_front_url}/disconnect", json={"a": 1}, timeout=10)
    assert unsigned.status_code == 403
    assert http_handler.events == []

    signed = requests.post(
        f"{stack.http_front_url}/disconnect",
        json={"advertiser_id": "1"},
        headers={"Authorization": "AWS4-HMAC-SHA256 Credential=LOCAL/..."},
        timeout=10,
    )
    assert signed.status_code == 200
    [event] = http_handler.events
    assert event["routeKey"] == "POST /disconnect"
    assert event["body"] == '{"advertiser_id": "1"}'
    assert event["isBase64Encoded"] is False
    assert "iam" in event["requestContext"]["authorizer"]


def test_binary_bodies_are_base64_both_ways(
    stack: LocalStack, http_handler: RecordingHandler
) -> None:
    http_handler.response = {
        "statusCode": 200,
        "headers": {"Content-Type": "image/png"},
        "body": base64.b64encode(b"\x89PNG\x00").decode(),
        "isBase64Encoded": True,
    }
    response = requests.post(
        f"{stack.http_front_url}/disconnect",
        data=b"\x00\xff",
        headers={"Content-Type": "application/octet-stream", "Authorization": "AWS4-HMAC-SHA256 x"},
        timeout=10,
    )
    assert response.content == b"\x89PNG\x00"
    [event] = http_handler.events
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\xff"


def test_handler_exception_is_500(stack: LocalStack, http_handler: RecordingHandler) -> None:
    http_handler.should_raise = lambda event: True
    response = requests.get(f"{stack.http_front_url}/connect", timeout=10)
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}


def test_result_without_status_code_is_json_200(
    stack: LocalStack, http_handler: RecordingHandler
) -> None:
    payload: dict[str, Any] = {"hello": "world"}
    http_handler.response = payload
    response = requests.get(f"{stack.http_front_url}/connect", timeout=10)
    assert response.status_code == 200
    assert response.json() == payload
