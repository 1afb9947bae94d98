"""Messages already in TikTok's Events 2.0 shape: validate and normalize before they are sent.

Accepted message bodies: one event (``{"event": …, "event_time": …, …}``) or a request-like object
(``{"data": [event, …]}``, optionally with ``event_source`` / ``event_source_id``, which must then
match the connection). The connection decides where events go; its ``test_event_code`` applies.

Each event is checked the way TikTok checks it (it rejects the whole request for one bad event) and
cleaned: identifiers still in the clear are normalized and hashed through the identity module
(hashes pass through untouched), unknown fields are dropped, ``event_id`` and ``content_id`` become
strings, a millisecond ``event_time`` becomes seconds. An event that cannot be fixed becomes a
:class:`~tiktok_connector.events.mapping.Rejection`. Legacy pixel-batch connections receive the
events converted to Events 1.0 items.
"""

from __future__ import annotations

from typing import Any

from tiktok_connector.events.catalog import AD_FIELDS, MAX_EVENT_TIME_SECONDS, STANDARD_EVENTS
from tiktok_connector.events.mapping import EventMapper, Mapped, Rejection
from tiktok_connector.events.pixel import to_pixel_item
from tiktok_connector.events.values import (
    MappingNotes,
    as_bool,
    as_number,
    is_http_url,
    supported_currency,
)
from tiktok_connector.identity import IdType

_USER_HASHED_LIST = (
    ("email", IdType.EMAIL),
    ("phone", IdType.PHONE),
    ("external_id", IdType.EXTERNAL_ID),
)
_USER_HASHED = (
    ("first_name", IdType.FIRST_NAME),
    ("last_name", IdType.LAST_NAME),
    ("zip_code", IdType.ZIP),
)
_USER_LOCATION = ("city", "state", "country")
_USER_STRINGS = ("ttclid", "ttp", "ip", "user_agent", "locale", "idfv")
_ATT_STATUSES = frozenset(
    {"AUTHORIZED", "DENIED", "NOT_DETERMINED", "RESTRICTED", "NOT_APPLICABLE"}
)
_PROPERTY_STRINGS = (
    "currency",
    "description",
    "order_id",
    "shop_id",
    "search_string",
    "query",
    "delivery_category",
)
_CONTENT_STRINGS = ("content_id", "content_name", "content_category", "brand")


def is_tiktok_shaped(body: Any) -> bool:
    """True when ``body`` looks like a TikTok event or a ``{"data": [...]}`` request."""
    if not isinstance(body, dict):
        return False
    if isinstance(body.get("data"), list) and "events" not in body:
        return True
    return isinstance(body.get("event"), str) and "event_time" in body


def tiktok_events(body: dict[str, Any]) -> list[Any] | None:
    """The raw events of a TikTok-shaped body, or ``None`` when its source disagrees."""
    if "data" in body and isinstance(body["data"], list):
        return list(body["data"])
    return [body]


def source_matches(body: dict[str, Any], mapper: EventMapper) -> bool:
    """A request-like body may name its event source; it must be the connection's."""
    source = body.get("event_source")
    source_id = body.get("event_source_id")
    if source is not None and source != mapper.source:
        return False
    return source_id is None or str(source_id) == mapper.connection.event_source_id


def normalize_tiktok_event(
    raw: Any, mapper: EventMapper, notes: MappingNotes | None = None
) -> Mapped:
    """Validate and clean one Events 2.0 event for ``mapper``'s connection.

    Identifiers that cannot be used and an unsupported currency are counted in ``notes``.
    """
    if not isinstance(raw, dict):
        return Rejection("invalid_event", "tiktok:?")
    name = raw.get("event")
    if not isinstance(name, str) or not name.strip():
        return Rejection("invalid_event", "tiktok:?")
    name = name.strip()
    label = f"tiktok:{name[:64]}"
    raw_id = raw.get("event_id")
    known_id = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else ""

    def rejected(reason: str) -> Rejection:
        return Rejection(reason, label, tiktok_event=name, event_id=known_id)

    if mapper.source == "offline" and name not in STANDARD_EVENTS:
        return rejected("unsupported_event_for_source")
    times = _event_time(raw.get("event_time"))
    if times is None:
        return rejected("invalid_timestamp")
    event_time, ms = times
    out: dict[str, Any] = {"event": name, "event_time": event_time}
    if isinstance(raw_id, bool) or (raw_id is not None and not isinstance(raw_id, str | int)):
        return rejected("invalid_event")
    if known_id:
        out["event_id"] = known_id
    user = _user(raw.get("user"), mapper, notes)
    if user is None:
        return rejected("invalid_event")
    out["user"] = user
    props = _properties(raw.get("properties"), notes)
    if isinstance(props, Rejection):
        return rejected(props.reason)
    out["properties"] = props
    reason = _add_source_parts(out, raw, mapper)
    if reason:
        return rejected(reason)
    if mapper.legacy:
        return to_pixel_item(out, ms)
    return out


def _event_time(value: Any) -> tuple[int, int | None] | None:
    """``(seconds, milliseconds or None)`` from an ``event_time`` in seconds or milliseconds;
    None when it is not a usable time (contract EV-04)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return None
    if value < MAX_EVENT_TIME_SECONDS:
        return value, None
    if value // 1000 >= MAX_EVENT_TIME_SECONDS:
        return None
    return value // 1000, value


def _add_source_parts(out: dict[str, Any], raw: dict[str, Any], mapper: EventMapper) -> str:
    """Add what the connection's event source needs (page, app, ad, limited data use, lead);
    the drop reason when the event lacks what that source requires, else ``""``."""
    if mapper.is_web:
        page = raw.get("page")
        if not isinstance(page, dict) or not is_http_url(page.get("url")):
            return "missing_page_url"
        out["page"] = {"url": page["url"]}
        if isinstance(page.get("referrer"), str) and page["referrer"]:
            out["page"]["referrer"] = page["referrer"]
    if mapper.is_app:
        app = raw.get("app")
        if (
            not isinstance(app, dict)
            or not isinstance(app.get("app_id"), str | int)
            or not str(app["app_id"])
        ):
            return "missing_app_id"
        out["app"] = {
            k: str(app[k]) for k in ("app_id", "app_name", "app_version") if app.get(k) is not None
        }
    ad = raw.get("ad")
    if isinstance(ad, dict) and (mapper.is_app or (mapper.is_web and not mapper.legacy)):
        clean_ad = _ad(ad)
        if clean_ad:
            out["ad"] = clean_ad
    if mapper.source in ("web", "app") and not mapper.legacy:
        out["limited_data_use"] = as_bool(raw.get("limited_data_use")) is True
    user = out["user"]
    if mapper.source == "offline" and not (
        "email" in user or "phone" in user or "external_id" in user
    ):
        return "missing_identity"
    if mapper.source == "crm":
        lead = raw.get("lead")
        if not isinstance(lead, dict) or lead.get("lead_id") is None or not str(lead["lead_id"]):
            return "missing_lead_id"
        out["lead"] = {"lead_id": str(lead["lead_id"])}
        if lead.get("lead_event_source"):
            out["lead"]["lead_event_source"] = str(lead["lead_event_source"])
    return ""


def _ad(ad: dict[str, Any]) -> dict[str, Any]:
    """The ``ad`` fields TikTok defines, flags as booleans, the rest as strings."""
    clean: dict[str, Any] = {}
    for key, value in ad.items():
        if key not in AD_FIELDS or value is None:
            continue
        if key in ("is_retargeting", "attributed"):
            flag = as_bool(value)
            if flag is not None:
                clean[key] = flag
        else:
            clean[key] = str(value)
    return clean


def _user(raw: Any, mapper: EventMapper, notes: MappingNotes | None) -> dict[str, Any] | None:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        return None
    h = mapper.hashers
    user: dict[str, Any] = {}
    for name, id_type in _USER_HASHED_LIST:
        value = raw.get(name)
        values = value if isinstance(value, list) else [value]
        hashed = [
            x
            for x in (
                h.hashed(id_type, v, notes=notes, field_name=name) for v in values if v is not None
            )
            if x
        ]
        if hashed:
            user[name] = hashed[0] if len(hashed) == 1 else hashed
    for name, id_type in _USER_HASHED:
        hashed_one = h.hashed(id_type, raw.get(name))
        if hashed_one:
            user[name] = hashed_one
    for name in _USER_LOCATION:
        location = h.location(raw.get(name))
        if location:
            user[name] = location
    for name in _USER_STRINGS:
        value = raw.get(name)
        if isinstance(value, str) and value:
            user[name] = value
    if mapper.is_app:
        for name, id_type in (("idfa", IdType.IDFA), ("gaid", IdType.GAID)):
            maid = h.hashed(id_type, raw.get(name))
            if maid:
                user[name] = maid
        status = raw.get("att_status")
        if isinstance(status, str) and status.upper() in _ATT_STATUSES:
            user["att_status"] = status.upper()
    return user


def _properties(raw: Any, notes: MappingNotes | None) -> dict[str, Any] | Rejection:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        return Rejection("invalid_event")
    props: dict[str, Any] = {}
    for name in _PROPERTY_STRINGS:
        value = raw.get(name)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value):
            props[name] = str(value)
    if raw.get("value") is not None:
        value = as_number(raw["value"])
        if value is None:
            return Rejection("invalid_event")
        props["value"] = value
    supported_currency(props, notes)
    if raw.get("num_items") is not None:
        num = as_number(raw["num_items"])
        if not isinstance(num, int):
            return Rejection("invalid_event")
        props["num_items"] = num
    content_type = raw.get("content_type")
    if content_type is not None:
        if content_type not in ("product", "product_group"):
            return Rejection("invalid_event")
        props["content_type"] = content_type
    contents = raw.get("contents")
    if contents is not None:
        clean = _contents(contents)
        if clean is None:
            return Rejection("invalid_event")
        props["contents"] = clean
    content_ids = raw.get("content_ids")
    if isinstance(content_ids, list):
        props["content_ids"] = [
            str(c) for c in content_ids if c is not None and not isinstance(c, bool)
        ]
    return props


def _contents(contents: Any) -> list[dict[str, Any]] | None:
    """``properties.contents`` cleaned; None when it is not a list of objects with numeric prices
    and quantities."""
    if not isinstance(contents, list):
        return None
    clean: list[dict[str, Any]] = []
    for item in contents:
        if not isinstance(item, dict):
            return None
        out: dict[str, Any] = {}
        for name in _CONTENT_STRINGS:
            value = item.get(name)
            if value is not None and not isinstance(value, bool) and str(value):
                out[name] = str(value)
        for name in ("price", "quantity"):
            if item.get(name) is not None:
                number = as_number(item[name])
                if number is None:
                    return None
                out[name] = number
        clean.append(out)
    return clean
