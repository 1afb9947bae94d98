"""Every normalization and hashing rule of DESIGN §3.2/§3.7, with TikTok's published examples."""

import dataclasses
import hashlib
from collections.abc import Callable

import pytest

from tiktok_connector.identity import (
    MULTIPLE_TYPES,
    HashAlg,
    Hasher,
    IdType,
    Reason,
    Rejected,
    Surface,
    customer_file_type,
    hash_identifier,
    id_type_by_shape,
    is_md5_hex,
    is_sha256_hex,
    md5_hex,
    normalize_email,
    normalize_external_id,
    normalize_location,
    normalize_maid,
    normalize_name,
    normalize_phone,
    normalize_zip,
    segment_id_schema,
    sha256_hex,
)


def sha(s: str) -> str:
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


# --- TikTok's own examples (tiktok-api-reference §5.3, §6) -------------------------------------


def test_events_api_email_example() -> None:
    assert normalize_email(" ALICE_abc@gmail.com ") == "alice_abc@gmail.com"
    expected = "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f"
    assert sha("alice_abc@gmail.com") == expected
    assert Hasher(IdType.EMAIL, surface=Surface.EVENTS)(" ALICE_abc@gmail.com ") == expected
    assert Hasher(IdType.EMAIL)(" ALICE_abc@gmail.com ") == expected


def test_events_api_phone_example() -> None:
    assert normalize_phone("(+1)2133734253", surface=Surface.EVENTS) == "+12133734253"
    assert normalize_phone("(+1)2133734253", surface=Surface.SEGMENT_API) == "+12133734253"
    expected = "9f7ec22d72092cd3c0b58726ed9c2d91b92e51a3f29837508fb2948bb22dd2fd"
    assert sha("+12133734253") == expected
    for surface in (Surface.EVENTS, Surface.SEGMENT_API):
        assert Hasher(IdType.PHONE, surface=surface)("(+1)2133734253") == expected


def test_help_centre_customer_file_phone_example() -> None:
    # "(657)777-0000 → 16577770000": symbols and "+" removed, country code added even in the US.
    assert normalize_phone("(657)777-0000", region="US", surface=Surface.CUSTOMER_FILE) == (
        "16577770000"
    )
    expected = "8d7bdaaf75196f351d22942fc0dd79304ffabc3eaf3339460ef9da0773e3aec2"
    assert sha("16577770000") == expected
    hasher = Hasher(IdType.PHONE, surface=Surface.CUSTOMER_FILE, phone_region="US")
    assert hasher("(657)777-0000") == expected
    # The same number on the Events API keeps its "+", so its hash differs.
    assert Hasher(IdType.PHONE, surface=Surface.EVENTS)("(657)777-0000") == sha("+16577770000")


def test_maid_example_digests() -> None:
    idfa = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
    assert normalize_maid(f" {idfa} ") == "6d92078a-8246-4ba4-ae5b-76104861e7dc"
    sha_expected = "31b806b4deec8c4cb1ffb18b9ab4ee1fa82a2b30e1f47902f04d03f5db023376"
    md5_expected = "0c2074fb86930fc4a2a7bb791240a7d3"
    assert Hasher(IdType.IDFA)(idfa) == sha_expected
    assert Hasher(IdType.IDFA, alg=HashAlg.MD5)(idfa) == md5_expected
    assert Hasher(IdType.GAID, alg=HashAlg.MD5)(idfa.lower()) == md5_expected
    assert md5_hex("6d92078a-8246-4ba4-ae5b-76104861e7dc") == md5_expected


# --- email ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("John.Smith@Example.COM", "john.smith@example.com"),
        ("\tjane+news@example.co.uk\r\n", "jane+news@example.co.uk"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("用户@例子.广告", "用户@例子.广告"),
        ("a@b.c", "a@b.c"),
    ],
)
def test_email_trimmed_and_lower_cased(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "plainaddress",
        "two@@example.com",
        "a@b@example.com",
        "@example.com",
        "user@localhost",
        "user@.com",
        "user@example.",
        "john smith@example.com",
        "john@exa mple.com",
        "john\u00a0smith@example.com",
        "john\x00@example.com",
        "john\u200b@example.com",
    ],
)
def test_email_rejects_non_addresses(raw: str) -> None:
    assert normalize_email(raw) == Rejected(Reason.INVALID_EMAIL)
    assert Hasher(IdType.EMAIL)(raw) == Rejected(Reason.INVALID_EMAIL)


def test_audience_emails_drop_the_plus_tag_and_keep_dots_events_keep_both() -> None:
    """Contract ID-02: customer files and partner audiences drop "+" and what follows it up to
    "@"; dots stay; the Events API only trims and lower-cases."""
    raw = " John.Smith+Promo+2@Gmail.com "
    assert normalize_email(raw) == "john.smith+promo+2@gmail.com"
    assert normalize_email(raw, audience=True) == "john.smith@gmail.com"
    for surface in (Surface.CUSTOMER_FILE, Surface.SEGMENT_API):
        hasher = Hasher(IdType.EMAIL, surface=surface)
        assert hasher(raw) == sha("john.smith@gmail.com")
        assert hasher.many([raw, "a+b@x.io", "plain@x.io"]) == [
            sha("john.smith@gmail.com"),
            sha("a@x.io"),
            sha("plain@x.io"),
        ]
    events = Hasher(IdType.EMAIL, surface=Surface.EVENTS)
    assert events(raw) == sha("john.smith+promo+2@gmail.com")
    assert events.many([raw]) == [sha("john.smith+promo+2@gmail.com")]
    # A "+" in the domain is not a tag (the rule stops at "@").
    assert normalize_email("a@b+c.io", audience=True) == "a@b+c.io"
    # Dropping the tag must leave a local part.
    assert normalize_email("+tag@gmail.com", audience=True) == Rejected(Reason.INVALID_EMAIL)
    assert Hasher(IdType.EMAIL)("+tag@gmail.com") == Rejected(Reason.INVALID_EMAIL)


def test_prehashed_audience_emails_pass_through_unchanged() -> None:
    digest = sha("someone+tag@example.com")  # hashed by the sender without the tag rule
    assert Hasher(IdType.EMAIL)(f" {digest.upper()} ") == digest


# --- phone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+12125550123", "US", "+12125550123"),
        ("2125550123", "US", "+12125550123"),
        ("12125550123", "US", "+12125550123"),
        ("(212) 555-0123", "US", "+12125550123"),
        ("212.555.0123", "US", "+12125550123"),
        ("1-212-555-0123", "US", "+12125550123"),
        ("+1 (212) 555-0123 ext. 45", "US", "+12125550123"),
        ("011 44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 (0)20 7946 0958", "US", "+442079460958"),
        ("0044 20 7946 0958", "DE", "+442079460958"),
        ("030 123456", "de", "+4930123456"),
        ("+39 06 1234 5678", "US", "+390612345678"),
        ("１２１２５５５０１２３", "US", "+12125550123"),  # full-width digits
        # is_possible_number, not is_valid_number: a 555 exchange is fine
        ("+1 555 555 5555", "US", "+15555555555"),
    ],
)
def test_phone_to_e164(raw: str, region: str, expected: str) -> None:
    assert normalize_phone(raw, region=region, surface=Surface.EVENTS) == expected
    assert normalize_phone(raw, region=region, surface=Surface.SEGMENT_API) == expected
    assert normalize_phone(raw, region=region, surface=Surface.CUSTOMER_FILE) == expected[1:]


@pytest.mark.parametrize(
    "raw",
    [
        "12345",
        "+1 212 555",
        "+1 212 555 01234 5678",
        "+999 1234 5678",
        "not a phone",
        "N/A",
        "+",
        "---",
        "9" * 300,
    ],
)
def test_phone_rejects_impossible_numbers(raw: str) -> None:
    assert normalize_phone(raw) == Rejected(Reason.INVALID_PHONE)
    assert Hasher(IdType.PHONE)(raw) == Rejected(Reason.INVALID_PHONE)


def test_phone_default_region_decides_numbers_without_country_code() -> None:
    assert normalize_phone("0612345678", region="FR") == "+33612345678"
    # Read as US it is a different (possible, though not valid) number: the region decides.
    assert normalize_phone("0612345678", region="US") == "+10612345678"
    assert normalize_phone("06 12 34 56", region="FR") == Rejected(Reason.INVALID_PHONE)
    hasher = Hasher(IdType.PHONE, surface=Surface.EVENTS, phone_region="FR")
    assert hasher("06 12 34 56 78") == sha("+33612345678")


def test_digits_only_e164_without_plus_is_read_as_international() -> None:
    # TikTok's customer-file format for a UK number; impossible as a US national number.
    assert normalize_phone("442079460958", region="US") == "+442079460958"
    assert normalize_phone("44 20 7946 0958", region="US") == "+442079460958"
    assert normalize_phone("442079460958", surface=Surface.CUSTOMER_FILE) == "442079460958"
    # Own calling code in a trunk-prefix country: E.164 without "+", not a national number.
    assert normalize_phone("4915123456789", region="DE") == "+4915123456789"
    assert normalize_phone("015123456789", region="DE") == "+4915123456789"
    # Written nationally, a possible number stays national.
    assert normalize_phone("2079460958", region="GB") == "+442079460958"


def test_surface_and_region_may_be_given_as_strings() -> None:
    assert normalize_phone("(657)777-0000", region="us", surface="customer_file") == "16577770000"
    assert normalize_phone("(657)777-0000", surface="events") == "+16577770000"
    with pytest.raises(ValueError, match="not a valid Surface"):
        normalize_phone("(657)777-0000", surface="file")


def test_unknown_phone_region_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="phone region"):
        Hasher(IdType.PHONE, phone_region="XX")
    with pytest.raises(ValueError, match="phone region"):
        normalize_phone("2125550123", region="USA")


# --- mobile ad ids ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("CDA6B3F4-1E2B-4C1A-9D0E-5F6A7B8C9D0E", "cda6b3f4-1e2b-4c1a-9d0e-5f6a7b8c9d0e"),
        (" 38400000-8cf0-11bd-b23e-10b96e4ef00d ", "38400000-8cf0-11bd-b23e-10b96e4ef00d"),  # v1
        ("00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000001"),
    ],
)
def test_maid_any_uuid_version_lower_cased(raw: str, expected: str) -> None:
    assert normalize_maid(raw) == expected
    for id_type in (IdType.IDFA, IdType.GAID, IdType.MAID):
        assert Hasher(id_type)(raw) == sha(expected)


@pytest.mark.parametrize(
    "raw",
    [
        "cda6b3f4-1e2b-4c1a-9d0e-5f6a7b8c9d0",
        "cda6b3f41e2b4c1a9d0e5f6a7b8c9d0eab",
        "cda6b3f4-1e2b-4c1a-9d0e-5f6a7b8c9d0g",
        "cda6b3f4_1e2b_4c1a_9d0e_5f6a7b8c9d0e",
        "{cda6b3f4-1e2b-4c1a-9d0e-5f6a7b8c9d0e}",
        "cda6b3f4-1e2b-4c1a-9d0e5-f6a7b8c9d0e",
        "cda6b3f4-1e2b-4c1a-9d0e-5f6a7b8c9d0\u0663",
    ],
)
def test_maid_rejects_non_uuids(raw: str) -> None:
    assert normalize_maid(raw) == Rejected(Reason.INVALID_MAID)
    assert Hasher(IdType.GAID)(raw) == Rejected(Reason.INVALID_MAID)


def test_zeroed_maid_is_rejected() -> None:
    zero = "00000000-0000-0000-0000-000000000000"
    assert normalize_maid(zero) == Rejected(Reason.ZEROED_MAID)
    for id_type in (IdType.IDFA, IdType.GAID, IdType.MAID):
        for alg in HashAlg:
            assert Hasher(id_type, alg=alg)(f" {zero} ") == Rejected(Reason.ZEROED_MAID)


# --- names, zip, location, external id --------------------------------------------------------


def test_names_lower_cased_without_whitespace() -> None:
    assert normalize_name("  Mary Ann ") == "maryann"
    assert normalize_name("O'Neil-Smith") == "o'neil-smith"
    assert normalize_name("José\tLuis") == "joséluis"
    assert Hasher(IdType.FIRST_NAME)(" Mary Ann ") == sha("maryann")
    assert Hasher(IdType.LAST_NAME)("DOE") == sha("doe")


def test_zip_plus_four_and_postcodes() -> None:
    assert normalize_zip("10001-4356") == "100014356"
    assert normalize_zip(" SW1A 1AA ") == "sw1a1aa"
    assert normalize_zip("10001") == "10001"
    assert Hasher(IdType.ZIP)("10001-4356") == sha("100014356")


def test_location_keeps_letters_and_digits_and_is_not_hashed() -> None:
    assert normalize_location(" New York, NY ") == "newyorkny"
    assert normalize_location("São Paulo") == "sãopaulo"
    assert normalize_location("St. John's 2") == "stjohns2"
    assert normalize_location("東京都") == "東京都"
    for id_type in (IdType.CITY, IdType.STATE, IdType.COUNTRY):
        hasher = Hasher(id_type)
        assert not hasher.hashes
        assert hasher(" U.S.A. ") == "usa"


def test_external_id_trimmed_case_kept() -> None:
    assert normalize_external_id("  User_123 ") == "User_123"
    assert Hasher(IdType.EXTERNAL_ID)("user_123") == sha("user_123")
    assert Hasher(IdType.EXTERNAL_ID)("User_123") != Hasher(IdType.EXTERNAL_ID)("user_123")


@pytest.mark.parametrize(
    "normalize",
    [
        normalize_email,
        normalize_phone,
        normalize_maid,
        normalize_external_id,
        normalize_name,
        normalize_zip,
        normalize_location,
    ],
)
@pytest.mark.parametrize("blank", ["", "   ", "\t\r\n"])
def test_blank_values_are_empty(normalize: Callable[[str], object], blank: str) -> None:
    assert normalize(blank) == Rejected(Reason.EMPTY)


@pytest.mark.parametrize("id_type", list(IdType))
def test_blank_values_are_empty_in_every_hasher(id_type: IdType) -> None:
    assert Hasher(id_type)("  ") == Rejected(Reason.EMPTY)


def test_values_that_normalize_to_nothing_are_empty() -> None:
    assert normalize_location(" -- ") == Rejected(Reason.EMPTY)
    assert normalize_zip(" - ") == Rejected(Reason.EMPTY)


# --- hash detection and passthrough -----------------------------------------------------------

SHA_HEX = sha("someone@example.com")
MD5_HEX = hashlib.md5(b"someone@example.com", usedforsecurity=False).hexdigest()


def test_hash_detection_is_anchored_and_case_insensitive() -> None:
    assert is_sha256_hex(SHA_HEX)
    assert is_sha256_hex(f"  {SHA_HEX.upper()}\n")
    assert not is_sha256_hex(SHA_HEX + "0")
    assert not is_sha256_hex(SHA_HEX[:-1])
    assert not is_sha256_hex(f"x{SHA_HEX}")
    assert not is_sha256_hex(SHA_HEX[:-1] + "g")
    assert not is_sha256_hex(SHA_HEX[:-1] + "\u0663")  # Arabic-Indic digit three
    assert is_md5_hex(MD5_HEX)
    assert is_md5_hex(f" {MD5_HEX.upper()} ")
    assert not is_md5_hex(SHA_HEX)
    assert not is_md5_hex(MD5_HEX + "\n" + MD5_HEX)


@pytest.mark.parametrize(
    "id_type", sorted(set(IdType) - {IdType.CITY, IdType.STATE, IdType.COUNTRY})
)
def test_pre_hashed_values_pass_through_lower_cased(id_type: IdType) -> None:
    assert Hasher(id_type)(f"  {SHA_HEX.upper()} ") == SHA_HEX
    assert Hasher(id_type, declared_hashed=True)(SHA_HEX.upper()) == SHA_HEX
    assert Hasher(id_type, alg=HashAlg.MD5)(f" {MD5_HEX.upper()}") == MD5_HEX


@pytest.mark.parametrize("id_type", [IdType.IDFA, IdType.GAID, IdType.MAID])
def test_maid_hash_of_the_other_type_is_a_mismatch(id_type: IdType) -> None:
    assert Hasher(id_type, alg=HashAlg.SHA256)(MD5_HEX) == Rejected(Reason.HASH_TYPE_MISMATCH)
    assert Hasher(id_type, alg=HashAlg.MD5)(SHA_HEX) == Rejected(Reason.HASH_TYPE_MISMATCH)


def test_declared_hashed_column_rejects_raw_values() -> None:
    hasher = Hasher(IdType.EMAIL, declared_hashed=True)
    assert hasher("someone@example.com") == Rejected(Reason.NOT_A_HASH)
    assert hasher(SHA_HEX[:-1]) == Rejected(Reason.NOT_A_HASH)
    assert hasher(MD5_HEX) == Rejected(Reason.HASH_TYPE_MISMATCH)
    assert hasher("") == Rejected(Reason.EMPTY)
    idfa_md5 = Hasher(IdType.IDFA, alg=HashAlg.MD5, declared_hashed=True)
    assert idfa_md5("cda6b3f4-1e2b-4c1a-9d0e-5f6a7b8c9d0e") == Rejected(Reason.NOT_A_HASH)
    assert idfa_md5(MD5_HEX.upper()) == MD5_HEX


def test_external_id_that_looks_like_the_other_hash_is_hashed() -> None:
    # Raw ids such as dash-less UUIDs are 32 hex chars; they are data, not an MD5.
    assert Hasher(IdType.EXTERNAL_ID)(MD5_HEX) == sha(MD5_HEX)


def test_unhashed_types_cannot_be_declared_hashed() -> None:
    with pytest.raises(ValueError, match="unhashed"):
        Hasher(IdType.CITY, declared_hashed=True)


def test_lone_surrogates_are_rejected_not_raised() -> None:
    for id_type in IdType:
        result = Hasher(id_type)("ab\ud800cd")
        assert isinstance(result, (str, Rejected))
    assert Hasher(IdType.FIRST_NAME)("ab\ud800") == Rejected(Reason.INVALID_TEXT)
    assert Hasher(IdType.EMAIL)("a\ud800@example.com") == Rejected(Reason.INVALID_EMAIL)


# --- Hasher object, hash helpers, rejections --------------------------------------------------


def test_hasher_accepts_string_names_and_describes_itself() -> None:
    hasher = Hasher("gaid", alg="md5", surface="segment_api", phone_region="gb")
    assert (hasher.id_type, hasher.alg, hasher.surface) == (
        IdType.GAID,
        HashAlg.MD5,
        Surface.SEGMENT_API,
    )
    assert hasher.phone_region == "GB"
    assert hasher.hashes
    assert "gaid" in repr(hasher)
    # The bare closure gives the same answers.
    assert hasher.func("CDA6B3F4-1E2B-4C1A-9D0E-5F6A7B8C9D0E") == hasher(
        "cda6b3f4-1e2b-4c1a-9d0e-5f6a7b8c9d0e"
    )


def test_batch_form_of_an_email_column() -> None:
    hasher = Hasher(IdType.EMAIL)
    values = [
        " ALICE_abc@gmail.com ",
        "",
        "not-an-email",
        SHA_HEX.upper(),
        "Ünï@exämple.de",
        MD5_HEX,
    ]
    assert hasher.many(values) == [
        "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f",
        Rejected(Reason.EMPTY),
        Rejected(Reason.INVALID_EMAIL),
        SHA_HEX,
        sha("ünï@exämple.de"),
        Rejected(Reason.HASH_TYPE_MISMATCH),
    ]


def test_hash_identifier_matches_hasher() -> None:
    assert hash_identifier(IdType.EMAIL, "A@B.co") == sha("a@b.co")
    assert hash_identifier("phone", "(212) 555-0123", surface=Surface.EVENTS) == sha("+12125550123")
    assert hash_identifier(IdType.IDFA, MD5_HEX) == Rejected(Reason.HASH_TYPE_MISMATCH)


def test_hash_helpers_are_lower_hex_of_utf8() -> None:
    assert sha256_hex("é") == hashlib.sha256("é".encode()).hexdigest()
    assert md5_hex("é") == hashlib.md5("é".encode(), usedforsecurity=False).hexdigest()
    assert sha256_hex("x") == sha256_hex("x").lower()


def test_rejected_is_a_frozen_value_without_the_input() -> None:
    result = normalize_email("secret.person@nowhere")
    assert isinstance(result, Rejected)
    assert result.reason == "invalid_email"
    assert "secret" not in repr(result)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.reason = "x"  # type: ignore[misc]
    assert not hasattr(result, "__dict__")
    assert {Rejected("empty"), Rejected(Reason.EMPTY)} == {Rejected("empty")}


def test_reason_values_are_the_report_keys() -> None:
    assert {r.value for r in Reason} >= {
        "empty",
        "invalid_email",
        "invalid_phone",
        "invalid_maid",
        "zeroed_maid",
        "not_a_hash",
        "hash_type_mismatch",
    }


# --- TikTok type names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("id_type", "alg", "name"),
    [
        (IdType.EMAIL, HashAlg.SHA256, "EMAIL_SHA256"),
        (IdType.PHONE, HashAlg.SHA256, "PHONE_SHA256"),
        (IdType.IDFA, HashAlg.SHA256, "IDFA_SHA256"),
        (IdType.IDFA, HashAlg.MD5, "IDFA_MD5"),
        (IdType.GAID, HashAlg.SHA256, "GAID_SHA256"),
        (IdType.GAID, HashAlg.MD5, "GAID_MD5"),
        (IdType.MAID, HashAlg.SHA256, "MAID_SHA256"),
        (IdType.MAID, HashAlg.MD5, "MAID_MD5"),
    ],
)
def test_customer_file_types(id_type: IdType, alg: HashAlg, name: str) -> None:
    assert customer_file_type(id_type, alg) == name
    assert customer_file_type(id_type.value, alg.value) == name


@pytest.mark.parametrize(
    ("id_type", "alg"),
    [
        (IdType.EMAIL, HashAlg.MD5),
        (IdType.PHONE, HashAlg.MD5),
        (IdType.EXTERNAL_ID, HashAlg.SHA256),
        (IdType.CITY, HashAlg.SHA256),
    ],
)
def test_customer_file_type_rejects_unsupported(id_type: IdType, alg: HashAlg) -> None:
    with pytest.raises(ValueError, match="no type"):
        customer_file_type(id_type, alg)


@pytest.mark.parametrize(
    ("id_type", "alg", "name"),
    [
        (IdType.EMAIL, HashAlg.SHA256, "EMAIL_SHA256"),
        (IdType.PHONE, HashAlg.SHA256, "PHONE_SHA256"),
        (IdType.IDFA, HashAlg.SHA256, "IDFA_SHA256"),
        (IdType.IDFA, HashAlg.MD5, "IDFA_MD5"),
        (IdType.GAID, HashAlg.SHA256, "AAID_SHA256"),
        (IdType.GAID, HashAlg.MD5, "AAID_MD5"),
    ],
)
def test_segment_id_schemas(id_type: IdType, alg: HashAlg, name: str) -> None:
    assert segment_id_schema(id_type, alg) == name


def test_segment_api_needs_a_maid_platform() -> None:
    with pytest.raises(ValueError, match="platform"):
        segment_id_schema(IdType.MAID, HashAlg.SHA256)
    with pytest.raises(ValueError, match="no id_schema"):
        segment_id_schema(IdType.EMAIL, HashAlg.MD5)


def test_multiple_types_constant() -> None:
    assert MULTIPLE_TYPES == "MULTIPLE_TYPES"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("someone@example.com", IdType.EMAIL),
        (" CDA6B3F4-1E2B-4C1A-9D0E-5F6A7B8C9D0E ", IdType.MAID),
        ("(212) 555-0123", IdType.PHONE),
        ("+442079460958", IdType.PHONE),
    ],
)
def test_id_type_by_shape(line: str, expected: IdType) -> None:
    assert id_type_by_shape(line) == expected


def test_block_form_of_an_email_column() -> None:
    """Only e-mail columns have a block form; it applies the audience "+tag" rule, trims blanks,
    and gives up (``None``) on a block with any line the batch form must look at."""
    audience, events = Hasher(IdType.EMAIL), Hasher(IdType.EMAIL, surface=Surface.EVENTS)
    text = " John.Smith+Promo@Gmail.com \r\nb@x.io\nC+1@Y.CO"
    assert audience.lines is not None
    assert events.lines is not None
    assert audience.lines(text, 3) == [
        sha("john.smith@gmail.com"),
        sha("b@x.io"),
        sha("c@y.co"),
    ]
    assert events.lines(text, 3) == [
        sha("john.smith+promo@gmail.com"),
        sha("b@x.io"),
        sha("c+1@y.co"),
    ]
    assert audience.lines("a@x.io\n\n", 2) is None  # a blank line
    assert audience.lines("a@x.io\n+b@x.io\n", 2) is None  # nothing left before the "+"
    assert audience.lines("a b@x.io\n", 1) is None  # a blank inside
    assert audience.lines("a@x.io\nb@x.io\n", 3) is None  # not the lines it was told
    assert Hasher(IdType.PHONE).lines is None
    assert Hasher(IdType.EMAIL, declared_hashed=True).lines is None
