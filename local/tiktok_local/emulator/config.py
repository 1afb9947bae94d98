"""Emulator configuration: the developer app, its advertisers, event sources and limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# Endpoint groups used for QPS limits (reference §2.3). Each API path belongs to exactly one.
QPS_GROUP_OAUTH = "oauth"
QPS_GROUP_DMP = "dmp"
QPS_GROUP_SEGMENT_AUDIENCE = "segment_audience"
QPS_GROUP_SEGMENT_MAPPING = "segment_mapping"
QPS_GROUP_EVENTS = "events"


def _default_advertisers() -> dict[str, str]:
    return {
        "7100000000000000001": "Demo Advertiser One",
        "7100000000000000002": "Demo Advertiser Two",
    }


def _default_event_sources() -> dict[str, str]:
    # event_source_id -> event_source type
    return {
        "CDEMOPIXEL000000000A": "web",
        "7200000000000000001": "app",
        "7300000000000000001": "offline",
        "7400000000000000001": "crm",
    }


def _default_event_source_owners() -> dict[str, str]:
    # event_source_id -> the advertiser that owns it. A token reaches an event source when it was
    # authorized for its owner (or issued for that source in Events Manager).
    # contract: EV-03
    return dict.fromkeys(_default_event_sources(), "7100000000000000001")


def _default_qps() -> dict[str, float | None]:
    # contract: EN-08 — Basic tier: 10 QPS for ordinary endpoints, 1,000 for the events endpoints
    # at every tier, 10,000 for the Streaming (segment mapping) API.
    return {
        QPS_GROUP_OAUTH: 10,
        QPS_GROUP_DMP: 10,
        QPS_GROUP_SEGMENT_AUDIENCE: 10,
        QPS_GROUP_SEGMENT_MAPPING: 10_000,
        QPS_GROUP_EVENTS: 1_000,
    }


@dataclass
class EmulatorConfig:
    """Everything the emulator needs to know; every field has a working default.

    ``redirect_uris``: registered advertiser redirect URLs. An entry ending in ``:*`` allows that
    scheme and host on any port (the default allows loopback URIs); any other entry must match
    exactly.

    ``qps``: limit per endpoint group (``oauth``, ``dmp``, ``segment_audience``,
    ``segment_mapping``, ``events``); ``None`` or 0 disables the limit for the group.
    ``qps_scope``: ``"endpoint"`` (default) keeps one sliding window per endpoint path, as TikTok
    counts "app-level QPS for the endpoint" (reference §2.2, 40100); ``"group"`` shares one
    window across the group.

    ``event_source_owners``: event source id -> owning advertiser id. A source missing here
    belongs to the first advertiser of ``advertisers``.

    ``clock``: wall-clock source (seconds); tests pass a frozen clock and move it with
    ``state.advance_time``. Auth-code expiry, QPS windows and the timing below all read it.

    TikTok in time (docs/tiktok-contract.md, section TM), per test: ``audience_processing_seconds``
    — after a create or an update TikTok processes a customer-file audience: updates are refused
    with 40002 and ``/dmp/custom_audience/get/`` shows ``is_valid: false`` (TikTok documents up
    to 48 h); ``partner_ready_seconds`` — a partner audience refuses mappings (40002) this long
    after ``/segment/audience/`` created it (peers saw 1–2 minutes). Both default to 0 (instant);
    the local stack uses :meth:`local_stack` (short windows).
    """

    app_id: str = "7000000000000000001"
    app_secret: str = "emulator-app-secret"  # noqa: S105 - a fake secret for the local emulator
    redirect_uris: list[str] = field(
        default_factory=lambda: ["http://127.0.0.1:*", "http://localhost:*"]
    )
    advertisers: dict[str, str] = field(default_factory=_default_advertisers)
    granted_scopes: list[int] = field(default_factory=lambda: [3, 30, 31, 5])
    event_sources: dict[str, str] = field(default_factory=_default_event_sources)
    event_source_owners: dict[str, str] = field(default_factory=_default_event_source_owners)
    qps: dict[str, float | None] = field(default_factory=_default_qps)
    qps_scope: str = "endpoint"
    max_mapping_rows: int = 10_000  # contract: PA-05
    pixel_batch_max: int = 50
    events_max: int = 1_000
    max_audiences_per_advertiser: int = 400  # contract: CF-13
    min_update_members: int = 1_000  # contract: CF-10
    auth_code_ttl_seconds: float = 3600.0
    audience_processing_seconds: float = 0.0
    partner_ready_seconds: float = 0.0
    seed: int = 0
    clock: Callable[[], float] | None = None

    def event_source_owner(self, source_id: str) -> str | None:
        """The advertiser that owns event source ``source_id`` (None when there is none)."""
        owner = self.event_source_owners.get(source_id)
        if owner is not None:
            return owner
        return next(iter(self.advertisers), None)

    @classmethod
    def local_stack(cls) -> EmulatorConfig:
        """The local stack's emulator: TikTok in time with short windows, so `make run` still ends
        in seconds while a follow-up file meets an audience that is still processing and a new
        partner audience refuses its first mappings (contract TM-01, TM-03)."""
        return cls(audience_processing_seconds=2.0, partner_ready_seconds=1.0)

    def redirect_uri_allowed(self, uri: str) -> bool:
        """True when ``uri`` is one of the app's registered redirect URLs."""
        for allowed in self.redirect_uris:
            if allowed.endswith(":*"):
                # "scheme://host:*" means that host on any port. Compare parsed parts, never a
                # string prefix: "http://127.0.0.1:9@evil.example/" starts with the prefix too.
                want = urlsplit(allowed[:-2])
                try:
                    got = urlsplit(uri)
                    port = got.port
                except ValueError:
                    continue
                if (
                    got.scheme == want.scheme
                    and got.hostname == want.hostname
                    and got.username is None
                    and got.password is None
                    and port is not None
                ):
                    return True
            elif uri == allowed:
                return True
        return False
