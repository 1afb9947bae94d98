"""Identifier normalization and hashing: the one place every audience row and event goes through.

DESIGN §3.2 and §3.7 are the spec; tiktok-api-reference.md §6 holds TikTok's own rules.

Vocabulary
    ``IdType``   email, phone, idfa, gaid, maid (MAID of unknown platform), external_id,
                 first_name, last_name, zip, city, state, country.
    ``HashAlg``  sha256, md5 (lower-case hex output, UTF-8 input, no salt).
    ``Surface``  events (Events API), segment_api (partner audiences), customer_file
                 (``/dmp/custom_audience/file/upload/``). It decides the phone format and
                 whether e-mails get the audience ``+tag`` rule.
    ``Reason``   machine-readable rejection reasons that reports count (``empty``,
                 ``invalid_email``, ``invalid_phone``, ``invalid_maid``, ``zeroed_maid``,
                 ``not_a_hash``, ``hash_type_mismatch``, ``invalid_text``).
    ``Rejected`` the value a normalizer returns instead of raising for ordinary bad data.

Normalizers (each ``(value: str, ...) -> str | Rejected``; none raises for any ``str`` input)
    ``normalize_email(value, *, audience=False)``
        trim, lower-case; exactly one ``@``, a non-empty local part, a domain with a dot, no
        whitespace or control characters inside. ``audience=True`` also drops ``+`` and what
        follows it up to ``@`` (TikTok's customer-file e-mail rule, used for customer files and
        partner audiences; contract ID-02); dots stay. The Events API keeps trim + lower-case.
    ``normalize_phone(value, *, region="US", surface=Surface.EVENTS)``
        accepted when ``phonenumbers`` parses it with a country code (from the number or the
        default ``region``) and ``is_possible_number`` holds. Output ``+E.164`` for the
        events and segment surfaces, digits-only E.164 for customer files. Common shapes
        (``+E.164``, US-style national digits, a plain IDD such as ``011``, any of these with
        `` ()-.`` formatting or an ``x``/``ext`` extension) take string fast paths that give
        exactly the library's answer (tests compare them); the rest go through the library.
        A bare digit string
        may be E.164 without its ``+`` (TikTok's customer-file format, ``442079460958``): it
        is read as international if that reading is a valid number and either it is not
        possible in the default region, or it starts with the region's own calling code and
        the region writes national numbers with a trunk prefix or the national reading is not
        valid (``4915123456789`` with region DE is ``+4915123456789``).
    ``normalize_maid(value)``      any UUID version, 8-4-4-4-12 hex → trimmed, lower-cased;
                                   the all-zero id → ``zeroed_maid``.
    ``normalize_external_id(value)``   trimmed, case kept.
    ``normalize_name(value)``      lower-cased, all whitespace removed (first/last name).
    ``normalize_zip(value)``       lower-cased, whitespace and dashes removed (``10001-4356`` →
                                   ``100014356``).
    ``normalize_location(value)``  lower-cased, only letters and digits kept (city/state/country).
    A value that is blank (or normalizes to nothing) is ``Rejected("empty")``.

Hashing
    ``sha256_hex(s)``, ``md5_hex(s)``: lower-case hex of the UTF-8 bytes (raise
    ``UnicodeEncodeError`` on lone surrogates; ``Hasher`` turns that into ``invalid_text``).
    ``is_sha256_hex(s)`` / ``is_md5_hex(s)``: anchored 64 / 32 hex chars, any case, after strip.

``Hasher(id_type, *, alg=SHA256, surface=CUSTOMER_FILE, phone_region="US",
declared_hashed=False)``
    Built once per column or field; ``hasher(value) -> str | Rejected`` on the hot path.
    - blank → ``empty``;
    - already a hash of ``alg`` (trimmed, anchored) → passed through lower-cased, never
      hashed twice;
    - a hash of the other algorithm → ``hash_type_mismatch`` (except for ``external_id``,
      where such a value is an ordinary raw id, e.g. a dash-less UUID, and is hashed);
    - ``declared_hashed=True`` (an ``email_sha256`` column …) and not a hash → ``not_a_hash``;
    - otherwise normalized, then hashed; city/state/country are normalized and NOT hashed.
    - e-mails on the audience surfaces (customer file, segment API) get the audience rule
      (``+tag`` dropped); on the events surface trim + lower-case only.
    ``Hasher`` is a ``functools.partial`` so the per-value call stays on the C call path; the
    tightest loops may bind ``hasher.func`` (the bare closure) instead, and
    ``hasher.many(values) -> list[str | Rejected]`` does a whole column batch at once (same
    results as calling per value, about as fast as binding ``.func``).
``hash_identifier(id_type, value, **same kwargs)``: one-off convenience over a cached Hasher.

TikTok type names
    ``customer_file_type(id_type, alg)`` → ``calculate_type`` and the customer-file header name:
        EMAIL_SHA256, PHONE_SHA256, IDFA_SHA256/MD5, GAID_SHA256/MD5, MAID_SHA256/MD5 (mixed or
        unknown-platform MAIDs; TikTok's alias of FIRST_*). ``MULTIPLE_TYPES`` for mixed files.
    ``segment_id_schema(id_type, alg)`` → partner ``id_schema``: EMAIL_SHA256, PHONE_SHA256,
        IDFA_SHA256/MD5, AAID_SHA256/MD5 (GAID). A MAID of unknown platform raises
        ``ValueError``: the segment API has no mixed type, the caller must decide the platform.
    Unsupported combinations (e.g. email + MD5, names in audiences) raise ``ValueError``.
    ``id_type_by_shape(value)``: DESIGN §3.7's typing of a header-less TXT line (``@`` → email,
    UUID → maid, otherwise phone).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberFormat

__all__ = [
    "DEFAULT_PHONE_REGION",
    "MAID_TYPES",
    "MULTIPLE_TYPES",
    "UNHASHED_TYPES",
    "HashAlg",
    "Hasher",
    "IdType",
    "Reason",
    "Rejected",
    "Surface",
    "customer_file_type",
    "hash_identifier",
    "id_type_by_shape",
    "is_md5_hex",
    "is_sha256_hex",
    "md5_hex",
    "normalize_email",
    "normalize_external_id",
    "normalize_location",
    "normalize_maid",
    "normalize_name",
    "normalize_phone",
    "normalize_zip",
    "segment_id_schema",
    "sha256_hex",
]


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


MULTIPLE_TYPES: Final = "MULTIPLE_TYPES"
DEFAULT_PHONE_REGION: Final = "US"
MAID_TYPES: Final = frozenset({IdType.IDFA, IdType.GAID, IdType.MAID})
UNHASHED_TYPES: Final = frozenset({IdType.CITY, IdType.STATE, IdType.COUNTRY})

# One instance per reason: the hot path returns these instead of building objects.
_EMPTY: Final = Rejected(Reason.EMPTY)
_INVALID_EMAIL: Final = Rejected(Reason.INVALID_EMAIL)
_INVALID_PHONE: Final = Rejected(Reason.INVALID_PHONE)
_INVALID_MAID: Final = Rejected(Reason.INVALID_MAID)
_ZEROED_MAID: Final = Rejected(Reason.ZEROED_MAID)
_NOT_A_HASH: Final = Rejected(Reason.NOT_A_HASH)
_HASH_TYPE_MISMATCH: Final = Rejected(Reason.HASH_TYPE_MISMATCH)
_INVALID_TEXT: Final = Rejected(Reason.INVALID_TEXT)

# ---------------------------------------------------------------------------------------------
# Hashing and hash detection

_sha256 = hashlib.sha256


def _md5(data: bytes) -> Any:
    # TikTok's MD5 MAID types are matching keys, not security: allowed on FIPS hosts too.
    return hashlib.md5(data, usedforsecurity=False)


# ASCII classes on purpose: `\d` would also match non-ASCII digits.
_HEX64 = re.compile(r"[0-9a-fA-F]{64}").fullmatch
_HEX32 = re.compile(r"[0-9a-fA-F]{32}").fullmatch


def sha256_hex(value: str) -> str:
    """Lower-case hex SHA-256 of ``value``'s UTF-8 bytes."""
    return _sha256(value.encode()).hexdigest()


def md5_hex(value: str) -> str:
    """Lower-case hex MD5 of ``value``'s UTF-8 bytes (TikTok's MD5 MAID types)."""
    return _md5(value.encode()).hexdigest()


def is_sha256_hex(value: str) -> bool:
    """True if ``value``, trimmed, is exactly 64 hex characters (any case)."""
    s = value.strip()
    return len(s) == 64 and _HEX64(s) is not None


def is_md5_hex(value: str) -> bool:
    """True if ``value``, trimmed, is exactly 32 hex characters (any case)."""
    s = value.strip()
    return len(s) == 32 and _HEX32(s) is not None


# ---------------------------------------------------------------------------------------------
# Email


# The common case in one C call: printable ASCII without space or "@" around a single "@",
# and a dot inside the domain. Whatever it refuses gets the full check (_is_email).
_ASCII_EMAIL = re.compile(r"[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+").fullmatch
# The same check on a whole batch joined with "\n", in one C call. Atomic per line: a line that
# fails cannot make the scan backtrack into the lines before it.
_ASCII_EMAIL_LINES = re.compile(
    r"(?>[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+)(?:\n(?>[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+))*+"
).fullmatch


def _is_email(s: str) -> bool:
    """Exactly one ``@`` with something before it, a dot inside the domain (not at either end
    of it), no whitespace or control/invisible characters. ``s`` is trimmed and lower-cased.

    Agrees with ``_ASCII_EMAIL`` on every string that one accepts.
    """
    at = s.find("@")
    return (
        at > 0
        and s.find(".", at + 2, -1) > 0
        and s.find("@", at + 1) < 0
        and " " not in s
        and s.isprintable()  # no other whitespace, controls, zero-width chars or surrogates
    )


def _drop_plus_tag(email: str) -> str:
    """``name+tag@domain`` → ``name@domain`` (``""`` when nothing is left before the ``+``).

    ``email`` is a checked address: exactly one ``@``. Dots stay (contract ID-02)."""
    local, _, domain = email.partition("@")
    local = local.partition("+")[0]
    return f"{local}@{domain}" if local else ""


def normalize_email(value: str, *, audience: bool = False) -> str | Rejected:
    """Trim and lower-case an email; ``Rejected`` if it is not an address.

    ``audience=True`` (customer files and partner audiences) also drops ``+`` and what follows
    it up to ``@``, TikTok's audience e-mail rule (contract ID-02). The Events API uses
    ``audience=False``.
    """
    s = value.strip().lower()
    if not s:
        return _EMPTY
    if not _is_email(s):
        return _INVALID_EMAIL
    if audience and "+" in s:
        s = _drop_plus_tag(s)
        if not s:
            return _INVALID_EMAIL
    return s


# ---------------------------------------------------------------------------------------------
# Phone

_MAX_PHONE_INPUT = 250  # phonenumbers refuses longer strings; do the same without an exception
# Formatting that phonenumbers ignores anyway; deleting it lets formatted numbers take the
# fast path. Not "/" or "x" or "#": those mean "second number" or "extension" to the library.
_PHONE_FORMATTING = str.maketrans("", "", " ()-.")
# The extension forms phonenumbers also strips ("x12", "ext. 12"); others go to the library.
_EXTENSION = re.compile(r"[ \t]*(?:ext\.?|x)[ \t]*[0-9]{1,9}\Z", re.IGNORECASE).search
_COUNTRY_CODES: Final = frozenset(str(cc) for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


@functools.cache
def _calling_code_rules(cc: str) -> tuple[frozenset[int], Callable[[str], Any] | None] | None:
    """Possible national lengths and the national-prefix matcher for a calling code.

    Exactly what ``is_possible_number`` and ``parse`` consult (the main region's metadata);
    ``None`` if the metadata is missing (the library then decides).
    """
    code = int(cc)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(
        code, phonenumbers.region_code_for_country_code(code)
    )
    general = metadata.general_desc if metadata is not None else None
    if metadata is None or general is None:
        return None
    lengths = frozenset(general.possible_length or ()) | frozenset(
        general.possible_length_local_only or ()
    )
    prefix = metadata.national_prefix_for_parsing
    return lengths, (re.compile(prefix).match if prefix else None)


def _international_fast(digits: str) -> str | None:
    """``+digits`` → E.164, ``""`` (not possible) or ``None`` (let the library decide).

    Equivalent to ``parse`` + ``is_possible_number`` for the cases it answers: a known
    calling code, and a national number that neither starts with 0 (leading-zero handling)
    nor with the country's national prefix (``parse`` may strip it).
    """
    if len(digits) < 3 or not digits.isdigit() or not digits.isascii() or digits[0] == "0":
        return None
    if digits[:1] in _COUNTRY_CODES:
        cc = digits[:1]
    elif digits[:2] in _COUNTRY_CODES:
        cc = digits[:2]
    elif digits[:3] in _COUNTRY_CODES:
        cc = digits[:3]
    else:
        return None
    national = digits[len(cc) :]
    rules = _calling_code_rules(cc)
    if rules is None:
        return None
    lengths, national_prefix = rules
    if national[:1] == "0" or (national_prefix is not None and national_prefix(national)):
        return None
    return "+" + digits if len(national) in lengths else ""


def _no_calling_code(digits: str, idd: str, own_cc: str) -> bool:
    """``+digits`` that ``parse`` must refuse: no calling code after the ``+``.

    ``parse`` then re-reads the digits without the ``+``, which only succeeds if they start
    with the region's IDD or its own calling code.
    """
    return (
        len(digits) >= 3
        and digits.isdigit()
        and digits.isascii()
        and digits[0] != "0"
        and digits[:1] not in _COUNTRY_CODES
        and digits[:2] not in _COUNTRY_CODES
        and digits[:3] not in _COUNTRY_CODES
        and not digits.startswith(idd)
        and not digits.startswith(own_cc)
    )


def _library_number(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    """``phonenumbers`` parse, kept only if ``is_possible_number`` holds."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_possible_number(number) else None


def _format_e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _nanp_national_fast(digits: str) -> str | None:
    """US-style national digits → ``+1…``, ``""`` if impossible, ``None``: ask the library.

    Only used for NANP default regions whose national prefix is exactly ``1``. Digits that
    start with 2-9 carry no IDD (``011``) and no national prefix, so ``parse`` keeps them as
    the national number and ``is_possible_number`` (US lengths: 10, or 7 local-only) decides;
    ``1`` + ten digits starting 2-9 is the country code plus a 10-digit number either way.
    """
    if not (digits.isdigit() and digits.isascii()):
        return None
    n = len(digits)
    first = digits[0]
    if first != "0" and first != "1":
        return "+1" + digits if n == 10 or n == 7 else ""
    if first == "1" and n == 11 and digits[1] in "23456789":
        return "+" + digits
    return None


def _is_nanp_fast_region(region: str) -> bool:
    metadata = PhoneMetadata.metadata_for_region(region)
    general = metadata.general_desc if metadata is not None else None
    return (
        metadata is not None
        and general is not None
        and metadata.country_code == 1
        and metadata.national_prefix_for_parsing == "1"
        and max(general.possible_length) == 10
    )


def _check_region(region: str) -> str:
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown phone region {region!r} (use an ISO 3166 code such as 'US')")
    return code


@functools.cache
def _e164_function(region: str) -> Callable[[str], str]:
    """Build ``e164(stripped_text) -> "+digits" | ""`` for one default region."""
    nanp = _is_nanp_fast_region(region)
    own_cc = str(phonenumbers.country_code_for_region(region))
    metadata = PhoneMetadata.metadata_for_region(region)
    national_prefix = metadata.national_prefix if metadata is not None else None
    # Regions whose national numbers carry a trunk prefix other than the calling code.
    trunk_prefix = bool(national_prefix) and not own_cc.startswith(national_prefix or "")
    # The region's international dialling prefix when it is a plain digit string (011, 00).
    idd = metadata.international_prefix if metadata is not None else None
    idd = idd if idd and idd.isdigit() else ""
    translate = str.translate
    formatting = _PHONE_FORMATTING

    def fast(text: str) -> str | None:
        if text[:1] == "+":
            digits = text[1:]
            out = _international_fast(digits)
            if out is None and idd and _no_calling_code(digits, idd, own_cc):
                return ""
            return out
        if idd and text.startswith(idd):
            # parse strips the IDD unless a 0 follows (no calling code starts with 0).
            rest = text[len(idd) :]
            return _international_fast(rest) if rest[:1] not in ("", "0") else None
        if nanp:
            return _nanp_national_fast(text)
        return None

    def e164(s: str) -> str:
        if len(s) > _MAX_PHONE_INPUT:
            return ""
        bare = s
        out = fast(s)
        if out is None:
            bare = translate(s, formatting)
            if bare != s:
                out = fast(bare)
        if out:
            return out
        number = None
        if out is None:  # "" means the library would refuse it too
            extension = _EXTENSION(s)
            if extension is not None:
                # E.164 drops the extension; decide the number before it on the fast path.
                head = s[: extension.start()]
                out = fast(head) or fast(translate(head, formatting))
                if out:
                    return out
            number = _library_number(s, region)
        # A bare digit string may be E.164 without its "+" (TikTok's customer-file format).
        if 8 <= len(bare) <= 15 and bare[0] != "0" and bare.isdigit() and bare.isascii():
            if number is None:
                # Impossible in the default region: read it as international, if that is a
                # valid number (a merely possible reading would turn junk into some country).
                if _international_fast(bare) != "":
                    international = _library_number("+" + bare, region)
                    if international is not None and phonenumbers.is_valid_number(international):
                        number = international
            elif bare.startswith(own_cc) and (
                trunk_prefix or not phonenumbers.is_valid_number(number)
            ):
                # Starts with the region's own calling code, where national numbers are
                # written with a trunk prefix (0) or this reading is not valid: "4915123456789"
                # in DE is +49 151…, if that is a valid number.
                international = _library_number("+" + bare, region)
                if international is not None and phonenumbers.is_valid_number(international):
                    number = international
        return _format_e164(number) if number is not None else ""

    return e164


def normalize_phone(
    value: str, *, region: str = DEFAULT_PHONE_REGION, surface: Surface | str = Surface.EVENTS
) -> str | Rejected:
    """Normalize a phone number to E.164 for ``surface``; ``Rejected`` if not a possible number.

    ``+E.164`` for the Events and segment APIs, digits only for customer files. ``region`` is
    the default region for numbers without a country code (``ValueError`` if unknown).
    """
    s = value.strip()
    if not s:
        return _EMPTY
    e164 = _e164_function(_check_region(region))(s)
    if not e164:
        return _INVALID_PHONE
    return e164[1:] if Surface(surface) is Surface.CUSTOMER_FILE else e164


# ---------------------------------------------------------------------------------------------
# Mobile ad ids, names, zip, location, external id

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").fullmatch
_ZERO_MAID: Final = "00000000-0000-0000-0000-000000000000"
_NOT_ALNUM = re.compile(r"[\W_]+")  # \W is exactly "not str.isalnum() and not _"


def normalize_maid(value: str) -> str | Rejected:
    """Trim and lower-case an IDFA/GAID; must be a UUID, and not the all-zero id."""
    s = value.strip()
    if not s:
        return _EMPTY
    s = s.lower()
    if len(s) != 36 or _UUID(s) is None:
        return _INVALID_MAID
    if s == _ZERO_MAID:
        return _ZEROED_MAID
    return s


def normalize_external_id(value: str) -> str | Rejected:
    """Trim an advertiser's own user id; case is kept."""
    s = value.strip()
    return s if s else _EMPTY


def normalize_name(value: str) -> str | Rejected:
    """First or last name: lower-case, all whitespace removed."""
    s = "".join(value.lower().split())
    return s if s else _EMPTY


def normalize_zip(value: str) -> str | Rejected:
    """Zip/postal code: lower-case, whitespace and dashes removed (``10001-4356`` → ``100014356``)."""
    s = "".join(value.lower().split()).replace("-", "")
    return s if s else _EMPTY


def normalize_location(value: str) -> str | Rejected:
    """City, state or country: lower-case, letters and digits only (any script). Not hashed."""
    s = _NOT_ALNUM.sub("", value.lower())
    return s if s else _EMPTY


def id_type_by_shape(value: str) -> IdType:
    """Type a header-less line by its shape (DESIGN §3.7): ``@`` → email, UUID → maid, else phone."""
    s = value.strip()
    if "@" in s:
        return IdType.EMAIL
    if len(s) == 36 and _UUID(s.lower()) is not None:
        return IdType.MAID
    return IdType.PHONE


# ---------------------------------------------------------------------------------------------
# Hasher

_HashFn = Callable[[str], "str | Rejected"]
_ManyFn = Callable[[Iterable[str]], "list[str | Rejected]"]


def _build_hash_function(
    id_type: IdType,
    alg: HashAlg,
    surface: Surface,
    phone_region: str,
    declared_hashed: bool,
) -> tuple[_HashFn, _ManyFn]:
    """One specialised closure per column (and its batch form): everything is bound once,
    nothing is built per value."""
    if id_type in UNHASHED_TYPES:
        if declared_hashed:
            raise ValueError(f"{id_type} is sent unhashed; it cannot be a hashed column")
        return normalize_location, _many(normalize_location)

    digest = _sha256 if alg is HashAlg.SHA256 else _md5
    own_len, own_hex = (64, _HEX64) if alg is HashAlg.SHA256 else (32, _HEX32)
    other_len, other_hex = (32, _HEX32) if alg is HashAlg.SHA256 else (64, _HEX64)
    empty, mismatch = _EMPTY, _HASH_TYPE_MISMATCH

    if declared_hashed:

        def hashed_column(value: str) -> str | Rejected:
            s = value.strip()
            if not s:
                return empty
            n = len(s)
            if n == own_len and own_hex(s) is not None:
                return s.lower()
            if n == other_len and other_hex(s) is not None:
                return mismatch
            return _NOT_A_HASH

        return hashed_column, _many(hashed_column)

    if id_type is IdType.EMAIL:
        invalid, ascii_email, is_email = _INVALID_EMAIL, _ASCII_EMAIL, _is_email
        # Audiences drop "+tag" (contract ID-02); the Events API does not.
        audience = surface is not Surface.EVENTS
        drop_tag = _drop_plus_tag

        def email(value: str) -> str | Rejected:
            s = value.strip().lower()
            # Address checks first: they are the common case, and a hash (no "@") fails them.
            # The ASCII regex answers most addresses in one call; is_email handles the rest.
            if ascii_email(s) is not None or is_email(s):
                if audience and "+" in s:
                    s = drop_tag(s)
                    if not s:
                        return invalid
                # is_email refused surrogates (not printable): encode() cannot fail here.
                return digest(s.encode()).hexdigest()
            if not s:
                return empty
            n = len(s)
            if n == own_len and own_hex(s) is not None:
                return s
            if n == other_len and other_hex(s) is not None:
                return mismatch
            return invalid

        strip, lower, encode = str.strip, str.lower, str.encode
        hexdigest = type(digest(b"")).hexdigest
        ascii_lines = _ASCII_EMAIL_LINES
        # A value holding ``tag`` goes through email() even when it looks clean: for audiences
        # "+" (email() applies the "+tag" rule); for the Events API a line end, which no clean
        # address holds, so there it never diverts one.
        tag = "+" if audience else "\n"

        def many_emails(values: Iterable[str]) -> list[str | Rejected]:
            # strip/lower run in C over the batch. A batch of clean ASCII addresses only (the
            # common file) is checked in one regex call and hashed without a Python step per
            # value; otherwise clean addresses are hashed inline (email's own first branch) and
            # everything else goes through email itself.
            lowered = list(map(lower, map(strip, values)))
            joined = "\n".join(lowered)
            if (
                lowered
                and joined.count("\n") == len(lowered) - 1  # no value holds a line end itself
                and (not audience or "+" not in joined)
                and ascii_lines(joined) is not None
            ):
                return list(map(hexdigest, map(digest, map(encode, lowered))))
            return [
                digest(s.encode()).hexdigest()
                if tag not in s and ascii_email(s) is not None
                else email(s)
                for s in lowered
            ]

        return email, many_emails

    if id_type in MAID_TYPES:
        uuid, zero, invalid, zeroed = _UUID, _ZERO_MAID, _INVALID_MAID, _ZEROED_MAID

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

        return maid, _many(maid)

    if id_type is IdType.PHONE:
        e164 = _e164_function(phone_region)
        skip = 0 if surface is not Surface.CUSTOMER_FILE else 1
        invalid = _INVALID_PHONE

        def phone(value: str) -> str | Rejected:
            s = value.strip()
            if not s:
                return empty
            n = len(s)
            if n == own_len and own_hex(s) is not None:
                return s.lower()
            if n == other_len and other_hex(s) is not None:
                return mismatch
            out = e164(s)
            if not out:
                return invalid
            return digest(out[skip:].encode()).hexdigest()

        return phone, _many(phone)

    normalizer: Callable[[str], str | Rejected] = {
        IdType.EXTERNAL_ID: normalize_external_id,
        IdType.FIRST_NAME: normalize_name,
        IdType.LAST_NAME: normalize_name,
        IdType.ZIP: normalize_zip,
    }[id_type]
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
            return _INVALID_TEXT

    return generic, _many(generic)


def _many(fn: _HashFn) -> _ManyFn:
    def many(values: Iterable[str]) -> list[str | Rejected]:
        return [fn(value) for value in values]

    return many


class Hasher(functools.partial[str | Rejected]):
    """Normalize-and-hash one column or field: ``Hasher(IdType.EMAIL)(" A@B.co ") -> "<hex>"``.

    A ``functools.partial`` around a closure specialised for the id type: calling it costs
    what calling a plain function costs (a Python ``__call__`` would add ~100 ns per value).
    See the module docstring for the rules.
    """

    id_type: IdType
    alg: HashAlg
    surface: Surface
    phone_region: str
    declared_hashed: bool
    many: Callable[[Iterable[str]], list[str | Rejected]]
    """``hasher.many(values)``: the results of ``[hasher(v) for v in values]``, faster."""

    def __new__(
        cls,
        id_type: IdType | str,
        *,
        alg: HashAlg | str = HashAlg.SHA256,
        surface: Surface | str = Surface.CUSTOMER_FILE,
        phone_region: str = DEFAULT_PHONE_REGION,
        declared_hashed: bool = False,
    ) -> Hasher:
        id_type, alg, surface = IdType(id_type), HashAlg(alg), Surface(surface)
        region = _check_region(phone_region)
        fn, many = _build_hash_function(id_type, alg, surface, region, declared_hashed)
        self = super().__new__(cls, fn)
        self.many = many
        self.id_type, self.alg, self.surface = id_type, alg, surface
        self.phone_region, self.declared_hashed = region, declared_hashed
        return self

    @property
    def hashes(self) -> bool:
        """False for city/state/country, whose normalized value is sent as is."""
        return self.id_type not in UNHASHED_TYPES

    def __repr__(self) -> str:
        return (
            f"Hasher({self.id_type.value!r}, alg={self.alg.value!r}, "
            f"surface={self.surface.value!r}, phone_region={self.phone_region!r}, "
            f"declared_hashed={self.declared_hashed})"
        )


@functools.lru_cache(maxsize=256)
def _cached_hasher(
    id_type: IdType | str,
    alg: HashAlg | str,
    surface: Surface | str,
    phone_region: str,
    declared_hashed: bool,
) -> Hasher:
    return Hasher(
        id_type,
        alg=alg,
        surface=surface,
        phone_region=phone_region,
        declared_hashed=declared_hashed,
    )


def hash_identifier(
    id_type: IdType | str,
    value: str,
    *,
    alg: HashAlg | str = HashAlg.SHA256,
    surface: Surface | str = Surface.CUSTOMER_FILE,
    phone_region: str = DEFAULT_PHONE_REGION,
    declared_hashed: bool = False,
) -> str | Rejected:
    """Normalize and hash one value (a cached ``Hasher``; build your own for loops)."""
    hasher = _cached_hasher(id_type, alg, surface, phone_region, declared_hashed)
    return hasher(value)


# ---------------------------------------------------------------------------------------------
# TikTok's names for id types

_CUSTOMER_FILE_TYPES: Final = {
    (IdType.EMAIL, HashAlg.SHA256): "EMAIL_SHA256",
    (IdType.PHONE, HashAlg.SHA256): "PHONE_SHA256",
    (IdType.IDFA, HashAlg.SHA256): "IDFA_SHA256",
    (IdType.IDFA, HashAlg.MD5): "IDFA_MD5",
    (IdType.GAID, HashAlg.SHA256): "GAID_SHA256",
    (IdType.GAID, HashAlg.MD5): "GAID_MD5",
    # TikTok's upload enum: MAID_* are aliases of FIRST_* (IDFA or GAID, mixed line by line).
    (IdType.MAID, HashAlg.SHA256): "MAID_SHA256",
    (IdType.MAID, HashAlg.MD5): "MAID_MD5",
}

_SEGMENT_ID_SCHEMAS: Final = {  # contract: PA-04
    (IdType.EMAIL, HashAlg.SHA256): "EMAIL_SHA256",
    (IdType.PHONE, HashAlg.SHA256): "PHONE_SHA256",
    (IdType.IDFA, HashAlg.SHA256): "IDFA_SHA256",
    (IdType.IDFA, HashAlg.MD5): "IDFA_MD5",
    # The segment API calls Android ids AAID; GAID_* are customer-file names only.
    (IdType.GAID, HashAlg.SHA256): "AAID_SHA256",
    (IdType.GAID, HashAlg.MD5): "AAID_MD5",
}


def customer_file_type(id_type: IdType | str, alg: HashAlg | str = HashAlg.SHA256) -> str:
    """Customer-file ``calculate_type`` (and header name) for one id type and algorithm."""
    key = (IdType(id_type), HashAlg(alg))
    try:
        return _CUSTOMER_FILE_TYPES[key]
    except KeyError:
        raise ValueError(f"customer files have no type for {key[0]} hashed with {key[1]}") from None


def segment_id_schema(id_type: IdType | str, alg: HashAlg | str = HashAlg.SHA256) -> str:
    """Partner (segment) API ``id_schema`` entry; ``ValueError`` for a MAID of unknown platform."""
    key = (IdType(id_type), HashAlg(alg))
    try:
        return _SEGMENT_ID_SCHEMAS[key]
    except KeyError:
        if key[0] is IdType.MAID:
            raise ValueError(
                "the segment API needs the MAID platform (IDFA or GAID/AAID); "
                "declare the column as idfa or gaid"
            ) from None
        raise ValueError(f"the segment API has no id_schema for {key[0]} with {key[1]}") from None
