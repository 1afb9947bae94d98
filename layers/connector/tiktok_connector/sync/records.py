"""Membership records: one (member type, hash) pair as 33 bytes, and the prefix arithmetic.

A record is the 32 digest bytes followed by one byte naming the member type. An MD5 digest (16
bytes) is followed by 16 zero bytes, so every record has one width and a file of records is an
array that needs no parsing. Records compare as bytes: by digest, then type. Digests are uniform,
so the first two digest bytes (the 16-bit *prefix*, 0..65535) spread records evenly; a partition
at ``bits`` k is the prefix range ``[q << (16 - k), (q + 1) << (16 - k))``. Everything that cuts
the hash space (runs, snapshot segments, diff groups) names prefix ranges, so two syncs may cut
it differently and still read each other's files.

Member types are the identities TikTok keeps apart, named in our chunk-column vocabulary:

* customer-file audiences: ``EMAIL_SHA256``, ``PHONE_SHA256``, ``MAID_SHA256``, ``MAID_MD5`` — one
  per TikTok file header (contract CF-05, CF-07: IDFA, GAID and MAID values share the MAID
  headers, so an IDFA column in one sync and a MAID column in the next are the same members);
* partner audiences: ``EMAIL_SHA256``, ``PHONE_SHA256``, ``IDFA_*``, ``GAID_*`` — one per
  ``id_schema`` entry (contract PA-04; GAID goes out as AAID, MAIDs of unknown platform are
  refused there).

The codes are stored in snapshots: never renumber them.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from tiktok_connector.audiences.file_format import HEADER_OF
from tiktok_connector.audiences.partner import UnsupportedColumnError, id_schema_name
from tiktok_connector.segments.keys import AudienceApi

RECORD_BYTES: Final = 33
DIGEST_BYTES: Final = 32
PREFIX_BITS: Final = 16  # partitions are ranges of the first two digest bytes
PREFIXES: Final = 1 << PREFIX_BITS
MAX_BITS: Final = PREFIX_BITS
# Records per partition the diff aims at: its sets stay in the CPU cache at this size, which
# makes a record ~3x cheaper than in a set of 250k (docs/sync.md, "Partitions").
PARTITION_RECORDS: Final = 4096

RECORD = re.compile(rb".{33}", re.DOTALL)  # findall: a blob of records → list, at C speed


class SyncDataError(Exception):
    """A sync object is missing, truncated or not what it claims to be.

    Never turned into an empty difference: a diff that cannot read its inputs must fail, since
    "nothing to read" would otherwise mean "remove every member". The message names the object
    and the problem, never a hash."""


class MissingSyncObject(SyncDataError):
    """An object the plan or a manifest names does not exist."""


class CorruptSyncObject(SyncDataError):
    """An object exists but its bytes do not match its header, its manifest or the format."""


class UnsupportedMemberType(ValueError):
    """A chunk column that cannot be a member of a synced audience of this API."""


@dataclass(frozen=True, slots=True)
class MemberType:
    """One member type: its stored code, its name and its digest width in bytes."""

    code: int
    name: str
    digest_bytes: int

    @property
    def hex_chars(self) -> int:
        return 2 * self.digest_bytes


MEMBER_TYPES: Final = (
    MemberType(1, "EMAIL_SHA256", 32),
    MemberType(2, "PHONE_SHA256", 32),
    MemberType(3, "MAID_SHA256", 32),
    MemberType(4, "MAID_MD5", 16),
    MemberType(5, "IDFA_SHA256", 32),
    MemberType(6, "IDFA_MD5", 16),
    MemberType(7, "GAID_SHA256", 32),
    MemberType(8, "GAID_MD5", 16),
)
BY_CODE: Final = {t.code: t for t in MEMBER_TYPES}
BY_NAME: Final = {t.name: t for t in MEMBER_TYPES}


def member_type(column: str, api: str) -> MemberType:
    """The member type of a chunk column's values in a synced audience of ``api``.

    ``UnsupportedMemberType`` for a column that has none (a MAID of unknown platform on the
    partner API, a column outside the id vocabulary)."""
    name = column.strip().upper()
    if AudienceApi(api) is AudienceApi.FILE:
        header = HEADER_OF.get(name)
        if header is None:
            raise UnsupportedMemberType(f"column {name[:40]!r} is not a customer-file id column")
        return BY_NAME[header.upper()]
    try:
        schema = id_schema_name(name)
    except UnsupportedColumnError as exc:
        raise UnsupportedMemberType(str(exc)) from None
    return BY_NAME[schema.replace("AAID_", "GAID_")]


def encode_hex(hexes: Sequence[str], member: MemberType) -> bytes:
    """Records (concatenated) for hex digests of one member type, in the given order.

    A batch of another total width or with a non-hex character is a ``ValueError`` (chunk
    lines are written by our own code: this is a bug, not bad input)."""
    if not hexes:
        return b""
    # One join and one unhexlify for the batch: the padding and the type byte go in as the
    # separator, so no per-value Python work is done here.
    tail = "00" * (DIGEST_BYTES - member.digest_bytes) + f"{member.code:02x}"
    text = tail.join(hexes) + tail
    # A value of another width shows in the total length (unless another one makes up for it
    # exactly: chunk lines are fixed-width hashes, so this guards against our own bugs).
    if len(text) != len(hexes) * 2 * RECORD_BYTES:
        raise ValueError(f"{member.name} values must be {member.hex_chars} hex characters")
    try:
        return binascii.unhexlify(text)
    except binascii.Error:
        raise ValueError(f"{member.name} values must be hex digests") from None


def record_hex(record: bytes) -> str:
    """The hex digest of one record, as chunk files and TikTok take it."""
    return record[: BY_CODE[record[DIGEST_BYTES]].digest_bytes].hex()


def split(blob: bytes, what: str = "records") -> list[bytes]:
    """A blob of records as a list of 33-byte records."""
    if len(blob) % RECORD_BYTES:
        raise CorruptSyncObject(f"{what}: {len(blob)} bytes is not a whole number of records")
    return RECORD.findall(blob)


def prefix_of(record: bytes) -> int:
    """The 16-bit prefix of a record."""
    return record[0] << 8 | record[1]


def partition_of(record: bytes, bits: int) -> int:
    """The partition of a record when the hash space is cut into ``2 ** bits`` partitions."""
    return (record[0] << 8 | record[1]) >> (PREFIX_BITS - bits)


def prefix_range(first: int, count: int, bits: int) -> tuple[int, int]:
    """The 16-bit prefix range ``[lo, hi)`` of partitions ``first .. first + count - 1``."""
    shift = PREFIX_BITS - bits
    return first << shift, (first + count) << shift


def prefix_key(prefix: int) -> bytes:
    """The smallest byte string at or above every record with this 16-bit prefix."""
    return prefix.to_bytes(2, "big")


def choose_bits(records: int, per_partition: int = PARTITION_RECORDS) -> int:
    """The fewest partition bits that keep ``records`` at ``per_partition`` or fewer per
    partition (at most :data:`MAX_BITS`; past 268M records partitions grow instead)."""
    bits = 0
    while bits < MAX_BITS and records > per_partition << bits:
        bits += 1
    return bits


def check_bits(bits: int) -> int:
    if not 0 <= bits <= MAX_BITS:
        raise ValueError(f"partition bits must be 0..{MAX_BITS}, not {bits}")
    return bits


def lower_bound(blob: bytes | memoryview, key: bytes) -> int:
    """Index of the first record of sorted ``blob`` whose leading bytes are ``>= key``."""
    lo, hi = 0, len(blob) // RECORD_BYTES
    width = len(key)
    while lo < hi:
        mid = (lo + hi) // 2
        start = mid * RECORD_BYTES
        if bytes(blob[start : start + width]) < key:
            lo = mid + 1
        else:
            hi = mid
    return lo
