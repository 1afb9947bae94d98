"""Key and metadata parsing; header detection with aliases."""

from __future__ import annotations

from typing import Any

import pytest

from tiktok_connector.segments.columns import ColumnPlan, describe_columns, plan_columns
from tiktok_connector.segments.headers import classify_header
from tiktok_connector.segments.keys import AudienceApi, InvalidSegmentFile, parse_segment_key
from tiktok_connector.segments.options import FileOptions, parse_options


def test_key_parses() -> None:
    key = parse_segment_key("segments/7100000000000000001/ Spring Buyers /replace/a b.csv")
    assert key.advertiser_id == "7100000000000000001"
    assert key.audience_name == "Spring Buyers"
    assert key.action == "replace"
    assert key.filename == "a b.csv"


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("uploads/1/a/create/f.csv", "invalid_key"),
        ("segments/1/a/create/", "invalid_key"),
        ("segments/1/a/b/create/f.csv", "invalid_key"),
        ("segments/abc/a/create/f.csv", "invalid_advertiser_id"),
        ("segments/١٢٣/a/create/f.csv", "invalid_advertiser_id"),  # non-ASCII digits
        ("segments/1/a/CREATE/f.csv", "invalid_action"),
        ("segments/1/a/delete/f.csv", "invalid_action"),
        ("segments/1/\t/create/f.csv", "invalid_audience_name"),
        ("segments/1/a\x07b/create/f.csv", "invalid_audience_name"),
        ("segments/1/" + "x" * 129 + "/create/f.csv", "invalid_audience_name"),
    ],
)
def test_bad_keys(key: str, code: str) -> None:
    with pytest.raises(InvalidSegmentFile) as err:
        parse_segment_key(key)
    assert err.value.code == code
    assert err.value.message


def test_name_of_128_chars_is_fine() -> None:
    assert len(parse_segment_key("segments/1/" + "x" * 128 + "/create/f").audience_name) == 128


def test_options_defaults_and_spellings() -> None:
    assert parse_options({}, default_phone_region="DE") == FileOptions(phone_region="DE")
    opts = parse_options(
        {
            "Audience-API": "SEGMENT",
            "x-amz-meta-retention-days": "365",
            "phone_region": "gb",
            "id-type": "GAID",
            "maid-hash": "MD5",
        }
    )
    assert opts == FileOptions(
        AudienceApi.SEGMENT, 365, "GB", "gaid", "md5",
        given=("audience-api", "retention-days", "phone-region", "id-type", "maid-hash"),
    )  # fmt: skip


@pytest.mark.parametrize(
    "meta",
    [
        {"retention-days": "0"},
        {"retention-days": "1.5"},
        {"retention-days": "-3"},
        {"retention-days": "٣"},
        {"audience-api": "dmp"},
        {"phone-region": "USA"},
        {"id-type": "name"},
        {"maid-hash": "sha1"},
        {"audience-api": "segment", "id-type": "maid"},
    ],
)
def test_bad_options(meta: dict[str, str]) -> None:
    with pytest.raises(InvalidSegmentFile) as err:
        parse_options(meta)
    assert err.value.code == "invalid_option"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Email Address", ("email", None)),
        ("E-Mail", ("email", None)),
        ("phone_number", ("phone", None)),
        ("Mobile", ("phone", None)),
        ("IDFA", ("idfa", None)),
        ("gaid", ("gaid", None)),
        ("AAID_SHA256", ("gaid", "sha256")),
        ("MAID", ("maid", None)),
        ("EMAIL_SHA256", ("email", "sha256")),
        ("email_md5", ("email", "md5")),
        ("Phone SHA-256", ("phone", "sha256")),
        ("hashed_email", ("email", "")),
        ("mobile_hash", ("phone", "")),
        ("\ufeffemail", ("email", None)),
        ("first_name", None),
        ("customer_id", None),
        ("", None),
    ],
)
def test_header_aliases(header: str, expected: tuple[str, str | None] | None) -> None:
    assert classify_header(header) == expected


def _plan(first: list[str] | dict[str, object], **opts: Any) -> ColumnPlan:
    return plan_columns(
        first, fmt="csv", delimiter=",", compressed=False, options=FileOptions(**opts)
    )


def test_plan_from_header() -> None:
    plan = _plan(["id", "Email Address", "phone_number", "idfa_md5", "gaid"])
    assert plan.header
    assert plan.columns == ("EMAIL_SHA256", "PHONE_SHA256", "IDFA_MD5", "GAID_SHA256")
    assert plan.calculate_type == "MULTIPLE_TYPES"
    assert [s.index for s in plan.sources] == [1, 2, 3, 4]
    assert [s.declared_hashed for s in plan.sources] == [False, False, True, False]
    assert ColumnPlan.from_dict(plan.as_dict()) == plan


def test_single_type_plan_uses_specific_calculate_type() -> None:
    plan = _plan(["maid"], maid_hash="md5")
    assert plan.columns == ("MAID_MD5",)
    assert plan.calculate_type == "MAID_MD5"


def test_email_md5_header_is_refused_by_tiktok_vocabulary() -> None:
    # TikTok has no EMAIL_MD5 type: an email_md5 column is read as a declared SHA-256 column
    plan = _plan(["email_md5"])
    assert plan.columns == ("EMAIL_SHA256",)


def test_headerless_by_shape_and_by_metadata() -> None:
    plan = _plan(["a@b.co"])
    assert not plan.header
    assert plan.columns == ("EMAIL_SHA256", "PHONE_SHA256", "MAID_SHA256")
    assert plan.sources[0].id_type == "auto"
    plan = _plan(["+12125550100"], id_type="phone")
    assert plan.columns == ("PHONE_SHA256",)
    assert plan.calculate_type == "PHONE_SHA256"
    plan = _plan(["a@b.co"], api=AudienceApi.SEGMENT)
    assert plan.columns == ("EMAIL_SHA256", "PHONE_SHA256")


@pytest.mark.parametrize(
    ("first", "opts", "code"),
    [
        (["customer", "name"], {}, "no_id_column"),
        (["customer"], {}, "no_id_column"),
        (["a@b.co", "x"], {"id_type": "email"}, "no_id_column"),
        (["email", "email_sha256", "Email Address", "mail"], {}, "too_many_columns"),
        (["email", "mail"], {"api": AudienceApi.SEGMENT}, "too_many_columns"),
        (["maid"], {"api": AudienceApi.SEGMENT}, "invalid_column"),
        ({"name": "x"}, {}, "no_id_column"),
    ],
)
def test_plan_errors(
    first: list[str] | dict[str, object], opts: dict[str, object], code: str
) -> None:
    with pytest.raises(InvalidSegmentFile) as err:
        _plan(first, **opts)
    assert err.value.code == code


def test_jsonl_plan_has_no_header_line() -> None:
    plan = _plan({"Email": "a@b.co", "x": 1, "phone": 1})
    assert not plan.header
    assert [s.field for s in plan.sources] == ["Email", "phone"]


def test_audience_names_are_nfc_normalised() -> None:
    nfd = "Cafe\u0301 Kunden"  # what a folder made on macOS sends
    key = parse_segment_key(f"segments/1/{nfd}/append/f.csv")
    assert key.audience_name == "Café Kunden"
    assert (
        key.audience_name == parse_segment_key("segments/1/Café Kunden/append/f.csv").audience_name
    )


def test_columns_option_reads_a_column_no_alias_names_and_can_ignore_one() -> None:
    opts = parse_options({"columns": "Kontakt=email;Telefon=ignore"})
    names = ["Kontakt", "Telefon", "Mobil"]
    plan = plan_columns(names, fmt="csv", delimiter=";", compressed=False, options=opts)
    assert plan.columns == ("EMAIL_SHA256", "PHONE_SHA256")
    assert [(s.label, s.id_type, s.by) for s in plan.sources] == [
        ("Kontakt", "email", "option"),
        ("Mobil", "phone", "name"),
    ]
    described, warnings = describe_columns(names, plan, opts)
    assert described == [
        {"position": 1, "name": "Kontakt", "read_as": "email", "by": "option"},
        {"position": 2, "name": "Telefon", "read_as": "ignored", "by": "option"},
        {"position": 3, "name": "Mobil", "read_as": "phone", "by": "name"},
    ]
    assert warnings == []


def test_every_header_is_described_and_unused_identifier_columns_warn() -> None:
    names = ["Kundennummer", "E-Mail", "Kontakt", "Notiz", "email_sha256"]
    sample = {
        "Kundennummer": ["100234", "100235", "100236"],  # digits only: not taken for phones
        "Kontakt": ["x@example.de", "y@example.de", ""],
        "Notiz": ["ruft an: 030 1234567", "", "-"],
    }
    opts = FileOptions(columns=(("Fax", "ignore"),), id_type="phone")
    plan = plan_columns(names, fmt="csv", delimiter=";", compressed=False, options=opts)
    described, warnings = describe_columns(names, plan, opts, sample)
    assert [(d["name"], d["read_as"]) for d in described] == [
        ("Kundennummer", "ignored"), ("E-Mail", "email"), ("Kontakt", "ignored"),
        ("Notiz", "ignored"), ("email_sha256", "email"),
    ]  # fmt: skip
    assert described[4]["hashed"] == "sha256"
    assert [code for code, _ in warnings] == [
        "unused_identifier_column", "columns_option_unmatched", "id_type_option_unused",
    ]  # fmt: skip
    assert "columns=Kontakt=email" in warnings[0][1]
    assert "x@example.de" not in " ".join(m for _, m in warnings)  # never a value


def test_headerless_files_are_described_as_one_column() -> None:
    plan = plan_columns(
        ["a@b.co"], fmt="csv", delimiter=",", compressed=False, options=FileOptions()
    )
    described, warnings = describe_columns(["a@b.co"], plan, FileOptions())
    assert described == [
        {
            "position": 1,
            "name": None,
            "by": "shape",
            "read_as": "email, phone or maid, by each line's shape",
        }
    ]
    assert warnings == []


def test_a_very_wide_file_is_described_in_bounded_space() -> None:
    names = ["email", *(f"Kontakt {i}" for i in range(300))]
    sample = {n: ["x@example.de"] for n in names}
    opts = FileOptions()
    plan = plan_columns(names, fmt="csv", delimiter=",", compressed=False, options=opts)
    described, warnings = describe_columns(names, plan, opts, sample)
    assert len(described) == 201
    assert described[-1] == {"more_columns": 101}
    assert len(warnings) == 11
    assert warnings[-1][1] == "290 more ignored columns look like identifiers"
