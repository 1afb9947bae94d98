"""RunWriter: ingest's chunk lines → run parts (records bucketed by partition, flat memory)."""

from __future__ import annotations

import hashlib

import pytest

from tests.unit.sync.fakes import FakeS3
from tiktok_connector.sync import records
from tiktok_connector.sync.recordfile import KIND_RUN, read_ref, read_slab
from tiktok_connector.sync.runs import RunWriter, run_key


def h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def md5(value: str) -> str:
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()


def _writer(s3: FakeS3, columns: list[str], api: str = "file", **kw: int) -> RunWriter:
    args = {"bits": 3, "range_index": 2, **kw}
    return RunWriter(s3=s3, bucket="b", job_id="job", columns=columns, api=api, **args)


def _all(s3: FakeS3, keys: list[str]) -> list[tuple[str, str]]:
    out = []
    for key in keys:
        ref, _ = read_ref(s3, "b", key)
        slab = read_slab(s3, "b", ref, 0, 65536)
        out += [
            (records.BY_CODE[r[32]].name, records.record_hex(r)) for r in records.split(slab.data)
        ]
    return sorted(out)


def test_every_cell_of_a_multi_column_line_becomes_a_member_of_its_type() -> None:
    s3 = FakeS3()
    writer = _writer(s3, ["EMAIL_SHA256", "PHONE_SHA256", "IDFA_MD5"])
    writer.write([f"{h('a')},{h('p')},{md5('i')}", f"{h('b')},,", f",,{md5('j')}"])
    parts = writer.close()

    assert [p.key for p in parts] == [run_key("job", 2, 0)]
    assert parts[0].kind == KIND_RUN
    assert writer.records == 5
    assert _all(s3, [p.key for p in parts]) == sorted(
        [
            ("EMAIL_SHA256", h("a")),
            ("EMAIL_SHA256", h("b")),
            ("PHONE_SHA256", h("p")),
            ("MAID_MD5", md5("i")),  # customer file: IDFA under the MAID header (CF-07)
            ("MAID_MD5", md5("j")),
        ]
    )


def test_records_land_in_their_partition() -> None:
    s3 = FakeS3()
    writer = _writer(s3, ["EMAIL_SHA256"], bits=11)
    values = [h(f"user{i}") for i in range(300)]
    writer.write(values)
    (part,) = writer.close()
    ref, _index = read_ref(s3, "b", part.key)
    assert (ref.bits, ref.first, ref.count, ref.records) == (11, 0, 2048, 300)
    slab = read_slab(s3, "b", ref, 0, 65536)
    for q in range(2048):
        for record in records.split(slab.piece(q, 11)):
            assert records.partition_of(record, 11) == q


def test_the_buffer_spills_into_parts_and_nothing_is_lost() -> None:
    s3 = FakeS3()
    writer = _writer(s3, ["EMAIL_SHA256"], spill_bytes=33 * 10)
    values = [h(f"user{i}") for i in range(35)]
    for start in range(0, 35, 5):
        writer.write(values[start : start + 5])
    parts = writer.close()

    assert len(parts) == 4  # 10 + 10 + 10 + 5
    assert [p.records for p in parts] == [10, 10, 10, 5]
    assert [p.key for p in parts] == [run_key("job", 2, i) for i in range(4)]
    assert _all(s3, [p.key for p in parts]) == sorted(("EMAIL_SHA256", v) for v in values)


def test_a_range_without_ids_writes_no_part() -> None:
    s3 = FakeS3()
    writer = _writer(s3, ["EMAIL_SHA256"])
    writer.write([])
    assert writer.close() == []
    assert s3.objects == {}


def test_partner_runs_refuse_maids_of_unknown_platform() -> None:
    with pytest.raises(ValueError, match="MAID"):
        _writer(FakeS3(), ["EMAIL_SHA256", "MAID_SHA256"], api="segment")


def test_a_value_of_the_wrong_width_is_refused() -> None:
    writer = _writer(FakeS3(), ["EMAIL_SHA256", "PHONE_SHA256"])
    with pytest.raises(ValueError, match="PHONE_SHA256"):
        writer.write([f"{h('a')},{md5('p')}"])
