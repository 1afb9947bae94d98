"""Member types, the 33-byte record and the prefix arithmetic."""

from __future__ import annotations

import bisect

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiktok_connector.sync import records
from tiktok_connector.sync.records import (
    BY_NAME,
    UnsupportedMemberType,
    choose_bits,
    encode_hex,
    member_type,
    record_hex,
)


@pytest.mark.parametrize(
    ("column", "member"),
    [
        ("EMAIL_SHA256", "EMAIL_SHA256"),
        ("phone_sha256", "PHONE_SHA256"),
        # customer files: IDFA, GAID and MAID values share TikTok's MAID headers (CF-07), so
        # they are one member type: a column declared idfa today and maid tomorrow is no change
        ("IDFA_SHA256", "MAID_SHA256"),
        ("GAID_SHA256", "MAID_SHA256"),
        ("MAID_SHA256", "MAID_SHA256"),
        ("FIRST_SHA256", "MAID_SHA256"),
        ("IDFA_MD5", "MAID_MD5"),
        ("GAID_MD5", "MAID_MD5"),
    ],
)
def test_customer_file_member_types_follow_tiktok_headers(column: str, member: str) -> None:
    assert member_type(column, "file").name == member


@pytest.mark.parametrize(
    ("column", "member"),
    [
        ("EMAIL_SHA256", "EMAIL_SHA256"),
        ("IDFA_SHA256", "IDFA_SHA256"),
        ("IDFA_MD5", "IDFA_MD5"),
        ("GAID_SHA256", "GAID_SHA256"),  # AAID at TikTok (PA-04): its own id_schema entry
        ("GAID_MD5", "GAID_MD5"),
    ],
)
def test_partner_member_types_follow_the_id_schema(column: str, member: str) -> None:
    assert member_type(column, "segment").name == member


@pytest.mark.parametrize(("column", "api"), [("MAID_SHA256", "segment"), ("ZIP", "file")])
def test_columns_without_a_member_type_are_refused_with_a_sentence(column: str, api: str) -> None:
    with pytest.raises(UnsupportedMemberType, match=column[:4]):
        member_type(column, api)


sha = st.binary(min_size=32, max_size=32)
md5 = st.binary(min_size=16, max_size=16)


@given(st.lists(sha), st.lists(md5))
def test_hex_values_become_records_and_back(shas: list[bytes], md5s: list[bytes]) -> None:
    email, maid_md5 = BY_NAME["EMAIL_SHA256"], BY_NAME["MAID_MD5"]
    blob = encode_hex([d.hex() for d in shas], email) + encode_hex(
        [d.hex() for d in md5s], maid_md5
    )

    got = records.split(blob)

    assert len(blob) == 33 * (len(shas) + len(md5s))
    assert [record_hex(r) for r in got] == [d.hex() for d in shas + md5s]
    assert [r[32] for r in got] == [email.code] * len(shas) + [maid_md5.code] * len(md5s)
    assert all(r[16:32] == bytes(16) for r in got[len(shas) :])  # MD5 padded with zeros


def test_upper_case_hex_is_the_same_record() -> None:
    value = "ab" * 32
    email = BY_NAME["EMAIL_SHA256"]
    assert encode_hex([value.upper()], email) == encode_hex([value], email)


@pytest.mark.parametrize(
    "values",
    [["ab" * 31], ["ab" * 33], ["zz" * 32], ["ab" * 16]],
    ids=["short", "long", "not hex", "an MD5 in a SHA-256 column"],
)
def test_values_of_the_wrong_width_or_not_hex_are_refused(values: list[str]) -> None:
    with pytest.raises(ValueError, match="EMAIL_SHA256"):
        encode_hex(["cd" * 32, *values], BY_NAME["EMAIL_SHA256"])


@given(st.integers(0, 10**12), st.integers(1, 10**6))
def test_choose_bits_is_the_fewest_bits_that_keep_partitions_small(n: int, per: int) -> None:
    bits = choose_bits(n, per)
    assert 0 <= bits <= records.MAX_BITS
    assert n <= per << bits or bits == records.MAX_BITS
    assert bits == 0 or n > per << (bits - 1)


@given(st.lists(sha, max_size=60), st.integers(0, 65535))
def test_lower_bound_finds_the_first_record_of_a_prefix(digests: list[bytes], prefix: int) -> None:
    recs = sorted(d + b"\x01" for d in digests)
    key = records.prefix_key(prefix)
    assert records.lower_bound(b"".join(recs), key) == bisect.bisect_left(recs, key)


@given(sha, st.integers(0, 16))
def test_a_record_lies_in_its_partitions_prefix_range(digest: bytes, bits: int) -> None:
    record = digest + b"\x01"
    q = records.partition_of(record, bits)
    lo, hi = records.prefix_range(q, 1, bits)
    assert lo <= records.prefix_of(record) < hi


def test_bits_outside_the_prefix_are_refused() -> None:
    with pytest.raises(ValueError, match=r"0\.\.16"):
        records.check_bits(17)
