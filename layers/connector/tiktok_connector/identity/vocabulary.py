"""The identity vocabulary: id types, hash algorithms, surfaces, rejection reasons.

Every other module of :mod:`tiktok_connector.identity` imports from here and nothing else of the
package imports it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class IdType(StrEnum):
    """The identifier types the connector understands (values are our own lower-case names)."""

    EMAIL = "email"
    PHONE = "phone"
    IDFA = "idfa"
    GAID = "gaid"
    MAID = "maid"  # a mobile ad id of unknown platform (IDFA or GAID)
    EXTERNAL_ID = "external_id"
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    ZIP = "zip"
    CITY = "city"
    STATE = "state"
    COUNTRY = "country"


class HashAlg(StrEnum):
    """Hash algorithms TikTok accepts; output is always lower-case hex."""

    SHA256 = "sha256"
    MD5 = "md5"


class Surface(StrEnum):
    """Where a value is going; decides the phone format (``+E.164`` or digits only) and the
    e-mail rule (audience surfaces drop ``+tag``, contract ID-02)."""

    EVENTS = "events"
    SEGMENT_API = "segment_api"
    CUSTOMER_FILE = "customer_file"


class Reason(StrEnum):
    """Machine-readable rejection reasons (report keys)."""

    EMPTY = "empty"
    INVALID_EMAIL = "invalid_email"
    INVALID_PHONE = "invalid_phone"
    INVALID_MAID = "invalid_maid"
    ZEROED_MAID = "zeroed_maid"
    NOT_A_HASH = "not_a_hash"
    HASH_TYPE_MISMATCH = "hash_type_mismatch"
    INVALID_TEXT = "invalid_text"  # not encodable as UTF-8 (lone surrogates)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A value that cannot be used, and why. Never carries the value itself (no PII)."""

    reason: str


DEFAULT_PHONE_REGION: Final = "US"
MAID_TYPES: Final = frozenset({IdType.IDFA, IdType.GAID, IdType.MAID})
UNHASHED_TYPES: Final = frozenset({IdType.CITY, IdType.STATE, IdType.COUNTRY})

# One instance per reason: the hot path returns these instead of building objects.
EMPTY: Final = Rejected(Reason.EMPTY)
INVALID_EMAIL: Final = Rejected(Reason.INVALID_EMAIL)
INVALID_PHONE: Final = Rejected(Reason.INVALID_PHONE)
INVALID_MAID: Final = Rejected(Reason.INVALID_MAID)
ZEROED_MAID: Final = Rejected(Reason.ZEROED_MAID)
NOT_A_HASH: Final = Rejected(Reason.NOT_A_HASH)
HASH_TYPE_MISMATCH: Final = Rejected(Reason.HASH_TYPE_MISMATCH)
INVALID_TEXT: Final = Rejected(Reason.INVALID_TEXT)
