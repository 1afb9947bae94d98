"""The OAuth routes' HTTP answers: pages with their security headers, the consent redirect, JSON
for ``/disconnect``, and the page or JSON body each refusal gets (the handler maps exceptions to
these with Powertools' ``@app.exception_handler``)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from tiktok_connector.oauth import pages
from tiktok_connector.oauth.errors import DisconnectError, OAuthError
from tiktok_connector.oauth.models import ConnectResult


def page(status: int, html: str) -> Response[str]:
    """An HTML page with :data:`.pages.PAGE_HEADERS` (no cache, no referrer, strict CSP)."""
    return Response(status, pages.HTML_CONTENT_TYPE, html, dict(pages.PAGE_HEADERS))


def redirect(location: str) -> Response[str]:
    """The 302 to TikTok's consent page."""
    return Response(302, headers={**pages.PAGE_HEADERS, "Location": location}, body="")


def connected(result: ConnectResult) -> Response[str]:
    """The success page of a callback (advertisers, authorization id, scope warnings)."""
    html = pages.success_page(
        advertiser_ids=result.advertiser_ids,
        advertiser_names=result.advertiser_names,
        authorization_id=result.authorization_id,
        warnings=result.warnings,
    )
    return page(200, html)


def json_body(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status, content_types.APPLICATION_JSON, json.dumps(body))


def disconnect_refused(exc: DisconnectError) -> Response[str]:
    return json_body(exc.status, {"error": exc.reason, "message": exc.message})


def refused(exc: OAuthError) -> Response[str]:
    """The error page of a refused request; TikTok's code and request id when TikTok refused."""
    detail = ""
    request_id = getattr(exc, "request_id", "")
    if request_id:
        detail = f"TikTok code {getattr(exc, 'code', '')}, request id {request_id}"
    return page(exc.status, pages.error_page(exc.title, exc.message, exc.hint, detail))


def not_found() -> Response[str]:
    return page(404, pages.error_page("Not found", "There is no such page here."))


def unexpected() -> Response[str]:
    """The page of an unexpected error (its details are in the function's log only)."""
    html = pages.error_page(
        "Something went wrong",
        "The connector hit an unexpected error.",
        "Try again from a new connect link; if it keeps failing, the operator can find the "
        "details in the function's logs.",
    )
    return page(500, html)
