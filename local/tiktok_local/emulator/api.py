"""The TikTok Marketing API endpoints the connector uses (DESIGN §3.1), one method each.

Each handler takes the werkzeug request and returns the envelope's ``data`` or raises
:class:`ApiError`. Pure checks run first; checks against state and the change itself run under
``state.lock`` so a rejected request never changes anything.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug import Request

from tiktok_local.emulator.config import EmulatorConfig
from tiktok_local.emulator.rules import (
    AUTH_CODE_INVALID,
    AUTH_PARAMS,
    BATCH_SIZE,
    CALCULATE_TYPE,
    CREATE_CALCULATE_TYPES,
    EVENT_SOURCES,
    FILE_EMPTY,
    FILE_MISSING,
    FILE_PATH_LENGTH,
    FILE_SIGNATURE,
    FILE_TYPE,
    ID_SCHEMA_TYPES,
    MD5_RE,
    OBJECT_MISSING,
    PARAM,
    PARTNER_NAME,
    PERMISSION,
    PII_NOT_HASHED,
    PIXEL_TRACK_FIELDS,
    SHA256_RE,
    TOKEN_EMPTY,
    TOKEN_INVALID,
    UPLOAD_CALCULATE_TYPES,
    ApiError,
    algo_of,
    canonical_calculate_type,
    check_fields,
    is_int,
    optional_str,
    parse_customer_file,
    parse_json_list_param,
    require_object,
    require_str,
    require_str_list,
    validate_event,
    validate_pixel_event,
    validate_pixel_item,
)
from tiktok_local.emulator.state import (
    AUDIENCE_CUSTOMER_FILE,
    AUDIENCE_PARTNER,
    Audience,
    EmulatorState,
    Member,
    ReceivedEvent,
    TokenRecord,
)

# Scope ids (reference §1.6): a parent grants its children.
SCOPE_READ_AUDIENCES = 30
SCOPE_WRITE_AUDIENCES = 31
SCOPE_MEASUREMENT = 5
# contract: OA-07 (Measurement's children: each events endpoint needs its own child scope)
SCOPE_REPORT_APP_EVENT = 50
SCOPE_REPORT_PIXEL_EVENT = 51
SCOPE_REPORT_CONVERSION_EVENT = 7224195155857866754
SCOPE_PARENTS = {
    30: 3,
    31: 3,
    32: 3,
    SCOPE_REPORT_APP_EVENT: SCOPE_MEASUREMENT,
    SCOPE_REPORT_PIXEL_EVENT: SCOPE_MEASUREMENT,
    SCOPE_REPORT_CONVERSION_EVENT: SCOPE_MEASUREMENT,
}

SEGMENT_NAME_MAX = 70  # contract: PA-02 — longer names are cut to 67 chars + "..."
AUDIENCE_NAME_MAX = 128  # contract: CF-08 — customer-file audience names
MAX_FILE_PATHS = 500  # contract: CF-04
UPDATE_ACTIONS = ("APPEND", "REMOVE", "REPLACE")
# contract: CF-11 — /dmp/custom_audience/list/ labels (audience_type); get returns them as type.
TYPE_LABELS = {AUDIENCE_CUSTOMER_FILE: "Customer File Audience", AUDIENCE_PARTNER: "Partner"}
EXPIRING_DAYS = 60  # contract: CF-12 — is_expiring within 60 days of expiry
PROCESSING_MESSAGE = "The audience is being updated or under processing. Please try again later."

Handler = Callable[[Request], dict[str, Any]]


def has_scope(granted: list[int], needed: int) -> bool:
    # contract: OA-06 (a parent grants its children)
    return needed in granted or SCOPE_PARENTS.get(needed) in granted


def _fmt_time(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


class Api:
    """Endpoint handlers bound to one emulator's state and config."""

    def __init__(self, state: EmulatorState, config: EmulatorConfig) -> None:
        self.state = state
        self.config = config

    # ------------------------------------------------------------------ plumbing
    def routes(self) -> dict[str, tuple[str, Handler]]:
        """API path (below /open_api/v1.3) -> (HTTP method, handler)."""
        return {
            "/oauth2/access_token/": ("POST", self.oauth_access_token),
            "/oauth2/advertiser/get/": ("GET", self.oauth_advertiser_get),
            "/oauth2/revoke_token/": ("POST", self.oauth_revoke_token),
            "/dmp/custom_audience/file/upload/": ("POST", self.dmp_file_upload),
            "/dmp/custom_audience/create/": ("POST", self.dmp_create),
            "/dmp/custom_audience/update/": ("POST", self.dmp_update),
            "/dmp/custom_audience/list/": ("GET", self.dmp_list),
            "/dmp/custom_audience/get/": ("GET", self.dmp_get),
            "/dmp/custom_audience/delete/": ("POST", self.dmp_delete),
            "/segment/audience/": ("POST", self.segment_audience),
            "/segment/mapping/": ("POST", self.segment_mapping),
            "/event/track/": ("POST", self.event_track),
            "/pixel/batch/": ("POST", self.pixel_batch),
            "/pixel/track/": ("POST", self.pixel_track),
        }

    @staticmethod
    def json_body(request: Request) -> dict[str, Any]:
        if request.mimetype != "application/json":
            raise ApiError(PARAM, "Content-Type must be application/json")
        body = request.get_json(silent=True)
        if body is None:
            raise ApiError(PARAM, "Request body is not valid JSON")
        return require_object(body)

    def authenticate(self, request: Request) -> TokenRecord:
        token = request.headers.get("Access-Token", "").strip()  # contract: EN-02
        if not token:
            raise ApiError(TOKEN_EMPTY, "Access token is null. Send it in the Access-Token header.")
        record = self.state.token_record(token)
        if record is None or record.revoked:
            raise ApiError(TOKEN_INVALID, "The access token is invalid or has been revoked.")
        return record

    @staticmethod
    def authorize(record: TokenRecord, scope: int, advertiser_ids: Iterable[str] = ()) -> None:
        if not has_scope(record.scope, scope):
            raise ApiError(
                PERMISSION, f"No permission: scope {scope} was not granted to this token."
            )
        for advertiser_id in advertiser_ids:
            if advertiser_id not in record.advertiser_ids:
                raise ApiError(
                    PERMISSION,
                    f"No permission to operate advertiser {advertiser_id} with this access token.",
                )

    def reach_event_source(self, record: TokenRecord, source_id: str) -> None:
        """40001 unless the token may report to ``source_id`` (contract: EV-03)."""
        if record.event_sources is not None:
            reachable = source_id in record.event_sources
        else:
            reachable = self.config.event_source_owner(source_id) in record.advertiser_ids
        if not reachable:
            # contract: EV-03 (TikTok's wording, as peers' recorded answers show it)
            raise ApiError(
                PERMISSION,
                f"No permission to operate pixel code: {source_id}. "
                "You must be an admin or operator of this advertiser account.",
            )

    def check_app(self, app_id: object, secret: object) -> None:
        if not isinstance(app_id, str) or not isinstance(secret, str):
            raise ApiError(PARAM, "app_id and secret must be strings")
        if app_id != self.config.app_id or secret != self.config.app_secret:
            raise ApiError(AUTH_PARAMS, "Invalid app_id or secret.")

    def _check_audience_cap(self, advertiser_id: str) -> None:
        if len(self.state.advertiser_audiences(advertiser_id)) >= (
            self.config.max_audiences_per_advertiser
        ):
            raise ApiError(
                PARAM,
                f"Advertiser {advertiser_id} already has "
                f"{self.config.max_audiences_per_advertiser} audiences (the maximum).",
            )

    def _owned_audience(self, advertiser_id: str, audience_id: object) -> Audience:
        if not isinstance(audience_id, str) or not audience_id:
            raise ApiError(PARAM, "audience ids must be non-empty strings")
        audience = self.state.audience(audience_id)
        if audience is None:
            raise ApiError(OBJECT_MISSING, f"Audience {audience_id} does not exist.")
        if audience.advertiser_id != advertiser_id:
            raise ApiError(
                PERMISSION, f"Audience {audience_id} does not belong to advertiser {advertiser_id}."
            )
        return audience

    # ------------------------------------------------------------------ OAuth
    def oauth_access_token(self, request: Request) -> dict[str, Any]:
        # contract: OA-03, OA-04, OA-05
        body = self.json_body(request)
        check_fields(
            body, required={"app_id", "secret", "auth_code"}, optional={"return_advertiser_ids"}
        )
        self.check_app(body["app_id"], body["secret"])
        code = body["auth_code"]
        if not isinstance(code, str):
            raise ApiError(PARAM, "auth_code must be a string")
        record = self.state.consume_auth_code(code)
        if record is None:
            raise ApiError(AUTH_CODE_INVALID, "The auth_code is invalid, expired or already used.")
        token = self.state.issue_token(record.advertiser_ids, record.scope)
        show_ids = body.get("return_advertiser_ids", True) is not False
        return {
            "access_token": token,
            "advertiser_ids": list(record.advertiser_ids) if show_ids else [],
            "scope": list(record.scope),
        }

    def oauth_advertiser_get(self, request: Request) -> dict[str, Any]:
        # contract: OA-09
        app_id, secret = request.args.get("app_id"), request.args.get("secret")
        if not app_id or not secret:
            raise ApiError(PARAM, "app_id and secret are required query parameters")
        self.check_app(app_id, secret)
        record = self.authenticate(request)
        return {
            "list": [
                {"advertiser_id": a, "advertiser_name": self.config.advertisers.get(a, "")}
                for a in record.advertiser_ids
            ]
        }

    def oauth_revoke_token(self, request: Request) -> dict[str, Any]:
        # contract: OA-08, OA-10
        body = self.json_body(request)
        check_fields(body, required={"app_id", "secret", "access_token"})
        self.check_app(body["app_id"], body["secret"])
        token = body["access_token"]
        with self.state.lock:
            record = self.state.token_record(token) if isinstance(token, str) else None
            if record is None or record.revoked:
                raise ApiError(TOKEN_INVALID, "The access token is invalid or already revoked.")
            self.state.revoke_token(token)
        return {"app_id": record.app_id, "advertiser_ids": list(record.advertiser_ids)}

    # ------------------------------------------------------------------ customer files
    def dmp_file_upload(self, request: Request) -> dict[str, Any]:
        record = self.authenticate(request)
        if request.mimetype != "multipart/form-data":
            raise ApiError(PARAM, "Content-Type must be multipart/form-data")
        form = {k: request.form.get(k) for k in request.form}
        check_fields(
            form,
            required={"advertiser_id", "calculate_type", "file_signature"},
            optional={"name"},
        )
        unknown_files = sorted(set(request.files) - {"file"})
        if unknown_files:
            raise ApiError(PARAM, f"Unknown file part(s): {', '.join(unknown_files)}")
        advertiser_id = form["advertiser_id"] or ""
        self.authorize(record, SCOPE_WRITE_AUDIENCES, [advertiser_id])
        calculate_type = form["calculate_type"] or ""
        if calculate_type not in UPLOAD_CALCULATE_TYPES:  # contract: CF-02
            raise ApiError(CALCULATE_TYPE, f"Unsupported calculate_type {calculate_type!r}.")
        upload = request.files.get("file")
        if upload is None:
            raise ApiError(FILE_MISSING, "The file part is missing.")
        filename = upload.filename or ""
        # contract: CF-01 — the suffix is exactly .csv or .txt; .CSV, .csv.gz, .zip fail.
        if not (filename.endswith(".csv") or filename.endswith(".txt")):
            raise ApiError(
                FILE_TYPE, "Unsupported file type: the file name must end in .csv or .txt."
            )
        content = upload.read()
        if not content:
            raise ApiError(FILE_EMPTY, "The file is empty.")
        signature = form["file_signature"] or ""
        # contract: CF-01 — file_signature is the MD5 of the file's bytes (40900 otherwise)
        if hashlib.md5(content).hexdigest() != signature.lower():  # noqa: S324 - TikTok's checksum
            raise ApiError(FILE_SIGNATURE, "file_signature does not match the MD5 of the file.")
        members, rows = parse_customer_file(content, calculate_type)
        file_path = self.state.add_file(advertiser_id, calculate_type, members, rows, len(content))
        return {"file_path": file_path}

    def _files_members(
        self, advertiser_id: str, file_paths: list[str], calculate_type: str
    ) -> set[Member]:
        members: set[Member] = set()
        for path in file_paths:
            uploaded = self.state.file(path)
            if uploaded is None:
                raise ApiError(PARAM, f"file_path {path} does not exist.")
            if uploaded.advertiser_id != advertiser_id:
                raise ApiError(PERMISSION, f"file_path {path} was uploaded by another advertiser.")
            # contract: CF-09 — every file has the audience's calculate type (40909)
            if canonical_calculate_type(uploaded.calculate_type) != canonical_calculate_type(
                calculate_type
            ):
                raise ApiError(
                    CALCULATE_TYPE,
                    f"file_path {path} has calculate_type {uploaded.calculate_type}, "
                    f"not {calculate_type}.",
                )
            members.update(uploaded.members)
        return members

    def dmp_create(self, request: Request) -> dict[str, Any]:
        record = self.authenticate(request)
        body = self.json_body(request)
        check_fields(
            body,
            required={"advertiser_id", "custom_audience_name", "calculate_type", "file_paths"},
            optional={"retention_in_days", "audience_sub_type", "audience_enhancement"},
        )
        advertiser_id = require_str(body, "advertiser_id")
        self.authorize(record, SCOPE_WRITE_AUDIENCES, [advertiser_id])
        name = body["custom_audience_name"]
        if not isinstance(name, str) or not 1 <= len(name) <= AUDIENCE_NAME_MAX:
            raise ApiError(PARAM, "custom_audience_name must be a string of 1-128 characters")
        calculate_type = body["calculate_type"]
        # contract: CF-03 — a strict enum without MAID_* (those exist on upload only)
        if not isinstance(calculate_type, str) or calculate_type not in CREATE_CALCULATE_TYPES:
            raise ApiError(CALCULATE_TYPE, f"Unsupported calculate_type {calculate_type!r}.")
        file_paths = require_str_list(body, "file_paths", max_items=MAX_FILE_PATHS)
        if any(len(path) != FILE_PATH_LENGTH for path in file_paths):  # contract: CF-04
            raise ApiError(PARAM, f"file_paths items must be {FILE_PATH_LENGTH} characters long")
        retention = body.get("retention_in_days")
        if retention is not None and not (is_int(retention) and 1 <= retention <= 365):
            raise ApiError(PARAM, "retention_in_days must be an integer from 1 to 365")
        if body.get("audience_sub_type") not in (None, "NORMAL", "REACH_FREQUENCY"):
            raise ApiError(PARAM, "audience_sub_type must be NORMAL or REACH_FREQUENCY")
        if not isinstance(body.get("audience_enhancement", False), bool):
            raise ApiError(PARAM, "audience_enhancement must be a boolean")
        with self.state.lock:
            self._check_audience_cap(advertiser_id)
            members = self._files_members(advertiser_id, file_paths, calculate_type)
            audience = self.state.add_audience(
                advertiser_id,
                name,
                AUDIENCE_CUSTOMER_FILE,
                calculate_type,
                retention_in_days=retention,
                members=members,
                action_detail=f"{len(file_paths)} file(s)",
            )
        return {"custom_audience_id": audience.audience_id}

    def dmp_update(self, request: Request) -> dict[str, Any]:
        record = self.authenticate(request)
        body = self.json_body(request)
        check_fields(
            body,
            required={"advertiser_id", "custom_audience_id"},
            optional={
                "custom_audience_name",
                "file_paths",
                "action",
                "audience_sub_type",
                "audience_enhancement",
            },
        )
        advertiser_id = require_str(body, "advertiser_id")
        self.authorize(record, SCOPE_WRITE_AUDIENCES, [advertiser_id])
        name = body.get("custom_audience_name")
        if name is not None and not (isinstance(name, str) and 1 <= len(name) <= AUDIENCE_NAME_MAX):
            raise ApiError(PARAM, "custom_audience_name must be a string of 1-128 characters")
        file_paths = None
        if body.get("file_paths") is not None:
            file_paths = require_str_list(body, "file_paths", max_items=MAX_FILE_PATHS)
        if name is None and file_paths is None:
            raise ApiError(PARAM, "Provide custom_audience_name or file_paths")
        action = body.get("action", "REPLACE")
        if action not in UPDATE_ACTIONS:  # contract: CF-10
            raise ApiError(PARAM, "action must be one of APPEND, REMOVE, REPLACE")
        with self.state.lock:
            audience = self._owned_audience(advertiser_id, body["custom_audience_id"])
            if audience.kind != AUDIENCE_CUSTOMER_FILE:
                raise ApiError(
                    PARAM, "This is a partner audience; change its members with /segment/mapping/."
                )
            if self.state.now() < audience.processing_until:  # contract: TM-01
                raise ApiError(PARAM, PROCESSING_MESSAGE)
            if file_paths is not None:
                incoming = self._files_members(
                    advertiser_id, file_paths, audience.calculate_type or ""
                )
                if action == "APPEND":  # contract: SY-01 (set union; REMOVE a set difference)
                    result = audience.members | incoming
                elif action == "REMOVE":
                    result = audience.members - incoming
                else:
                    result = set(incoming)
                minimum = self.config.min_update_members
                if len(result) < minimum:  # contract: CF-10
                    raise ApiError(
                        PARAM,
                        f"{action} would leave the audience with {len(result)} members. TikTok "
                        f"only applies APPEND, REMOVE and REPLACE when the audience keeps at "
                        f"least {minimum:,} members.",
                    )
                audience.members = result
                now = self.state.now()
                audience.modified_time = now
                audience.processing_until = now + self.config.audience_processing_seconds
                self.state.record_history(audience, action, f"{len(file_paths)} file(s)")
            if name is not None:
                audience.name = name
                self.state.record_history(audience, "RENAME", "")
        return {}

    def _audience_status(self, audience: Audience) -> dict[str, Any]:
        """The status fields list and get share (contract CF-12, TM-02)."""
        now = self.state.now()
        if audience.retention_in_days:
            expires = audience.create_time + audience.retention_in_days * 86400
        else:
            expires = audience.modified_time + 365 * 86400
        processing = now < audience.processing_until
        expired = now >= expires
        return {
            "cover_num": len(audience.members),
            # is_valid: false while computing or after expiry (contract TM-02)
            "is_valid": not processing and not expired,
            "is_expiring": not expired and expires - now <= EXPIRING_DAYS * 86400,
            "msg": "Calculating" if processing else ("Expired" if expired else ""),
            "error_msg": "",
            "create_time": _fmt_time(audience.create_time),
            "expired_time": _fmt_time(expires),
        }

    def _audience_details(self, audience: Audience) -> dict[str, Any]:
        """An audience as ``/dmp/custom_audience/list/`` shows it (contract CF-11, CF-12)."""
        return {
            "audience_id": audience.audience_id,
            "name": audience.name,
            "audience_type": TYPE_LABELS[audience.kind],
            "audience_sub_type": "NORMAL",
            # only customer-file audiences have a calculate type
            "calculate_type": audience.calculate_type,
            "shared": False,
            "is_creator": True,
            "is_auto_refresh": False,
            "owner_id": audience.advertiser_id,
            "rule": None,
            "lookalike_spec": None,
            **self._audience_status(audience),
        }

    def _get_details(self, audience: Audience) -> dict[str, Any]:
        """An audience as ``/dmp/custom_audience/get/`` shows it: the SDK's response rule names
        the type ``type`` (list calls it ``audience_type``) — contract CF-12."""
        details = self._audience_details(audience)
        details["type"] = details.pop("audience_type")
        details["audience_enhancement"] = False
        details["enhancement_status"] = None
        return details

    @staticmethod
    def _int_arg(request: Request, name: str, default: int, low: int, high: int) -> int:
        raw = request.args.get(name)
        if raw is None:
            return default
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise ApiError(PARAM, f"{name} must be an integer from {low} to {high}")
        return int(raw)

    def dmp_list(self, request: Request) -> dict[str, Any]:
        record = self.authenticate(request)
        advertiser_id = request.args.get("advertiser_id") or ""
        if not advertiser_id:
            raise ApiError(PARAM, "advertiser_id is required")
        self.authorize(record, SCOPE_READ_AUDIENCES, [advertiser_id])
        page = self._int_arg(request, "page", 1, 1, 1_000_000)
        page_size = self._int_arg(request, "page_size", 10, 1, 100)
        wanted = None
        if request.args.get("custom_audience_ids") is not None:
            wanted = set(
                parse_json_list_param(
                    request.args.get("custom_audience_ids"), "custom_audience_ids"
                )
            )
        with self.state.lock:
            audiences = [
                a
                for a in self.state.advertiser_audiences(advertiser_id)
                if wanted is None or a.audience_id in wanted
            ]
            total = len(audiences)
            chunk = audiences[(page - 1) * page_size : page * page_size]
            items = [self._audience_details(a) for a in chunk]
        return {
            "list": items,
            "page_info": {
                "page": page,
                "page_size": page_size,
                "total_number": total,
                "total_page": (total + page_size - 1) // page_size,
            },
        }

    def dmp_get(self, request: Request) -> dict[str, Any]:
        record = self.authenticate(request)
        advertiser_id = request.args.get("advertiser_id") or ""
        if not advertiser_id:
            raise ApiError(PARAM, "advertiser_id is required")
        self.authorize(record, SCOPE_READ_AUDIENCES, [advertiser_id])
        ids = parse_json_list_param(request.args.get("custom_audience_ids"), "custom_audience_ids")
        history_size = self._int_arg(request, "history_size", 100, 1, 100)
        out = []
        with self.state.lock:
            for audience_id in ids:
                audience = self._owned_audience(advertiser_id, audience_id)
                history = [
                    {
                        "action": h["action"],
                        "action_detail": h["action_detail"],
                        "editor": "open_api",  # BUB get.go: uploads through the API
                        "msg": "",
                        "opt_time": _fmt_time(h["opt_time"]),
                    }
                    for h in reversed(audience.history[-history_size:])
                ]
                out.append(
                    {
                        "audience_details": self._get_details(audience),
                        "audience_history": history,
                    }
                )
        return {"list": out}

    def dmp_delete(self, request: Request) -> dict[str, Any]:
        record = self.authenticate(request)
        body = self.json_body(request)
        check_fields(body, required={"advertiser_id", "custom_audience_ids"})
        advertiser_id = require_str(body, "advertiser_id")
        self.authorize(record, SCOPE_WRITE_AUDIENCES, [advertiser_id])
        ids = require_str_list(body, "custom_audience_ids", max_items=100)
        with self.state.lock:
            for audience_id in ids:
                self._owned_audience(advertiser_id, audience_id)
            for audience_id in ids:
                self.state.remove_audience(audience_id)
        return {}

    # ------------------------------------------------------------------ partner (segment) API
    def segment_audience(self, request: Request) -> dict[str, Any]:
        record = self.authenticate(request)
        body = self.json_body(request)
        check_fields(
            body,
            required={"advertiser_id"},
            optional={"action", "custom_audience_name", "delete_audience_id"},
        )
        advertiser_id = require_str(body, "advertiser_id")
        self.authorize(record, SCOPE_WRITE_AUDIENCES, [advertiser_id])
        action = body.get("action", "create")
        if action not in ("create", "delete"):  # contract: PA-01
            raise ApiError(PARAM, 'action must be "create" or "delete" (lower-case)')
        if action == "delete":
            audience_id = require_str(body, "delete_audience_id")
            with self.state.lock:
                audience = self._owned_audience(advertiser_id, audience_id)
                if audience.kind != AUDIENCE_PARTNER:
                    raise ApiError(PARAM, f"Audience {audience_id} is not a partner audience.")
                self.state.remove_audience(audience_id)
            return {"audience_id": audience_id}
        name = require_str(body, "custom_audience_name")
        if len(name) > SEGMENT_NAME_MAX:
            name = name[: SEGMENT_NAME_MAX - 3] + "..."
        with self.state.lock:
            self._check_audience_cap(advertiser_id)
            audience = self.state.add_audience(advertiser_id, name, AUDIENCE_PARTNER, None)
        return {"audience_id": audience.audience_id}

    def segment_mapping(self, request: Request) -> dict[str, Any]:
        record = self.authenticate(request)
        body = self.json_body(request)
        check_fields(
            body, required={"advertiser_ids", "id_schema", "batch_data"}, optional={"action"}
        )
        advertiser_ids = require_str_list(body, "advertiser_ids")
        self.authorize(record, SCOPE_WRITE_AUDIENCES, advertiser_ids)
        action = body.get("action", "add")
        if action not in ("add", "delete"):  # contract: PA-03
            raise ApiError(PARAM, 'action must be "add" or "delete" (lower-case)')
        schema_raw = require_str_list(body, "id_schema")
        schema = [s.upper() for s in schema_raw]  # contract: PA-04 — lower-case accepted
        invalid = [s for s in schema_raw if s.upper() not in ID_SCHEMA_TYPES]
        if invalid:
            raise ApiError(
                PARAM,
                f"Invalid id_schema value(s) {invalid}; allowed: {sorted(ID_SCHEMA_TYPES)} "
                "(Android ids are AAID_*, not GAID_*)",
            )
        if len(set(schema)) != len(schema):
            raise ApiError(PARAM, "id_schema must not contain duplicates")
        batch = body["batch_data"]
        if not isinstance(batch, list):
            raise ApiError(PARAM, "batch_data must be an array of rows")
        if not 1 <= len(batch) <= self.config.max_mapping_rows:
            raise ApiError(
                BATCH_SIZE,
                f"batch_data must have 1-{self.config.max_mapping_rows} rows, got {len(batch)}",
            )
        changes: list[tuple[str, Member]] = []
        width = len(schema)
        patterns = [SHA256_RE if algo_of(s) == "sha256" else MD5_RE for s in schema]
        entry_keys = {"id", "audience_ids"}
        for r, row in enumerate(batch):
            if not isinstance(row, list) or len(row) != width:  # contract: PA-03
                raise ApiError(
                    PARAM,
                    f"batch_data[{r}] must be an array of {width} entries (one per id_schema)",
                )
            for c, entry in enumerate(row):
                if not isinstance(entry, dict):
                    raise ApiError(PARAM, f"batch_data[{r}][{c}] must be an object")
                if not entry:
                    continue
                if entry.keys() != entry_keys:
                    check_fields(entry, required=entry_keys, where=f"batch_data[{r}][{c}]")
                value = entry["id"]
                if not isinstance(value, str):
                    raise ApiError(PARAM, f"batch_data[{r}][{c}].id must be a string")
                if patterns[c].fullmatch(value) is None:  # contract: ID-06
                    raise ApiError(
                        PII_NOT_HASHED,
                        f"batch_data[{r}][{c}].id is not a lower-case "
                        f"{algo_of(schema[c]).upper()} hex hash for {schema[c]}",
                    )
                audience_ids = entry["audience_ids"]
                if not isinstance(audience_ids, list) or not audience_ids:
                    raise ApiError(
                        PARAM, f"batch_data[{r}][{c}].audience_ids must be a non-empty array"
                    )
                member = (schema[c], value)
                for audience_id in audience_ids:
                    if not isinstance(audience_id, str):
                        raise ApiError(
                            PARAM, f"batch_data[{r}][{c}].audience_ids entries must be strings"
                        )
                    changes.append((audience_id, member))
        with self.state.lock:
            audiences: dict[str, Audience] = {}
            now = self.state.now()
            for audience_id in {a for a, _ in changes}:
                audience = self.state.audience(audience_id)
                if audience is None or audience.advertiser_id not in advertiser_ids:
                    raise ApiError(
                        PERMISSION,
                        f"Audience {audience_id} does not belong to the given advertiser_ids.",
                    )
                if audience.kind != AUDIENCE_PARTNER:
                    raise ApiError(PARAM, f"Audience {audience_id} is not a partner audience.")
                if now < audience.ready_at:  # contract: TM-03 (its code: PA-07)
                    raise ApiError(PARAM, f"Audience {audience_id} is not ready for mappings yet.")
                audiences[audience_id] = audience
            counts: dict[str, int] = {}
            for audience_id, member in changes:
                target = audiences[audience_id].members
                if action == "add":  # contract: SY-04 (pairs form a set per audience)
                    target.add(member)
                else:
                    target.discard(member)
                counts[audience_id] = counts.get(audience_id, 0) + 1
            for audience_id, n in counts.items():
                self.state.record_history(audiences[audience_id], action.upper(), f"{n} id(s)")
        return {}

    # ------------------------------------------------------------------ events
    def event_track(self, request: Request) -> dict[str, Any]:
        record = self.authenticate(request)
        self.authorize(record, SCOPE_REPORT_CONVERSION_EVENT)  # contract: OA-07
        body = self.json_body(request)
        # contract: EV-01
        check_fields(
            body,
            required={"event_source", "event_source_id", "data"},
            optional={"test_event_code", "partner_name"},
        )
        source = body["event_source"]
        if not isinstance(source, str) or source not in EVENT_SOURCES:
            raise ApiError(PARAM, f"event_source must be one of {sorted(EVENT_SOURCES)}")
        source_id = require_str(body, "event_source_id")
        registered = self.config.event_sources.get(source_id)
        if registered != source:
            raise ApiError(
                PARAM, f"event_source_id {source_id} is not a registered {source} event source"
            )
        self.reach_event_source(record, source_id)
        test_code = optional_str(body, "test_event_code")
        partner = self._partner_name(body)
        data = body["data"]
        if not isinstance(data, list):
            raise ApiError(PARAM, "data must be an array of events")
        if not 1 <= len(data) <= self.config.events_max:  # contract: EV-02
            raise ApiError(
                BATCH_SIZE, f"data must hold 1-{self.config.events_max} events, got {len(data)}"
            )
        for index, event in enumerate(data):
            validate_event(event, source, index)
        now = self.state.now()
        self.state.record_events(
            [
                ReceivedEvent("event/track", source, source_id, test_code, partner, event, now)
                for event in data
            ]
        )
        return {}

    def pixel_batch(self, request: Request) -> dict[str, Any]:
        record = self.authenticate(request)
        self.authorize(record, SCOPE_REPORT_PIXEL_EVENT)  # contract: OA-07
        body = self.json_body(request)
        # contract: EV-21 (no test_event_code on /pixel/batch/: an unknown field, 40002)
        check_fields(body, required={"pixel_code", "batch"}, optional={"partner_name"})
        pixel_code = self._pixel_code(record, body)
        partner = self._partner_name(body)
        batch = body["batch"]
        if not isinstance(batch, list):
            raise ApiError(PARAM, "batch must be an array")
        if not 1 <= len(batch) <= self.config.pixel_batch_max:  # contract: EV-21
            raise ApiError(
                BATCH_SIZE,
                f"batch must hold 1-{self.config.pixel_batch_max} events, got {len(batch)}",
            )
        for index, item in enumerate(batch):
            validate_pixel_item(item, index)
        now = self.state.now()
        self.state.record_events(
            [
                ReceivedEvent("pixel/batch", "web", pixel_code, None, partner, item, now)
                for item in batch
            ]
        )
        return {}

    def pixel_track(self, request: Request) -> dict[str, Any]:
        """One legacy pixel event; the one Events 1.0 call that takes ``test_event_code``."""
        record = self.authenticate(request)
        self.authorize(record, SCOPE_REPORT_PIXEL_EVENT)  # contract: OA-07
        body = self.json_body(request)
        # contract: EV-20, EV-21
        check_fields(
            body,
            required={"pixel_code", "event"},
            optional=PIXEL_TRACK_FIELDS,
        )
        pixel_code = self._pixel_code(record, body)
        partner = self._partner_name(body)
        test_code = optional_str(body, "test_event_code")
        item = {"type": "track"} | {
            k: v
            for k, v in body.items()
            if k not in ("pixel_code", "partner_name", "test_event_code")
        }
        validate_pixel_event(item, "")
        self.state.record_events(
            [
                ReceivedEvent(
                    "pixel/track", "web", pixel_code, test_code, partner, item, self.state.now()
                )
            ]
        )
        return {}

    def _pixel_code(self, record: TokenRecord, body: dict[str, Any]) -> str:
        pixel_code = require_str(body, "pixel_code")
        if self.config.event_sources.get(pixel_code) != "web":
            raise ApiError(PARAM, f"pixel_code {pixel_code} is not a registered pixel")
        self.reach_event_source(record, pixel_code)
        return pixel_code

    @staticmethod
    def _partner_name(body: dict[str, Any]) -> str | None:
        # contract: EV-23
        partner = body.get("partner_name")
        if partner is not None and (not isinstance(partner, str) or not partner.strip()):
            raise ApiError(PARTNER_NAME, "partner_name must be a non-empty string")
        return partner
