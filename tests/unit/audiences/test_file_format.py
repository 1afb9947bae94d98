"""Customer files in TikTok's format (contract CF-02, CF-03, CF-05, CF-06, CF-09)."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiktok_connector.audiences.file_format import (
    DoesNotFit,
    FileShape,
    conform,
    job_shape,
    misfits,
    present_columns,
)
from tiktok_connector.contract.job import JobItem


def h(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def chunk(columns: list[str], rows: list[list[str]]) -> bytes:
    return ("\n".join([",".join(columns), *(",".join(r) for r in rows)]) + "\n").encode()


def test_maid_only_files_use_first_types_which_upload_and_create_both_take() -> None:
    # /create/'s enum has no MAID_* (contract CF-03): a MAID-only audience is FIRST_*.
    assert FileShape.of_columns(["MAID_SHA256"]).calculate_type == "FIRST_SHA256"
    assert FileShape.of_columns(["MAID_MD5"]).calculate_type == "FIRST_MD5"
    assert FileShape.of_columns(["IDFA_MD5"]).calculate_type == "IDFA_MD5"
    assert FileShape.of_columns(["GAID_SHA256"]).calculate_type == "GAID_SHA256"
    assert FileShape.of_columns(["EMAIL_SHA256", "PHONE_SHA256"]).calculate_type == (
        "MULTIPLE_TYPES"
    )
    with pytest.raises(ValueError, match="no customer-file type"):
        FileShape.of_columns(["AAID_SHA256"])


def test_headers_are_the_names_tiktok_documents_and_mobile_ids_go_under_maid() -> None:
    shape = FileShape.of_columns(["EMAIL_SHA256", "PHONE_SHA256", "IDFA_SHA256", "GAID_MD5"])
    assert shape.header_line() == "Email_SHA256,Phone_SHA256,MAID_SHA256,MAID_MD5"
    single = FileShape.of_columns(["IDFA_SHA256"])
    # single-type files carry the header row too
    assert conform(chunk(["IDFA_SHA256"], [[h(1)]]), single, name="A") == (
        f"MAID_SHA256\n{h(1)}\n".encode()
    )


def test_an_emails_only_file_on_an_email_and_phone_audience_gets_empty_phone_cells() -> None:
    audience = FileShape.of_columns(["EMAIL_SHA256", "PHONE_SHA256"])
    out = conform(chunk(["EMAIL_SHA256"], [[h(1)], [h(2)]]), audience, name="A")
    assert out.decode().splitlines() == ["Email_SHA256,Phone_SHA256", f"{h(1)},", f"{h(2)},"]


def test_a_headerless_file_of_phones_fits_a_phone_audience() -> None:
    # a header-less file is typed line by line into email, phone and MAID columns
    audience = FileShape.of_columns(["PHONE_SHA256"])
    source = chunk(
        ["EMAIL_SHA256", "PHONE_SHA256", "MAID_SHA256"], [["", h(1), ""], ["", h(2), ""]]
    )
    assert conform(source, audience, name="A").decode().splitlines() == [
        "Phone_SHA256",
        h(1),
        h(2),
    ]


def test_a_value_the_audience_cannot_hold_is_refused_with_a_sentence() -> None:
    audience = FileShape.of_columns(["PHONE_SHA256"])
    source = chunk(["MAID_SHA256"], [[h(1)]])
    with pytest.raises(DoesNotFit) as caught:
        conform(source, audience, name="Phones")
    message = str(caught.value)
    assert "mobile ad id" in message
    assert "'Phones'" in message
    assert "phone (SHA256)" in message
    assert h(1) not in message
    # a column the audience cannot hold is fine as long as it is empty in this chunk
    assert conform(chunk(["PHONE_SHA256", "MAID_SHA256"], [[h(2), ""]]), audience, name="P")


def test_mobile_ids_of_another_platform_fit_only_a_multiple_types_audience() -> None:
    assert misfits(FileShape.of_columns(["IDFA_SHA256"]), ["GAID_SHA256"]) == ["GAID_SHA256"]
    mixed = FileShape.of_columns(["EMAIL_SHA256", "IDFA_SHA256"])
    assert misfits(mixed, ["GAID_SHA256", "MAID_SHA256", "EMAIL_SHA256"]) == []
    assert misfits(mixed, ["GAID_MD5", "PHONE_SHA256"]) == ["GAID_MD5", "PHONE_SHA256"]


def test_more_values_of_a_header_than_the_audience_has_columns_continue_on_a_new_line() -> None:
    audience = FileShape.of_columns(["EMAIL_SHA256", "PHONE_SHA256"])
    source = chunk(["EMAIL_SHA256", "EMAIL_SHA256", "PHONE_SHA256"], [[h(1), h(2), h(3)]])
    assert conform(source, audience, name="A").decode().splitlines() == [
        "Email_SHA256,Phone_SHA256",
        f"{h(1)},{h(3)}",
        f"{h(2)},",
    ]


def test_a_header_appears_at_most_three_times_extra_mobile_ids_go_on_extra_lines() -> None:
    """CF-06: IDFA, GAID and MAID columns share the MAID headers; at most three of them."""
    shape = FileShape.of_columns(["IDFA_SHA256", "IDFA_SHA256", "GAID_SHA256", "GAID_SHA256"])
    assert shape.headers == ("MAID_SHA256", "MAID_SHA256", "MAID_SHA256")
    source = ["IDFA_SHA256", "IDFA_SHA256", "GAID_SHA256", "GAID_SHA256"]
    out = conform(chunk(source, [[h(1), h(2), h(3), h(4)]]), shape, name="A").decode()
    assert out.splitlines() == [
        "MAID_SHA256,MAID_SHA256,MAID_SHA256",
        f"{h(1)},{h(2)},{h(3)}",
        f"{h(4)},,",
    ]


COLUMNS = ["EMAIL_SHA256", "PHONE_SHA256", "IDFA_SHA256", "GAID_SHA256", "MAID_SHA256"]


@given(
    audience=st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=6),
    source=st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=5),
    rows=st.lists(st.lists(st.integers(0, 40), min_size=5, max_size=5), max_size=6),
    holes=st.lists(st.booleans(), min_size=30, max_size=30),
)
def test_conform_keeps_every_value_once_or_refuses(
    audience: list[str], source: list[str], rows: list[list[int]], holes: list[bool]
) -> None:
    shape = FileShape.of_columns(audience)
    cells = [
        [("" if holes[(r * 5 + c) % 30] else h(v)) for c, v in enumerate(row[: len(source)])]
        for r, row in enumerate(rows)
    ]
    given_values = Counter(v for row in cells for v in row if v)
    used = {c for row in cells for c, v in zip(source, row, strict=True) if v}
    try:
        out = conform(chunk(source, cells), shape, name="A").decode().splitlines()
    except DoesNotFit:
        assert misfits(shape, used)
        return
    assert not misfits(shape, used)
    assert out[0] == (shape.header_line() if shape.multiple else shape.headers[0])
    width = len(shape.columns) if shape.multiple else 1
    assert all(len(line.split(",")) == width for line in out[1:])
    assert Counter(v for line in out[1:] for v in line.split(",") if v) == given_values


def item(
    columns: list[str], identifiers: dict[str, int], *, done: int = 1, total: int = 1
) -> JobItem:
    return JobItem.model_validate(
        {
            "job_id": "j" * 32,
            "status": "running",
            "source": {"bucket": "b", "key": "k"},
            "columns": columns,
            "ranges_done": done,
            "ranges_total": total,
            "ranges": {
                "0": {
                    "identifiers": {
                        t: {"accepted": n, "rejected": 0} for t, n in identifiers.items()
                    }
                }
            },
        }
    )


def test_present_columns_wait_for_every_range_then_keep_the_types_with_values() -> None:
    columns = ["EMAIL_SHA256", "PHONE_SHA256", "MAID_SHA256"]
    assert present_columns(item(columns, {"phone": 3}, done=1, total=2)) is None
    assert present_columns(item(columns, {"phone": 3, "email": 0})) == ["PHONE_SHA256"]


def test_a_headerless_file_is_typed_by_the_ids_it_holds_other_files_by_their_columns() -> None:
    job = item(["EMAIL_SHA256", "PHONE_SHA256", "MAID_SHA256"], {"phone": 1200, "maid": 0})
    assert job_shape(job, headerless_auto=True) == FileShape("PHONE_SHA256", ("PHONE_SHA256",))
    assert job_shape(job, headerless_auto=False).calculate_type == "MULTIPLE_TYPES"
    # before every range is counted the three columns stay (every chunk fits them)
    early = item(["EMAIL_SHA256", "PHONE_SHA256", "MAID_SHA256"], {"phone": 5}, done=0, total=2)
    assert job_shape(early, headerless_auto=True).columns == (
        "EMAIL_SHA256",
        "PHONE_SHA256",
        "MAID_SHA256",
    )
