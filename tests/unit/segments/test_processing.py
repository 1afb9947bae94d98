"""Row processing without AWS: accounting holds for any input; chunks; dedupe; rejects."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiktok_connector.identity import IdType, hash_identifier
from tiktok_connector.segments.chunks import ChunkWriter, HashFilter
from tiktok_connector.segments.columns import plan_columns
from tiktok_connector.segments.options import FileOptions
from tiktok_connector.segments.processing import RangeProcessor
from tiktok_connector.segments.rejects import RejectWriter, safe_cell


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Rejects:
    def __init__(self) -> None:
        self.rows: list[tuple[int, str, str]] = []  # rejected rows
        self.partial: list[tuple[int, str, str]] = []  # bad values of rows that were sent

    def add(self, line: int, reason: str, column: str, partial: bool = False) -> None:
        (self.partial if partial else self.rows).append((line, reason, column))


def run(text: str, first: Any, fmt: str = "csv", **opts: Any) -> tuple[Any, list[str], Rejects]:
    plan = plan_columns(
        first, fmt=fmt, delimiter=",", compressed=False, options=FileOptions(**opts)
    )
    out: list[str] = []
    rejects = Rejects()
    proc = RangeProcessor(plan, api="file", phone_region="US", sink=out.extend, rejects=rejects)
    stats = proc.run(io.StringIO(text, newline=""), skip_header=plan.header)
    return stats, out, rejects


def check_accounting(stats: Any, out: list[str], rejects: Rejects, lines: int) -> None:
    assert stats.read == stats.accepted + stats.rejected
    assert stats.lines == lines
    assert sum(stats.rejected_by_reason.values()) == stats.rejected
    assert len(rejects.rows) == stats.rejected
    assert len({r[0] for r in rejects.rows}) == stats.rejected  # one entry per rejected line
    rejected_lines = {r[0] for r in rejects.rows}
    assert not rejected_lines & {r[0] for r in rejects.partial}  # partial: accepted rows only
    rejected_values = sum(counts[1] for counts in stats.identifiers.values())
    # every bad value has a line: rejected rows name their first one, partial rows every one
    assert len(rejects.partial) <= rejected_values
    assert len(out) == stats.accepted - stats.duplicates
    for counts in stats.identifiers.values():
        assert counts[0] >= 0
        assert counts[1] >= 0


cell = st.one_of(
    st.emails(),
    st.text(max_size=20),
    st.sampled_from(
        ["", " ", '"', '""', ",", "a@b", "+1 212 555 0100", "00000000-0000-0000-0000-000000000000"]
    ),
    st.from_regex(r"\+?[0-9 ()-]{0,16}", fullmatch=True),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.lists(cell, min_size=0, max_size=4), max_size=30),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_generated_csv_never_crashes_and_never_loses_a_row(rows: list[list[str]], eol: str) -> None:
    body = eol.join(",".join(r) for r in rows)
    text = "email,phone,idfa,name" + eol + body + (eol if rows else "")
    physical = sum(1 for _ in io.StringIO(text, newline=""))
    stats, out, rejects = run(text, ["email", "phone", "idfa", "name"])
    check_accounting(stats, out, rejects, physical)
    assert stats.read + stats.blank == physical - 1  # every line but the header


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes(text: str) -> None:
    for first, fmt in ((["email"], "csv"), (["a@b.co"], "csv"), ({"email": 1}, "jsonl")):
        physical = sum(1 for _ in io.StringIO(text, newline=""))
        stats, out, rejects = run(text, first, fmt)
        check_accounting(stats, out, rejects, physical)
        header_lines = physical - stats.read - stats.blank
        assert header_lines in (0, 1)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.emails(), st.text(alphabet="abc@. x", max_size=12)), max_size=40))
def test_single_column_counts_match_a_model(values: list[str]) -> None:
    text = "email\n" + "".join(v.replace("\n", " ").replace("\r", " ") + "\n" for v in values)
    stats, out, _ = run(text, ["email"])
    expected_ok = []
    expected_rejected = 0
    blank = 0
    for v in (v.replace("\n", " ").replace("\r", " ") for v in values):
        cells = v.split(",")
        if not v.strip():
            blank += 1
            continue
        h = hash_identifier(IdType.EMAIL, cells[0]) if cells[0] else None
        if isinstance(h, str):
            expected_ok.append(h)
        elif h is None or getattr(h, "reason", "") == "empty":
            if any(c.strip() for c in cells):
                expected_rejected += 1
            else:
                blank += 1
        else:
            expected_rejected += 1
    assert stats.accepted == len(expected_ok)
    assert stats.rejected == expected_rejected
    assert stats.blank == blank
    assert out == list(dict.fromkeys(expected_ok))
    assert stats.duplicates == len(expected_ok) - len(set(expected_ok))


def test_many_batches_of_an_email_column_match_a_model() -> None:
    """Many batches (the block form of the e-mail hasher and the lean dedupe loop) give what
    hashing line by line and keeping first occurrences gives: "+tag" rule, padding, case,
    duplicates within and across batches, and batches where one bad line sends the whole batch
    down the per-value path."""
    values = []
    for i in range(60_000):
        n = i % 23_000 if i % 997 else i - 1  # repeats, far apart and next to each other
        value = f"user{n}@example{n % 7}.com"
        if i % 10 == 3:
            value = value.replace("@", f"+news{i}@")  # the tag goes, so these repeat others
        if i % 5 == 1:
            value = f"  {value.upper()}\t"
        if i % 9_000 == 7:
            value = "not an address" if i % 2 else ""
        values.append(value)
    text = "email\n" + "".join(v + "\n" for v in values)
    stats, out, rejects = run(text, ["email"])
    model = [hash_identifier(IdType.EMAIL, v) for v in values if v]
    hashes = [h for h in model if isinstance(h, str)]
    assert out == list(dict.fromkeys(hashes))
    assert stats.accepted == len(hashes)
    assert stats.duplicates == len(hashes) - len(set(hashes))
    assert stats.rejected == len(model) - len(hashes) == len(rejects.rows)
    assert stats.blank == values.count("")
    assert stats.duplicates > 30_000


def run_lines(lines: list[str], first: Any) -> tuple[Any, list[str], Rejects]:
    """Like ``run``, but the processor gets a plain list of lines (no stream to read from)."""
    plan = plan_columns(first, fmt="csv", delimiter=",", compressed=False, options=FileOptions())
    out: list[str] = []
    rejects = Rejects()
    proc = RangeProcessor(plan, api="file", phone_region="US", sink=out.extend, rejects=rejects)
    return proc.run(lines, skip_header=plan.header), out, rejects


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.emails(),
            st.sampled_from(["", " ", "a@b", "x@y.co ", "A@B.CO", "p+q@r.st", '"q@r.st"', "1,2"]),
        ),
        max_size=60,
    ),
    eols=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=1, max_size=5),
    batch_chars=st.integers(1, 64),
    last_eol=st.booleans(),
)
def test_stream_batches_cut_anywhere_read_the_same_rows_as_the_lines(
    values: list[str], eols: list[str], batch_chars: int, last_eol: bool
) -> None:
    """The stream path reads batches of characters completed to a line end; wherever a batch
    ends (inside a line, between the "\r" and "\n" of a line end) and whatever the line ends,
    it reads the rows the line-by-line path reads: same hashes, counters and reject lines."""
    text = (
        "email"
        + eols[0]
        + "".join(
            v + (eols[i % len(eols)] if last_eol or i < len(values) - 1 else "")
            for i, v in enumerate(values)
        )
    )
    lines = io.StringIO(text, newline="").readlines()
    expected = run_lines(lines, ["email"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("tiktok_connector.segments.processing.BATCH_CHARS", batch_chars)
        got = run(text, ["email"])
    assert got[1] == expected[1]
    assert got[2].rows == expected[2].rows
    assert got[0] == expected[0]  # every counter
    check_accounting(got[0], got[1], got[2], len(lines))


def test_duplicates_across_columns_are_blanked_per_hash() -> None:
    text = "email,phone\na@b.co,2125550100\na@b.co,2125550101\na@b.co,2125550100\n"
    stats, out, _ = run(text, ["email", "phone"])
    assert stats.accepted == 3
    assert stats.duplicates == 1
    assert len(out) == 2
    assert out[1].startswith(",")  # the email was already uploaded with the first row


def test_hash_filter_is_exact_and_bounded() -> None:
    f = HashFilter(max_entries=1000)
    values = [f"{i:064x}" for i in range(900)]
    assert all(f.add(v) for v in values)
    assert not any(f.add(v) for v in values)
    assert len(f) == 900
    for i in range(900, 1200):  # crossing max_entries starts a new window
        f.add(f"{i:064x}")
    assert f.windows == 2
    assert len(f) < 1000
    assert f.add(values[0])  # forgotten with the old window


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: Any, **_: Any) -> None:
        self.objects[Key] = Body.read() if hasattr(Body, "read") else bytes(Body)


def test_chunk_writer_respects_row_and_byte_limits() -> None:
    s3 = FakeS3()
    writer = ChunkWriter(
        s3=s3, bucket="b", job_id="j", range_index=2, columns=("EMAIL_SHA256",),
        max_rows=50, max_bytes=13 + 65 * 20,
    )  # fmt: skip
    lines = [f"{i:064x}" for i in range(130)]
    for start in range(0, 130, 7):
        writer.write(lines[start : start + 7])
    chunks = writer.close()
    assert [c.rows for c in chunks] == [20] * 6 + [10]
    assert [c.key for c in chunks][:2] == ["chunks/j/0002-00000.csv", "chunks/j/0002-00001.csv"]
    got: list[str] = []
    for c in chunks:
        body = s3.objects[c.key]
        assert len(body) <= 13 + 65 * 20
        assert hashlib.md5(body, usedforsecurity=False).hexdigest() == c.md5
        assert body.startswith(b"EMAIL_SHA256\n")
        got.extend(body.decode().splitlines()[1:])
    assert got == lines


def test_chunk_writer_writes_nothing_for_no_rows() -> None:
    s3 = FakeS3()
    writer = ChunkWriter(
        s3=s3, bucket="b", job_id="j", range_index=0, columns=("X",), max_rows=5, max_bytes=4096
    )
    writer.write([])
    assert writer.close() == []
    assert s3.objects == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+x", "'+x"),
        ("-x", "'-x"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("email", "email"),
    ],
)
def test_reject_cells_are_formula_safe(value: str, expected: str) -> None:
    assert safe_cell(value) == expected


def test_reject_writer_uploads_with_header() -> None:
    s3 = FakeS3()
    w = RejectWriter()
    w.add(3, "invalid_email", "=HYPERLINK(1)")
    w.add(7, "invalid_phone", "Phone, mobile")
    w.add(9, "invalid_phone", "Phone", partial=True)
    w.upload(s3=s3, bucket="b", key="rejects/j.csv", header=True)
    w.close()
    assert w.count == 2  # rejected rows; the partial line is a sent row's bad value
    assert s3.objects["rejects/j.csv"].decode().splitlines() == [
        "line,reason,column,partial",
        "3,invalid_email,'=HYPERLINK(1),no",
        '7,invalid_phone,"Phone, mobile",no',
        "9,invalid_phone,Phone,yes",
    ]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(
        st.one_of(st.emails(), st.text(alphabet='ab@.," \r', max_size=10)), max_size=40
    ),
    cuts=st.lists(st.integers(min_value=1, max_value=2000), max_size=5),
    block=st.integers(min_value=1, max_value=64),
)
def test_rows_split_over_byte_ranges_are_each_counted_once(
    values: list[str], cuts: list[int], block: int
) -> None:
    from tiktok_connector.segments.reader import open_text, range_blocks

    data = ("email\n" + "".join(v.replace("\n", " ") + "\n" for v in values)).encode()
    whole, _, _ = run(data.decode(), ["email"])
    points = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    totals = {"lines": 0, "read": 0, "accepted": 0, "rejected": 0, "blank": 0}
    plan = plan_columns(
        ["email"], fmt="csv", delimiter=",", compressed=False, options=FileOptions()
    )
    for start, end in itertools.pairwise(points):
        offset = start - 1 if start else 0
        blocks = (data[i : i + block] for i in range(offset, len(data), block))
        text = open_text(
            range_blocks(blocks, start, end, offset=offset),
            compressed=False,
            first_range=start == 0,
        )
        proc = RangeProcessor(
            plan, api="file", phone_region="US", sink=lambda _: None, rejects=Rejects()
        )
        stats = proc.run(text, skip_header=start == 0)
        for k in totals:
            totals[k] += getattr(stats, k)
    assert totals == {
        "lines": whole.lines, "read": whole.read, "accepted": whole.accepted,
        "rejected": whole.rejected, "blank": whole.blank,
    }  # fmt: skip


# ---------------------------------------------------------------------------- JSONL by own keys


def run_jsonl(objects: list[dict[str, Any]], head: int, **opts: Any) -> tuple[Any, Any, Rejects]:
    """Plan from the first ``head`` objects (the file's head), then read every object."""
    plan = plan_columns(
        objects[0], fmt="jsonl", delimiter="", compressed=False, options=FileOptions(**opts),
        more_rows=objects[1:head],
    )  # fmt: skip
    out: list[str] = []
    rejects = Rejects()
    proc = RangeProcessor(plan, api="file", phone_region="US", sink=out.extend, rejects=rejects)
    stats = proc.run([json.dumps(o) + "\n" for o in objects], skip_header=False)
    return stats, (plan, out), rejects


def test_jsonl_rows_are_read_by_their_own_keys() -> None:
    # the head shows only `email`; later rows carry the same people pre-hashed
    raw = [{"email": f"u{i}@example.com"} for i in range(3)]
    hashed = [{"email_sha256": sha(f"u{i}@example.com")} for i in range(3, 6)]
    stats, (plan, out), rejects = run_jsonl([*raw, *hashed], head=3)
    assert plan.columns == ("EMAIL_SHA256",)
    assert stats.accepted == 6
    assert stats.rejected == 0
    assert out == [sha(f"u{i}@example.com") for i in range(6)]
    assert rejects.rows == rejects.partial == []


def test_jsonl_head_union_plans_every_type_seen() -> None:
    objects = [
        {"email": "a@b.co"},
        {"phone": "+12125550100"},
        {"idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC"},
    ]
    stats, (plan, out), _ = run_jsonl(objects, head=3)
    assert plan.columns == ("EMAIL_SHA256", "PHONE_SHA256", "IDFA_SHA256")
    assert plan.calculate_type == "MULTIPLE_TYPES"
    assert stats.accepted == 3
    assert [line.count(",") for line in out] == [2, 2, 2]


def test_jsonl_key_of_a_type_the_head_did_not_show_is_rejected_visibly() -> None:
    objects = [
        {"email": "a@b.co"},
        {"phone": "+12125550100"},
        {"email": "c@d.co", "tel": "2125550101"},
    ]
    stats, (plan, _), rejects = run_jsonl(objects, head=1)
    assert plan.columns == ("EMAIL_SHA256",)
    assert stats.accepted == 2
    assert stats.rejected == 1
    assert rejects.rows == [(2, "column_not_planned", "phone")]
    assert rejects.partial == [(3, "column_not_planned", "tel")]
    assert stats.findings == {"unplanned:phone": 1, "unplanned:tel": 1}
    assert stats.identifiers["phone"] == [0, 2]


def test_jsonl_keys_named_by_the_columns_option_are_planned_in_advance() -> None:
    objects = [{"email": "a@b.co"}, {"Kontakt": "+12125550100"}]
    stats, (plan, _), rejects = run_jsonl(objects, head=1, columns=(("kontakt", "phone"),))
    assert plan.columns == ("EMAIL_SHA256", "PHONE_SHA256")
    assert stats.accepted == 2
    assert rejects.rows == []


# ---------------------------------------------------------------------------- partial rows


def test_a_bad_value_beside_a_good_one_gets_a_partial_reject_line() -> None:
    text = "email,phone,work email\na@b.co,12,not-an-email\nbad,,\n,2125550100,\n"
    stats, _, rejects = run(text, ["email", "phone", "work email"])
    assert stats.accepted == 2
    assert stats.rejected == 1
    assert rejects.partial == [(2, "invalid_phone", "phone"), (2, "invalid_email", "work email")]
    assert rejects.rows == [(3, "invalid_email", "email")]
    assert stats.findings == {"invalid_phones": 1}


def test_single_phone_column_counts_invalid_phones_for_the_region_warning() -> None:
    stats, _, _ = run("phone\n12\n2125550100\n123\n", ["phone"])
    assert stats.rejected_by_reason == {"invalid_phone": 2}
    assert stats.findings == {"invalid_phones": 2}
