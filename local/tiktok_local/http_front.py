"""The OAuth routes on a local port, as API Gateway HTTP API (payload format 2.0) would call them.

:class:`HttpFront` is a werkzeug server on 127.0.0.1 (port 0 = an ephemeral port). Each request that
matches one of the template's ``HttpApi`` routes becomes a v2 event (``version``, ``routeKey``,
``rawPath``, ``rawQueryString``, lower-cased ``headers``, ``queryStringParameters``, ``cookies``,
``pathParameters``, ``requestContext`` with ``http`` {method, path, protocol, sourceIp, userAgent}
and ``domainName``, ``isBase64Encoded``, ``body``) for the function's handler; the handler's
response (``statusCode``, ``headers``, ``cookies``, ``body``, base64 when flagged) is written back.
A route with the ``AWS_IAM`` authorizer needs a SigV4 ``Authorization`` header (its signature is
not checked locally). Unknown routes answer 404 ``{"message":"Not Found"}`` and a handler that
raises answers 500 ``{"message":"Internal Server Error"}``, like API Gateway.

:attr:`HttpFront.on_request`, when set, is called after each routed request with the function
name, the method, the path (never the query string: it carries tickets and auth codes), the
status and the seconds the handler took (``make up`` prints a line for each).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from tiktok_local.dispatcher import FunctionBinding
from tiktok_local.resources import HttpRoute

log = logging.getLogger("tiktok_local.http_front")

_TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "application/xml")


@dataclass
class _CompiledRoute:
    route: HttpRoute
    pattern: re.Pattern[str] | None  # None: $default

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.route.method not in ("ANY", method):
            return None
        if self.pattern is None:
            return {}
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


def _compile(route: HttpRoute) -> _CompiledRoute:
    if route.path == "$default":
        return _CompiledRoute(route, None)
    parts = []
    for segment in route.path.strip("/").split("/"):
        greedy = re.fullmatch(r"\{(\w+)\+\}", segment)
        param = re.fullmatch(r"\{(\w+)\}", segment)
        if greedy:
            parts.append(f"(?P<{greedy.group(1)}>.+)")
        elif param:
            parts.append(f"(?P<{param.group(1)}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return _CompiledRoute(route, re.compile("/" + "/".join(parts)))


def _specificity(compiled: _CompiledRoute) -> tuple[int, int, int]:
    # API Gateway prefers exact paths, then parameterised, then greedy, then $default.
    path = compiled.route.path
    return (
        path == "$default",
        "+}" in path,
        path.count("{"),
    )


def build_v2_event(request: Request, route: HttpRoute, path_parameters: dict[str, str]) -> dict:
    """The API Gateway HTTP API v2 event for ``request`` on ``route``."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        if key == "cookie":
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    cookies = [
        c.strip()
        for header in request.headers.getlist("Cookie")
        for c in header.split(";")
        if c.strip()
    ]
    # Like API Gateway, cookies travel in `cookies`, not in the headers.
    query: dict[str, str] = {}
    for name, values in request.args.lists():
        query[name] = ",".join(values)
    raw_body = request.get_data()
    content_type = (request.content_type or "").lower()
    text_body = not raw_body or content_type.startswith(_TEXT_TYPES)
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default" if route.path == "$default" else route.route_key,
        "rawPath": request.path,
        "rawQueryString": request.query_string.decode("latin-1"),
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": request.host,
            "domainPrefix": request.host.split(".")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": request.headers.get("User-Agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": "$default" if route.path == "$default" else route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": not text_body,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if raw_body:
        event["body"] = (
            raw_body.decode("utf-8", errors="replace")
            if text_body
            else base64.b64encode(raw_body).decode("ascii")
        )
    if route.iam_auth:
        event["requestContext"]["authorizer"] = {
            "iam": {
                "accessKey": "LOCAL",
                "accountId": "123456789012",
                "callerId": "LOCAL",
                "principalOrgId": None,
                "userArn": "arn:aws:iam::123456789012:user/local",
                "userId": "LOCAL",
            }
        }
    return event


def _json_response(status: int, message: str) -> Response:
    return Response(json.dumps({"message": message}), status, content_type="application/json")


def response_from_lambda(result: Any) -> Response:
    """Map a handler's return value to an HTTP response the way API Gateway v2 does."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # A result without statusCode is taken as a JSON body with status 200.
        body = result if isinstance(result, str) else json.dumps(result)
        return Response(body, 200, content_type="application/json")
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    response = Response(data, int(result["statusCode"]))
    response.headers.remove("Content-Type")
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.add(name, str(value))
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", cookie)
    return response


class HttpFront:
    """Serve ``routes`` of ``function`` on ``host:port`` (see the module docstring)."""

    def __init__(self, function: FunctionBinding, routes: Iterable[HttpRoute]) -> None:
        self.function = function
        self.routes = sorted((_compile(r) for r in routes), key=_specificity)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.on_request: Callable[[str, str, str, int, float], None] | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> HttpFront:
        self._server = make_server(host, port, self._app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), daemon=True, name="http-front"
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://{self._server.host}:{self._server.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def _route(self, request: Request) -> tuple[HttpRoute, dict[str, str]] | None:
        for compiled in self.routes:
            params = compiled.match(request.method, request.path)
            if params is not None:
                return compiled.route, params
        return None

    def handle(self, request: Request) -> Response:
        found = self._route(request)
        if found is None:
            return _json_response(404, "Not Found")
        route, params = found
        if route.iam_auth and not request.headers.get("Authorization", "").startswith(
            "AWS4-HMAC-SHA256"
        ):
            return _json_response(403, "Forbidden")
        event = build_v2_event(request, route, params)
        context = self.function.context()
        started = time.monotonic()
        try:
            result = self.function.resolve()(event, context)
        except Exception as exc:
            log.warning(
                "%s raised %s on %s",
                self.function.function_name,
                type(exc).__name__,
                route.route_key,
            )
            response = _json_response(500, "Internal Server Error")
        else:
            response = response_from_lambda(result)
        self._observe(request, response.status_code, time.monotonic() - started)
        return response

    def _observe(self, request: Request, status: int, seconds: float) -> None:
        observer = self.on_request
        if observer is None:
            return
        try:
            observer(self.function.function_name, request.method, request.path, status, seconds)
        except Exception:
            log.exception("the request observer failed")

    def _app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self.handle(request)
        return response(environ, start_response)
