"""OAuth routes (HTTP API): ``GET /connect``, ``GET /oauth/callback``, ``POST /disconnect``.

Thin glue: Powertools' resolver routes the request into ``tiktok_connector.oauth.flow`` and typed
errors become pages (``@app.exception_handler``). The event is never logged: its query string
carries the state, the authorization code and connect tickets.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tiktok_connector.oauth import pages
from tiktok_connector.oauth.errors import DisconnectError, OAuthError
from tiktok_connector.oauth.flow import default_flow
from tiktok_connector.oauth.models import DisconnectRequest
from tiktok_connector.observability import logger

app = APIGatewayHttpResolver()


def _page(status: int, html: str) -> Response[str]:
    return Response(status, pages.HTML_CONTENT_TYPE, html, dict(pages.PAGE_HEADERS))


@app.get("/connect")
def connect() -> Response[str]:
    event = app.current_event
    location = default_flow().connect(
        ticket=event.get_query_string_value("ticket"),
        label=event.get_query_string_value("label"),
        domain_name=event.request_context.domain_name,
    )
    return Response(302, headers={**pages.PAGE_HEADERS, "Location": location}, body="")


@app.get("/oauth/callback")
def callback() -> Response[str]:
    result = default_flow().callback(app.current_event.query_string_parameters or {})
    html = pages.success_page(
        advertiser_ids=result.advertiser_ids,
        advertiser_names=result.advertiser_names,
        authorization_id=result.authorization_id,
        warnings=result.warnings,
    )
    return _page(200, html)


@app.post("/disconnect")
def disconnect() -> Response[str]:
    request = DisconnectRequest.parse(app.current_event.decoded_body)
    result = default_flow().disconnect(
        authorization_id=request.authorization_id, advertiser_id=request.advertiser_id
    )
    return Response(200, content_types.APPLICATION_JSON, json.dumps(result.as_dict()))


@app.exception_handler(DisconnectError)
def disconnect_failed(exc: DisconnectError) -> Response[str]:
    logger.warning("disconnect refused", extra={"reason": exc.reason, "status": exc.status})
    body = json.dumps({"error": exc.reason, "message": exc.message})
    return Response(exc.status, content_types.APPLICATION_JSON, body)


@app.exception_handler(OAuthError)
def oauth_failed(exc: OAuthError) -> Response[str]:
    logger.warning("request refused", extra={"reason": exc.reason, "status": exc.status})
    detail = ""
    request_id = getattr(exc, "request_id", "")
    if request_id:
        detail = f"TikTok code {getattr(exc, 'code', '')}, request id {request_id}"
    return _page(exc.status, pages.error_page(exc.title, exc.message, exc.hint, detail))


@app.not_found
def not_found(exc: Exception) -> Response[str]:
    return _page(404, pages.error_page("Not found", "There is no such page here."))


@app.exception_handler(Exception)
def unexpected(exc: Exception) -> Response[str]:
    logger.exception("unexpected error")
    html = pages.error_page(
        "Something went wrong",
        "The connector hit an unexpected error.",
        "Try again from a new connect link; if it keeps failing, the operator can find the "
        "details in the function's logs.",
    )
    return _page(500, html)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway HTTP API (payload 2.0) entry point."""
    return app.resolve(event, context)
