"""Settings for event forwarding: the function's environment and each connection's settings.

A *connection* is one Secrets Manager secret named ``<CONNECTIONS_SECRET_PREFIX><name>`` holding a
JSON object: the connection settings below plus ``access_token`` (DESIGN §3.7). The settings are
mParticle's TikTok Events connection settings (seed ``mparticle-tiktok-events.txt``), with its
defaults: legacy pixel batch web, ``customer_id`` as the external id, ``mobile_number`` as the
phone, ``email`` as the email, ``product`` content type, IP enrichment and web migration off.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

import phonenumbers
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from tiktok_connector.settings import ConnectorSettings, settings_getter

DEFAULT_CONNECTION = "default"
DEFAULT_CONNECTIONS_SECRET_PREFIX = "tiktok-connector/connections/"  # noqa: S105 - a name, not a secret

# mParticle's user identity types, by the keys of a batch's ``user_identities`` in mParticle's
# Events API JSON; the connection's identity-type settings choose among them (``mpid`` is the
# batch's own MPID).
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
        "alias",
        "mpid",
    }
)
# Other spellings of the same identity types: mParticle's Python SDK writes ``customerid``, its
# web SDK names ``other2`` … ``other10`` and ``facebookcustomaudienceid``, its server-side Java
# SDK ``customer`` (see docs/tiktok-contract.md EV-30 for the sources).
_IDENTITY_ALIASES = {
    "customerid": "customer_id",
    "customer": "customer_id",
    "facebookcustomaudienceid": "facebook_custom_audience_id",
}
_OTHER_ID = re.compile(r"other_?(?:id_?)?(\d+)")


def canonical_identity_type(name: str) -> str:
    """The Events API JSON key of an mParticle identity type, whichever SDK spelled it.

    ``customerid`` → ``customer_id``, ``Other 3`` / ``other3`` → ``other_id_3``; other names are
    lower-cased with spaces and dashes as underscores and returned as they are (unknown ones stay
    unknown: :data:`MPARTICLE_IDENTITY_TYPES` decides).
    """
    key = re.sub(r"[\s-]+", "_", name.strip().lower())
    key = _IDENTITY_ALIASES.get(key, key)
    other = _OTHER_ID.fullmatch(key)
    if other is not None and 2 <= int(other.group(1)) <= 10:
        return f"other_id_{int(other.group(1))}"
    return key


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
    # A legacy pixel connection with a test code sends each event alone to /pixel/track/ (the
    # only Events 1.0 call that takes one; contract EV-20, EV-21).
    test_event_code: str | None = None
    custom_mappings: tuple[CustomMapping, ...] = ()
    # Region for phone numbers written without a country code; None: the batch's ``$Country``
    # when it names a region, else the stack's DEFAULT_PHONE_REGION (US unless changed).
    phone_region: str | None = None
    # iOS app events: the App Store numeric app id TikTok wants as ``app.app_id`` (contract
    # EV-16); without it the batch's package name (bundle id) is sent.
    ios_app_store_id: str | None = Field(default=None, pattern=r"^[0-9]+$")

    @field_validator("email_identity_type", "phone_identity_type", "external_identity_type")
    @classmethod
    def _known_identity_type(cls, value: str) -> str:
        key = canonical_identity_type(value)
        if key not in MPARTICLE_IDENTITY_TYPES:
            known = ", ".join(sorted(MPARTICLE_IDENTITY_TYPES))
            raise ValueError(f"unknown mParticle identity type {value!r} (one of: {known})")
        return key

    @field_validator("phone_region")
    @classmethod
    def _known_phone_region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r} (an ISO 3166 code such as 'US')")
        return region

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


def settings_problems(exc: ValidationError) -> list[str]:
    """What is wrong with a connection's settings, one line per problem: the setting's path and
    pydantic's message (``enrich_ip: Input should be a valid boolean``), or ``unknown setting``
    for a key the model does not have. Never the value: it may be the access token."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        where = ".".join(str(p) for p in error["loc"]) or "settings"
        if error["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown setting")
        else:
            problems.append(f"{where}: {error['msg']}")
    return problems


class ForwarderSettings(ConnectorSettings):
    """The event forwarder's environment."""

    connections_secret_prefix: str = DEFAULT_CONNECTIONS_SECRET_PREFIX
    default_phone_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    # Seconds a connection secret stays cached: a settings change applies within this (a
    # rejected token forces a refetch sooner). The local stack uses a few seconds.
    connections_max_age: int = Field(default=60, ge=0, le=60)
    # The events DLQ: a message that can never be delivered (unknown or invalid connection,
    # malformed body, a request TikTok refuses for good) is moved there with its reason as message
    # attributes. Empty: such messages fail and SQS moves them after maxReceiveCount.
    events_dlq_url: str = ""
    # The event delivery record (events/delivery.py): counts per connection, hour and event name.
    # Empty: not recorded.
    event_stats_table: str = ""


forwarder_settings = settings_getter(ForwarderSettings)
