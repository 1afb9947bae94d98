"""OAuth routes (HTTP API): ``GET /connect``, ``GET /oauth/callback``, ``POST /disconnect``.

Thin glue: Powertools' resolver routes the request into ``tiktok_connector.oauth.flow`` and typed
errors become pages (``@app.exception_handler``). The event is never logged: its query string
carries the state, the authorization code and connect tickets.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tiktok_connector.oauth import responses
from tiktok_connector.oauth.errors import DisconnectError, OAuthError
from tiktok_connector.oauth.flow import default_flow
from tiktok_connector.oauth.models import DisconnectRequest
from tiktok_connector.observability import logger

app = APIGatewayHttpResolver()


@app.get("/connect")
def connect() -> Response[str]:
    event = app.current_event
    location = default_flow().connect(
        ticket=event.get_query_string_value("ticket"),
        label=event.get_query_string_value("label"),
        domain_name=event.request_context.domain_name,
    )
    return responses.redirect(location)


@app.get("/oauth/callback")
def callback() -> Response[str]:
    return responses.connected(
        default_flow().callback(app.current_event.query_string_parameters or {})
    )


@app.post("/disconnect")
def disconnect() -> Response[str]:
    request = DisconnectRequest.parse(app.current_event.decoded_body)
    result = default_flow().disconnect(
        authorization_id=request.authorization_id, advertiser_id=request.advertiser_id
    )
    return responses.json_body(200, result.as_dict())


@app.exception_handler(DisconnectError)
def disconnect_failed(exc: DisconnectError) -> Response[str]:
    logger.warning("disconnect refused", extra={"reason": exc.reason, "status": exc.status})
    return responses.disconnect_refused(exc)


@app.exception_handler(OAuthError)
def oauth_failed(exc: OAuthError) -> Response[str]:
    logger.warning("request refused", extra={"reason": exc.reason, "status": exc.status})
    return responses.refused(exc)


@app.not_found
def not_found(exc: Exception) -> Response[str]:
    return responses.not_found()


@app.exception_handler(Exception)
def unexpected(exc: Exception) -> Response[str]:
    logger.exception("unexpected error")
    return responses.unexpected()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway HTTP API (payload 2.0) entry point."""
    return app.resolve(event, context)
