"""The report pointer's path and its order of uploads (S3 sequencers, then LastModified)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiktok_connector.contract.pointer import ReportPointer, pointer_key


def pointer(
    version: str, sequencer: str | None = None, modified: str | None = None
) -> ReportPointer:
    return ReportPointer(
        bucket="b",
        key="segments/1/A/create/f.csv",
        job_id="j" + version,
        report_key=f"reports/j{version}.json",
        version=version,
        sequencer=sequencer,
        last_modified=modified,
    )


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            "segments/7100/Summer Buyers/create/list.csv",
            "reports/by-key/7100/Summer Buyers/create/list.csv.json",
        ),
        ("segments/1/a/append/x.csv.gz", "reports/by-key/1/a/append/x.csv.gz.json"),
        ("elsewhere/f.csv", "reports/by-key/elsewhere/f.csv.json"),
        ("segmentsX/f.csv", "reports/by-key/segmentsX/f.csv.json"),
    ],
)
def test_the_pointer_path_is_the_key_after_segments_with_json(key: str, expected: str) -> None:
    assert pointer_key(key) == expected


def test_a_greater_sequencer_is_newer_whatever_its_length() -> None:
    # S3: compare as hexadecimal, the shorter left-padded with zeros ("FF" < "0100")
    assert pointer("2", sequencer="0100").newer_than(pointer("1", sequencer="FF"))
    assert not pointer("1", sequencer="FF").newer_than(pointer("2", sequencer="0100"))
    assert pointer("2", sequencer="0062E5A5C3F1").newer_than(pointer("1", sequencer="62E5A5C3F0"))


def test_the_sequencer_decides_even_against_last_modified() -> None:
    late = pointer("2", sequencer="0B", modified="2026-01-01T00:00:00Z")
    early = pointer("1", sequencer="0A", modified="2026-01-02T00:00:00Z")
    assert late.newer_than(early)
    assert not early.newer_than(late)


def test_without_a_sequencer_on_either_side_last_modified_decides() -> None:
    old = pointer("1", sequencer="0A", modified="2026-01-01T00:00:00Z")
    new = pointer("2", modified="2026-01-01T00:00:01Z")
    assert new.newer_than(old)
    assert not old.newer_than(new)


def test_the_same_upload_is_never_newer_than_itself() -> None:
    assert not pointer("1", sequencer="0B").newer_than(pointer("1", sequencer="0A"))


def test_an_unreadable_sequencer_loses_to_a_readable_one() -> None:
    assert pointer("2", sequencer="01").newer_than(pointer("1", sequencer="not-hex"))


@given(st.integers(0, 2**96), st.integers(0, 2**96), st.integers(0, 8), st.integers(0, 8))
def test_sequencer_order_is_numeric_order(a: int, b: int, pad_a: int, pad_b: int) -> None:
    first = pointer("a", sequencer="0" * pad_a + f"{a:X}")
    second = pointer("b", sequencer="0" * pad_b + f"{b:X}")
    assert first.newer_than(second) == (a > b)
    assert not (first.newer_than(second) and second.newer_than(first))


def test_a_pointer_round_trips_as_json_and_ignores_unknown_fields() -> None:
    p = pointer("v1", sequencer="0A", modified="2026-01-01T00:00:00Z")
    again = ReportPointer.model_validate_json(p.model_dump_json())
    assert again == p
    extended = ReportPointer.model_validate({**p.model_dump(), "later_field": 1})
    assert extended == p
    with pytest.raises(ValueError, match="job_id"):
        ReportPointer.model_validate({"key": "k"})
