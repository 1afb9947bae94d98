"""Phone numbers: E.164 through string fast paths that give exactly ``phonenumbers``' answer
(tests compare them), the library for the rest, and the phone hasher (contracts ID-03, EV-07).

A bare digit string may be E.164 without its ``+`` (TikTok's customer-file format,
``442079460958``): it is read as international if that reading is a valid number and either it
is not possible in the default region, or it starts with the region's own calling code and the
region writes national numbers with a trunk prefix or the national reading is not valid
(``4915123456789`` with region DE is ``+4915123456789``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, Final

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberFormat

from tiktok_connector.identity.hashes import Digests, HashFn, ManyFn, many_of
from tiktok_connector.identity.vocabulary import (
    DEFAULT_PHONE_REGION,
    EMPTY,
    HASH_TYPE_MISMATCH,
    INVALID_PHONE,
    Rejected,
    Surface,
)

_Number = phonenumbers.PhoneNumber
_MAX_PHONE_INPUT = 250  # phonenumbers refuses longer strings; do the same without an exception
# Formatting that phonenumbers ignores anyway; deleting it lets formatted numbers take the
# fast path. Not "/" or "x" or "#": those mean "second number" or "extension" to the library.
_PHONE_FORMATTING = str.maketrans("", "", " ()-.")


@functools.cache
def _extension() -> Callable[[str], re.Match[str] | None]:
    """The extension forms phonenumbers also strips ("x12", "ext. 12"); others go to the
    library. Compiled on first use: only numbers off the fast path need it."""
    return re.compile(r"[ \t]*(?:ext\.?|x)[ \t]*[0-9]{1,9}\Z", re.IGNORECASE).search


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


def check_region(region: str) -> str:
    """``region`` as a supported ISO 3166 code (upper-cased); ``ValueError`` if unknown."""
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown phone region {region!r} (use an ISO 3166 code such as 'US')")
    return code


def _fast_function(region: str) -> Callable[[str], str | None]:
    """Build ``fast(text) -> "+digits" | "" | None`` for one default region: the string fast
    paths (``+E.164``, a plain IDD such as ``011``, NANP national digits); ``None`` means the
    library must decide."""
    nanp = _is_nanp_fast_region(region)
    own_cc = str(phonenumbers.country_code_for_region(region))
    metadata = PhoneMetadata.metadata_for_region(region)
    # The region's international dialling prefix when it is a plain digit string (011, 00).
    idd = metadata.international_prefix if metadata is not None else None
    idd = idd if idd and idd.isdigit() else ""

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

    return fast


def _bare_digits_function(region: str) -> Callable[[str, _Number | None], _Number | None]:
    """Build ``international(bare, number) -> number``: a bare digit string (8–15 digits, no
    leading 0) may be E.164 without its ``+`` (TikTok's customer-file format); returns the
    reading to keep (``number`` itself, the international reading, or ``None``)."""
    own_cc = str(phonenumbers.country_code_for_region(region))
    metadata = PhoneMetadata.metadata_for_region(region)
    national_prefix = metadata.national_prefix if metadata is not None else None
    # Regions whose national numbers carry a trunk prefix other than the calling code.
    trunk_prefix = bool(national_prefix) and not own_cc.startswith(national_prefix or "")

    def international(bare: str, number: _Number | None) -> _Number | None:
        if number is None:
            # Impossible in the default region: read it as international, if that is a
            # valid number (a merely possible reading would turn junk into some country).
            if _international_fast(bare) != "":
                reading = _library_number("+" + bare, region)
                if reading is not None and phonenumbers.is_valid_number(reading):
                    return reading
        elif bare.startswith(own_cc) and (trunk_prefix or not phonenumbers.is_valid_number(number)):
            # Starts with the region's own calling code, where national numbers are written
            # with a trunk prefix (0) or this reading is not valid: "4915123456789" in DE is
            # +49 151…, if that is a valid number.
            reading = _library_number("+" + bare, region)
            if reading is not None and phonenumbers.is_valid_number(reading):
                return reading
        return number

    return international


@functools.cache
def e164_function(region: str) -> Callable[[str], str]:
    """Build ``e164(stripped_text) -> "+digits" | ""`` for one default region."""
    fast = _fast_function(region)
    international = _bare_digits_function(region)
    translate = str.translate
    formatting = _PHONE_FORMATTING

    def slow(s: str, bare: str, out: str | None) -> str:
        # ``out`` is None (ask the library) or "" (the library would refuse it too).
        number = None
        if out is None:
            extension = _extension()(s)
            if extension is not None:
                # E.164 drops the extension; decide the number before it on the fast path.
                head = s[: extension.start()]
                out = fast(head) or fast(translate(head, formatting))
                if out:
                    return out
            number = _library_number(s, region)
        # A bare digit string may be E.164 without its "+" (TikTok's customer-file format).
        if 8 <= len(bare) <= 15 and bare[0] != "0" and bare.isdigit() and bare.isascii():
            number = international(bare, number)
        return _format_e164(number) if number is not None else ""

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
        return slow(s, bare, out)

    return e164


def normalize_phone(
    value: str, *, region: str = DEFAULT_PHONE_REGION, surface: Surface | str = Surface.EVENTS
) -> str | Rejected:
    """Normalize a phone number to E.164 for ``surface``; ``Rejected`` if not a possible number.

    ``+E.164`` for the Events and segment APIs, digits only for customer files (contract ID-03).
    ``region`` is the default region for numbers without a country code (``ValueError`` if
    unknown).
    """
    s = value.strip()
    if not s:
        return EMPTY
    e164 = e164_function(check_region(region))(s)
    if not e164:
        return INVALID_PHONE
    return e164[1:] if Surface(surface) is Surface.CUSTOMER_FILE else e164


def phone_functions(digests: Digests, surface: Surface, region: str) -> tuple[HashFn, ManyFn]:
    """The phone hasher of one column: E.164 (``+`` kept for the Events and segment APIs,
    contract EV-07; digits only for customer files, contract ID-03), then hashed."""
    e164 = e164_function(region)
    skip = 0 if surface is not Surface.CUSTOMER_FILE else 1  # contract: ID-03
    digest = digests.digest
    own_len, own_hex = digests.own_len, digests.own_hex
    other_len, other_hex = digests.other_len, digests.other_hex
    empty, mismatch, invalid = EMPTY, HASH_TYPE_MISMATCH, INVALID_PHONE

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

    return phone, many_of(phone)
