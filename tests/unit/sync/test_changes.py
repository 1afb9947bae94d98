"""Change chunks: the records a sync adds and removes, as chunk files the upload path reads."""

from __future__ import annotations

import hashlib

import pytest

from tests.unit.sync.fakes import FakeS3
from tests.unit.sync.support import chunk_members, lines_for, run_sync
from tiktok_connector.audiences import partner
from tiktok_connector.audiences.file_format import FileShape, conform
from tiktok_connector.segments.settings import MAX_CHUNK_BYTES
from tiktok_connector.sync import changes, records
from tiktok_connector.sync.changes import ChangeColumns, rows_per_chunk
from tiktok_connector.sync.records import BY_NAME, UnsupportedMemberType


def h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def md5(value: str) -> str:
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()


def record(type_name: str, hex_value: str) -> bytes:
    return records.encode_hex([hex_value], BY_NAME[type_name])


def test_each_id_goes_to_its_types_column_in_the_audience_shape() -> None:
    shape = FileShape.of_columns(["IDFA_SHA256", "EMAIL_SHA256", "MAID_MD5"])
    columns = ChangeColumns.for_columns(shape.columns, "file")
    blob = (
        record("EMAIL_SHA256", h("e"))
        + record("MAID_SHA256", h("m"))
        + record("MAID_MD5", md5("x"))
    )

    lines = changes.chunk_lines(blob, columns)

    assert lines == [f",{h('e')},", f"{h('m')},,", f",,{md5('x')}"]
    body = columns.header() + ("\n".join(lines) + "\n").encode()
    # what upload sends to TikTok: the audience's own headers, every id kept
    assert conform(body, shape, name="a").decode().splitlines() == [
        "MAID_SHA256,Email_SHA256,MAID_MD5",
        f",{h('e')},",
        f"{h('m')},,",
        f",,{md5('x')}",
    ]


def test_partner_change_chunks_read_as_mapping_rows() -> None:
    columns = ChangeColumns.for_types(["GAID_SHA256", "EMAIL_SHA256"])
    blob = record("GAID_SHA256", h("g")) + record("EMAIL_SHA256", h("e"))
    body = columns.header() + ("\n".join(changes.chunk_lines(blob, columns)) + "\n").encode()

    header, rows = partner.read_chunk(body)

    assert partner.id_schema(header) == ["EMAIL_SHA256", "AAID_SHA256"]
    assert list(rows) == [["", h("g")], [h("e"), ""]]


def test_a_type_the_audience_has_no_column_for_is_refused_with_a_sentence() -> None:
    columns = ChangeColumns.for_columns(["EMAIL_SHA256"], "file")
    assert columns.missing(["EMAIL_SHA256", "PHONE_SHA256"]) == ["PHONE_SHA256"]
    with pytest.raises(UnsupportedMemberType, match="no column for PHONE_SHA256"):
        changes.chunk_lines(record("PHONE_SHA256", h("p")), columns)


def test_chunks_stay_within_the_row_and_byte_limits() -> None:
    one = ChangeColumns.for_columns(["EMAIL_SHA256"], "file")
    assert rows_per_chunk(one) == 500_000  # CHUNK_ROWS: 500k lines of 65 bytes fit 48 MiB
    # partner files are cut smaller: mapping requests carry 1,000 rows whatever the file
    assert rows_per_chunk(one, api="segment") == changes.PARTNER_CHUNK_ROWS < 500_000
    three = ChangeColumns.for_types(["EMAIL_SHA256", "PHONE_SHA256", "IDFA_SHA256"])
    rows = rows_per_chunk(three, max_rows=10**9)
    assert len(three.header()) + rows * three.line_bytes() <= MAX_CHUNK_BYTES
    assert len(three.header()) + (rows + 1) * three.line_bytes() > MAX_CHUNK_BYTES
    with pytest.raises(ValueError, match="no room"):
        rows_per_chunk(one, max_bytes=60)


def test_change_chunks_split_the_changes_in_prefix_order_without_repeats() -> None:
    s3 = FakeS3()
    old = {("EMAIL_SHA256", h(f"old{i}")) for i in range(23)}
    new = {("EMAIL_SHA256", h(f"new{i}")) for i in range(17)}
    cols = ("EMAIL_SHA256",)
    run_sync(s3, job_id="a", lines=lines_for(old, cols), columns=cols, bits=2, group_records=9)
    run = run_sync(
        s3,
        job_id="b",
        lines=lines_for(new, cols),
        columns=cols,
        base="a",
        bits=4,
        group_records=9,
        chunk_rows=5,
    )

    assert [c.rows for c in run.adds] == [5, 5, 5, 2]
    assert [c.rows for c in run.removes] == [5, 5, 5, 5, 3]
    assert [c.key for c in run.adds] == [f"chunks/b/sync-add-{i:05d}.csv" for i in range(4)]
    added = [v for _, v in chunk_members(s3, run.adds)]
    assert added == sorted(v for _, v in new)  # prefix order = hex order for one type
    assert sorted(v for _, v in chunk_members(s3, run.removes)) == sorted(v for _, v in old)
    for chunk in run.adds:
        body = s3.objects[chunk.key]
        assert chunk.md5 == hashlib.md5(body, usedforsecurity=False).hexdigest()
        assert chunk.size == len(body)
    with pytest.raises(ValueError, match="past"):
        changes.write_change_chunk(
            s3,
            "sync-tests",
            job_id="b",
            action="add",
            refs=run.result.adds,
            index=4,
            columns=ChangeColumns.for_columns(cols, "segment"),
            rows=5,
        )


def test_the_deployments_chunk_rows_bound_change_chunks_too() -> None:
    one = ChangeColumns.for_columns(["EMAIL_SHA256"], "file")
    assert rows_per_chunk(one, chunk_rows=200) == 200
    assert rows_per_chunk(one, api="segment", chunk_rows=200) == 200
    assert rows_per_chunk(one, api="segment", chunk_rows=10**6) == changes.PARTNER_CHUNK_ROWS
