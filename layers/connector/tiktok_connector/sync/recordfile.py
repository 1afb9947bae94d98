"""The one file format of sync: records grouped by partition, with an index up front.

Runs (what ingest writes per byte range), snapshot segments and change files all use it::

    header   20 bytes   magic "TTSYNC\\0\\1", kind (u8), bits (u8), 0 (u16),
                        first partition (u32), partition count (u32)          — big-endian
    index    8 × (count + 1)   records before each partition (u64); index[0] = 0
    records  33 × index[count]

Partition ``first + i`` at ``bits`` holds records ``index[i] .. index[i + 1] - 1``. A reader asks
S3 for the index entries of the partitions it needs and then for their records: two ranged GETs,
whatever the size of the file. Records within a partition are sorted (snapshots, changes) or in
arrival order (runs: ``kind`` says which). The object's size follows from its header and index,
so a truncated or padded object is caught on every read (``ContentRange`` carries the size).
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from itertools import accumulate, pairwise
from typing import Any, Final

from botocore.exceptions import ClientError

from tiktok_connector.sync.records import (
    PREFIX_BITS,
    RECORD_BYTES,
    CorruptSyncObject,
    MissingSyncObject,
    check_bits,
    lower_bound,
    prefix_key,
    prefix_of,
    split,
)

MAGIC: Final = b"TTSYNC\x00\x01"
HEADER: Final = struct.Struct(">8sBBHII")
KIND_RUN: Final = 1  # records of a partition in arrival order (may repeat)
KIND_SNAPSHOT: Final = 2  # sorted, unique
KIND_CHANGES: Final = 3  # sorted, unique
KINDS: Final = (KIND_RUN, KIND_SNAPSHOT, KIND_CHANGES)
SORTED_KINDS: Final = (KIND_SNAPSHOT, KIND_CHANGES)
_MISSING_CODES: Final = frozenset({"NoSuchKey", "404", "NotFound"})


@dataclass(frozen=True, slots=True)
class FileRef:
    """Where a record file is and what its header says (JSON in plans and manifests)."""

    key: str
    kind: int
    bits: int
    first: int
    count: int
    records: int

    @property
    def data_start(self) -> int:
        return HEADER.size + 8 * (self.count + 1)

    @property
    def size(self) -> int:
        return self.data_start + RECORD_BYTES * self.records

    @property
    def sorted(self) -> bool:
        return self.kind in SORTED_KINDS

    def prefix_range(self) -> tuple[int, int]:
        shift = PREFIX_BITS - self.bits
        return self.first << shift, (self.first + self.count) << shift

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileRef:
        return cls(
            key=str(data["key"]),
            kind=int(data["kind"]),
            bits=int(data["bits"]),
            first=int(data["first"]),
            count=int(data["count"]),
            records=int(data["records"]),
        )


def encode(kind: int, bits: int, first: int, partitions: Sequence[bytes | bytearray]) -> bytes:
    """A record file of ``partitions`` (the records of partition ``first + i`` at ``i``)."""
    check_bits(bits)
    if kind not in KINDS:
        raise ValueError(f"unknown record file kind {kind}")
    count = len(partitions)
    if first < 0 or first + count > 1 << bits:
        raise ValueError(f"partitions {first}..{first + count - 1} do not exist at {bits} bits")
    sizes = [len(p) for p in partitions]
    if any(size % RECORD_BYTES for size in sizes):
        raise ValueError("a partition's bytes are not whole records")
    index = array("Q", accumulate((size // RECORD_BYTES for size in sizes), initial=0))
    if sys.byteorder == "little":
        index.byteswap()  # stored big-endian
    head = HEADER.pack(MAGIC, kind, bits, 0, first, count)
    return b"".join([head, index.tobytes(), *partitions])


def put(
    s3: Any,
    bucket: str,
    key: str,
    kind: int,
    bits: int,
    first: int,
    partitions: Sequence[bytes | bytearray],
) -> FileRef:
    """Write a record file to S3; its :class:`FileRef`."""
    body = encode(kind, bits, first, partitions)
    records = sum(len(p) for p in partitions) // RECORD_BYTES
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/octet-stream")
    return FileRef(key, kind, bits, first, len(partitions), records)


def _get(s3: Any, bucket: str, key: str, start: int, end: int) -> tuple[bytes, int | None]:
    """Bytes ``[start, end)`` of an object and the object's total size (from ContentRange)."""
    try:
        answer = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}")
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _MISSING_CODES:
            raise MissingSyncObject(f"sync object {key} does not exist") from None
        if code == "InvalidRange":
            raise CorruptSyncObject(f"sync object {key} is shorter than its header says") from None
        raise
    body = answer["Body"]
    try:
        data = body.read()
    finally:
        body.close()
    total = None
    content_range = answer.get("ContentRange") or ""
    if "/" in content_range:
        tail = content_range.rsplit("/", 1)[1]
        total = int(tail) if tail.isdigit() else None
    return data, total


def _index(data: bytes, count: int) -> list[int]:
    values = array("Q")
    values.frombytes(data[: 8 * count])
    if sys.byteorder == "little":
        values.byteswap()
    return values.tolist()


def read_ref(s3: Any, bucket: str, key: str) -> tuple[FileRef, list[int]]:
    """A record file's header and its whole index (one GET): for planning a diff."""
    head, total = _get(s3, bucket, key, 0, HEADER.size + 8 * ((1 << PREFIX_BITS) + 1))
    if len(head) < HEADER.size:
        raise CorruptSyncObject(f"sync object {key} is too short for a record file header")
    magic, kind, bits, _, first, count = HEADER.unpack_from(head)
    if magic != MAGIC or kind not in KINDS or bits > PREFIX_BITS or first + count > 1 << bits:
        raise CorruptSyncObject(f"sync object {key} is not a record file of this version")
    need = HEADER.size + 8 * (count + 1)
    if len(head) < need:
        raise CorruptSyncObject(f"sync object {key} is shorter than its index")
    index = _index(head[HEADER.size : need], count + 1)
    _check_index(key, index)
    ref = FileRef(key, kind, bits, first, count, index[-1])
    if total is not None and total != ref.size:
        raise CorruptSyncObject(
            f"sync object {key} has {total} bytes; its header and index say {ref.size}"
        )
    return ref, index


def _check_index(key: str, index: Sequence[int]) -> None:
    if index[0] != 0 or any(b < a for a, b in pairwise(index)):
        raise CorruptSyncObject(f"sync object {key} has an index that is not ascending")


@dataclass(slots=True)
class Slab:
    """The records of partitions ``[first, first + len(index) - 1)`` of one record file.

    :meth:`piece` hands out the records of one partition at any bit width: a slice when the
    file's partitions are as fine or finer; else the file's covering partition narrowed to the
    prefix range (a binary search when sorted, one pass that buckets it when not)."""

    ref: FileRef
    first: int
    index: list[int]
    data: bytes
    _bucketed: tuple[int, int, list[bytes]] | None = None  # (file partition, bits, pieces)

    def _slice(self, a: int, b: int) -> bytes:
        a = max(a, self.first)
        b = min(b, self.first + len(self.index) - 1)
        if b <= a:
            return b""
        base = self.index[0]
        start = (self.index[a - self.first] - base) * RECORD_BYTES
        end = (self.index[b - self.first] - base) * RECORD_BYTES
        return self.data[start:end]

    def piece(self, q: int, bits: int) -> bytes:
        """Records of partition ``q`` at ``bits`` that this slab holds (sorted if the file is)."""
        own = self.ref.bits
        if own >= bits:
            d = own - bits
            return self._slice(q << d, (q + 1) << d)
        d = bits - own
        fp = q >> d
        if self.ref.sorted:
            raw = self._slice(fp, fp + 1)
            lo, hi = (q << (PREFIX_BITS - bits)), ((q + 1) << (PREFIX_BITS - bits))
            start = lower_bound(raw, prefix_key(lo))
            end = (
                lower_bound(raw, prefix_key(hi))
                if hi < 1 << PREFIX_BITS
                else len(raw) // RECORD_BYTES
            )
            return raw[start * RECORD_BYTES : end * RECORD_BYTES]
        if self._bucketed is None or self._bucketed[:2] != (fp, bits):
            # an unsorted partition wider than the diff's: bucket it once, not once per piece
            pieces: list[list[bytes]] = [[] for _ in range(1 << d)]
            shift = PREFIX_BITS - bits
            mask = (1 << d) - 1
            for record in split(self._slice(fp, fp + 1), self.ref.key):
                pieces[(prefix_of(record) >> shift) & mask].append(record)
            self._bucketed = (fp, bits, [b"".join(p) for p in pieces])
        return self._bucketed[2][q & ((1 << d) - 1)]


def read_slab(s3: Any, bucket: str, ref: FileRef, lo: int, hi: int) -> Slab:
    """The records of ``ref`` whose 16-bit prefix lies in ``[lo, hi)`` (rounded out to the
    file's partitions): two ranged GETs, or none when the file holds no such partition."""
    shift = PREFIX_BITS - ref.bits
    a = max(lo >> shift, ref.first)
    b = min(-(-hi >> shift), ref.first + ref.count)
    if b <= a or ref.records == 0:
        return Slab(ref, a, [0], b"")
    raw, total = _get(
        s3,
        bucket,
        ref.key,
        HEADER.size + 8 * (a - ref.first),
        HEADER.size + 8 * (b - ref.first + 1),
    )
    if total is not None and total != ref.size:
        raise CorruptSyncObject(
            f"sync object {ref.key} has {total} bytes; its header and index say {ref.size}"
        )
    if len(raw) != 8 * (b - a + 1):
        raise CorruptSyncObject(f"sync object {ref.key} is shorter than its index")
    index = _index(raw, b - a + 1)
    if index[0] < 0 or index[-1] > ref.records or any(y < x for x, y in pairwise(index)):
        raise CorruptSyncObject(f"sync object {ref.key} has an index that does not fit its size")
    start = ref.data_start + index[0] * RECORD_BYTES
    end = ref.data_start + index[-1] * RECORD_BYTES
    data = b""
    if end > start:
        data, total = _get(s3, bucket, ref.key, start, end)
        if len(data) != end - start or (total is not None and total != ref.size):
            raise CorruptSyncObject(f"sync object {ref.key} is shorter than its index says")
    return Slab(ref, a, index, data)


def read_records(s3: Any, bucket: str, ref: FileRef, start: int, stop: int) -> bytes:
    """Records ``start .. stop - 1`` of a record file, in file order (one ranged GET)."""
    if not 0 <= start <= stop <= ref.records:
        raise ValueError(f"records {start}..{stop} are outside {ref.key} ({ref.records})")
    if stop == start:
        return b""
    lo = ref.data_start + start * RECORD_BYTES
    data, total = _get(s3, bucket, ref.key, lo, ref.data_start + stop * RECORD_BYTES)
    if len(data) != (stop - start) * RECORD_BYTES or (total is not None and total != ref.size):
        raise CorruptSyncObject(f"sync object {ref.key} is shorter than its index says")
    return data


def total_records(refs: Iterable[FileRef]) -> int:
    return sum(ref.records for ref in refs)
