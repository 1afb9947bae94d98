"""Free-text identifiers: the advertiser's own user id, first and last names, zip codes, and
city/state/country (normalized, sent unhashed)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from tiktok_connector.identity.hashes import Digests, HashFn, ManyFn, many_of
from tiktok_connector.identity.vocabulary import (
    EMPTY,
    HASH_TYPE_MISMATCH,
    INVALID_TEXT,
    IdType,
    Rejected,
)


@functools.cache
def _not_alnum() -> re.Pattern[str]:
    # \W is exactly "not str.isalnum() and not _"; compiled on first use (locations are rare)
    return re.compile(r"[\W_]+")


def normalize_external_id(value: str) -> str | Rejected:
    """Trim an advertiser's own user id; case is kept (contract EV-09)."""
    s = value.strip()
    return s if s else EMPTY


def normalize_name(value: str) -> str | Rejected:
    """First or last name: lower-case, all whitespace removed."""
    s = "".join(value.lower().split())
    return s if s else EMPTY


def normalize_zip(value: str) -> str | Rejected:
    """Zip/postal code: lower-case, whitespace and dashes removed (``10001-4356`` → ``100014356``)."""
    s = "".join(value.lower().split()).replace("-", "")
    return s if s else EMPTY


def normalize_location(value: str) -> str | Rejected:
    """City, state or country: lower-case, letters and digits only (any script). Not hashed."""
    s = _not_alnum().sub("", value.lower())
    return s if s else EMPTY


_NORMALIZERS: dict[IdType, Callable[[str], str | Rejected]] = {
    IdType.EXTERNAL_ID: normalize_external_id,
    IdType.FIRST_NAME: normalize_name,
    IdType.LAST_NAME: normalize_name,
    IdType.ZIP: normalize_zip,
}


def text_functions(id_type: IdType, digests: Digests) -> tuple[HashFn, ManyFn]:
    """The hasher of one external-id, name or zip column: normalized, then hashed."""
    normalizer = _NORMALIZERS[id_type]
    digest = digests.digest
    own_len, own_hex = digests.own_len, digests.own_hex
    other_len, other_hex = digests.other_len, digests.other_hex
    empty, mismatch = EMPTY, HASH_TYPE_MISMATCH
    # Raw external ids may legitimately look like a hash of the other algorithm: hash them.
    check_other = id_type is not IdType.EXTERNAL_ID

    def generic(value: str) -> str | Rejected:
        s = value.strip()
        if not s:
            return empty
        n = len(s)
        if n == own_len and own_hex(s) is not None:
            return s.lower()
        if check_other and n == other_len and other_hex(s) is not None:
            return mismatch
        out = normalizer(s)
        if isinstance(out, Rejected):
            return out
        try:
            return digest(out.encode()).hexdigest()
        except UnicodeEncodeError:
            return INVALID_TEXT

    return generic, many_of(generic)
