"""The record file: written, read back by ranged GETs at any partition width, and refused when
its bytes do not match its header."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.sync.fakes import FakeS3
from tiktok_connector.sync import recordfile, records
from tiktok_connector.sync.recordfile import KIND_RUN, KIND_SNAPSHOT, put, read_ref, read_slab
from tiktok_connector.sync.records import CorruptSyncObject, MissingSyncObject

BUCKET = "b"
digests = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from([b"\x00\x00", b"\x80\x00", b"\xff\xff"]) | st.binary(min_size=2, max_size=2),
    st.binary(min_size=30, max_size=30),
)


def _file(recs: list[bytes], bits: int, kind: int) -> list[bytes]:
    parts: list[list[bytes]] = [[] for _ in range(1 << bits)]
    for r in recs:
        parts[records.partition_of(r, bits)].append(r)
    if kind == KIND_SNAPSHOT:
        parts = [sorted(p) for p in parts]
    return [b"".join(p) for p in parts]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(digests, max_size=50, unique=True),
    st.integers(0, 6),
    st.integers(0, 8),
    st.sampled_from([KIND_RUN, KIND_SNAPSHOT]),
    st.integers(0, 255),
    st.integers(1, 256),
)
def test_any_partition_at_any_width_reads_back_its_records(
    digests_: list[bytes], file_bits: int, bits: int, kind: int, a: int, span: int
) -> None:
    recs = [d + b"\x02" for d in digests_]
    s3 = FakeS3()
    ref = put(s3, BUCKET, "f.bin", kind, file_bits, 0, _file(recs, file_bits, kind))
    assert read_ref(s3, BUCKET, "f.bin")[0] == ref
    first = a % (1 << bits)
    count = max(1, min(span, (1 << bits) - first))
    lo, hi = records.prefix_range(first, count, bits)

    slab = read_slab(s3, BUCKET, ref, lo, hi)

    for q in range(first, first + count):
        piece = records.split(slab.piece(q, bits))
        expected = [r for r in recs if records.partition_of(r, bits) == q]
        if kind == KIND_SNAPSHOT:
            assert piece == sorted(expected)
        else:
            assert sorted(piece) == sorted(expected)


def test_a_file_lists_its_partitions_behind_a_20_byte_header() -> None:
    rec = b"\x80" + bytes(31) + b"\x01"
    body = recordfile.encode(KIND_SNAPSHOT, 1, 0, [b"", rec])
    assert body[:8] == b"TTSYNC\x00\x01"
    assert len(body) == 20 + 8 * 3 + 33
    assert body[20:44] == (0).to_bytes(8, "big") * 2 + (1).to_bytes(8, "big")


def _stored(s3: FakeS3) -> recordfile.FileRef:
    recs = [bytes([i * 40]) + bytes(31) + b"\x01" for i in range(6)]
    return put(s3, BUCKET, "seg.bin", KIND_SNAPSHOT, 2, 0, _file(recs, 2, KIND_SNAPSHOT))


def test_a_truncated_file_is_an_error_not_fewer_records() -> None:
    s3 = FakeS3()
    ref = _stored(s3)
    s3.objects["seg.bin"] = s3.objects["seg.bin"][:-5]
    with pytest.raises(CorruptSyncObject, match=r"seg\.bin"):
        read_ref(s3, BUCKET, "seg.bin")
    with pytest.raises(CorruptSyncObject, match=r"seg\.bin"):
        read_slab(s3, BUCKET, ref, 0, 65536)


def test_records_of_another_width_are_an_error() -> None:
    s3 = FakeS3()
    ref = _stored(s3)
    body = s3.objects["seg.bin"]
    s3.objects["seg.bin"] = body + b"\x00" * 6  # as if written with 34-byte records
    with pytest.raises(CorruptSyncObject, match="bytes"):
        read_ref(s3, BUCKET, "seg.bin")
    with pytest.raises(CorruptSyncObject):
        read_slab(s3, BUCKET, ref, 0, 65536)


def test_a_wrong_size_shows_even_when_the_partitions_read_are_empty() -> None:
    s3 = FakeS3()
    ref = put(s3, BUCKET, "f.bin", KIND_SNAPSHOT, 1, 0, [b"", b"\x80" + bytes(31) + b"\x01"])
    assert read_slab(s3, BUCKET, ref, 0, 32768).data == b""
    s3.objects["f.bin"] += bytes(6)
    with pytest.raises(CorruptSyncObject, match="bytes"):
        read_slab(s3, BUCKET, ref, 0, 32768)


def test_a_file_that_is_not_a_record_file_is_an_error() -> None:
    s3 = FakeS3()
    s3.objects["x.bin"] = b"EMAIL_SHA256\n" + b"ab" * 100
    with pytest.raises(CorruptSyncObject, match="not a record file"):
        read_ref(s3, BUCKET, "x.bin")
    s3.objects["y.bin"] = b"short"
    with pytest.raises(CorruptSyncObject, match="too short"):
        read_ref(s3, BUCKET, "y.bin")


def test_an_index_that_goes_backwards_is_an_error() -> None:
    s3 = FakeS3()
    _stored(s3)
    body = bytearray(s3.objects["seg.bin"])
    body[20 + 8 : 20 + 16] = (5).to_bytes(8, "big")  # partition 0 "ends" after 5 records
    s3.objects["seg.bin"] = bytes(body)
    with pytest.raises(CorruptSyncObject, match="index"):
        read_ref(s3, BUCKET, "seg.bin")


def test_a_missing_file_is_missing_not_empty() -> None:
    s3 = FakeS3()
    ref = _stored(s3)
    del s3.objects["seg.bin"]
    with pytest.raises(MissingSyncObject, match=r"seg\.bin"):
        read_slab(s3, BUCKET, ref, 0, 65536)
    with pytest.raises(MissingSyncObject, match=r"seg\.bin"):
        read_ref(s3, BUCKET, "seg.bin")


def test_partitions_that_do_not_exist_at_the_width_are_refused() -> None:
    with pytest.raises(ValueError, match="do not exist"):
        recordfile.encode(KIND_RUN, 1, 1, [b"", b""])
    with pytest.raises(ValueError, match="whole records"):
        recordfile.encode(KIND_RUN, 0, 0, [b"x" * 32])
