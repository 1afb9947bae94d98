"""The sync diff, as properties: whatever the sets, the partition bits of either sync, the number
of byte ranges, the run spills and the group sizes, the new snapshot is the new set (sorted) and
the change chunks hold exactly the set differences."""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.sync.fakes import FakeS3
from tests.unit.sync.support import (
    PARTNER_COLUMNS,
    Member,
    as_members,
    chunk_members,
    lines_for,
    run_sync,
)
from tiktok_connector.sync import diff, partition, records

WIDTH = {"EMAIL_SHA256": 32, "PHONE_SHA256": 32, "IDFA_MD5": 16, "GAID_SHA256": 32}

# A pool of members: some digests appear under two types (different members), and prefixes are
# drawn from a few values so that partitions at every bit width get several records.
digests = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from([b"\x00\x00", b"\x00\x01", b"\x7f\xff", b"\x80\x00", b"\xff\xff", b"\x12\x34"])
    | st.binary(min_size=2, max_size=2),
    st.binary(min_size=30, max_size=30),
)
pools = st.lists(st.tuples(st.sampled_from(PARTNER_COLUMNS), digests), min_size=0, max_size=40).map(
    lambda pairs: sorted({(t, d[: WIDTH[t]].hex()) for t, d in pairs})
)


@st.composite
def two_sets(draw: st.DrawFn) -> tuple[set[Member], set[Member]]:
    pool = draw(pools)
    old = {m for m in pool if draw(st.booleans())}
    new = {m for m in pool if draw(st.booleans())}
    return old, new


def _expected_changes(old: set[Member], new: set[Member]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for t in sorted({t for t, _ in old | new}):
        out[t] = {
            "added": sum(1 for m in new - old if m[0] == t),
            "removed": sum(1 for m in old - new if m[0] == t),
            "unchanged": sum(1 for m in old & new if m[0] == t),
        }
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sets=two_sets(),
    bits_old=st.integers(0, 7),
    bits_new=st.integers(0, 7),
    ranges_old=st.integers(1, 3),
    ranges_new=st.integers(1, 4),
    group_records=st.integers(1, 30),
    spill=st.sampled_from([33, 200, 1 << 20]),
    repeats=st.integers(0, 3),
)
def test_a_sync_sends_exactly_the_set_differences_and_stores_the_new_set(
    sets: tuple[set[Member], set[Member]],
    bits_old: int,
    bits_new: int,
    ranges_old: int,
    ranges_new: int,
    group_records: int,
    spill: int,
    repeats: int,
) -> None:
    old, new = sets
    s3 = FakeS3()
    run_sync(
        s3,
        job_id="old",
        lines=lines_for(old, PARTNER_COLUMNS),
        columns=PARTNER_COLUMNS,
        bits=bits_old,
        ranges=ranges_old,
        group_records=group_records,
    )
    new_lines = lines_for(new, PARTNER_COLUMNS)
    new_lines += new_lines[:repeats]  # a repeated row (another range, another window) collapses

    second = run_sync(
        s3,
        job_id="new",
        lines=new_lines,
        columns=PARTNER_COLUMNS,
        base="old",
        bits=bits_new,
        ranges=ranges_new,
        spill_bytes=spill,
        group_records=group_records,
    )

    added = chunk_members(s3, second.adds)
    removed = chunk_members(s3, second.removes)
    assert Counter(added) == Counter(new - old)  # every addition once, nothing else
    assert Counter(removed) == Counter(old - new)
    stored = list(diff.current_members(s3, "sync-tests", second.result.manifest))
    assert stored == sorted(stored)
    assert as_members(stored) == new
    assert len(stored) == len(new)
    assert second.result.changes_report() == _expected_changes(old, new)
    assert dict(second.result.manifest.members) == dict(Counter(t for t, _ in new))
    assert second.result.added == len(new - old)
    assert second.result.removed == len(old - new)


record_types = st.sampled_from([t.code for t in records.MEMBER_TYPES])
record_values = st.builds(
    lambda digest, code: digest + bytes([code]), st.binary(min_size=32, max_size=32), record_types
)


@settings(max_examples=200, deadline=None)
@given(
    old=st.sets(record_values, max_size=30),
    new=st.lists(record_values, max_size=30),
    shared=st.lists(st.integers(0, 29), max_size=10),
    cuts=st.lists(st.integers(0, 40), max_size=4),
)
def test_diff_partition_is_the_set_difference_with_repeats_collapsed(
    old: set[bytes], new: list[bytes], shared: list[int], cuts: list[int]
) -> None:
    ordered = sorted(old)
    new = new + [ordered[i] for i in shared if i < len(ordered)]  # overlap with the old set
    new = new + new[: len(new) // 2]  # repeats
    blob = b"".join(new)
    bounds = sorted({0, len(new), *(min(c, len(new)) for c in cuts)})
    pieces = [blob[a * 33 : b * 33] for a, b in itertools.pairwise(bounds)]

    result = partition.diff_partition(pieces, b"".join(ordered))

    assert records.split(result.snapshot) == sorted(set(new))
    assert records.split(result.added) == sorted(set(new) - old)
    assert records.split(result.removed) == sorted(old - set(new))


def test_an_unchanged_partition_keeps_the_old_bytes() -> None:
    old = sorted(bytes([i]) * 32 + b"\x01" for i in range(5))
    blob = b"".join(old)
    result = partition.diff_partition([b"".join(reversed(old))], blob)
    assert result.snapshot is blob
    assert (result.added, result.removed) == (b"", b"")


@settings(max_examples=40, deadline=None)
@given(sets=two_sets(), bits=st.integers(0, 6), ranges=st.integers(1, 3))
def test_the_same_inputs_write_the_same_bytes(
    sets: tuple[set[Member], set[Member]], bits: int, ranges: int
) -> None:
    """A redelivered plan, group or finish rewrites identical objects (exactly-once rests on
    this), and how the file was cut into ranges does not change the snapshot or the changes."""
    old, new = sets
    outputs = []
    for cut in (ranges, ranges + 1):
        s3 = FakeS3()
        lines = lines_for(old, PARTNER_COLUMNS)
        run_sync(s3, job_id="old", lines=lines, columns=PARTNER_COLUMNS, bits=bits)
        lines = lines_for(new, PARTNER_COLUMNS)
        kw = {"job_id": "new", "lines": lines, "columns": PARTNER_COLUMNS, "base": "old"}
        run_sync(s3, bits=bits, ranges=cut, **kw)  # type: ignore[arg-type]
        first = {k: v for k, v in s3.objects.items() if "/run-" not in k}
        run_sync(s3, bits=bits, ranges=cut, **kw)  # type: ignore[arg-type]  # redelivered
        again = {k: v for k, v in s3.objects.items() if "/run-" not in k}
        assert again == first
        outputs.append({k: v for k, v in first.items() if not k.endswith("/plan.json")})
    assert outputs[0] == outputs[1]


def test_the_plan_sizes_partitions_from_the_exact_counts() -> None:
    """Ingest cut its runs from an estimate of the file's rows; a low estimate (here: no
    partitions at all) is corrected when the diff is planned, and the result is the same."""
    s3 = FakeS3()
    members = {("EMAIL_SHA256", f"{i:064x}") for i in range(3_000)}
    lines = lines_for(members, PARTNER_COLUMNS)
    old = run_sync(s3, job_id="a", lines=lines[:2_000], columns=PARTNER_COLUMNS, bits=0)
    assert old.plan.bits == records.choose_bits(2_000) == 0
    big = {("EMAIL_SHA256", hashlib.sha256(str(i).encode()).hexdigest()) for i in range(9_000)}

    new = run_sync(
        s3,
        job_id="b",
        lines=lines_for(big, PARTNER_COLUMNS),
        columns=PARTNER_COLUMNS,
        base="a",
        bits=0,
    )

    assert new.plan.bits == records.choose_bits(9_000) == 2
    assert as_members(diff.current_members(s3, "sync-tests", new.result.manifest)) == big
    assert Counter(chunk_members(s3, new.adds)) == Counter(big - set(_old_members(lines[:2_000])))


def _old_members(lines: list[str]) -> set[Member]:
    return {("EMAIL_SHA256", line.split(",")[0]) for line in lines}


@st.composite
def failed_syncs(draw: st.DrawFn) -> tuple[list[set[Member]], set[Member]]:
    """The base, one or two files whose syncs failed while sending, and today's file."""
    pool = draw(pools)
    files = [{m for m in pool if draw(st.booleans())} for _ in range(draw(st.integers(3, 4)))]
    return files[:-1], files[-1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=failed_syncs(), data=st.data(), bits=st.integers(0, 5))
def test_a_sync_after_failed_ones_brings_tiktok_to_the_file_whatever_they_sent(
    history: tuple[list[set[Member]], set[Member]], data: st.DataObject, bits: int
) -> None:
    """Syncs that failed while sending left TikTok anywhere between their base and their file;
    the next sync, told their generations, still leaves TikTok equal to its own file."""
    (base, *failed), today = history
    s3 = FakeS3()
    cols = PARTNER_COLUMNS
    run_sync(s3, job_id="g0", lines=lines_for(base, cols), columns=cols, bits=bits)
    tiktok = set(base)
    uncertain: list[str] = []
    for n, file in enumerate(failed, start=1):
        run = run_sync(
            s3,
            job_id=f"f{n}",
            lines=lines_for(file, cols),
            columns=cols,
            base="g0",
            uncertain=uncertain,
            bits=bits,
            group_records=7,
        )
        adds, removes = chunk_members(s3, run.adds), chunk_members(s3, run.removes)
        # the failure: TikTok took any part of the adds, and then any part of the removes
        tiktok |= {m for m in adds if data.draw(st.booleans())}
        tiktok -= {m for m in removes if data.draw(st.booleans())}
        uncertain.append(f"f{n}")

    last = run_sync(
        s3,
        job_id="g1",
        lines=lines_for(today, cols),
        columns=cols,
        base="g0",
        uncertain=uncertain,
        bits=bits,
        group_records=7,
    )
    tiktok |= set(chunk_members(s3, last.adds))
    tiktok -= set(chunk_members(s3, last.removes))

    assert tiktok == today
    assert as_members(diff.current_members(s3, "sync-tests", last.result.manifest)) == today
    assert last.result.manifest.uncertain == tuple(uncertain)
    assert dict(last.result.manifest.members) == dict(Counter(t for t, _ in today))
    # nothing is sent that cannot matter: adds are new ids, removes ids that may be held
    sure = set(base).intersection(*failed) if failed else set(base)
    maybe = set(base).union(*failed)
    assert set(chunk_members(s3, last.adds)) == today - sure
    assert set(chunk_members(s3, last.removes)) == maybe - today
