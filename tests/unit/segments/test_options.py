"""Options: unknown keys reported with a hint, bad values refused with one, everything echoed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiktok_connector.segments.keys import InvalidSegmentFile
from tiktok_connector.segments.options import FileOptions, parse_options


def test_unknown_keys_are_kept_with_a_did_you_mean() -> None:
    opts = parse_options({"region": "GB", "x-amz-meta-retension-days": "30", "flavour": "red"})
    assert opts.phone_region == "US"  # `region` is not `phone-region`: nothing applied
    assert dict(opts.unknown) == {
        "region": "did you mean phone-region?",
        "retension-days": "did you mean retention-days?",
        "flavour": (
            "options are audience-api, retention-days, phone-region, id-type, maid-hash, "
            "encoding, columns"
        ),
    }
    warnings = dict(opts.warnings())
    assert list(warnings) == ["unknown_option"]  # one code; the messages name each key
    messages = [m for code, m in opts.warnings()]
    assert messages[0] == (
        "metadata 'region' is not an option of this connector and was ignored; "
        "did you mean phone-region?"
    )


def test_sync_tool_keys_are_listed_without_a_warning() -> None:
    opts = parse_options({"mtime": "1700000000", "md5chksum": "abc"})
    assert [k for k, _ in opts.unknown] == ["mtime", "md5chksum"]
    assert opts.warnings() == []


@pytest.mark.parametrize(
    ("meta", "hint"),
    [
        ({"phone-region": "UK"}, "did you mean GB?"),
        ({"phone-region": "USA"}, "did you mean US?"),
        ({"phone-region": "GER"}, "did you mean DE?"),
        ({"audience-api": "partner"}, "did you mean segment?"),
        ({"audience-api": "dmp"}, "did you mean file?"),
        ({"id-type": "E-Mail"}, "did you mean email?"),
        ({"id-type": "mobile"}, "did you mean phone?"),
        ({"maid-hash": "SHA-256"}, "did you mean sha256?"),
        ({"encoding": "ANSI"}, "did you mean cp1252?"),
        ({"columns": "Kontakt=E-Mail"}, "did you mean email?"),
        ({"columns": "Kontakt=phone_md5"}, ""),  # TikTok takes phones as SHA-256 only
        ({"columns": "Kontakt"}, ""),
        ({"columns": "a=email;A=phone"}, ""),
    ],
)
def test_bad_values_are_refused_with_a_hint(meta: dict[str, str], hint: str) -> None:
    with pytest.raises(InvalidSegmentFile) as err:
        parse_options(meta)
    assert err.value.code == "invalid_option"
    assert err.value.message.endswith(hint)
    for value in meta.values():
        assert repr(value.split("=")[-1].split(";")[0]) in err.value.message or "=" in value


def test_columns_option_maps_names_to_types() -> None:
    opts = parse_options({"columns": " Kontakt = email ; Mobil=PHONE;Fax=ignore, hash=idfa_md5"})
    assert opts.columns == (
        ("Kontakt", "email"), ("Mobil", "phone"), ("Fax", "ignore"), ("hash", "idfa_md5"),
    )  # fmt: skip
    assert opts.column_map() == {
        "kontakt": "email", "mobil": "phone", "fax": "ignore", "hash": "idfa_md5",
    }  # fmt: skip


def test_non_ascii_column_names_arrive_rfc2047_encoded() -> None:
    # what SDKs send for non-ASCII metadata values ("Téléphone=phone")
    opts = parse_options({"columns": "=?utf-8?b?VMOpbMOpcGhvbmU9cGhvbmU=?="})
    assert opts.columns == (("Téléphone", "phone"),)


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("utf-8", "utf-8"), ("UTF8", "utf-8"), ("utf-8-sig", "utf-8"), ("cp1252", "cp1252"),
        ("windows-1252", "cp1252"), ("latin-1", "latin-1"), ("ISO-8859-1", "latin-1"),
        ("utf-16", "utf-16"), ("UTF-16LE", "utf-16-le"),
    ],
)  # fmt: skip
def test_encoding_option_spellings(value: str, name: str) -> None:
    assert parse_options({"encoding": value}).encoding == name


def test_echo_lists_every_option_applied_and_where_it_came_from() -> None:
    opts = parse_options(
        {"phone-region": "de", "columns": "Kontakt=email", "regoin": "x"}, default_phone_region="US"
    )
    assert opts.echo() == {
        "applied": {
            "audience-api": "file",
            "retention-days": None,
            "phone-region": "DE",
            "id-type": None,
            "maid-hash": "sha256",
            "encoding": None,
            "columns": "Kontakt=email",
        },
        "from_metadata": ["phone-region", "columns"],
        "unknown": [{"key": "regoin", "hint": "did you mean phone-region?"}],
    }


def test_defaults_echo_the_settings_default_region() -> None:
    assert parse_options({}, default_phone_region="FR") == FileOptions(phone_region="FR")
    assert parse_options({}, default_phone_region="FR").echo()["from_metadata"] == []


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=6))
def test_any_metadata_gives_options_or_a_clear_refusal(meta: dict[str, str]) -> None:
    error: InvalidSegmentFile | None = None
    try:
        opts = parse_options(meta)
    except InvalidSegmentFile as exc:
        error = exc
    if error is not None:
        assert error.code == "invalid_option"
        assert error.message
    else:
        assert len(opts.unknown) + len(opts.given) <= len(meta)
        opts.echo()
        opts.warnings()
