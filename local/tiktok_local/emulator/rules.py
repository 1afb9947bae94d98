"""Validation rules, each tied to a row of ``docs/tiktok-contract.md`` and TikTok's error code.

Pure functions: they take request data and raise :class:`ApiError` with TikTok's code; nothing
here touches emulator state. Code enforcing a contract row names it (``# contract: CF-03``).
"""

from __future__ import annotations

import csv
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

# Return codes (reference §2.2).
OK = 0
PERMISSION = 40001
PARAM = 40002
OBJECT_MISSING = 40007
BATCH_SIZE = 40061
PII_NOT_HASHED = 40062
PARTNER_NAME = 40063
TOO_MANY_REQUESTS = 40100
AUTH_PARAMS = 40101
TOKEN_EMPTY = 40104
TOKEN_INVALID = 40105
AUTH_CODE_INVALID = 40110
FILE_SIGNATURE = 40900
FILE_MISSING = 40905
FILE_EMPTY = 40906
FILE_TYPE = 40908
CALCULATE_TYPE = 40909
FILE_SPEC = 40915
SYS_TIMEOUT = 50002
THROTTLE_CODES = {40100, 40133, 40132, 40016, 61000}  # contract: EN-04

MESSAGES = {
    TOO_MANY_REQUESTS: "Too many requests. Please retry in some time.",
    SYS_TIMEOUT: "Error processing on TikTok side. Please retry.",
    40133: "The advertiser has reached the QPS limit of this path. Please retry later.",
    40132: "Too many requests for the same field value. Please retry later.",
    40016: "Request too frequent. Please retry later.",
    61000: "Too many requests.",
}


class ApiError(Exception):
    """A request TikTok would answer with a non-zero ``code`` (HTTP 200, ``data`` = {})."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


SHA256_RE = re.compile(r"[0-9a-f]{64}")
MD5_RE = re.compile(r"[0-9a-f]{32}")
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# The currencies TikTok lists as supported for event ``properties.currency`` (SDK
# PixelProperties.md; the translated portal page for /event/track/ gives the same list).
# contract: EV-13
_CURRENCY_LIST = (
    "AED ARS AUD BDT BHD BIF BOB BRL CAD CHF CLP CNY COP CRC CZK DKK DZD EGP EUR GBP GTQ "
    "HKD HNL HUF IDR ILS INR ISK JPY KES KHR KRW KWD KZT MAD MOP MXN MYR NGN NIO NOK NZD "
    "OMR PEN PHP PKR PLN PYG QAR RON RUB SAR SEK SGD THB TRY TWD UAH USD VES VND ZAR"
)
SUPPORTED_CURRENCIES = frozenset(_CURRENCY_LIST.split())
# An app event's app.app_id: the App Store numeric id (iOS) or the Android package name.
# contract: EV-16
APP_ID_RE = re.compile(r"[0-9]+|[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+")

# contract: CF-03 — /dmp/custom_audience/create/ takes a strict enum without MAID_*.
CREATE_CALCULATE_TYPES = frozenset(
    {
        "EMAIL_SHA256",
        "PHONE_SHA256",
        "IDFA_SHA256",
        "IDFA_MD5",
        "GAID_SHA256",
        "GAID_MD5",
        "FIRST_SHA256",
        "FIRST_MD5",
        "MULTIPLE_TYPES",
    }
)
# contract: CF-02 — the upload enum adds MAID_* with FIRST_*'s values.
UPLOAD_CALCULATE_TYPES = CREATE_CALCULATE_TYPES | {"MAID_SHA256", "MAID_MD5"}
# contract: CF-05 — the header names TikTok documents for customer files (case as documented;
# matched case-insensitively), and the member type each column's values have. IDFA and GAID both
# go under the MAID headers (CF-07).
FILE_HEADERS = {
    "EMAIL_SHA256": "EMAIL_SHA256",
    "PHONE_SHA256": "PHONE_SHA256",
    "MAID_SHA256": "FIRST_SHA256",
    "MAID_MD5": "FIRST_MD5",
}
MAX_SAME_HEADER = 3  # contract: CF-06 — each header at most 3 times in one multi-ID file
FILE_PATH_LENGTH = 16  # contract: CF-04 — create's file_paths items are exactly 16 characters
_HEADER_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9_ ]*")
_ALL_HEX = re.compile(r"[0-9A-Fa-f]+")

# Segment API id_schema values (reference §4.2). GAID_* are file names, not valid here.
ID_SCHEMA_TYPES = {
    "EMAIL_SHA256",
    "PHONE_SHA256",
    "IDFA_SHA256",
    "IDFA_MD5",
    "AAID_SHA256",
    "AAID_MD5",
}

EVENT_SOURCES = {"web", "app", "offline", "crm"}

# Standard event names (reference §5.5, old and new lists; the set is open for web/app).
STANDARD_EVENTS = {
    "AddPaymentInfo",
    "AddToCart",
    "AddToWishlist",
    "ApplicationApproval",
    "ClickButton",
    "CompletePayment",
    "CompleteRegistration",
    "Contact",
    "CustomizeProduct",
    "Download",
    "FindLocation",
    "InitiateCheckout",
    "Lead",
    "PageView",
    "PlaceAnOrder",
    "Purchase",
    "Schedule",
    "Search",
    "StartTrial",
    "SubmitApplication",
    "SubmitForm",
    "Subscribe",
    "ViewContent",
}

EVENT_FIELDS = {
    "event",
    "event_time",
    "event_id",
    "user",
    "properties",
    "page",
    "app",
    "ad",
    "limited_data_use",
    "lead",
}
USER_FIELDS = {
    "email",
    "phone",
    "external_id",
    "ttclid",
    "ttp",
    "ip",
    "user_agent",
    "locale",
    "idfa",
    "idfv",
    "gaid",
    "att_status",
    "first_name",
    "last_name",
    "city",
    "state",
    "country",
    "zip_code",
}
USER_HASHED_LIST_FIELDS = ("email", "phone", "external_id")
USER_HASHED_FIELDS = ("first_name", "last_name", "zip_code")
USER_STRING_FIELDS = (
    "ttclid",
    "ttp",
    "ip",
    "user_agent",
    "locale",
    "idfv",
    "city",
    "state",
    "country",
)
ATT_STATUSES = {"AUTHORIZED", "DENIED", "NOT_DETERMINED", "RESTRICTED", "NOT_APPLICABLE"}
AD_FIELDS = {
    "callback",
    "campaign_id",
    "ad_id",
    "creative_id",
    "is_retargeting",
    "attributed",
    "attribution_type",
    "attribution_provider",
}
# event_time values above this are milliseconds (1e11 s is the year 5138).
MAX_EVENT_TIME_SECONDS = 100_000_000_000


# --------------------------------------------------------------------------- generic helpers
def is_hash(value: object, algo: str) -> bool:
    """Lower-case hex of the algorithm's length, anchored (contract ID-01)."""
    if not isinstance(value, str):
        return False
    pattern = MD5_RE if algo == "md5" else SHA256_RE
    return pattern.fullmatch(value) is not None


def algo_of(id_type: str) -> str:
    return "md5" if id_type.upper().endswith("_MD5") else "sha256"


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def require_object(body: object, what: str = "request body") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(PARAM, f"{what} must be a JSON object")
    return body


def check_fields(
    body: dict[str, Any],
    *,
    required: set[str],
    optional: set[str] | frozenset[str] = frozenset(),
    where: str = "",
) -> None:
    """Reject missing required fields and unknown fields (40002).

    TikTok silently ignores some unknown fields; the emulator rejects them on purpose so a typo
    in our client (``caculate_type``, ``advertiser_id`` for ``advertiser_ids``) fails loudly.
    """
    prefix = f"{where}." if where else ""
    unknown = body.keys() - required - optional
    if unknown:
        names = ", ".join(prefix + u for u in sorted(unknown))
        raise ApiError(PARAM, f"Unknown field(s): {names}")
    for name in required:
        if body.get(name) is None:
            missing = sorted(f for f in required if body.get(f) is None)
            names = ", ".join(prefix + m for m in missing)
            raise ApiError(PARAM, f"Missing required field(s): {names}")


def require_str(body: dict[str, Any], name: str, *, where: str = "") -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(PARAM, f"{where}{name} must be a non-empty string")
    return value


def optional_str(body: dict[str, Any], name: str, *, where: str = "") -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(PARAM, f"{where}{name} must be a string")
    return value


def require_str_list(
    body: dict[str, Any], name: str, *, min_items: int = 1, max_items: int | None = None
) -> list[str]:
    value = body.get(name)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ApiError(PARAM, f"{name} must be an array of non-empty strings")
    if len(value) < min_items or (max_items is not None and len(value) > max_items):
        bound = f"{min_items}-{max_items}" if max_items is not None else f">= {min_items}"
        raise ApiError(PARAM, f"{name} must have {bound} items, got {len(value)}")
    return list(value)


def parse_json_list_param(raw: str | None, name: str, *, max_items: int = 100) -> list[str]:
    """GET list parameters are JSON-encoded arrays, e.g. ``custom_audience_ids=["1","2"]``."""
    import json

    if raw is None or raw == "":
        raise ApiError(PARAM, f"{name} is required (a JSON-encoded array)")
    try:
        value = json.loads(raw)
    except ValueError:
        raise ApiError(PARAM, f"{name} must be a JSON-encoded array of strings") from None
    return require_str_list({name: value}, name, max_items=max_items)


def is_http_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


# --------------------------------------------------------------------------- customer files
def canonical_calculate_type(calculate_type: str) -> str:
    """MAID_* upload aliases carry the same internal values as FIRST_* (contract CF-02)."""
    if calculate_type.startswith("MAID_"):
        return "FIRST_" + calculate_type[len("MAID_") :]
    return calculate_type


def header_fits(header_type: str, calculate_type: str) -> bool:
    """Does a single-type file's header (a member type, see FILE_HEADERS) match its
    calculate_type? The MAID headers cover IDFA, GAID and mixed files alike (contract CF-07)."""
    wanted = canonical_calculate_type(calculate_type)
    if header_type in ("FIRST_SHA256", "FIRST_MD5"):
        alg = header_type.rsplit("_", 1)[1]
        return wanted in (f"IDFA_{alg}", f"GAID_{alg}", f"FIRST_{alg}")
    return wanted == header_type


def parse_customer_file(content: bytes, calculate_type: str) -> tuple[list[tuple[str, str]], int]:
    """Parse an uploaded customer file into members; returns (members, data rows).

    One identifier per line for a single type, with an optional header row naming the type
    (TikTok's template; the help centre asks for it, whether the API requires it is not
    documented, so it stays optional here); ``MULTIPLE_TYPES`` files need a header naming each
    column with TikTok's documented names (``Email_SHA256``, ``Phone_SHA256``, ``MAID_SHA256``,
    ``MAID_MD5``). A header row with other names is refused (40915).

    Codes: a value that is not a lower-case hex hash of the column's type is raw or wrongly
    hashed PII, so it gets 40062 (PII_NOT_HASHED) — the most specific code TikTok has for "this
    is not what the hashed type promises" (40915 is the generic "file fails the spec", kept for
    structural problems: bad header, wrong column count, undecodable bytes). A header naming a
    type other than ``calculate_type`` is the mismatch 40909 describes.
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(FILE_SPEC, "File is not UTF-8 text") from None
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise ApiError(FILE_EMPTY, "The file is empty")

    multiple = calculate_type == "MULTIPLE_TYPES"
    rows = csv.reader(lines)  # TikTok's files are CSV: a quoted header or cell is legal
    first = [c.strip().upper() for c in next(rows)]
    # A first row of names, not hashes, is a header row; only the documented names are known.
    has_header = all(_HEADER_LIKE.fullmatch(c) and not _ALL_HEX.fullmatch(c) for c in first)
    if has_header:
        unknown = [c for c in first if c not in FILE_HEADERS]
        if unknown:
            raise ApiError(  # contract: CF-05
                FILE_SPEC,
                f"Unknown header {unknown[0][:40]}: customer files name their columns "
                "Email_SHA256, Phone_SHA256, MAID_SHA256 or MAID_MD5",
            )
    if multiple:
        if not has_header:
            raise ApiError(
                FILE_SPEC, "MULTIPLE_TYPES files need a header row naming each column's id type"
            )
        for name in set(first):
            if first.count(name) > MAX_SAME_HEADER:  # contract: CF-06
                raise ApiError(
                    FILE_SPEC, f"Header {name} appears more than {MAX_SAME_HEADER} times"
                )
        columns = [FILE_HEADERS[c] for c in first]
    else:
        if has_header:
            if len(first) != 1:
                raise ApiError(
                    FILE_SPEC, f"{calculate_type} files have one column; use MULTIPLE_TYPES"
                )
            if not header_fits(FILE_HEADERS[first[0]], calculate_type):  # contract: CF-07
                raise ApiError(
                    CALCULATE_TYPE,
                    f"File header {first[0]} does not match calculate_type {calculate_type}",
                )
        columns = [calculate_type]
    data_lines = lines[1:] if has_header else lines
    data_rows = rows if has_header else csv.reader(lines)
    if not data_lines:
        raise ApiError(FILE_EMPTY, "The file has no data rows")

    members: list[tuple[str, str]] = []
    width = len(columns)
    for number, raw_cells in enumerate(data_rows, start=2 if has_header else 1):
        cells = [c.strip() for c in raw_cells]
        if len(cells) != width:
            raise ApiError(
                FILE_SPEC, f"Line {number}: expected {width} column(s), found {len(cells)}"
            )
        for column, cell in zip(columns, cells, strict=True):
            if not cell:  # a MULTIPLE_TYPES row may lack some of its types
                continue
            if not is_hash(cell, algo_of(column)):  # contract: ID-06
                raise ApiError(
                    PII_NOT_HASHED,
                    f"Line {number}: value in column {column} is not a lower-case "
                    f"{algo_of(column).upper()} hex hash (raw or wrongly hashed PII)",
                )
            # MAID_* and FIRST_* are one type at TikTok: store the canonical name so a REMOVE
            # with one alias matches members uploaded with the other.
            members.append((canonical_calculate_type(column), cell))
    return members, len(data_lines)


# --------------------------------------------------------------------------- events 2.0
def _hashed_values(value: object, where: str) -> None:
    # contract: EV-06, EV-07, EV-08, EV-09 (SHA-256 hex, string or array; raw PII is 40062)
    values = value if isinstance(value, list) else [value]
    if not isinstance(value, list | str):
        raise ApiError(PARAM, f"{where} must be a string or an array of strings")
    for v in values:
        if not isinstance(v, str):
            raise ApiError(PARAM, f"{where} must be a string or an array of strings")
        if not is_hash(v, "sha256"):
            raise ApiError(
                PII_NOT_HASHED, f"{where} must be a lower-case SHA-256 hex hash (PII not hashed)"
            )


def _maid(value: object, where: str) -> None:
    if not isinstance(value, str):
        raise ApiError(PARAM, f"{where} must be a string")
    if not (is_hash(value, "sha256") or UUID_RE.fullmatch(value)):
        raise ApiError(PII_NOT_HASHED, f"{where} must be a UUID or a lower-case SHA-256 hex hash")


def _string_fields(obj: dict[str, Any], names: tuple[str, ...] | set[str], where: str) -> None:
    for name in names:
        if name in obj and obj[name] is not None and not isinstance(obj[name], str):
            raise ApiError(PARAM, f"{where}.{name} must be a string")


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(PARAM, f"{where} must be an object")
    return value


def validate_user(user: object, source: str, where: str) -> None:
    user = _object(user, where)
    check_fields(user, required=set(), optional=USER_FIELDS, where=where)
    for name in USER_HASHED_LIST_FIELDS:
        if name in user:
            _hashed_values(user[name], f"{where}.{name}")
    for name in USER_HASHED_FIELDS:
        if name in user:
            if not isinstance(user[name], str):
                raise ApiError(PARAM, f"{where}.{name} must be a string")
            if not is_hash(user[name], "sha256"):
                raise ApiError(PII_NOT_HASHED, f"{where}.{name} must be a SHA-256 hex hash")
    for name in ("idfa", "gaid"):
        if name in user:
            # Events 2.0 defines mobile ad ids for app events only. contract: EV-12
            if source != "app":
                raise ApiError(PARAM, f"{where}.{name} is only allowed on app events")
            _maid(user[name], f"{where}.{name}")
    _string_fields(user, USER_STRING_FIELDS, where)
    if "att_status" in user and not (
        isinstance(user["att_status"], str) and user["att_status"] in ATT_STATUSES
    ):
        raise ApiError(PARAM, f"{where}.att_status must be one of {sorted(ATT_STATUSES)}")


def validate_properties(props: object, where: str) -> None:
    # contract: EV-13, EV-14
    props = _object(props, where)
    contents = props.get("contents")
    if contents is not None:
        if not isinstance(contents, list):
            raise ApiError(PARAM, f"{where}.contents must be an array")
        for i, item in enumerate(contents):
            item = _object(item, f"{where}.contents[{i}]")
            if "content_id" in item and not isinstance(item["content_id"], str):
                raise ApiError(PARAM, f"{where}.contents[{i}].content_id must be a string")
            for num in ("price", "quantity"):
                if num in item and not is_number(item[num]):
                    raise ApiError(PARAM, f"{where}.contents[{i}].{num} must be a number")
            _string_fields(item, ("content_name", "content_category", "brand"), where)
    if "content_ids" in props and not (
        isinstance(props["content_ids"], list)
        and all(isinstance(c, str) for c in props["content_ids"])
    ):
        raise ApiError(PARAM, f"{where}.content_ids must be an array of strings")
    if "value" in props and not is_number(props["value"]):
        raise ApiError(PARAM, f"{where}.value must be a number")
    if "num_items" in props and not is_int(props["num_items"]):
        raise ApiError(PARAM, f"{where}.num_items must be an integer")
    if "currency" in props and not (
        isinstance(props["currency"], str) and props["currency"] in SUPPORTED_CURRENCIES
    ):
        # contract: EV-13
        raise ApiError(PARAM, f"{where}.currency is not one of TikTok's supported currencies")
    if "content_type" in props and props["content_type"] not in ("product", "product_group"):
        raise ApiError(PARAM, f"{where}.content_type must be product or product_group")
    _string_fields(props, ("order_id", "search_string", "description", "shop_id", "query"), where)


def validate_event(event: object, source: str, index: int) -> None:
    """One Events 2.0 ``data[]`` item (reference §5.2–§5.4)."""
    where = f"data[{index}]"
    event = _object(event, where)
    check_fields(event, required={"event", "event_time"}, optional=EVENT_FIELDS, where=where)
    name = event["event"]
    if not isinstance(name, str) or not name.strip():
        raise ApiError(PARAM, f"{where}.event must be a non-empty string")
    # Offline event sets take standard events only (reference §5.2). The reference also calls CRM
    # events custom-only, but its own standard list is unsettled (§5.5, open question 5), so CRM
    # names are not policed here; CRM is held to its required ``lead`` instead.
    # contract: EV-18, EV-19
    if source == "offline" and name not in STANDARD_EVENTS:
        raise ApiError(PARAM, f"{where}.event: offline events must be standard events")
    event_time = event["event_time"]  # contract: EV-04
    if not is_int(event_time):
        raise ApiError(PARAM, f"{where}.event_time must be an integer (Unix seconds)")
    if event_time <= 0 or event_time >= MAX_EVENT_TIME_SECONDS:
        raise ApiError(
            PARAM, f"{where}.event_time must be Unix seconds (this looks like milliseconds)"
        )
    if "event_id" in event and not isinstance(event["event_id"], str):  # contract: EV-05
        raise ApiError(PARAM, f"{where}.event_id must be a string")
    if "user" in event:
        validate_user(event["user"], source, f"{where}.user")
    if "properties" in event:
        validate_properties(event["properties"], f"{where}.properties")
    if "limited_data_use" in event and not isinstance(event["limited_data_use"], bool):  # EV-15
        raise ApiError(PARAM, f"{where}.limited_data_use must be a boolean")
    page = event.get("page")
    if source == "web":  # contract: EV-10
        if page is None:
            raise ApiError(PARAM, f"{where}.page.url is required for web events")
        page = _object(page, f"{where}.page")
        check_fields(page, required={"url"}, optional={"referrer"}, where=f"{where}.page")
        if not is_http_url(page["url"]):
            raise ApiError(PARAM, f"{where}.page.url must be an http(s) URL")
        _string_fields(page, ("referrer",), f"{where}.page")
    elif page is not None:
        page = _object(page, f"{where}.page")
        _string_fields(page, ("url", "referrer"), f"{where}.page")
    app = event.get("app")
    if source == "app":
        if app is None:
            raise ApiError(PARAM, f"{where}.app.app_id is required for app events")
        app = _object(app, f"{where}.app")
        check_fields(
            app, required={"app_id"}, optional={"app_name", "app_version"}, where=f"{where}.app"
        )
        _string_fields(app, ("app_id", "app_name", "app_version"), f"{where}.app")
        if not APP_ID_RE.fullmatch(app["app_id"]):
            # contract: EV-16
            raise ApiError(
                PARAM,
                f"{where}.app.app_id must be the App Store numeric id (iOS) or the package name",
            )
    elif app is not None:
        raise ApiError(PARAM, f"{where}.app is only allowed on app events")
    if "ad" in event:  # contract: EV-17
        ad = _object(event["ad"], f"{where}.ad")
        check_fields(ad, required=set(), optional=AD_FIELDS, where=f"{where}.ad")
        for flag in ("is_retargeting", "attributed"):
            if flag in ad and not isinstance(ad[flag], bool):
                raise ApiError(PARAM, f"{where}.ad.{flag} must be a boolean")
    lead = event.get("lead")
    if source == "crm":
        # CRM events carry the lead they belong to (reference §5.2: lead is required for CRM).
        if lead is None:
            raise ApiError(PARAM, f"{where}.lead.lead_id is required for crm events")
        lead = _object(lead, f"{where}.lead")
        check_fields(
            lead, required={"lead_id"}, optional={"lead_event_source"}, where=f"{where}.lead"
        )
        _string_fields(lead, ("lead_id", "lead_event_source"), f"{where}.lead")
    elif lead is not None:
        raise ApiError(PARAM, f"{where}.lead is only allowed on crm events")


# --------------------------------------------------------------------------- pixel batch 1.0
PIXEL_ITEM_FIELDS = {"type", "event", "event_id", "timestamp", "context", "properties"}
PIXEL_CONTEXT_FIELDS = {"ad", "page", "user", "ip", "user_agent", "locale", "library"}
PIXEL_USER_FIELDS = {"external_id", "email", "phone_number", "ttp"}
# /pixel/track/ takes one event's fields at the top level, plus test_event_code (contract: EV-20).
PIXEL_TRACK_FIELDS = (PIXEL_ITEM_FIELDS - {"type"}) | {
    "pixel_code",
    "partner_name",
    "test_event_code",
}


def parse_iso8601(value: object) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def validate_pixel_item(item: object, index: int) -> None:
    """One legacy ``/pixel/batch/`` item (reference §5.7)."""
    validate_pixel_event(item, f"batch[{index}]")


def validate_pixel_event(item: object, where: str) -> None:
    # contract: EV-22
    """One Events 1.0 event: a ``/pixel/batch/`` item, or a ``/pixel/track/`` body (``where`` "")."""
    item = _object(item, where or "request body")
    at = f"{where}." if where else ""
    check_fields(item, required={"type", "event"}, optional=PIXEL_ITEM_FIELDS, where=where)
    if item["type"] != "track":
        raise ApiError(PARAM, f'{at}type must be "track"')
    if not isinstance(item["event"], str) or not item["event"].strip():
        raise ApiError(PARAM, f"{at}event must be a non-empty string")
    if "event_id" in item and not isinstance(item["event_id"], str):
        raise ApiError(PARAM, f"{at}event_id must be a string")
    if "timestamp" in item and not parse_iso8601(item["timestamp"]):
        raise ApiError(PARAM, f"{at}timestamp must be an ISO-8601 string")
    context = item.get("context")
    if context is not None:
        context = _object(context, f"{at}context")
        check_fields(context, required=set(), optional=PIXEL_CONTEXT_FIELDS, where=f"{at}context")
        _string_fields(context, ("ip", "user_agent", "locale"), f"{at}context")
        if "ad" in context:
            ad = _object(context["ad"], f"{at}context.ad")
            check_fields(ad, required=set(), optional={"callback"}, where=f"{at}context.ad")
            _string_fields(ad, ("callback",), f"{at}context.ad")
        if "page" in context:
            page = _object(context["page"], f"{at}context.page")
            check_fields(
                page, required=set(), optional={"url", "referrer"}, where=f"{at}context.page"
            )
            if "url" in page and not is_http_url(page["url"]):
                raise ApiError(PARAM, f"{at}context.page.url must be an http(s) URL")
            _string_fields(page, ("referrer",), f"{at}context.page")
        if "user" in context:
            user = _object(context["user"], f"{at}context.user")
            check_fields(
                user, required=set(), optional=PIXEL_USER_FIELDS, where=f"{at}context.user"
            )
            for name in ("external_id", "email", "phone_number"):
                if name in user and not is_hash(user[name], "sha256"):
                    raise ApiError(
                        PII_NOT_HASHED,
                        f"{at}context.user.{name} must be a lower-case SHA-256 hex hash",
                    )
            _string_fields(user, ("ttp",), f"{at}context.user")
    if "properties" in item:
        validate_properties(item["properties"], f"{at}properties")
