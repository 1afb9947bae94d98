"""Drive the OAuth routes of a local stack the way a browser would (requests, no JavaScript)."""

from __future__ import annotations

import html
import json
import logging
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import requests

from tiktok_local.connect_link import link_for_local_stack
from tiktok_local.stack import LocalStack

ADVERTISER_1 = "7100000000000000001"
ADVERTISER_2 = "7100000000000000002"
EXCHANGE_PATH = "/open_api/v1.3/oauth2/access_token/"
REVOKE_PATH = "/open_api/v1.3/oauth2/revoke_token/"
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def connect_link(stack: LocalStack, label: str = "", ttl_seconds: int = 3600) -> str:
    return link_for_local_stack(stack.stack_json_path, label=label, ttl_seconds=ttl_seconds)


def start_consent(link: str) -> requests.Response:
    """GET the connect link without following the redirect."""
    return requests.get(link, allow_redirects=False, timeout=10)


def consent_to_callback_url(
    stack: LocalStack, link: str, advertisers: tuple[str, ...] = (ADVERTISER_1, ADVERTISER_2)
) -> str:
    """Open the link, confirm on the emulator's consent page; returns the callback URL."""
    started = start_consent(link)
    assert started.status_code == 302, started.text
    page = requests.get(started.headers["Location"], timeout=10)
    assert page.status_code == 200, page.text
    form: dict[str, Any] = {k: html.unescape(v) for k, v in _HIDDEN.findall(page.text)}
    form["decision"] = "confirm"
    form["advertiser_id"] = list(advertisers)
    answer = requests.post(stack.emulator.auth_url, data=form, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(stack.names["callback_url"])
    return str(location)


def connect(stack: LocalStack, label: str = "", **kwargs: Any) -> requests.Response:
    """The whole round trip; returns the callback's response."""
    callback = consent_to_callback_url(stack, connect_link(stack, label), **kwargs)
    return requests.get(callback, timeout=30)


def with_query(url: str, **changes: str | None) -> str:
    """``url`` with query parameters replaced (None removes one)."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def query_value(url: str, name: str) -> str:
    return parse_qs(urlsplit(url).query)[name][0]


def exchanges(stack: LocalStack) -> int:
    """How many token exchanges the emulator has received."""
    return sum(1 for r in stack.emulator.state.requests if r["path"] == EXCHANGE_PATH)


def secret(stack: LocalStack, authorization_id: str) -> dict[str, Any]:
    name = f"{stack.names['authorizations_secret_prefix']}{authorization_id}"
    value = stack.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
    return dict(json.loads(value))


def index_item(stack: LocalStack, advertiser_id: str) -> dict[str, Any] | None:
    item = (
        stack.client("dynamodb")
        .get_item(
            TableName=stack.names["oauth_table"],
            Key={"pk": {"S": f"advertiser#{advertiser_id}"}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return dict(item) if item else None


def disconnect(
    stack: LocalStack, body: dict[str, Any], *, signed: bool = True
) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if signed:
        # The local front checks that a SigV4 header is present (the gateway checks the signature).
        headers["Authorization"] = (
            "AWS4-HMAC-SHA256 Credential=LOCAL/20260101/us-east-1/execute-api"
        )
    return requests.post(
        f"{stack.http_front_url}/disconnect", data=json.dumps(body), headers=headers, timeout=30
    )


def advertisers_on_page(text: str) -> list[str]:
    return re.findall(r'data-advertiser-id="(\d+)"', text)


class LogCapture:
    """Every record any logger handles (message, args, extra fields) as text, while installed."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self._original = logging.Logger.handle

    def install(self, monkeypatch: Any) -> LogCapture:
        original = self._original
        texts = self.texts

        def handle(logger: logging.Logger, record: logging.LogRecord) -> None:
            texts.append(f"{logger.name} {record.getMessage()} {record.__dict__!r}")
            if record.exc_info:
                texts.append(logging.Formatter().formatException(record.exc_info))
            original(logger, record)

        monkeypatch.setattr(logging.Logger, "handle", handle)
        return self

    def text(self) -> str:
        return "\n".join(self.texts)
