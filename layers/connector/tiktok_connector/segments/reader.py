"""Streaming access to segment files: byte ranges aligned to lines, gzip, decoded text.

Memory stays flat whatever the file size: bytes flow through fixed-size blocks
(``BLOCK_BYTES``) from the S3 body to a :class:`io.TextIOWrapper` that ``csv`` or the JSONL
reader consume line by line, decoding with the file's encoding (:mod:`.encoding`; UTF-8 unless
ingest chose another). A line longer than ``MAX_LINE_BYTES`` stops the file (clear error)
rather than letting one pathological "line" (a binary file, a missing newline) fill memory.

Byte ranges (docs/architecture.md "Byte-range fan-out"): range ``[start, end)`` owns exactly the
lines whose first byte lies in ``[start, end)``. To find its first line, a range other than the
first starts reading at ``start - 1`` and skips through the first ``\\n``; it stops after the line
that starts before ``end`` (reading past ``end`` to finish that line). Every line therefore
belongs to exactly one range, for any split points.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from tiktok_connector.segments.encoding import STRICT_UTF8, TextEncoding
from tiktok_connector.segments.keys import InvalidSegmentFile

BLOCK_BYTES = 64 * 1024
MAX_LINE_BYTES = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"


class LineTooLongError(InvalidSegmentFile):
    """A line longer than ``MAX_LINE_BYTES``: not a segment file."""

    def __init__(self) -> None:
        super().__init__(
            "line_too_long",
            f"a line is longer than {MAX_LINE_BYTES // 1024} KiB: this does not look like a "
            "text file of identifiers (binary content or missing line breaks?)",
        )


def plan_ranges(size: int, range_bytes: int) -> list[tuple[int, int]]:
    """Split ``size`` bytes into ``[start, end)`` ranges of about ``range_bytes`` each."""
    if size <= range_bytes:
        return [(0, max(size, 0))]
    count = -(-size // range_bytes)
    step = -(-size // count)
    return [(i * step, min((i + 1) * step, size)) for i in range(count)]


def range_blocks(blocks: Iterable[bytes], start: int, end: int, *, offset: int) -> Iterator[bytes]:
    """Restrict ``blocks`` (the file's bytes from ``offset`` on) to the lines of ``[start, end)``.

    ``offset`` must be ``start - 1`` for ``start > 0`` (so a line beginning exactly at ``start``
    is recognised) and ``0`` for the first range.
    """
    if start > 0 and offset != start - 1:
        raise ValueError("a range after the first must be read from start - 1")
    if start == 0 and offset != 0:
        raise ValueError("the first range must be read from 0")
    pos = offset  # file offset of the first byte of the current block
    skipping = start > 0
    finishing = False  # past `end`: emit up to the end of the current line, then stop
    for block in blocks:
        if not block:
            continue
        if skipping:
            i = block.find(b"\n")
            if i < 0:
                pos += len(block)
                continue
            block = block[i + 1 :]
            pos += i + 1
            skipping = False
            if not block:
                continue
        if finishing:
            i = block.find(b"\n")
            if i >= 0:
                yield block[: i + 1]
                return
            yield block
            continue
        if pos >= end:
            return
        block_end = pos + len(block)
        if block_end <= end:
            yield block
            pos = block_end
            if pos == end:
                if block.endswith(b"\n"):
                    return
                finishing = True  # byte end - 1 is inside a line: finish that line
            continue
        # `end` falls inside this block: keep the line holding byte end - 1, then stop.
        i = block.find(b"\n", end - pos - 1)
        if i >= 0:
            yield block[: i + 1]
            return
        yield block
        finishing = True


def guard_line_length(blocks: Iterable[bytes], limit: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """Pass blocks through, raising :class:`LineTooLongError` on a line over ``limit`` bytes."""
    run = 0  # bytes since the last line break
    for block in blocks:
        i = max(block.rfind(b"\n"), block.rfind(b"\r"))
        if i < 0:
            run += len(block)
        else:
            # the longest line inside the block is not checked exactly; its bytes are bounded by
            # the block size anyway, which is what protects memory
            run = len(block) - i - 1
        if run > limit:
            raise LineTooLongError()
        yield block


class BlockStream(io.RawIOBase):
    """A readable raw stream over an iterator of byte blocks."""

    def __init__(self, blocks: Iterable[bytes]) -> None:
        super().__init__()
        self._blocks = iter(blocks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        close = getattr(self._blocks, "close", None)
        if close is not None:
            close()  # release the S3 connection of an abandoned stream now, not at GC
        super().close()

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending:
            try:
                self._pending = next(self._blocks)
            except StopIteration:
                return 0
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def gunzip_blocks(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """Decompress a gzip stream (several members allowed) block by block."""
    gz = gzip.GzipFile(fileobj=io.BufferedReader(BlockStream(blocks), BLOCK_BYTES), mode="rb")
    try:
        while True:
            try:
                block = gz.read(BLOCK_BYTES)
            except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
                raise InvalidSegmentFile(
                    "not_gzip",
                    "the file is named or marked as gzip but is not a complete gzip stream",
                ) from exc
            if not block:
                return
            yield block
    finally:
        gz.close()


def sniff_binary(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """Fail early on binary content (NUL bytes in the first block) in a byte-oriented encoding."""
    first = True
    for block in blocks:
        if first:
            first = False
            if b"\x00" in block:
                raise InvalidSegmentFile("binary_file", "the file contains binary data, not text")
        yield block


def open_text(
    blocks: Iterable[bytes],
    *,
    compressed: bool,
    first_range: bool = True,
    encoding: TextEncoding = STRICT_UTF8,
) -> io.TextIOWrapper:
    """Text over ``blocks`` for ``csv`` / JSONL in ``encoding`` (a byte order mark dropped in the
    first range), universal line endings left to ``csv`` (``newline=""``).
    """
    stream: Iterable[bytes] = blocks
    if compressed:
        stream = gunzip_blocks(stream)
    if not encoding.single_range:  # UTF-16 text is full of NUL bytes
        stream = sniff_binary(stream)
    stream = guard_line_length(stream)
    raw = io.BufferedReader(BlockStream(stream), BLOCK_BYTES)
    return io.TextIOWrapper(
        raw,
        encoding=encoding.codec_for(first_range=first_range),
        errors=encoding.errors,
        newline="",
    )


def s3_blocks(
    s3: Any, bucket: str, key: str, version_id: str | None, *, first: int = 0
) -> Iterator[bytes]:
    """The object's bytes from ``first`` on, as blocks (streamed, never loaded whole)."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        kwargs["VersionId"] = version_id
    if first > 0:
        kwargs["Range"] = f"bytes={first}-"
    body = s3.get_object(**kwargs)["Body"]
    try:
        yield from body.iter_chunks(BLOCK_BYTES)
    finally:
        body.close()


def open_range(
    s3: Any,
    bucket: str,
    key: str,
    version_id: str | None,
    *,
    start: int,
    end: int,
    compressed: bool,
    encoding: TextEncoding = STRICT_UTF8,
) -> io.TextIOWrapper:
    """Text of the lines of byte range ``[start, end)`` of an S3 object (see module docs).

    A compressed file is always read whole (gzip cannot be entered mid-stream).
    """
    return open_text(
        range_bytes(s3, bucket, key, version_id, start=start, end=end, compressed=compressed),
        compressed=compressed,
        first_range=start == 0 or compressed,
        encoding=encoding,
    )


def range_bytes(
    s3: Any,
    bucket: str,
    key: str,
    version_id: str | None,
    *,
    start: int,
    end: int,
    compressed: bool,
) -> Iterator[bytes]:
    """The (still compressed, for gzip: the whole object) bytes of range ``[start, end)``."""
    if compressed:
        return s3_blocks(s3, bucket, key, version_id)
    offset = start - 1 if start > 0 else 0
    return range_blocks(
        s3_blocks(s3, bucket, key, version_id, first=offset), start, end, offset=offset
    )
