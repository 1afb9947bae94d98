"""Events 2.0 events → items of the legacy ``/pixel/batch/`` and ``/pixel/track/`` (Events 1.0
``context`` shapes), for legacy pixel connections."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def pixel_timestamp(ms: int) -> str:
    """Milliseconds since the epoch → ISO-8601 UTC with milliseconds (Events 1.0 ``timestamp``)."""
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{ms % 1000:03d}Z"


_PIXEL_USER_FIELDS = (
    ("email", "email"),
    ("phone", "phone_number"),
    ("external_id", "external_id"),
    ("ttp", "ttp"),
)


def to_pixel_item(event: Mapping[str, Any], ms: int | None = None) -> dict[str, Any]:
    """An Events 2.0 web event → a legacy ``/pixel/batch/`` item (Events 1.0 ``context`` shapes)."""
    item: dict[str, Any] = {"type": "track", "event": event["event"]}
    if "event_id" in event:
        item["event_id"] = event["event_id"]
    item["timestamp"] = pixel_timestamp(ms if ms is not None else int(event["event_time"]) * 1000)
    user_in = event.get("user") or {}
    context: dict[str, Any] = {}
    user: dict[str, Any] = {}
    for src, dst in _PIXEL_USER_FIELDS:
        value = user_in.get(src)
        if isinstance(value, list):
            value = value[0] if value else None
        if value:
            user[dst] = value
    if user:
        context["user"] = user
    if user_in.get("ttclid"):
        context["ad"] = {"callback": user_in["ttclid"]}
    if event.get("page"):
        context["page"] = dict(event["page"])
    for name in ("ip", "user_agent", "locale"):
        if user_in.get(name):
            context[name] = user_in[name]
    item["context"] = context
    props = dict(event.get("properties") or {})
    content_type = props.pop("content_type", None)
    if "contents" in props:
        props["contents"] = [
            {**c, "content_type": content_type} if content_type else dict(c)
            for c in props["contents"]
        ]
    if "search_string" in props:
        props["query"] = props.pop("search_string")
    item["properties"] = props
    return item
