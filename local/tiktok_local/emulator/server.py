"""HTTP front of the emulator: routing, envelope, QPS limits, faults, consent and admin routes.

Plain werkzeug: one WSGI callable, a threaded ``make_server`` in a daemon thread.

- ``/open_api/v1.3/<endpoint>/``: the API (see ``api.py``); unknown paths or a missing trailing
  slash get HTTP 404, a wrong method HTTP 405; every API-level error is HTTP 200 with
  ``{"code", "message", "request_id", "data": {}}``.
- ``/portal/auth``: the consent page (GET) and its form (POST → 302 to the redirect URI).
- ``/_emulator/...``: state, faults, tokens, reset and clock for other processes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from werkzeug import Request, Response
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tiktok_local.emulator import consent
from tiktok_local.emulator.api import Api
from tiktok_local.emulator.config import (
    QPS_GROUP_DMP,
    QPS_GROUP_EVENTS,
    QPS_GROUP_OAUTH,
    QPS_GROUP_SEGMENT_AUDIENCE,
    QPS_GROUP_SEGMENT_MAPPING,
    EmulatorConfig,
)
from tiktok_local.emulator.faults import API_PREFIX, Fault, Faults
from tiktok_local.emulator.rules import MESSAGES, SYS_TIMEOUT, TOO_MANY_REQUESTS, ApiError
from tiktok_local.emulator.state import EmulatorState, RequestRecord

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/_emulator"


def qps_group(api_path: str) -> str:
    if api_path.startswith("/oauth2/"):
        return QPS_GROUP_OAUTH
    if api_path.startswith("/segment/mapping/"):
        return QPS_GROUP_SEGMENT_MAPPING
    if api_path.startswith("/segment/"):
        return QPS_GROUP_SEGMENT_AUDIENCE
    if api_path.startswith(("/event/", "/pixel/")):
        return QPS_GROUP_EVENTS
    return QPS_GROUP_DMP


class QpsLimiter:
    """Sliding one-second windows keyed by (app, endpoint or group)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], deque[float]] = {}

    def allow(self, key: tuple[str, str], limit: float | None, now: float) -> bool:
        if not limit:
            return True
        with self._lock:
            window = self._windows.setdefault(key, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= limit:
                return False
            window.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


class _QuietHandler(WSGIRequestHandler):
    """No access log: query strings carry the app secret (advertiser/get)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return

    def log_error(self, format: str, *args: Any) -> None:
        return


class _DropConnection(ConnectionAbortedError):
    """Raised by the app to make werkzeug close the socket without answering."""


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


class EmulatorServer:
    """A strict local TikTok Marketing API (see the package docstring)."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.state = EmulatorState(self.config)
        self.faults = Faults(self.config.seed)
        self.qps = QpsLimiter()
        self._api = Api(self.state, self.config)
        self._routes = self._api.routes()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self, host: str = "127.0.0.1", port: int = 0) -> EmulatorServer:
        """Serve on ``host:port`` (port 0 = ephemeral) in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        self._server = make_server(
            host, port, self.wsgi_app, threaded=True, request_handler=_QuietHandler
        )
        server = self._server
        # A short poll interval makes stop() quick (tests start many emulators).
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05),
            name="tiktok-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> EmulatorServer:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return int(self._server.server_port)

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return f"http://{self._server.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        """What ``TIKTOK_API_BASE_URL`` should be set to."""
        return self.base_url + API_PREFIX

    @property
    def auth_url(self) -> str:
        """What ``TIKTOK_AUTH_URL`` should be set to."""
        return self.base_url + "/portal/auth"

    def reset(self) -> None:
        """Forget all state, faults and QPS windows."""
        self.state.reset()
        self.faults.clear()
        self.qps.reset()

    # ------------------------------------------------------------------ WSGI
    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path
        if path.startswith(API_PREFIX + "/"):
            response = self._api_call(request, environ)
        elif path == "/portal/auth":
            response = self._consent(request)
        elif path.startswith(ADMIN_PREFIX + "/"):
            response = self._admin(request)
        else:
            response = Response("404 page not found", status=404, mimetype="text/plain")
        return response(environ, start_response)

    def _log(
        self,
        request: Request,
        status: int,
        code: int | None,
        request_id: str,
        fault: str | None = None,
    ) -> None:
        self.state.log_request(
            RequestRecord(
                method=request.method,
                path=request.path,
                http_status=status,
                code=code,
                request_id=request_id,
                at=self.state.now(),
                fault=fault,
            )
        )

    def _envelope(
        self, request: Request, code: int, message: str, data: dict[str, Any], fault: str | None
    ) -> Response:
        # contract: EN-03 — HTTP 200, the body's code decides; data {} on errors; EN-09 request_id
        request_id = self.state.new_request_id()
        self._log(request, 200, code, request_id, fault)
        return _json({"code": code, "message": message, "request_id": request_id, "data": data})

    def _api_call(self, request: Request, environ: dict[str, Any]) -> Response:
        api_path = request.path[len(API_PREFIX) :]
        route = self._routes.get(api_path)
        if route is None:  # contract: EN-01 — unknown path or no trailing slash: HTTP 404
            self._log(request, 404, None, self.state.new_request_id())
            return Response("404 page not found", status=404, mimetype="text/plain")
        method, handler = route
        if request.method != method:
            self._log(request, 405, None, self.state.new_request_id())
            return Response("405 method not allowed", status=405, mimetype="text/plain")

        after_apply: Fault | None = None
        for fault in self.faults.draw(request.path):
            if fault.kind == "slow":
                time.sleep(fault.delay)
            elif fault.kind == "http_500":
                self._log(request, fault.status, None, self.state.new_request_id(), fault.kind)
                return Response(
                    f"{fault.status} server error (emulator fault)",
                    status=fault.status,
                    mimetype="text/plain",
                )
            elif fault.kind == "code_50002":
                return self._envelope(request, SYS_TIMEOUT, MESSAGES[SYS_TIMEOUT], {}, fault.kind)
            elif fault.kind == "throttle":
                code = fault.code or TOO_MANY_REQUESTS
                return self._envelope(request, code, MESSAGES[code], {}, fault.kind)
            elif fault.kind == "drop":
                self._log(request, 0, None, self.state.new_request_id(), fault.kind)
                self._drop(environ)
            elif fault.kind == "revoke_token":
                token = fault.token or request.headers.get("Access-Token", "").strip()
                if token:
                    self.state.revoke_token(token)
            elif fault.kind == "drop_after_apply":
                after_apply = fault

        if not self._within_qps(request, api_path):  # contract: EN-08 (code: EN-04)
            return self._envelope(request, TOO_MANY_REQUESTS, MESSAGES[TOO_MANY_REQUESTS], {}, None)

        lost = after_apply.kind if after_apply is not None else None
        try:
            data = handler(request)
        except ApiError as err:
            response = self._envelope(request, err.code, err.message, {}, lost)
        except Exception:
            # An emulator bug, not a TikTok answer: say so loudly (the message holds no token).
            log.exception("emulator handler failed for %s", api_path)
            self._log(request, 500, None, self.state.new_request_id(), "emulator_error")
            return Response("500 emulator error", status=500, mimetype="text/plain")
        else:
            response = self._envelope(request, 0, "OK", data, lost)
        if after_apply is not None:
            self._drop(environ)
        return response

    def _within_qps(self, request: Request, api_path: str) -> bool:
        group = qps_group(api_path)
        token = request.headers.get("Access-Token", "").strip()
        record = self.state.token_record(token) if token else None
        app = record.app_id if record else request.args.get("app_id") or self.config.app_id
        scope = api_path if self.config.qps_scope == "endpoint" else group
        return self.qps.allow((app, scope), self.config.qps.get(group), self.state.now())

    @staticmethod
    def _drop(environ: dict[str, Any]) -> None:
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        raise _DropConnection("emulator fault: connection dropped")

    # ------------------------------------------------------------------ consent page
    def _consent(self, request: Request) -> Response:
        # contract: OA-01, OA-02
        request_id = self.state.new_request_id()
        if request.method not in ("GET", "POST"):
            self._log(request, 405, None, request_id)
            return Response("405 method not allowed", status=405, mimetype="text/plain")
        source = request.args if request.method == "GET" else request.form
        app_id = source.get("app_id", "")
        redirect_uri = source.get("redirect_uri", "")
        state_value = source.get("state", "")
        error = None
        if app_id != self.config.app_id:
            error = "Unknown app_id: this developer app does not exist."
        elif not redirect_uri:
            error = "redirect_uri is missing."
        elif not self.config.redirect_uri_allowed(redirect_uri):
            error = (
                "This redirect_uri is not registered for the app. Add it to the app's "
                "advertiser redirect URLs."
            )
        if error is not None:
            self._log(request, 400, None, request_id)
            return Response(consent.error_page(error), status=400, mimetype="text/html")
        if request.method == "GET":
            self._log(request, 200, None, request_id)
            html = consent.consent_page(
                app_id=app_id,
                state=state_value,
                redirect_uri=redirect_uri,
                advertisers=self.config.advertisers,
                scopes=self.config.granted_scopes,
            )
            return Response(html, mimetype="text/html")

        if request.form.get("decision") != "confirm":
            self._log(request, 302, None, request_id)
            target = consent.redirect_with(redirect_uri, {"state": state_value})
            return Response("", status=302, headers={"Location": target})
        chosen = request.form.getlist("advertiser_id")
        if not chosen and not request.form.get("advertisers_listed"):
            chosen = list(self.config.advertisers)
        unknown = [a for a in chosen if a not in self.config.advertisers]
        if not chosen or unknown:
            self._log(request, 400, None, request_id)
            return Response(
                consent.error_page("Select at least one of the listed advertiser accounts."),
                status=400,
                mimetype="text/html",
            )
        code = self.state.create_auth_code(chosen, redirect_uri)
        self._log(request, 302, None, request_id)
        target = consent.redirect_with(
            redirect_uri, {"auth_code": code, "code": code, "state": state_value}
        )
        return Response("", status=302, headers={"Location": target})

    # ------------------------------------------------------------------ admin routes
    def _admin(self, request: Request) -> Response:
        route = request.path[len(ADMIN_PREFIX) :]
        try:
            if route == "/state" and request.method == "GET":
                snapshot = self.state.snapshot(
                    with_members=request.args.get("members", "1") != "0",
                    with_events=request.args.get("events", "1") != "0",
                )
                snapshot["faults"] = self.faults.active
                return _json(snapshot)
            if route == "/faults" and request.method == "POST":
                body = request.get_json(force=True, silent=True) or {}
                if body.get("clear"):
                    self.faults.clear()
                    return _json({"faults": []})
                kind = body.pop("kind", None)
                fault = self.faults.add(str(kind), **body)
                return _json({"fault": fault.as_dict()})
            if route == "/faults" and request.method == "DELETE":
                self.faults.clear()
                return _json({"faults": []})
            if route == "/tokens" and request.method == "POST":
                body = request.get_json(force=True, silent=True) or {}
                token = self.state.issue_token(
                    body.get("advertiser_ids"),
                    body.get("scope"),
                    event_sources=body.get("event_sources"),
                )
                return _json({"access_token": token})
            if route == "/reset" and request.method == "POST":
                self.reset()
                return _json({"reset": True})
            if route == "/time" and request.method == "POST":
                body = request.get_json(force=True, silent=True) or {}
                self.state.advance_time(float(body.get("advance", 0)))
                return _json({"now": self.state.now()})
        except (TypeError, ValueError) as err:
            return _json({"error": str(err)}, status=400)
        return Response("404 page not found", status=404, mimetype="text/plain")
