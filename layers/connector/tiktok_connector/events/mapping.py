"""mParticle batches → TikTok Events API 2.0 events (legacy pixel connections: :mod:`.pixel`).

The spec is the seed's tables (``mparticle-tiktok-events.txt``) with the Events 2.0 landing DESIGN
§3.7 settles. Each mapped event is either a ``dict`` ready for the request body or a
:class:`Rejection` naming why it cannot go (it is dropped and counted, never retried). Everything
TikTok would reject the whole request for is checked here, so one bad event never sinks its
neighbours.

Speed matters (DESIGN §6: ≥ 5,000 events/s per process): the batch envelope is validated once,
per-batch parts (hashed identities, IP, app, ad attribution) are built once per batch and shared by
its events, and the identity hashers are built once per mapper.

Parts: TikTok's vocabulary in :mod:`.catalog`, value readers in :mod:`.values`, identities in
:mod:`.identities`, ``properties`` and ``lead`` in :mod:`.properties`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from pydantic import ValidationError

from tiktok_connector.events.catalog import (
    COMMERCE_EVENTS,
    FLAG_CALLBACK,
    FLAG_REFERRER,
    FLAG_URL,
    MAX_EVENT_TIME_SECONDS,
    STANDARD_EVENTS,
)
from tiktok_connector.events.identities import IdentityHashers, IpProfile
from tiktok_connector.events.mparticle import (
    MParticleBatch,
    MParticleEvent,
    parse_event,
    parse_events,
)
from tiktok_connector.events.pixel import to_pixel_item
from tiktok_connector.events.properties import crm_lead, event_properties
from tiktok_connector.events.settings import ConnectionSettings, CustomMapping, EventSourceType
from tiktok_connector.events.values import (
    MappingNotes,
    as_bool,
    as_text,
    event_label,
    is_http_url,
    region_of_country,
)
from tiktok_connector.identity import IdType

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


class Rejection(NamedTuple):
    """Why one event was not sent. ``reason`` is a stable code; ``event_name`` is the input's
    ``<event_type>:<name>``, ``tiktok_event`` the TikTok event it was mapped to (when it got that
    far) and ``event_id`` its id, if it has one. None of them carries PII."""

    reason: str
    event_name: str = ""
    tiktok_event: str = ""
    event_id: str = ""


Mapped = dict[str, Any] | Rejection


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
        self.hashers = IdentityHashers(connection.phone_region or phone_region)
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
        return _BatchParts(
            user=self._user(batch, notes),
            ad=self._ad(batch.user_attributes),
            app=self._app(batch),
            limited_data_use=batch.ccpa_opted_out,
            batch_ms=batch.timestamp_unixtime_ms,
            notes=notes,
        )

    def _user(self, batch: MParticleBatch, notes: MappingNotes | None) -> dict[str, Any]:
        """The batch's ``user``: hashed identities, IP, user agent, app ids, web attributes."""
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
        ttp = as_text(batch.partner_identities.get("tiktok_cookie_id"))
        if ttp and (self.is_web or self.legacy):
            user["ttp"] = ttp
        ip = self._ip(batch)
        if ip:
            user["ip"] = ip
        if batch.device_info.http_header_user_agent:
            user["user_agent"] = batch.device_info.http_header_user_agent
        if self.is_app:
            device = batch.device_info
            for name, id_type, value in (
                ("idfa", IdType.IDFA, device.ios_advertising_id),
                ("gaid", IdType.GAID, device.android_advertising_id),
            ):
                hashed_id = h.hashed(id_type, value)
                if hashed_id:
                    user[name] = hashed_id
        if self.user_attributes and batch.user_attributes:
            self._add_user_attributes(user, batch.user_attributes)
        return user

    def _add_user_attributes(self, user: dict[str, Any], attrs: dict[str, Any]) -> None:
        """Names and zip hashed, city / state / country normalized (web connections)."""
        h = self.hashers
        for attr, id_type, name in _HASHED_USER_ATTRIBUTES:
            hashed = h.hashed(id_type, attrs.get(attr))
            if hashed:
                user[name] = hashed
        for attr, name in _LOCATION_USER_ATTRIBUTES:
            location = h.location(attrs.get(attr))
            if location:
                user[name] = location

    def _ad(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Ad attribution from the batch's user attributes (web and app connections)."""
        ad: dict[str, Any] = {}
        if self.ad_attribution and attrs:
            for attr, name in _AD_STRING_ATTRIBUTES:
                value = attrs.get(attr)
                if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                    ad[name] = str(value)
            for attr, name in _AD_BOOL_ATTRIBUTES:
                flag = as_bool(attrs.get(attr))
                if flag is not None:
                    ad[name] = flag
        return ad

    def _app(self, batch: MParticleBatch) -> dict[str, Any] | None:
        """``app`` of an app connection's events (None when the batch names no app)."""
        app_id = self._app_id(batch) if self.is_app else None
        if not app_id:
            return None
        info = batch.application_info
        app = {"app_id": app_id}
        if info.application_name:
            app["app_name"] = info.application_name
        if info.application_version:
            app["app_version"] = info.application_version
        return app

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
            return Rejection(
                mapped.reason,
                event_label(event.event_type, _key_name(event)),
                tiktok_event=self._target(event)[0] or "",
                event_id=str(data.source_message_id or data.event_id or ""),
            )
        return mapped

    def _map_event(self, event: MParticleEvent, shared: _BatchParts) -> Mapped:
        named = self._tiktok_event(event)
        if isinstance(named, Rejection):
            return named
        name, mapping = named
        data = event.data
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
        page: dict[str, Any] | None = None
        if self.is_web:
            page = _page(flags)
            if page is None:
                return Rejection("missing_page_url")
        properties = event_properties(
            name, data, mapping, content_type=self.connection.content_type, notes=shared.notes
        )
        out: dict[str, Any] = {"event": name, "event_time": event_time}
        event_id = data.source_message_id or data.event_id
        if event_id:
            out["event_id"] = event_id
        reason = self._add_parts(out, flags, shared, page, properties)
        if reason:
            return Rejection(reason)
        if self.source == EventSourceType.CRM.value:
            lead = crm_lead(data.custom_attributes, mapping)
            if lead is None:
                return Rejection("missing_lead_id")
            out["lead"] = lead
        if self.legacy:
            return to_pixel_item(out, ms)
        return out

    def _tiktok_event(self, event: MParticleEvent) -> tuple[str, CustomMapping | None] | Rejection:
        """The TikTok event an mParticle event maps to (a custom mapping wins, then the commerce
        actions TikTok knows) with its custom mapping, or why it has none."""
        name, mapping = self._target(event)
        if name is None:
            return Rejection("unsupported_event")
        if self.source == EventSourceType.OFFLINE.value and name not in STANDARD_EVENTS:
            return Rejection("unsupported_event_for_source")
        return name, mapping

    def _target(self, event: MParticleEvent) -> tuple[str | None, CustomMapping | None]:
        """The TikTok event ``event`` maps to (None: no mapping) and its custom mapping."""
        mapping = self.custom.get((event.event_type, _key_name(event) or ""))
        if mapping is not None:
            return mapping.tiktok_event, mapping
        action = event.data.product_action.action if event.data.product_action else None
        if event.event_type == "commerce_event" and action in COMMERCE_EVENTS:
            return COMMERCE_EVENTS[str(action)], None
        return None, None

    def _add_parts(
        self,
        out: dict[str, Any],
        flags: Mapping[str, Any],
        shared: _BatchParts,
        page: dict[str, Any] | None,
        properties: dict[str, Any],
    ) -> str:
        """Add ``user``, ``properties``, ``page``, ``app``, ``ad`` and ``limited_data_use``; the
        drop reason when the connection's source needs what the event lacks, else ``""``."""
        user = dict(shared.user)
        callback = as_text(flags.get(FLAG_CALLBACK))
        ad = dict(shared.ad) if shared.ad else {}
        if callback:
            if self.is_web:
                user["ttclid"] = callback
            elif self.is_app:
                ad["callback"] = callback
        out["user"] = user
        out["properties"] = properties
        if page is not None:
            out["page"] = page
        if self.is_app:
            if shared.app is None:
                return "missing_app_id"
            out["app"] = shared.app
        if ad and not self.legacy:
            out["ad"] = ad
        if self.source in ("web", "app") and not self.legacy:
            out["limited_data_use"] = shared.limited_data_use
        if self.source == EventSourceType.OFFLINE.value and not (
            "email" in user or "phone" in user or "external_id" in user
        ):
            return "missing_identity"
        return ""


def _key_name(event: MParticleEvent) -> str | None:
    """What names an mParticle event for mappings: the product action of a commerce event, the
    screen name of a screen view, else the event name."""
    data = event.data
    if event.event_type == "commerce_event":
        return data.product_action.action if data.product_action else None
    if event.event_type == "screen_view":
        return data.screen_name
    return data.event_name


def _page(flags: Mapping[str, Any]) -> dict[str, Any] | None:
    """``page`` of a web event from its ``TikTok.URL`` / ``TikTok.Referrer`` flags; None without
    an absolute http(s) URL."""
    url = flags.get(FLAG_URL)
    if not is_http_url(url):
        return None
    page = {"url": url}
    referrer = as_text(flags.get(FLAG_REFERRER))
    if referrer:
        page["referrer"] = referrer
    return page


class _BatchParts(NamedTuple):
    user: dict[str, Any]
    ad: dict[str, Any]
    app: dict[str, Any] | None
    limited_data_use: bool
    batch_ms: int | None
    notes: MappingNotes | None = None
