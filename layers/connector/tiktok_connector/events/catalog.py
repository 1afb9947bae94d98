"""TikTok's event vocabulary as the mapping uses it: standard events, the properties each event
carries, ad attribution fields, the currencies TikTok accepts and mParticle's ``TikTok.*`` flags.

Sources: the seed's tables (``mparticle-tiktok-events.txt``), DESIGN §3.7 and the ``EV-*`` rows of
docs/tiktok-contract.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Commerce product actions TikTok receives without a custom mapping (seed "event mappings").
COMMERCE_EVENTS: Mapping[str, str] = {
    "add_to_cart": "AddToCart",
    "add_to_wishlist": "AddToWishlist",
    "purchase": "PlaceAnOrder",
    "checkout": "InitiateCheckout",
    "view_detail": "ViewContent",
}

PRODUCT_PROPERTIES = frozenset(
    {"price", "quantity", "currency", "value", "content_id", "content_name", "content_category"}
)
# The properties each TikTok event carries (seed: "additional properties supported for each
# respective event"); every event also supports ``description``. Events the seed does not list carry
# ``description`` only. ``Purchase`` is TikTok's 2025 name for ``CompletePayment`` (reference §5.5).
EVENT_PROPERTIES: Mapping[str, frozenset[str]] = {
    "AddPaymentInfo": PRODUCT_PROPERTIES,
    "AddToCart": PRODUCT_PROPERTIES,
    "AddToWishlist": PRODUCT_PROPERTIES,
    "ClickButton": frozenset(),
    "CompletePayment": PRODUCT_PROPERTIES,
    "Purchase": PRODUCT_PROPERTIES,
    "Contact": frozenset(),
    "Download": frozenset(),
    "InitiateCheckout": PRODUCT_PROPERTIES,
    "PlaceAnOrder": PRODUCT_PROPERTIES,
    "Search": frozenset({"query"}),
    "Subscribe": frozenset({"currency", "value"}),
    "ViewContent": PRODUCT_PROPERTIES,
}
CONTENT_FIELDS = ("content_id", "content_name", "content_category", "price", "quantity")

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
REGION_ALIASES = {"UK": "GB"}
# http(s)://, then a host (not a slash), and no whitespace anywhere.
HTTP_URL = re.compile(r"[hH][tT][tT][pP][sS]?://[^\s/]\S*").fullmatch
# event_time above this is milliseconds, not seconds. contract: EV-04
MAX_EVENT_TIME_SECONDS = 100_000_000_000
