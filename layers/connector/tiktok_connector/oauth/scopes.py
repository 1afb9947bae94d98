"""The TikTok permissions the connector needs, and what to tell an advertiser who did not grant
them (docs/tiktok-contract.md OA-06, OA-07)."""

from __future__ import annotations

# Numeric permission ids (docs/tiktok-contract.md OA-06, OA-07): granting a parent grants its
# children, and a token may carry only children.
SCOPE_AUDIENCE_MANAGEMENT = 3
SCOPE_READ_AUDIENCES = 30
SCOPE_WRITE_AUDIENCES = 31
SCOPE_MEASUREMENT = 5
SCOPE_REPORT_PIXEL_EVENT = 51  # /pixel/track/, /pixel/batch/ (legacy pixel connections)
SCOPE_REPORT_CONVERSION_EVENT = 7224195155857866754  # /event/track/ (Events API 2.0)


def scope_warnings(scope: list[int]) -> list[str]:
    """Sentences for the permissions the connector needs but the advertiser did not grant.

    A parent scope covers its children; the children alone are just as good (contract OA-07):
    Events API 2.0 needs Report Conversion Event, legacy pixel connections Report Pixel Event.
    """
    granted = set(scope)
    warnings = []
    audiences = (
        SCOPE_AUDIENCE_MANAGEMENT in granted
        or {
            SCOPE_READ_AUDIENCES,
            SCOPE_WRITE_AUDIENCES,
        }
        <= granted
    )
    if not audiences:
        warnings.append(
            "Audience Management was not granted: segment files cannot become TikTok audiences. "
            "Connect again and keep the Audience Management permission ticked."
        )
    if SCOPE_MEASUREMENT in granted:
        return warnings
    conversion = SCOPE_REPORT_CONVERSION_EVENT in granted
    pixel = SCOPE_REPORT_PIXEL_EVENT in granted
    if not conversion and not pixel:
        warnings.append(
            "Measurement (Report Conversion Event) was not granted: events cannot be sent to "
            "TikTok with this authorization. Connect again and keep the Measurement permission "
            "ticked."
        )
    elif not conversion:
        warnings.append(
            "Report Conversion Event was not granted: only legacy pixel connections can send "
            "events with this authorization (Events API 2.0 needs that permission)."
        )
    return warnings
