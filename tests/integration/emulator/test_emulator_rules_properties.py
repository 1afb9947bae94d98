"""Property tests for the emulator's parsers (customer files, redirects, event times)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiktok_local.emulator.consent import redirect_with
from tiktok_local.emulator.rules import (
    FILE_COLUMN_TYPES,
    ApiError,
    parse_customer_file,
    validate_event,
)

sha256_hex = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
HEX64 = re.compile(r"[0-9a-f]{64}")


@given(
    hashes=st.lists(sha256_hex, min_size=1, max_size=30),
    header=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
    blank_every=st.integers(min_value=0, max_value=5),
)
def test_single_type_files_parse_to_their_hashes(hashes, header, newline, bom, blank_every):
    lines = (["EMAIL_SHA256"] if header else []) + [
        h + (newline if blank_every and i % blank_every == 0 else "") for i, h in enumerate(hashes)
    ]
    text = ("\ufeff" if bom else "") + newline.join(lines) + newline
    members, rows = parse_customer_file(text.encode(), "EMAIL_SHA256")
    assert members == [("EMAIL_SHA256", h) for h in hashes]
    assert rows == len(hashes)


@given(
    hashes=st.lists(sha256_hex, min_size=1, max_size=10),
    bad=st.text(min_size=1, max_size=80).filter(
        lambda s: (
            s.strip()
            and "," not in s
            and not HEX64.fullmatch(s.strip())
            and s.strip().upper() not in FILE_COLUMN_TYPES
            and not any(c in s for c in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
        )
    ),
    position=st.integers(min_value=0, max_value=10),
)
def test_any_value_that_is_not_a_hash_is_40062(hashes, bad, position):
    lines = list(hashes)
    lines.insert(min(position, len(lines)), bad)
    lines.insert(0, "EMAIL_SHA256")
    with pytest.raises(ApiError) as err:
        parse_customer_file(("\n".join(lines)).encode(), "EMAIL_SHA256")
    assert err.value.code == 40062
    # The message names the line and column, never the value itself.
    assert re.fullmatch(
        r"Line \d+: value in column EMAIL_SHA256 is not a lower-case SHA256 hex hash "
        r"\(raw or wrongly hashed PII\)",
        err.value.message,
    )


@given(
    rows=st.lists(
        st.tuples(st.one_of(st.just(""), sha256_hex), st.one_of(st.just(""), sha256_hex)),
        min_size=1,
        max_size=20,
    ).filter(lambda rs: any(a or b for a, b in rs))
)
def test_multiple_types_rows_keep_their_columns(rows):
    text = "EMAIL_SHA256,PHONE_SHA256\n" + "\n".join(f"{a},{b}" for a, b in rows)
    members, _ = parse_customer_file(text.encode(), "MULTIPLE_TYPES")
    expected = []
    for a, b in rows:
        if a:
            expected.append(("EMAIL_SHA256", a))
        if b:
            expected.append(("PHONE_SHA256", b))
    assert members == expected


@given(state=st.text(max_size=60), existing=st.booleans())
def test_redirect_echoes_any_state_verbatim(state, existing):
    uri = "http://127.0.0.1:8000/cb" + ("?env=x" if existing else "")
    target = redirect_with(uri, {"auth_code": "c", "state": state})
    query = parse_qs(urlsplit(target).query, keep_blank_values=True)
    assert query["state"] == [state]
    assert query["auth_code"] == ["c"]
    assert ("env" in query) is existing


@given(seconds=st.integers(min_value=1, max_value=99_999_999_999))
def test_integer_unix_seconds_accepted(seconds):
    validate_event({"event": "Search", "event_time": seconds}, "offline", 0)


@given(
    value=st.one_of(
        st.floats(allow_nan=True),
        st.text(),
        st.booleans(),
        st.integers(min_value=100_000_000_000),
        st.integers(max_value=0),
    )
)
def test_non_seconds_event_time_rejected(value):
    with pytest.raises(ApiError) as err:
        validate_event({"event": "Search", "event_time": value}, "offline", 3)
    assert err.value.code == 40002
    assert "data[3].event_time" in err.value.message
