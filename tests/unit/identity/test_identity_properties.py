"""Properties of the identity module: idempotence, no double hashing, no crashes, and the
phone fast path agreeing with phonenumbers itself."""

import hashlib
import re
from collections.abc import Callable

import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tiktok_connector.identity import (
    HashAlg,
    Hasher,
    IdType,
    Reason,
    Rejected,
    Surface,
    normalize_email,
    normalize_external_id,
    normalize_location,
    normalize_maid,
    normalize_name,
    normalize_phone,
    normalize_zip,
)
from tiktok_connector.identity.email import ASCII_EMAIL, ascii_email_block

NORMALIZERS: list[Callable[[str], str | Rejected]] = [
    normalize_email,
    normalize_phone,
    normalize_maid,
    normalize_external_id,
    normalize_name,
    normalize_zip,
    normalize_location,
    lambda v: normalize_email(v, audience=True),
    lambda v: normalize_phone(v, region="GB", surface=Surface.CUSTOMER_FILE),
]

HASHERS = [
    Hasher(id_type, alg=alg, surface=surface, declared_hashed=declared)
    for id_type in IdType
    for alg in HashAlg
    for surface in (Surface.EVENTS, Surface.CUSTOMER_FILE, Surface.SEGMENT_API)
    for declared in (False, True)
    if not (declared and id_type in {IdType.CITY, IdType.STATE, IdType.COUNTRY})
]

LOWER_HEX = {64: re.compile(r"[0-9a-f]{64}"), 32: re.compile(r"[0-9a-f]{32}")}

# Text that looks like our identifiers, so properties are exercised past the first check.
email_like = st.from_regex(
    r"[ \t]{0,2}[A-Za-z0-9._%+'\-ÄéØ用]{1,20}@[A-Za-z0-9\-用]{1,10}\.[A-Za-z]{2,6}[ \t]{0,2}",
    fullmatch=True,
)
phone_like = st.text(alphabet="0123456789 ()-.+x#/", min_size=0, max_size=24)
uuid_like = (
    st.uuids()
    .map(str)
    .flatmap(lambda u: st.sampled_from([u, u.upper(), f" {u} ", u.replace("-", "")]))
)
any_text = st.text(max_size=80)
identifier_text = st.one_of(any_text, email_like, phone_like, uuid_like)


@given(value=identifier_text)
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_input_crashes_a_normalizer(value: str) -> None:
    for normalize in NORMALIZERS:
        result = normalize(value)
        assert isinstance(result, (str, Rejected))


@given(value=identifier_text)
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_input_crashes_a_hasher_and_hashes_are_lower_hex(value: str) -> None:
    for hasher in HASHERS:
        result = hasher(value)
        assert isinstance(result, (str, Rejected))
        if isinstance(result, str) and hasher.hashes:
            width = 64 if hasher.alg is HashAlg.SHA256 else 32
            assert LOWER_HEX[width].fullmatch(result), (hasher, result)


# Lone surrogates reach us from files decoded with errors="surrogateescape".
with_surrogates = st.text(
    st.characters(categories=["Cs", "Ll", "Lu", "Nd", "Po", "Zs", "Cc"]), max_size=40
).map(lambda t: t + "@ex.com" if t[:1] == "a" else t)


@given(value=with_surrogates)
@settings(deadline=None)
def test_lone_surrogates_never_crash(value: str) -> None:
    for normalize in NORMALIZERS:
        assert isinstance(normalize(value), (str, Rejected))
    for hasher in HASHERS:
        result = hasher(value)
        assert isinstance(result, (str, Rejected))
        if isinstance(result, str) and hasher.hashes:
            result.encode("utf-8")  # a hash or a passthrough: always plain text


@given(values=st.lists(identifier_text, max_size=8))
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_batch_form_gives_the_per_value_results(values: list[str]) -> None:
    for hasher in HASHERS:
        assert hasher.many(values) == [hasher(v) for v in values]
        assert hasher.many(iter(values)) == [hasher.func(v) for v in values]


@pytest.mark.parametrize(
    "value",
    [
        "a" * 1_000_000,
        "x@" + "e" * 1_000_000 + ".com",
        "1" * 1_000_000,
        "+1" + " " * 500_000 + "2125550123",
        "\x00\x01\x1f\x7f" * 100_000,
        "0" * 64 + "\n" * 100_000,
    ],
)
def test_huge_inputs_do_not_crash(value: str) -> None:
    for normalize in NORMALIZERS:
        assert isinstance(normalize(value), (str, Rejected))
    for hasher in HASHERS:
        assert isinstance(hasher(value), (str, Rejected))


@given(value=identifier_text)
@settings(deadline=None)
@example(" ALICE_abc@gmail.com ")
@example("İstanbul")
def test_normalizers_are_idempotent(value: str) -> None:
    for normalize in (
        normalize_email,
        lambda v: normalize_email(v, audience=True),
        normalize_maid,
        normalize_external_id,
        normalize_name,
        normalize_zip,
        normalize_location,
    ):
        once = normalize(value)
        if isinstance(once, str):
            assert normalize(once) == once


@given(value=st.one_of(phone_like, any_text), region=st.sampled_from(["US", "GB", "DE", "IN"]))
@settings(deadline=None)
@example("(+1)2133734253", "US")
@example("(657)777-0000", "US")
def test_phone_normalization_is_idempotent(value: str, region: str) -> None:
    plus = normalize_phone(value, region=region, surface=Surface.EVENTS)
    if isinstance(plus, str):
        assert normalize_phone(plus, region=region, surface=Surface.EVENTS) == plus
        digits = normalize_phone(value, region=region, surface=Surface.CUSTOMER_FILE)
        assert digits == plus[1:]
        # The customer-file form is exactly E.164 without its "+".
        assert normalize_phone("+" + digits, region=region, surface=Surface.CUSTOMER_FILE) == (
            digits
        )
        # A bare digit string is ambiguous in general (is 4930123456 German, or a US national
        # number?), but a valid number of the default region's own country reads back unchanged.
        number = phonenumbers.parse(plus)
        if number.country_code == phonenumbers.country_code_for_region(
            region
        ) and phonenumbers.is_valid_number(number):
            assert normalize_phone(digits, region=region, surface=Surface.CUSTOMER_FILE) == digits


hex64 = st.text(alphabet="0123456789abcdefABCDEF", min_size=64, max_size=64)
hex32 = st.text(alphabet="0123456789abcdefABCDEF", min_size=32, max_size=32)
padding = st.text(alphabet=" \t\r\n", max_size=3)


@given(digest=hex64, left=padding, right=padding)
def test_a_sha256_is_never_hashed_again(digest: str, left: str, right: str) -> None:
    for hasher in HASHERS:
        if hasher.hashes and hasher.alg is HashAlg.SHA256:
            assert hasher(left + digest + right) == digest.lower()


@given(digest=hex32, left=padding, right=padding)
def test_an_md5_is_never_hashed_again(digest: str, left: str, right: str) -> None:
    for hasher in HASHERS:
        if hasher.hashes and hasher.alg is HashAlg.MD5:
            assert hasher(left + digest + right) == digest.lower()


NORMALIZER_OF: dict[IdType, Callable[[str], str | Rejected]] = {
    # Hasher's default surface is the customer file: the audience e-mail rule (contract ID-02).
    IdType.EMAIL: lambda v: normalize_email(v, audience=True),
    IdType.IDFA: normalize_maid,
    IdType.GAID: normalize_maid,
    IdType.MAID: normalize_maid,
    IdType.EXTERNAL_ID: normalize_external_id,
    IdType.FIRST_NAME: normalize_name,
    IdType.LAST_NAME: normalize_name,
    IdType.ZIP: normalize_zip,
}


@given(value=identifier_text)
@settings(deadline=None)
def test_hasher_is_hash_of_the_normalizer(value: str) -> None:
    stripped = value.strip()
    if len(stripped) in (32, 64) and re.fullmatch(r"[0-9a-fA-F]+", stripped):
        return  # hash passthrough/mismatch rules, tested separately
    for id_type, normalize in NORMALIZER_OF.items():
        expected = normalize(value)
        if isinstance(expected, str):
            try:
                expected = hashlib.sha256(expected.encode()).hexdigest()
            except UnicodeEncodeError:
                continue
        assert Hasher(id_type)(value) == expected, id_type
    events = normalize_email(value)
    if isinstance(events, str):
        events = hashlib.sha256(events.encode()).hexdigest()
    assert Hasher(IdType.EMAIL, surface=Surface.EVENTS)(value) == events


@given(value=st.one_of(email_like, identifier_text))
@settings(deadline=None)
@example("John.Smith+promo@Gmail.com")
@example("+only@tag.io")
def test_audience_email_is_the_events_email_without_its_plus_tag(value: str) -> None:
    events = normalize_email(value)
    audience = normalize_email(value, audience=True)
    if isinstance(events, Rejected):
        assert audience == events
        return
    local, _, domain = events.partition("@")
    kept = local.split("+")[0]
    assert audience == (f"{kept}@{domain}" if kept else Rejected(Reason.INVALID_EMAIL))
    if isinstance(audience, str):
        assert "+" not in audience.partition("@")[0]
        assert audience.count(".") == events.count(".") - local.count(".") + kept.count(".")
    for surface in Surface:
        phone = normalize_phone(value, surface=surface)
        if isinstance(phone, str):
            phone = hashlib.sha256(phone.encode()).hexdigest()
        assert Hasher(IdType.PHONE, surface=surface)(value) == phone


# --- the phone fast path must agree with phonenumbers ------------------------------------------


def library(value: str, region: str) -> str:
    """The rule of DESIGN §3.7 written with the library only."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def reference(value: str, region: str) -> str:
    """Library rule plus the documented readings of a bare digit string as international."""
    s = value.strip()
    if len(s) > 250:
        return ""
    out = library(s, region)
    bare = s.translate(str.maketrans("", "", " ()-."))
    if 8 <= len(bare) <= 15 and bare[0] != "0" and bare.isdigit() and bare.isascii():
        international = library("+" + bare, region)
        own_cc = str(phonenumbers.country_code_for_region(region))
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        assert metadata is not None
        trunk = metadata.national_prefix
        valid_international = international and phonenumbers.is_valid_number(
            phonenumbers.parse(international)
        )
        if not out:
            out = international if valid_international else ""
        elif (
            valid_international
            and bare.startswith(own_cc)
            and (
                (trunk and not own_cc.startswith(trunk))
                or not phonenumbers.is_valid_number(phonenumbers.parse(out))
            )
        ):
            out = international
    return out


def ours(value: str, region: str) -> str:
    result = normalize_phone(value, region=region, surface=Surface.EVENTS)
    return result if isinstance(result, str) else ""


CALLING_CODES = sorted(str(cc) for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
NANP_REGIONS = sorted(phonenumbers.region_codes_for_country_code(1))


@st.composite
def formatted_numbers(draw: st.DrawFn) -> str:
    cc = draw(st.sampled_from(["", *CALLING_CODES]))
    digits = draw(st.text(alphabet="0123456789", min_size=1, max_size=15))
    lead = draw(st.sampled_from(["+", "+", "011", "00", "0", "1"])) if cc else ""
    raw = lead + cc + digits
    # sprinkle formatting between characters
    out = []
    for ch in raw:
        out.append(draw(st.sampled_from(["", "", "", " ", "-", ".", "(", ")"])))
        out.append(ch)
    extension = draw(st.sampled_from(["", "", "", " x", "x", " ext. ", " EXT", "ext", " #", "~"]))
    if extension:
        out.append(extension + draw(st.text(alphabet="0123456789", min_size=0, max_size=11)))
    return "".join(out)


@given(
    value=st.one_of(formatted_numbers(), phone_like),
    region=st.sampled_from(["US", "CA", "GB", "DE", "FR", "BR", "IN", "JP", "AR", *NANP_REGIONS]),
)
@settings(max_examples=600, deadline=None)
@example("(+1)2133734253", "US")
@example("+4407911123456", "US")  # national prefix after the country code: library strips it
@example("+390612345678", "US")  # Italian leading zero
@example("12125550123", "BS")
@example("011 44 20 7946 0958", "US")
@example("0110 44 20 7946 0958", "US")
@example("00 44 20 7946 0958", "DE")
@example("555-0123", "US")
@example("55-01", "US")
@example("212-555-012349", "US")
@example("(212) 555-0123 x12", "US")
@example("121100000000", "US")
@example("160000000", "US")
@example("+1 212 555 0123 ext. 9", "US")
@example("+999 1234 5678", "US")
@example("+1999 1234 5678", "US")
def test_phone_fast_path_agrees_with_phonenumbers(value: str, region: str) -> None:
    assert ours(value, region) == reference(value, region)


@pytest.mark.parametrize("cc", CALLING_CODES)
def test_every_calling_code_agrees_with_phonenumbers(cc: str) -> None:
    # Every national length from 1 to 17, with and without a national-prefix-like start.
    for length in range(1, 18):
        for first in "0123456789":
            national = (first + "23456789" * 3)[:length]
            value = f"+{cc}{national}"
            assert ours(value, "US") == reference(value, "US"), value


@pytest.mark.parametrize(
    "region", ["US", "CA", "GB", "DE", "FR", "IT", "IN", "BR", "JP", "AU", "MX"]
)
def test_valid_numbers_round_trip_through_every_format(region: str) -> None:
    for number_type in (
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
    ):
        number = phonenumbers.example_number_for_type(region, number_type)
        if number is None:
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        for fmt in (
            phonenumbers.PhoneNumberFormat.NATIONAL,
            phonenumbers.PhoneNumberFormat.INTERNATIONAL,
            phonenumbers.PhoneNumberFormat.E164,
        ):
            written = phonenumbers.format_number(number, fmt)
            assert normalize_phone(written, region=region) == e164, written
        digits = normalize_phone(e164, region=region, surface=Surface.CUSTOMER_FILE)
        assert digits == e164[1:]
        assert normalize_phone(digits, region=region, surface=Surface.CUSTOMER_FILE) == digits


# Lines as a file gives them: an address (clean, padded, tagged, odd), with its line end.
line_end = st.sampled_from(["\n", "\n", "\n", "\r\n", "\r", ""])
email_line = st.tuples(
    st.one_of(
        email_like,
        email_like.map(lambda e: e.replace("@", "+tag@", 1)),
        email_like.map(lambda e: "+" + e.strip()),
        st.sampled_from(["", " ", "a b@x.io", "a@b@x.io", "a+b c@x.io", "x@y.z\x0b", "\xa0a@b.co"]),
        identifier_text,
    ),
    line_end,
).map("".join)


@given(lines=st.lists(email_line, min_size=1, max_size=8))
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(lines=["A+news@X.io\n", " b@y.co \r\n", "c@z.de"])
@example(lines=["+tag@x.io\n"])
@example(lines=["a@x.io\n", "\n"])
def test_block_form_gives_the_per_value_results_or_none(lines: list[str]) -> None:
    """``hasher.lines(text, count)`` is either ``None`` (the caller uses ``many``) or exactly
    what the hasher gives line by line — the audience "+tag" rule included."""
    for hasher in HASHERS:
        if hasher.lines is None:
            continue
        out = hasher.lines("".join(lines), len(lines))
        if out is not None:
            assert out == [hasher(line) for line in lines], (hasher, lines)


@pytest.mark.parametrize(
    "address",
    [
        "a@b.c",
        "a@.b.c",
        "a@.b",
        "a@b.",
        "a@b..",
        "a@..",
        "a@...",
        "a@.",
        "a@b..c",
        ".a@b.c",
        "a.@b.c",
        "!#$%&'*/=?^_`{|}~-@b.c",
        "a@b.c.",
        "a@b.c\x7f",
        "@b.c",
        "a@b",
        "a@@b.c",
        "a@b@c.d",
        "a@b.c ",
        "\ta@b.c\v",
        "a@b .c",
        "a@b.\x00",
    ],
)
def test_block_check_agrees_with_the_per_value_check_on_domain_edges(address: str) -> None:
    """The block check (a shape of the block without backtracking) takes exactly the lines the
    per-value check takes: dots at the domain's ends, runs of dots, every symbol allowed."""
    check, _ = ascii_email_block()
    per_value = ASCII_EMAIL(address.strip(" \t\v\f\r")) is not None
    assert (check((address + "\n").encode()) is not None) == per_value
    assert (check(((address + "\n") * 3).encode()) is not None) == per_value


@given(st.lists(st.text(alphabet="ab.@ \t+\x7f", max_size=12), min_size=1, max_size=6))
def test_block_check_agrees_with_the_per_value_check(lines: list[str]) -> None:
    """Whatever the lines, the block passes exactly when every line, trimmed of blanks, passes
    the per-value check."""
    check, _ = ascii_email_block()
    per_value = all(ASCII_EMAIL(line.strip(" \t\v\f\r")) is not None for line in lines)
    assert (check("".join(line + "\n" for line in lines).encode()) is not None) == per_value


@given(lines=st.lists(email_like, min_size=1, max_size=8))
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_block_form_takes_every_clean_ascii_block(lines: list[str]) -> None:
    """A block of ASCII addresses (padded with blanks, tagged or not) that the hasher accepts
    one by one is answered whole."""
    for hasher in HASHERS:
        if hasher.lines is None:
            continue
        clean = [v + "\n" for v in lines if v.isascii() and isinstance(hasher(v), str)]
        if clean:
            assert hasher.lines("".join(clean), len(clean)) == [hasher(v) for v in clean]
