"""TikTok's return codes that the connector relies on, each with its docs/tiktok-contract.md row.

TikTok answers most errors with HTTP 200 and a non-zero body ``code`` (contract EN-03); these are
the codes the code decides on. Everything not named here is handled by its class: 5xxxx is
TikTok-side trouble (retryable, EN-06), the rest permanent (EN-07).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final


class Code(IntEnum):
    """A TikTok body ``code`` (an ``int``: compares and hashes like the number)."""

    OK = 0  # contract: EN-03
    PARTIAL_OK = 20001  # contract: EN-03
    NO_PERMISSION = 40001  # contract: EN-07, EV-03, PA-07 ("no permission to operate …")
    PARAM_ERROR = 40002  # contract: EN-07; on updates also "still processing" (TM-01, TM-03)
    NOT_EXIST = 40007  # contract: EN-07, PA-07 (the object does not exist)
    APP_FREQUENCY_LIMITED = 40016  # contract: EN-04
    TOO_FREQUENT = 40100  # contract: EN-04 (the app's QPS for the endpoint)
    BAD_APP_CREDENTIALS = 40101  # contract: OA-05 (app id and secret do not match)
    TOKEN_EXPIRED = 40102  # contract: EN-05
    TOKEN_EMPTY = 40104  # contract: EN-02, EN-05
    TOKEN_INVALID = 40105  # contract: EN-05, OA-08 (invalid or revoked)
    CORE_USER_INVALID = 40106  # contract: EN-05
    AUTH_CODE_INVALID = 40110  # contract: OA-03 (used, expired or unknown auth_code)
    AUTH_TIMESTAMP_EXPIRED = 40115  # contract: OA-03
    SCOPE_NOT_AUTHORIZED = 40130  # contract: EN-10
    FIELD_FREQUENCY_LIMITED = 40132  # contract: EN-04 (QPS for one field value)
    ADVERTISER_QPS_LIMITED = 40133  # contract: EN-04 (the advertiser's QPS for the path)
    TASK_ERROR = 40200  # contract: EN-06
    TASK_NOT_READY = 40201  # contract: EN-06
    WRITE_CONFLICT = 40202  # contract: EN-06
    FILE_SIGNATURE_MISMATCH = 40900  # contract: EN-07, CF-01 (the file's MD5)
    FILE_CALCULATE_TYPE = 40909  # contract: CF-03, CF-09 (a file of another calculate type)
    MAINTENANCE = 60001  # contract: EN-06
    TOO_MANY_REQUESTS = 61000  # contract: EN-04


# contract: EN-06 — TikTok-side faults: system error, timeout, 51xxx–53xxx service errors.
TIKTOK_FAULTS: Final = range(50000, 60000)

OK_CODES: Final = frozenset({Code.OK, Code.PARTIAL_OK})
THROTTLE_CODES: Final = frozenset(
    {
        Code.TOO_FREQUENT,
        Code.ADVERTISER_QPS_LIMITED,
        Code.FIELD_FREQUENCY_LIMITED,
        Code.APP_FREQUENCY_LIMITED,
        Code.TOO_MANY_REQUESTS,
    }
)
TOKEN_CODES: Final = frozenset(
    {Code.TOKEN_EXPIRED, Code.TOKEN_EMPTY, Code.TOKEN_INVALID, Code.CORE_USER_INVALID}
)
_RETRYABLE_CODES: Final = (
    frozenset({Code.TASK_ERROR, Code.TASK_NOT_READY, Code.WRITE_CONFLICT, Code.MAINTENANCE})
    | THROTTLE_CODES
)

# Our own codes for failures that never reached TikTok's logic (not TikTok's).
HTTP_ERROR_CODE: Final = -1  # HTTP 5xx, or an answer without TikTok's envelope
NETWORK_ERROR_CODE: Final = -2  # timeout or dropped connection


def is_retryable_code(code: int) -> bool:
    """True for codes worth retrying later: throttling, TikTok-side faults (5xxxx), async-not-ready."""
    return code in _RETRYABLE_CODES or code in TIKTOK_FAULTS
