"""Partner mapping rows: positionally aligned with id_schema, Android ids as AAID."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiktok_connector.audiences import partner

HEX = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
COLUMNS = ["EMAIL_SHA256", "PHONE_SHA256", "GAID_SHA256", "IDFA_MD5"]


def test_gaid_columns_become_aaid_and_others_keep_their_names() -> None:
    assert partner.id_schema(["EMAIL_SHA256", "gaid_md5", "GAID_SHA256", "IDFA_SHA256"]) == [
        "EMAIL_SHA256",
        "AAID_MD5",
        "AAID_SHA256",
        "IDFA_SHA256",
    ]


@pytest.mark.parametrize("column", ["MAID_SHA256", "FIRST_MD5", "NOT_A_TYPE"])
def test_columns_without_a_segment_type_are_refused(column: str) -> None:
    with pytest.raises(partner.UnsupportedColumnError):
        partner.id_schema(["EMAIL_SHA256", column])


@given(
    st.lists(
        st.tuples(*(st.one_of(st.just(""), HEX) for _ in COLUMNS)).filter(any),
        min_size=1,
        max_size=60,
    ),
    st.integers(1, 17),
)
def test_rows_stay_aligned_with_the_schema_across_batches(
    rows: list[tuple[str, ...]], size: int
) -> None:
    content = (",".join(COLUMNS) + "\n" + "".join(",".join(r) + "\n" for r in rows)).encode()
    header, parsed = partner.read_chunk(content)
    batches = list(partner.batches(partner.mapping_rows(parsed, "42"), size))

    flat = [row for batch in batches for row in batch]
    assert all(1 <= len(b) <= size for b in batches)
    assert len(flat) == len(rows)
    for row, source in zip(flat, rows, strict=True):
        assert len(row) == len(header)  # one entry per id_schema position
        for entry, value in zip(row, source, strict=True):
            assert entry == ({"id": value, "audience_ids": ["42"]} if value else {})


def test_a_short_row_is_padded_with_placeholders() -> None:
    digest = hashlib.sha256(b"a").hexdigest()
    _, rows = partner.read_chunk(f"EMAIL_SHA256,PHONE_SHA256\n{digest}\n".encode())
    assert list(partner.mapping_rows(rows, "7")) == [[{"id": digest, "audience_ids": ["7"]}, {}]]


def test_a_mapping_refusal_is_not_ready_only_just_after_our_own_create() -> None:
    """Contract PA-07 / TM-03: within the window after our create, 40001/40002/40007 wait."""
    from tiktok_connector.audiences.partner import not_ready
    from tiktok_connector.tiktok import PermanentTikTokError

    refused = PermanentTikTokError(40002, "not ready", request_id="r1", path="segment/mapping")
    waiting = not_ready(refused, audience_id="A", created_at=100.0, window=600.0, now=160.0)
    assert waiting is not None
    assert waiting.reason == "partner_audience_not_ready"
    assert waiting.gives_up_at == 700.0
    assert waiting.request_id == "r1"
    assert not waiting.resume_with_finalize  # the chunk itself comes back
    assert not_ready(refused, audience_id="A", created_at=100.0, window=600.0, now=700.0) is None
    assert not_ready(refused, audience_id="A", created_at=None, window=600.0, now=160.0) is None
    other = PermanentTikTokError(40062, "PII not hashed", path="segment/mapping")
    assert not_ready(other, audience_id="A", created_at=100.0, window=600.0, now=160.0) is None
