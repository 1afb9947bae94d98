"""mParticle's JSON batch, as its SQS and S3 outputs write it (only the parts the mapping reads).

One batch is one user's events plus the context to attribute them: ``user_identities``,
``user_attributes``, ``device_info``, ``application_info``, ``partner_identities``, ``ip``,
``consent_state``, ``mpid``. The batch envelope is validated once per message
(:meth:`MParticleBatch.model_validate_json`); each event separately
(:func:`parse_event`), so one malformed event is dropped with a reason instead of sinking its
message. Numeric ids (``event_id``, product ``id``) are kept as exact decimal strings.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from tiktok_connector.events.settings import canonical_identity_type

_LOOSE = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
# mParticle's names for Android in application_info.os and device_info.platform.
_ANDROID_NAMES = frozenset({"android", "unityandroid"})


def _first_string(value: Any) -> Any:
    """mParticle flags and attributes may be a string or a list of strings: take the first."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


class Product(BaseModel):
    model_config = _LOOSE

    id: str | None = None
    name: str | None = None
    category: str | None = None
    brand: str | None = None
    price: float | None = None
    quantity: float | None = None


class ProductAction(BaseModel):
    model_config = _LOOSE

    action: str
    total_amount: float | None = None
    products: list[Product] = Field(default_factory=list)

    @field_validator("products", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class EventData(BaseModel):
    """The ``data`` of one mParticle event (common fields plus the commerce and custom parts)."""

    model_config = _LOOSE

    event_name: str | None = None
    custom_event_type: str | None = None
    screen_name: str | None = None
    source_message_id: str | None = None
    event_id: str | None = None
    timestamp_unixtime_ms: int | None = None
    currency_code: str | None = None
    custom_flags: dict[str, Any] = Field(default_factory=dict)
    custom_attributes: dict[str, Any] = Field(default_factory=dict)
    product_action: ProductAction | None = None

    @field_validator("custom_flags", mode="before")
    @classmethod
    def _flags(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict):
            return {k: _first_string(v) for k, v in value.items()}
        return value

    @field_validator("custom_attributes", mode="before")
    @classmethod
    def _attributes(cls, value: Any) -> Any:
        return {} if value is None else value


class MParticleEvent(BaseModel):
    model_config = _LOOSE

    event_type: str
    data: EventData = Field(default_factory=EventData)


class DeviceInfo(BaseModel):
    model_config = _LOOSE

    http_header_user_agent: str | None = None
    ios_advertising_id: str | None = None
    android_advertising_id: str | None = None
    platform: str | None = None


class ApplicationInfo(BaseModel):
    model_config = _LOOSE

    package: str | None = None
    os: str | None = None
    application_name: str | None = None
    application_version: str | None = None


class MParticleBatch(BaseModel):
    """The batch envelope; ``events`` stay raw until :func:`parse_event` reads each one."""

    model_config = _LOOSE

    events: list[Any]
    user_identities: dict[str, Any] = Field(default_factory=dict)
    user_attributes: dict[str, Any] = Field(default_factory=dict)
    device_info: DeviceInfo = Field(default_factory=DeviceInfo)
    application_info: ApplicationInfo = Field(default_factory=ApplicationInfo)
    partner_identities: dict[str, Any] = Field(default_factory=dict)
    ip: str | None = None
    mpid: str | None = None
    timestamp_unixtime_ms: int | None = None
    consent_state: Any = None

    @field_validator("user_identities", mode="before")
    @classmethod
    def _identities(cls, value: Any) -> Any:
        # Keyed by the Events API JSON names whichever SDK wrote the batch (``customerid`` →
        # ``customer_id``); the first non-empty value of a type wins.
        if value is None:
            return {}
        if not isinstance(value, dict):
            return value
        identities: dict[str, Any] = {}
        for key, raw in value.items():
            name = canonical_identity_type(str(key))
            item = _first_string(raw)
            if identities.get(name) in (None, "") and item not in (None, ""):
                identities[name] = item
        return identities

    @field_validator("user_attributes", "partner_identities", mode="before")
    @classmethod
    def _none_is_empty_map(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict):
            return {k: _first_string(v) for k, v in value.items()}
        return value

    @property
    def is_android(self) -> bool:
        """True when the batch says it comes from an Android app (its OS, platform or GAID)."""
        os_name = (self.application_info.os or self.device_info.platform or "").lower()
        if os_name:
            return os_name in _ANDROID_NAMES
        return bool(self.device_info.android_advertising_id)

    @field_validator("device_info", "application_info", mode="before")
    @classmethod
    def _none_is_empty_model(cls, value: Any) -> Any:
        return {} if value is None else value

    @property
    def ccpa_opted_out(self) -> bool:
        """The batch's CCPA ``data_sale_opt_out`` consent (``limited_data_use``)."""
        return ccpa_opted_out(self.consent_state)


def ccpa_opted_out(consent_state: Any) -> bool:
    """True only when the batch's CCPA ``data_sale_opt_out`` consent is present and consented."""
    if not isinstance(consent_state, dict):
        return False
    ccpa = consent_state.get("ccpa")
    if not isinstance(ccpa, dict):
        return False
    opt_out = ccpa.get("data_sale_opt_out")
    return isinstance(opt_out, dict) and opt_out.get("consented") is True


_EVENT = TypeAdapter(MParticleEvent)
_EVENTS = TypeAdapter(list[MParticleEvent])


def parse_batch(parsed: dict[str, Any]) -> MParticleBatch:
    """Validate a batch envelope (raises :class:`pydantic.ValidationError`)."""
    return MParticleBatch.model_validate(parsed)


def parse_event(raw: Any) -> MParticleEvent:
    """Validate one raw event (raises :class:`pydantic.ValidationError`)."""
    return _EVENT.validate_python(raw)


def parse_events(raw: list[Any]) -> list[MParticleEvent] | None:
    """Validate a batch's events in one call; ``None`` if any is malformed (then go one by one)."""
    try:
        return _EVENTS.validate_python(raw)
    except ValidationError:
        return None
