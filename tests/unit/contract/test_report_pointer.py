"""The report pointer's key and order (no AWS)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tiktok_connector.contract.pointer import ReportPointer, pointer_key


def pointer(job: str, sequencer: str | None = None, modified: str | None = None) -> ReportPointer:
    return ReportPointer(
        bucket="b",
        key="segments/1/A/create/f.csv",
        version_id="v",
        job_id=job,
        report_key=f"reports/{job}.json",
        rejects_key=f"rejects/{job}.csv",
        sequencer=sequencer,
        last_modified=modified,
    )


def test_the_pointer_key_is_the_file_key_under_reports_by_key() -> None:
    assert (
        pointer_key("segments/7100/Spring Buyers/create/buyers.csv")
        == "reports/by-key/7100/Spring Buyers/create/buyers.csv.json"
    )
    assert pointer_key("segments/7100/Café été/sync/ü.csv.gz") == (
        "reports/by-key/7100/Café été/sync/ü.csv.gz.json"
    )
    # a key's dot-only parts and its "%" are written so that no pointer climbs out of by-key/
    assert pointer_key("segments/7100/../../reports/create/x.csv") == (
        "reports/by-key/7100/%2E%2E/%2E%2E/reports/create/x.csv.json"
    )
    assert pointer_key("segments/7100/./a/create/%2E%2E.csv") == (
        "reports/by-key/7100/%2E/a/create/%252E%252E.csv.json"
    )
    assert pointer_key("segments/7100/.../create/..x") == (
        "reports/by-key/7100/%2E%2E%2E/create/..x.json"
    )
    # only files ingest reads have a pointer
    assert pointer_key("elsewhere/7100/A/create/f.csv") is None
    assert pointer_key("segments/") is None


def test_a_later_sequencer_wins_whatever_the_lengths() -> None:
    # S3 sequencers of one key compare as hex once the shorter is padded on the right
    assert pointer("b", "0062E99A88DC407460").newer_than(pointer("a", "0062E99A88DC407450"))
    assert not pointer("a", "0062E99A88DC407450").newer_than(pointer("b", "0062E99A88DC407460"))
    assert pointer("b", "0062E99A88DC4075").newer_than(pointer("a", "0062E99A88DC407450"))
    assert not pointer("a", "0062E99A88DC407450").newer_than(pointer("b", "0062E99A88DC4075"))
    assert pointer("b", "00ab").newer_than(pointer("a", "00AA"))  # case does not matter


def test_without_sequencers_the_last_modified_time_decides() -> None:
    early, late = "2026-11-27T01:00:00+00:00", "2026-11-27T01:00:05+00:00"
    assert pointer("b", None, late).newer_than(pointer("a", "00AA", early))
    assert not pointer("a", None, early).newer_than(pointer("b", None, late))


def test_the_same_job_may_always_rewrite_its_pointer() -> None:
    assert pointer("a", "0001").newer_than(pointer("a", "0009"))


hex_digits = st.text(alphabet="0123456789ABCDEF", min_size=1, max_size=20)


@given(hex_digits, hex_digits)
def test_sequencer_order_is_the_padded_hex_order(x: str, y: str) -> None:
    width = max(len(x), len(y))
    later = int(x.ljust(width, "0"), 16) >= int(y.ljust(width, "0"), 16)
    assert pointer("x", x).newer_than(pointer("y", y)) == later
    # of two different uploads at most one is strictly newer
    if x.ljust(width, "0") != y.ljust(width, "0"):
        assert pointer("x", x).newer_than(pointer("y", y)) != pointer("y", y).newer_than(
            pointer("x", x)
        )


key_part = st.text(alphabet="ab.%/ ", max_size=6)


@given(st.lists(key_part, min_size=1, max_size=5), st.lists(key_part, min_size=1, max_size=5))
def test_pointer_keys_never_climb_out_and_never_collide(a: list[str], b: list[str]) -> None:
    key_a, key_b = "segments/" + "/".join(a), "segments/" + "/".join(b)
    pa, pb = pointer_key(key_a), pointer_key(key_b)
    for found in (pa, pb):
        if found is not None:
            assert found.startswith("reports/by-key/")
            assert not {".", ".."} & set(found.split("/"))
    if pa is not None and key_a != key_b:
        assert pa != pb
