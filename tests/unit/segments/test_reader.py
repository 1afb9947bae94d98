"""The streaming reader: byte ranges cover every line exactly once; gzip; guards."""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiktok_connector.segments.encoding import TextEncoding, counting_substitutions
from tiktok_connector.segments.keys import InvalidSegmentFile
from tiktok_connector.segments.reader import (
    LineTooLongError,
    guard_line_length,
    open_text,
    plan_ranges,
    range_blocks,
)


def _blocks(data: bytes, size: int, first: int = 0) -> Iterator[bytes]:
    for i in range(first, len(data), size):
        yield data[i : i + size]


def _read_range(data: bytes, start: int, end: int, block: int) -> bytes:
    offset = start - 1 if start > 0 else 0
    return b"".join(range_blocks(_blocks(data, block, offset), start, end, offset=offset))


lines_strategy = st.lists(
    st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"x")), min_size=0, max_size=40
)


@settings(max_examples=300, deadline=None)
@given(
    lines=lines_strategy,
    trailing_newline=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=6),
    block=st.integers(min_value=1, max_value=17),
)
def test_ranges_cover_every_line_exactly_once(
    lines: list[bytes], trailing_newline: bool, cuts: list[int], block: int
) -> None:
    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    points = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    pieces = [_read_range(data, s, e, block) for s, e in itertools.pairwise(points)]
    assert b"".join(pieces) == data
    line_starts = {0} | {i + 1 for i, ch in enumerate(data) if ch == 0x0A}
    consumed = 0
    for (s, _e), piece in zip(itertools.pairwise(points), pieces, strict=True):
        if piece:  # a range starts at the first line that begins at or after its start
            assert consumed in line_starts
            assert consumed >= s
            assert not any(s <= ls < consumed for ls in line_starts if ls < len(data))
        consumed += len(piece)


def test_range_owns_line_starting_exactly_at_its_start() -> None:
    data = b"aa\nbb\ncc\n"
    assert _read_range(data, 0, 3, 4) == b"aa\n"
    assert _read_range(data, 3, 4, 4) == b"bb\n"
    assert _read_range(data, 4, 9, 4) == b"cc\n"
    assert _read_range(data, 0, 1, 2) == b"aa\n"
    assert _read_range(data, 1, 9, 2) == b"bb\ncc\n"


@given(
    size=st.integers(min_value=0, max_value=10_000), step=st.integers(min_value=1, max_value=3000)
)
def test_plan_ranges_tiles_the_file(size: int, step: int) -> None:
    ranges = plan_ranges(size, step)
    assert ranges[0][0] == 0
    assert ranges[-1][1] == size
    for (_, e), (s, _) in itertools.pairwise(ranges):
        assert e == s
    assert all(e - s <= step for s, e in ranges) or len(ranges) == 1


def test_gzip_and_bom_are_decoded() -> None:
    data = gzip.compress("\ufeffemail\r\na@b.co\r\n".encode())
    text = open_text(_blocks(data, 5), compressed=True)
    assert text.read() == "email\r\na@b.co\r\n"


def test_not_gzip_is_a_clear_error() -> None:
    text = open_text(_blocks(b"email\na@b.co\n", 5), compressed=True)
    with pytest.raises(InvalidSegmentFile) as err:
        text.read()
    assert err.value.code == "not_gzip"


def test_truncated_gzip_is_a_clear_error() -> None:
    data = gzip.compress(b"email\n" * 1000)[:-20]
    text = open_text(_blocks(data, 64), compressed=True)
    with pytest.raises(InvalidSegmentFile) as err:
        text.read()
    assert err.value.code == "not_gzip"


def test_binary_fails_early() -> None:
    with pytest.raises(InvalidSegmentFile) as err:
        open_text(_blocks(b"\x00\x01\x02binary", 1024), compressed=False).read()
    assert err.value.code == "binary_file"


def test_invalid_utf8_raises_decode_error_when_strict() -> None:
    with pytest.raises(UnicodeDecodeError):
        open_text(_blocks(b"email\n\xff\xfe@x.com\n", 1024), compressed=False).read()


def test_lenient_utf8_reads_stray_bytes_as_cp1252_and_counts_them() -> None:
    lenient = TextEncoding(lenient=True)
    data = "email,name\nm@x.de,Müller\n".encode("cp1252")
    with counting_substitutions() as count:
        text = open_text(_blocks(data, 7), compressed=False, encoding=lenient).read()
    assert text == "email,name\nm@x.de,Müller\n"
    assert count[0] == 1


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_is_read_with_its_codec_whatever_the_block_size(codec: str) -> None:
    body = "E-Mail;Name\r\nzoë@example.com;Zoë\r\n"
    data = body.encode(codec)
    encoding = TextEncoding(codec if codec != "utf-16" else "utf-16-le", "bom", codec)
    for size in (1, 3, 1024):
        assert open_text(_blocks(data, size), compressed=False, encoding=encoding).read() == body


def test_line_guard_bounds_memory() -> None:
    blocks = (b"x" * 1000 for _ in range(100))
    with pytest.raises(LineTooLongError):
        list(guard_line_length(blocks, limit=50_000))
    assert len(list(guard_line_length((b"x" * 999 + b"\n" for _ in range(100)), 50_000))) == 100
