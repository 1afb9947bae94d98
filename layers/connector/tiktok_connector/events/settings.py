"""Settings for event forwarding: the function's environment and each connection's settings.

A *connection* is one Secrets Manager secret named ``<CONNECTIONS_SECRET_PREFIX><name>`` holding a
JSON object: the connection settings below plus ``access_token`` (DESIGN §3.7). The settings are
mParticle's TikTok Events connection settings (seed ``mparticle-tiktok-events.txt``), with its
defaults: legacy pixel batch web, ``customer_id`` as the external id, ``mobile_number`` as the
phone, ``email`` as the email, ``product`` content type, IP enrichment and web migration off.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from tiktok_connector.settings import ConnectorSettings, settings_getter

DEFAULT_CONNECTION = "default"
DEFAULT_CONNECTIONS_SECRET_PREFIX = "tiktok-connector/connections/"  # noqa: S105 - a name, not a secret

# mParticle's user identity types, as they appear as keys of a batch's ``user_identities``; the
# connection's identity-type settings choose among them (``mpid`` is the batch's own MPID).
MPARTICLE_IDENTITY_TYPES = frozenset(
    {
        "customer_id",
        "email",
        "other",
        "other_id_2",
        "other_id_3",
        "other_id_4",
        "other_id_5",
        "other_id_6",
        "other_id_7",
        "other_id_8",
        "other_id_9",
        "other_id_10",
        "mobile_number",
        "phone_number_2",
        "phone_number_3",
        "facebook",
        "facebook_custom_audience_id",
        "google",
        "twitter",
        "microsoft",
        "yahoo",
        "mpid",
    }
)


class EventSourceType(StrEnum):
    """Where a connection's events go (``legacy_pixel_batch_web`` is Events 1.0 ``/pixel/batch/``)."""

    WEB = "web"
    APP = "app"
    OFFLINE = "offline"
    CRM = "crm"
    LEGACY_PIXEL_BATCH_WEB = "legacy_pixel_batch_web"


class CustomMapping(BaseModel):
    """Map one kind of mParticle event to a TikTok event.

    ``event_type`` is mParticle's (``commerce_event``, ``custom_event``, ``screen_view``, …);
    ``event_name`` is the product action for commerce events (``purchase``), the event name for
    custom events and the screen name for screen views. ``attribute_mappings`` maps an event's
    custom attribute name to a TikTok property (``description``, ``query``, ``value``, …).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: str = Field(min_length=1)
    event_name: str = Field(min_length=1)
    tiktok_event: str = Field(min_length=1)
    attribute_mappings: dict[str, str] = Field(default_factory=dict)


class ConnectionSettings(BaseModel):
    """One connection's validated settings (the connection secret's JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    access_token: SecretStr = Field(min_length=1)
    # ``event_source`` (TikTok's own word) is accepted as an alias.
    event_source_type: EventSourceType = Field(
        default=EventSourceType.LEGACY_PIXEL_BATCH_WEB,
        validation_alias=AliasChoices("event_source_type", "event_source"),
    )
    event_source_id: str = Field(min_length=1)
    email_identity_type: str = "email"
    phone_identity_type: str = "mobile_number"
    external_identity_type: str = "customer_id"
    content_type: Literal["product", "product_group"] = "product"
    enrich_ip: bool = False
    enable_web_migration: bool = False
    test_event_code: str | None = None
    custom_mappings: tuple[CustomMapping, ...] = ()

    @field_validator("email_identity_type", "phone_identity_type", "external_identity_type")
    @classmethod
    def _known_identity_type(cls, value: str) -> str:
        if value not in MPARTICLE_IDENTITY_TYPES:
            raise ValueError(f"unknown mParticle identity type {value!r}")
        return value

    @model_validator(mode="after")
    def _unique_custom_mappings(self) -> ConnectionSettings:
        seen: set[tuple[str, str]] = set()
        for mapping in self.custom_mappings:
            key = (mapping.event_type, mapping.event_name)
            if key in seen:
                raise ValueError(f"two custom mappings for {key[0]} {key[1]!r}")
            seen.add(key)
        return self

    @property
    def uses_pixel_batch(self) -> bool:
        """True when events go to the legacy ``/pixel/batch/`` endpoint (Events 1.0 shapes)."""
        return (
            self.event_source_type is EventSourceType.LEGACY_PIXEL_BATCH_WEB
            and not self.enable_web_migration
        )

    @property
    def event_source(self) -> str:
        """The Events 2.0 ``event_source`` (a migrated legacy web connection sends ``web``)."""
        if self.event_source_type is EventSourceType.LEGACY_PIXEL_BATCH_WEB:
            return EventSourceType.WEB.value
        return self.event_source_type.value


class ForwarderSettings(ConnectorSettings):
    """The event forwarder's environment."""

    connections_secret_prefix: str = DEFAULT_CONNECTIONS_SECRET_PREFIX
    default_phone_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    # Seconds a connection secret stays cached (a rejected token forces a refetch sooner).
    connections_max_age: int = Field(default=300, ge=0)


get_forwarder_settings = settings_getter(ForwarderSettings)
