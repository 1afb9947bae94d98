"""Hashing and hash detection: lower-case hex digests of UTF-8 bytes, and what a hasher of one
algorithm binds to recognise values that already are hashes (contract ID-01)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from typing import Any

from tiktok_connector.identity.vocabulary import (
    EMPTY,
    HASH_TYPE_MISMATCH,
    NOT_A_HASH,
    HashAlg,
    Rejected,
)

HashFn = Callable[[str], "str | Rejected"]
"""One value in, its hash (or the normalized value) or a :class:`Rejected` out."""
ManyFn = Callable[[Iterable[str]], "list[str | Rejected]"]
"""The batch form of a :data:`HashFn`: the same results for a whole column batch."""
LinesFn = Callable[[str, int], "list[str] | None"]
"""The block form: ``(text, count)`` — ``count`` lines joined as read — to their hashes, or
``None`` when some line needs the batch form (only where a type has a faster block path)."""

sha256 = hashlib.sha256


def md5(data: bytes) -> Any:
    """``hashlib.md5`` for matching keys (TikTok's MD5 MAID types), allowed on FIPS hosts too."""
    return hashlib.md5(data, usedforsecurity=False)


# ASCII classes on purpose: `\d` would also match non-ASCII digits.
HEX64 = re.compile(r"[0-9a-fA-F]{64}").fullmatch
HEX32 = re.compile(r"[0-9a-fA-F]{32}").fullmatch


def sha256_hex(value: str) -> str:
    """Lower-case hex SHA-256 of ``value``'s UTF-8 bytes."""
    return sha256(value.encode()).hexdigest()


def md5_hex(value: str) -> str:
    """Lower-case hex MD5 of ``value``'s UTF-8 bytes (TikTok's MD5 MAID types)."""
    return md5(value.encode()).hexdigest()


def is_sha256_hex(value: str) -> bool:
    """True if ``value``, trimmed, is exactly 64 hex characters (any case)."""
    s = value.strip()
    return len(s) == 64 and HEX64(s) is not None


def is_md5_hex(value: str) -> bool:
    """True if ``value``, trimmed, is exactly 32 hex characters (any case)."""
    s = value.strip()
    return len(s) == 32 and HEX32(s) is not None


class Digests:
    """What a hasher of one algorithm binds once: the digest constructor, and how to recognise a
    hash of its own algorithm (``own_len`` + ``own_hex``) and of the other one."""

    __slots__ = ("digest", "other_hex", "other_len", "own_hex", "own_len")

    def __init__(self, alg: HashAlg) -> None:
        sha = alg is HashAlg.SHA256
        self.digest: Callable[[bytes], Any] = sha256 if sha else md5
        self.own_len, self.own_hex = (64, HEX64) if sha else (32, HEX32)
        self.other_len, self.other_hex = (32, HEX32) if sha else (64, HEX64)


def many_of(fn: HashFn) -> ManyFn:
    """The batch form of ``fn``, one call per value (types without a faster batch path)."""

    def many(values: Iterable[str]) -> list[str | Rejected]:
        return [fn(value) for value in values]

    return many


def declared_hashed_functions(digests: Digests) -> tuple[HashFn, ManyFn]:
    """A column declared hashed (``email_sha256`` …): its values must already be hashes of the
    column's algorithm (contract ID-01: passed through lower-cased, never hashed twice)."""
    own_len, own_hex = digests.own_len, digests.own_hex
    other_len, other_hex = digests.other_len, digests.other_hex
    empty, mismatch, not_a_hash = EMPTY, HASH_TYPE_MISMATCH, NOT_A_HASH

    def hashed_column(value: str) -> str | Rejected:
        s = value.strip()
        if not s:
            return empty
        n = len(s)
        if n == own_len and own_hex(s) is not None:
            return s.lower()
        if n == other_len and other_hex(s) is not None:
            return mismatch
        return not_a_hash

    return hashed_column, many_of(hashed_column)
