"""mParticle batches → TikTok Events API 2.0 events, and Events 2.0 → legacy ``/pixel/batch/`` items.

The spec is the seed's tables (``mparticle-tiktok-events.txt``) with the Events 2.0 landing DESIGN
§3.7 settles. Each mapped event is either a ``dict`` ready for the request body or a
:class:`Rejection` naming why it cannot go (it is dropped and counted, never retried). Everything
TikTok would reject the whole request for is checked here, so one bad event never sinks its
neighbours.

Speed matters (DESIGN §6: ≥ 5,000 events/s per process): the batch envelope is validated once,
per-batch parts (hashed identities, IP, app, ad attribution) are built once per batch and shared by
its events, and the identity hashers are built once per mapper.
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from pydantic import ValidationError

from tiktok_connector.events.mparticle import (
    MParticleBatch,
    MParticleEvent,
    parse_event,
    parse_events,
)
from tiktok_connector.events.settings import ConnectionSettings, CustomMapping, EventSourceType
from tiktok_connector.identity import Hasher, IdType, Reason, Rejected, Surface

# Commerce product actions TikTok receives without a custom mapping (seed "event mappings").
COMMERCE_EVENTS: Mapping[str, str] = {
    "add_to_cart": "AddToCart",
    "add_to_wishlist": "AddToWishlist",
    "purchase": "PlaceAnOrder",
    "checkout": "InitiateCheckout",
    "view_detail": "ViewContent",
}

_PRODUCT_PROPERTIES = frozenset(
    {"price", "quantity", "currency", "value", "content_id", "content_name", "content_category"}
)
# The properties each TikTok event carries (seed: "additional properties supported for each
# respective event"); every event also supports ``description``. Events the seed does not list carry
# ``description`` only. ``Purchase`` is TikTok's 2025 name for ``CompletePayment`` (reference §5.5).
EVENT_PROPERTIES: Mapping[str, frozenset[str]] = {
    "AddPaymentInfo": _PRODUCT_PROPERTIES,
    "AddToCart": _PRODUCT_PROPERTIES,
    "AddToWishlist": _PRODUCT_PROPERTIES,
    "ClickButton": frozenset(),
    "CompletePayment": _PRODUCT_PROPERTIES,
    "Purchase": _PRODUCT_PROPERTIES,
    "Contact": frozenset(),
    "Download": frozenset(),
    "InitiateCheckout": _PRODUCT_PROPERTIES,
    "PlaceAnOrder": _PRODUCT_PROPERTIES,
    "Search": frozenset({"query"}),
    "Subscribe": frozenset({"currency", "value"}),
    "ViewContent": _PRODUCT_PROPERTIES,
}
_CONTENT_FIELDS = ("content_id", "content_name", "content_category", "price", "quantity")

# Offline event sets take standard events only. contract: EV-18, EV-19
STANDARD_EVENTS = frozenset(
    {
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
)

# mParticle user attributes → TikTok user fields (web; seed "additional data" table).
_HASHED_USER_ATTRIBUTES = (
    ("$FirstName", IdType.FIRST_NAME, "first_name"),
    ("$LastName", IdType.LAST_NAME, "last_name"),
    ("$Zip", IdType.ZIP, "zip_code"),
)
_LOCATION_USER_ATTRIBUTES = (("$City", "city"), ("$State", "state"), ("$Country", "country"))
# Ad attribution user attributes → ``ad.*`` (DESIGN §3.7).
_AD_STRING_ATTRIBUTES = (
    ("campaignId", "campaign_id"),
    ("adId", "ad_id"),
    ("creativeId", "creative_id"),
    ("attributionType", "attribution_type"),
    ("attributionProvider", "attribution_provider"),
)
_AD_BOOL_ATTRIBUTES = (("isRetargeting", "is_retargeting"), ("attributed", "attributed"))

AD_FIELDS = frozenset(
    {
        "callback",
        "campaign_id",
        "ad_id",
        "creative_id",
        "is_retargeting",
        "attributed",
        "attribution_type",
        "attribution_provider",
    }
)

FLAG_URL = "TikTok.URL"
FLAG_REFERRER = "TikTok.Referrer"
FLAG_CALLBACK = "TikTok.Callback"

# The currencies TikTok lists as supported (contract EV-13: SDK PixelProperties.md, and the same
# list on the translated /event/track/ page). Another code would make TikTok refuse the request,
# so an event carrying one loses ``currency`` and ``value`` (counted) and still goes.
_CURRENCY_LIST = (
    "AED ARS AUD BDT BHD BIF BOB BRL CAD CHF CLP CNY COP CRC CZK DKK DZD EGP EUR GBP GTQ "
    "HKD HNL HUF IDR ILS INR ISK JPY KES KHR KRW KWD KZT MAD MOP MXN MYR NGN NIO NOK NZD "
    "OMR PEN PHP PKR PLN PYG QAR RON RUB SAR SEK SGD THB TRY TWD UAH USD VES VND ZAR"
)
SUPPORTED_CURRENCIES = frozenset(_CURRENCY_LIST.split())
# Names people put in ``$Country`` for a region whose ISO 3166 code is another.
_REGION_ALIASES = {"UK": "GB"}
# http(s)://, then a host (not a slash), and no whitespace anywhere.
_HTTP_URL = re.compile(r"[hH][tT][tT][pP][sS]?://[^\s/]\S*").fullmatch
# event_time above this is milliseconds, not seconds. contract: EV-04
MAX_EVENT_TIME_SECONDS = 100_000_000_000


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one event was not sent. ``reason`` is a stable code; ``event_name`` is the input's
    ``<event_type>:<name>``, ``tiktok_event`` the TikTok event it was mapped to (when it got that
    far) and ``event_id`` its id, if it has one. None of them carries PII."""

    reason: str
    event_name: str = ""
    tiktok_event: str = ""
    event_id: str = ""


Mapped = dict[str, Any] | Rejection


@dataclass(slots=True)
class MappingNotes:
    """What mapping could not use in one message, counted by ``field:reason`` (never a value).

    ``phone:invalid_phone`` a phone number that cannot be read (``phone_region`` says which region
    it was read with), ``email:invalid_email``, ``currency:unsupported_currency`` (the event went
    without ``currency`` and ``value``), …
    """

    counts: Counter[str] = field(default_factory=Counter)
    phone_region: str | None = None

    def add(self, field_name: str, reason: str) -> None:
        self.counts[f"{field_name}:{reason}"] += 1


def supported_currency(props: dict[str, Any], notes: MappingNotes | None) -> None:
    """Upper-case ``props["currency"]``; drop it and ``value`` when TikTok does not list it."""
    currency = props.get("currency")
    if currency is None:
        return
    code = str(currency).strip().upper()
    if code in SUPPORTED_CURRENCIES:
        props["currency"] = code
        return
    # contract: EV-13 — the event goes without the money fields rather than sink its request.
    props.pop("currency", None)
    props.pop("value", None)
    if notes is not None:
        notes.add("currency", "unsupported_currency")


def region_of_country(value: Any) -> str | None:
    """The phone region a ``$Country`` attribute names (``DE``, ``gb``, ``UK``), else None."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    code = _REGION_ALIASES.get(code, code)
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


def is_http_url(value: object) -> bool:
    """True for an absolute ``http://`` or ``https://`` URL with a host."""
    if not isinstance(value, str):
        return False
    return _HTTP_URL(value) is not None


def event_label(event_type: str, name: str | None) -> str:
    """A short, log-safe label for an input event (its type and name, truncated)."""
    return f"{event_type}:{(name or '')[:64]}"


def _number(value: Any) -> float | int | None:
    """A JSON number from a number or numeric string; ``None`` when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number: float | int = value
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    if isinstance(number, float):
        if number != number or number in (float("inf"), float("-inf")):
            return None
        if number.is_integer() and abs(number) < 2**53:
            return int(number)
    return number


def _text(value: Any) -> str | None:
    """A non-empty string, or ``None`` (flags and identities of other types are ignored)."""
    return value if isinstance(value, str) and value else None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _decimal(value: float) -> Decimal:
    # str() gives the shortest repr, so 19.99 stays 19.99 (not its binary expansion).
    return Decimal(str(value))


def order_value(total_amount: float | None, products: Iterable[Any]) -> float | int | None:
    """``total_amount``, or the sum of price × quantity when every product has both (DESIGN §3.7)."""
    if total_amount is not None:
        return _number(total_amount)
    items = list(products)
    if not items or any(p.price is None or p.quantity is None for p in items):
        return None
    try:
        total = sum((_decimal(p.price) * _decimal(p.quantity) for p in items), Decimal(0))
    except InvalidOperation:
        return None
    return _number(float(total))


def pixel_timestamp(ms: int) -> str:
    """Milliseconds since the epoch → ISO-8601 UTC with milliseconds (Events 1.0 ``timestamp``)."""
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{ms % 1000:03d}Z"


class IpProfile:
    """The last IP seen per user (MPID): the "user's profile" IP that Enrich-IP falls back to.

    Bounded (least recently seen users are forgotten) and process-local: a warm Lambda remembers the
    users it has seen, which is the profile this connector can know without a database.
    """

    def __init__(self, max_users: int = 100_000) -> None:
        self._ips: OrderedDict[str, str] = OrderedDict()
        self._max = max_users

    def remember(self, user: str, ip: str) -> None:
        self._ips[user] = ip
        self._ips.move_to_end(user)
        if len(self._ips) > self._max:
            self._ips.popitem(last=False)

    def recall(self, user: str) -> str | None:
        return self._ips.get(user)


class _Hashers:
    """Identity normalization and hashing through :mod:`tiktok_connector.identity`.

    One :class:`~tiktok_connector.identity.Hasher` per id type, built once (Events API surface:
    ``+E.164`` phones; city, state and country normalized but not hashed); phone hashers one per
    region, built when a batch first needs that region.
    """

    def __init__(self, phone_region: str) -> None:
        self.phone_region = phone_region
        self._by_type = {
            id_type: Hasher(id_type, surface=Surface.EVENTS, phone_region=phone_region)
            for id_type in IdType
        }
        self._phones: dict[str, Hasher] = {phone_region: self._by_type[IdType.PHONE]}

    def hashed(
        self,
        id_type: IdType,
        value: Any,
        *,
        notes: MappingNotes | None = None,
        field_name: str = "",
    ) -> str | None:
        """The normalized (and, except for locations, hashed) value; ``None`` if absent or rejected.

        A rejected non-blank value is counted in ``notes`` as ``field_name:reason``.
        """
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # numeric ids (customer ids, MPIDs) as exact decimal strings
        elif not isinstance(value, str):
            return None
        result = self._by_type[id_type](value)
        if isinstance(result, Rejected):
            if notes is not None and result.reason != Reason.EMPTY:
                notes.add(field_name or id_type.value, result.reason)
            return None
        return result

    def phone(self, value: Any, region: str, notes: MappingNotes | None = None) -> str | None:
        """The hashed ``+E.164`` of ``value`` read with ``region``; None if absent or unreadable."""
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        elif not isinstance(value, str):
            return None
        hasher = self._phones.get(region)
        if hasher is None:
            hasher = self._phones[region] = Hasher(
                IdType.PHONE, surface=Surface.EVENTS, phone_region=region
            )
        result = hasher(value)
        if isinstance(result, Rejected):
            if notes is not None and result.reason != Reason.EMPTY:
                notes.add("phone", result.reason)
                notes.phone_region = region
            return None
        return result

    def location(self, value: Any) -> str | None:
        return self.hashed(IdType.CITY, value) if isinstance(value, str) else None


class EventMapper:
    """Map one connection's mParticle batches to request-ready events.

    Build one per connection (it pre-computes the connection's choices) and reuse it.
    """

    def __init__(
        self,
        connection: ConnectionSettings,
        *,
        phone_region: str = "US",
        ip_profile: IpProfile | None = None,
    ) -> None:
        self.connection = connection
        # The connection's region wins over the stack's default; a batch's $Country over both.
        self.hashers = _Hashers(connection.phone_region or phone_region)
        self.ip_profile = ip_profile if ip_profile is not None else IpProfile()
        source_type = connection.event_source_type
        self.legacy = connection.uses_pixel_batch
        self.source = connection.event_source
        web = self.source == EventSourceType.WEB.value
        self.is_web = web
        self.is_app = source_type is EventSourceType.APP
        # Seed: user attributes and ad attribution go on web connections (a migrated legacy web
        # connection or a web event source); Events 2.0 defines ``ad`` for app events too.
        self.user_attributes = web and not self.legacy
        self.ad_attribution = (web and not self.legacy) or self.is_app
        self.custom: dict[tuple[str, str], CustomMapping] = {
            (m.event_type, m.event_name): m for m in connection.custom_mappings
        }

    # ------------------------------------------------------------------ batch level
    def map_batch(self, batch: MParticleBatch, notes: MappingNotes | None = None) -> list[Mapped]:
        """One entry per event of ``batch``, in order: a request-ready event or a rejection.

        What could not be used (an unreadable phone, an unsupported currency) is counted in
        ``notes``.
        """
        shared = self._batch_parts(batch, notes)
        events = parse_events(batch.events)
        if events is not None:  # the common case: every event well-formed, validated in one call
            return [self.map_event(event, shared) for event in events]
        return [self._map_raw(raw, batch, shared) for raw in batch.events]

    def phone_region_for(self, batch: MParticleBatch) -> str:
        """The region a batch's phone numbers are read with: its ``$Country`` when that names a
        region, else the connection's ``phone_region``, else the stack's default."""
        attrs = batch.user_attributes
        country = attrs.get("$Country", attrs.get("$country"))
        return region_of_country(country) or self.hashers.phone_region

    def _batch_parts(self, batch: MParticleBatch, notes: MappingNotes | None) -> _BatchParts:
        c = self.connection
        h = self.hashers
        user: dict[str, Any] = {}
        email = h.hashed(
            IdType.EMAIL,
            self._identity(batch, c.email_identity_type),
            notes=notes,
            field_name="email",
        )
        if email:
            user["email"] = email
        raw_phone = self._identity(batch, c.phone_identity_type)
        if raw_phone not in (None, ""):
            phone = h.phone(raw_phone, self.phone_region_for(batch), notes)
            if phone:
                user["phone"] = phone
        external = h.hashed(
            IdType.EXTERNAL_ID,
            self._identity(batch, c.external_identity_type),
            notes=notes,
            field_name="external_id",
        )
        if external:
            user["external_id"] = external
        ttp = _text(batch.partner_identities.get("tiktok_cookie_id"))
        if ttp and (self.is_web or self.legacy):
            user["ttp"] = ttp
        ip = self._ip(batch)
        if ip:
            user["ip"] = ip
        if batch.device_info.http_header_user_agent:
            user["user_agent"] = batch.device_info.http_header_user_agent
        if self.is_app:
            idfa = h.hashed(IdType.IDFA, batch.device_info.ios_advertising_id)
            if idfa:
                user["idfa"] = idfa
            gaid = h.hashed(IdType.GAID, batch.device_info.android_advertising_id)
            if gaid:
                user["gaid"] = gaid
        attrs = batch.user_attributes
        if self.user_attributes and attrs:
            for attr, id_type, name in _HASHED_USER_ATTRIBUTES:
                hashed = h.hashed(id_type, attrs.get(attr))
                if hashed:
                    user[name] = hashed
            for attr, name in _LOCATION_USER_ATTRIBUTES:
                location = h.location(attrs.get(attr))
                if location:
                    user[name] = location
        ad: dict[str, Any] = {}
        if self.ad_attribution and attrs:
            for attr, name in _AD_STRING_ATTRIBUTES:
                value = attrs.get(attr)
                if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                    ad[name] = str(value)
            for attr, name in _AD_BOOL_ATTRIBUTES:
                flag = _bool(attrs.get(attr))
                if flag is not None:
                    ad[name] = flag
        app: dict[str, Any] | None = None
        app_id = self._app_id(batch) if self.is_app else None
        if app_id:
            info = batch.application_info
            app = {"app_id": app_id}
            if info.application_name:
                app["app_name"] = info.application_name
            if info.application_version:
                app["app_version"] = info.application_version
        return _BatchParts(
            user=user,
            ad=ad,
            app=app,
            limited_data_use=batch.ccpa_opted_out,
            batch_ms=batch.timestamp_unixtime_ms,
            notes=notes,
        )

    def _app_id(self, batch: MParticleBatch) -> str | None:
        """``app.app_id``: the App Store numeric id for iOS apps when the connection has one
        (contract EV-16), else the package name (Android's app id; iOS's bundle id)."""
        store_id = self.connection.ios_app_store_id
        if store_id and not batch.is_android:
            return store_id
        return batch.application_info.package or None

    @staticmethod
    def _identity(batch: MParticleBatch, identity_type: str) -> Any:
        if identity_type == "mpid":
            return batch.mpid
        return batch.user_identities.get(identity_type)

    def _ip(self, batch: MParticleBatch) -> str | None:
        if batch.ip:
            if batch.mpid:
                self.ip_profile.remember(batch.mpid, batch.ip)
            return batch.ip
        if self.connection.enrich_ip and batch.mpid:
            return self.ip_profile.recall(batch.mpid)
        return None

    # ------------------------------------------------------------------ event level
    def _map_raw(self, raw: Any, batch: MParticleBatch, shared: _BatchParts) -> Mapped:
        try:
            event = parse_event(raw)
        except ValidationError:
            kind = raw.get("event_type") if isinstance(raw, dict) else None
            return Rejection("invalid_event", event_label(str(kind or "?"), None))
        return self.map_event(event, shared)

    def map_event(self, event: MParticleEvent, shared: _BatchParts) -> Mapped:
        """Map one parsed event with its batch's shared parts."""
        mapped = self._map_event(event, shared)
        if isinstance(mapped, Rejection):
            data = event.data
            if event.event_type == "commerce_event":
                key = data.product_action.action if data.product_action else None
            elif event.event_type == "screen_view":
                key = data.screen_name
            else:
                key = data.event_name
            return Rejection(
                mapped.reason,
                event_label(event.event_type, key),
                tiktok_event=self._target(event)[1] or "",
                event_id=str(data.source_message_id or data.event_id or ""),
            )
        return mapped

    def _target(self, event: MParticleEvent) -> tuple[CustomMapping | None, str | None]:
        """The custom mapping of ``event`` (if any) and the TikTok event it maps to (if any)."""
        data = event.data
        action = data.product_action.action if data.product_action else None
        if event.event_type == "commerce_event":
            key_name = action
        elif event.event_type == "screen_view":
            key_name = data.screen_name
        else:
            key_name = data.event_name
        mapping = self.custom.get((event.event_type, key_name or ""))
        if mapping is not None:
            return mapping, mapping.tiktok_event
        if event.event_type == "commerce_event" and action is not None:
            return None, COMMERCE_EVENTS.get(action)
        return None, None

    def _map_event(self, event: MParticleEvent, shared: _BatchParts) -> Mapped:
        data = event.data
        mapping, name = self._target(event)
        if name is None:
            return Rejection("unsupported_event")
        if self.source == EventSourceType.OFFLINE.value and name not in STANDARD_EVENTS:
            return Rejection("unsupported_event_for_source")

        ms = (
            data.timestamp_unixtime_ms
            if data.timestamp_unixtime_ms is not None
            else shared.batch_ms
        )
        if ms is None:
            return Rejection("missing_timestamp")
        event_time = ms // 1000
        if event_time <= 0 or event_time >= MAX_EVENT_TIME_SECONDS:
            return Rejection("invalid_timestamp")

        flags = data.custom_flags
        url = flags.get(FLAG_URL)
        page: dict[str, Any] | None = None
        if self.is_web:
            if not is_http_url(url):
                return Rejection("missing_page_url")
            page = {"url": url}
            referrer = _text(flags.get(FLAG_REFERRER))
            if referrer:
                page["referrer"] = referrer

        properties = self._properties(name, data, mapping, shared.notes)
        if isinstance(properties, Rejection):
            return properties

        user = dict(shared.user)
        callback = _text(flags.get(FLAG_CALLBACK))
        ad = dict(shared.ad) if shared.ad else {}
        if callback:
            if self.is_web:
                user["ttclid"] = callback
            elif self.is_app:
                ad["callback"] = callback

        out: dict[str, Any] = {"event": name, "event_time": event_time}
        event_id = data.source_message_id or data.event_id
        if event_id:
            out["event_id"] = event_id
        out["user"] = user
        out["properties"] = properties
        if page is not None:
            out["page"] = page
        if self.is_app:
            if shared.app is None:
                return Rejection("missing_app_id")
            out["app"] = shared.app
        if ad and not self.legacy:
            out["ad"] = ad
        if self.source in ("web", "app") and not self.legacy:
            out["limited_data_use"] = shared.limited_data_use
        if self.source == EventSourceType.OFFLINE.value and not (
            "email" in user or "phone" in user or "external_id" in user
        ):
            return Rejection("missing_identity")
        if self.source == EventSourceType.CRM.value:
            lead = _lead(data.custom_attributes, mapping)
            if lead is None:
                return Rejection("missing_lead_id")
            out["lead"] = lead
        if self.legacy:
            return to_pixel_item(out, ms)
        return out

    def _properties(
        self, name: str, data: Any, mapping: CustomMapping | None, notes: MappingNotes | None
    ) -> dict[str, Any] | Rejection:
        allowed = EVENT_PROPERTIES.get(name, frozenset())
        props: dict[str, Any] = {}
        action = data.product_action
        contents: list[dict[str, Any]] = []
        wants_contents = not allowed.isdisjoint(_CONTENT_FIELDS)
        if action is not None and wants_contents:
            for product in action.products:
                item: dict[str, Any] = {}
                if product.id is not None and "content_id" in allowed:
                    item["content_id"] = product.id
                if product.name is not None and "content_name" in allowed:
                    item["content_name"] = product.name
                if product.category is not None and "content_category" in allowed:
                    item["content_category"] = product.category
                if product.price is not None and "price" in allowed:
                    item["price"] = _number(product.price)
                if product.quantity is not None and "quantity" in allowed:
                    item["quantity"] = _number(product.quantity)
                if item:
                    contents.append(item)
        if action is not None and "value" in allowed:
            value = order_value(action.total_amount, action.products)
            if value is not None:
                props["value"] = value
        if data.currency_code and "currency" in allowed:
            props["currency"] = data.currency_code
        if mapping is not None and mapping.attribute_mappings:
            extra_item: dict[str, Any] = {}
            attributes = data.custom_attributes
            for attribute, prop in mapping.attribute_mappings.items():
                if attribute not in attributes or attributes[attribute] is None:
                    continue
                raw = attributes[attribute]
                if prop != "description" and prop not in allowed:
                    continue
                if prop in ("value", "price", "quantity"):
                    number = _number(raw)
                    if number is None:
                        continue
                    if prop == "value":
                        props["value"] = number
                    else:
                        extra_item[prop] = number
                elif prop in ("content_id", "content_name", "content_category"):
                    extra_item[prop] = str(raw)
                elif prop == "query":
                    props["search_string"] = str(raw)
                else:
                    props[prop] = str(raw)
            if extra_item:
                contents.append(extra_item)
        if contents:
            props["contents"] = contents
            props["content_type"] = self.connection.content_type
        supported_currency(props, notes)
        return props


@dataclass(frozen=True, slots=True)
class _BatchParts:
    user: dict[str, Any]
    ad: dict[str, Any]
    app: dict[str, Any] | None
    limited_data_use: bool
    batch_ms: int | None
    notes: MappingNotes | None = None


def _lead(attributes: Mapping[str, Any], mapping: CustomMapping | None) -> dict[str, Any] | None:
    """The CRM ``lead`` from the event's ``lead_id`` / ``lead_event_source`` attributes (or mapped)."""
    sources = {"lead_id": "lead_id", "lead_event_source": "lead_event_source"}
    if mapping is not None:
        for attribute, prop in mapping.attribute_mappings.items():
            if prop in sources:
                sources[prop] = attribute
    lead_id = attributes.get(sources["lead_id"])
    if lead_id is None or not str(lead_id).strip():
        return None
    lead = {"lead_id": str(lead_id)}
    source = attributes.get(sources["lead_event_source"])
    if source:
        lead["lead_event_source"] = str(source)
    return lead


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
