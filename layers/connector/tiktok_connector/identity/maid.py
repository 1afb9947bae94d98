"""Mobile ad ids (IDFA, GAID, or a MAID of unknown platform): UUIDs, the all-zero id refused
(contract ID-05), and the typing of a header-less line by its shape (DESIGN §3.7)."""

from __future__ import annotations

import re
from typing import Final

from tiktok_connector.identity.hashes import Digests, HashFn, ManyFn, many_of
from tiktok_connector.identity.vocabulary import (
    EMPTY,
    HASH_TYPE_MISMATCH,
    INVALID_MAID,
    ZEROED_MAID,
    IdType,
    Rejected,
)

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").fullmatch
ZERO_MAID: Final = "00000000-0000-0000-0000-000000000000"


def normalize_maid(value: str) -> str | Rejected:
    """Trim and lower-case an IDFA/GAID; must be a UUID, and not the all-zero id."""
    s = value.strip()
    if not s:
        return EMPTY
    s = s.lower()
    if len(s) != 36 or UUID(s) is None:
        return INVALID_MAID
    if s == ZERO_MAID:  # contract: ID-05 (tracking disabled: our decision)
        return ZEROED_MAID
    return s


def id_type_by_shape(value: str) -> IdType:
    """Type a header-less line by its shape (DESIGN §3.7): ``@`` → email, UUID → maid, else phone."""
    s = value.strip()
    if "@" in s:
        return IdType.EMAIL
    if len(s) == 36 and UUID(s.lower()) is not None:
        return IdType.MAID
    return IdType.PHONE


def maid_functions(digests: Digests) -> tuple[HashFn, ManyFn]:
    """The MAID hasher of one column: a hash passes through, else a UUID is hashed."""
    digest = digests.digest
    own_len, own_hex = digests.own_len, digests.own_hex
    other_len, other_hex = digests.other_len, digests.other_hex
    uuid, zero = UUID, ZERO_MAID
    empty, mismatch, invalid, zeroed = EMPTY, HASH_TYPE_MISMATCH, INVALID_MAID, ZEROED_MAID

    def maid(value: str) -> str | Rejected:
        s = value.strip()
        if not s:
            return empty
        n = len(s)
        if n == own_len and own_hex(s) is not None:
            return s.lower()
        if n == other_len and other_hex(s) is not None:
            return mismatch
        if n != 36:
            return invalid
        s = s.lower()
        if uuid(s) is None:
            return invalid
        if s == zero:
            return zeroed
        return digest(s.encode()).hexdigest()

    return maid, many_of(maid)
