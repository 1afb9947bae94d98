"""Planning: what a segment file's first bytes tell, and how its ranges will read it.

:func:`plan_file` reads the first ``HEAD_BYTES`` (64 KiB) of the object once.
:func:`sniff_head` finds the compression, refuses formats we do not read (:mod:`.formats`),
chooses the encoding (:mod:`.encoding`) and keeps the first lines; then the format and delimiter
(:func:`.formats.file_format`) and the columns (:mod:`.columns`; JSON Lines: the keys of the head's
objects) are planned, the byte ranges cut (:func:`.reader.plan_ranges`), and what the report says
about the reading is gathered (:mod:`.reading`). The plan is stored on the job item, so every
range reads the file the same way.
"""

from __future__ import annotations

import codecs
import io
import zlib
from typing import Any, NamedTuple

from tiktok_connector.contract.job import Reading
from tiktok_connector.segments.columns import ColumnPlan, describe_columns, plan_columns
from tiktok_connector.segments.encoding import (
    STRICT_UTF8,
    TextEncoding,
    choose_encoding,
    locate_undecodable,
)
from tiktok_connector.segments.formats import (
    file_format,
    json_object,
    parse_line,
    refuse_unsupported,
)
from tiktok_connector.segments.keys import InvalidSegmentFile
from tiktok_connector.segments.options import FileOptions
from tiktok_connector.segments.reader import GZIP_MAGIC, plan_ranges
from tiktok_connector.segments.reading import reading_item

HEAD_BYTES = 64 * 1024
SAMPLE_LINES = 500  # lines of the head that plan JSONL keys and check ignored columns' values
# The job item holds per-range counters (DynamoDB items stop at 400 KB): at most this many ranges.
MAX_RANGES = 200


class Head(NamedTuple):
    """What the first bytes of a file tell."""

    compressed: bool
    single_range: bool  # gzip, UTF-16 or CR-only line ends: cannot be split by byte range
    first_line: str | None  # first non-blank line, None when the head holds none
    encoding: TextEncoding = STRICT_UTF8
    lines: tuple[str, ...] = ()  # the first non-blank complete lines (up to SAMPLE_LINES)
    notes: tuple[tuple[str, str], ...] = ()  # warnings about the encoding chosen


def sniff_head(
    data: bytes, *, filename: str, size: int, declared_encoding: str | None = None
) -> Head:
    """Inspect the first ``HEAD_BYTES`` of a file (``data``) of ``size`` bytes.

    ``declared_encoding`` is the ``encoding`` option. Raises :class:`InvalidSegmentFile` for a
    file that is not text we read (see :mod:`.formats`, :mod:`.encoding`)."""
    named_gz = filename.lower().endswith(".gz")
    compressed = data.startswith(GZIP_MAGIC)
    if named_gz and not compressed:
        raise InvalidSegmentFile("not_gzip", "the file is named .gz but is not gzip-compressed")
    whole = len(data) >= size
    if compressed:
        try:
            d = zlib.decompressobj(wbits=47)
            data = d.decompress(data, HEAD_BYTES)
        except zlib.error as exc:
            raise InvalidSegmentFile("not_gzip", "the file is not a valid gzip stream") from exc
        whole = whole and d.eof and not d.unconsumed_tail
    refuse_unsupported(data, filename=filename.removesuffix(".gz"))
    encoding, notes = choose_encoding(data, declared=declared_encoding, whole=whole)
    decoder = codecs.getincrementaldecoder(encoding.codec)(encoding.errors)
    try:
        text = decoder.decode(data, final=whole)
    except UnicodeDecodeError as exc:
        where = locate_undecodable([data], encoding) or (1, exc.start)
        raise InvalidSegmentFile(
            "undecodable",
            f"line {where[0]} (byte offset {where[1]}) cannot be read as {encoding.name}, the "
            "encoding metadata names; set the file's real encoding (utf-8, cp1252, latin-1, "
            "utf-16) or save it as UTF-8",
        ) from None
    cr_only = "\r" in text and "\n" not in text
    lines: list[str] = []
    for line in io.StringIO(text, newline=""):
        complete = whole or line.endswith(("\n", "\r"))
        if not complete:
            if not lines and line.strip():
                raise InvalidSegmentFile(
                    "line_too_long", f"the first line is longer than {HEAD_BYTES // 1024} KiB"
                )
            break
        if line.strip():
            lines.append(line)
            if len(lines) >= SAMPLE_LINES:
                break
    first = lines[0] if lines else None
    single = compressed or cr_only or encoding.single_range
    return Head(compressed, single, first, encoding, tuple(lines), tuple(notes))


class PlannedFile(NamedTuple):
    """How a file will be read (:class:`ColumnPlan`, byte ranges) and what the report says about
    the reading (the job item's ``reading``, see :mod:`.reading`)."""

    plan: ColumnPlan
    ranges: list[tuple[int, int]]
    reading: Reading


def plan_file(
    s3: Any,
    bucket: str,
    key: str,
    version_id: str | None,
    *,
    filename: str,
    size: int,
    options: FileOptions,
    range_bytes: int,
) -> PlannedFile:
    """Read the first ``HEAD_BYTES`` of the object and plan how every range will read it.

    Raises :class:`InvalidSegmentFile` for a file we cannot read (see :func:`sniff_head`), one
    with no rows, or one whose columns hold no identifier (:func:`.columns.plan_columns`)."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "Range": f"bytes=0-{HEAD_BYTES - 1}"}
    if version_id:
        kwargs["VersionId"] = version_id
    body = s3.get_object(**kwargs)["Body"]
    try:
        data = body.read()
    finally:
        body.close()
    head = sniff_head(data, filename=filename, size=size, declared_encoding=options.encoding)
    if head.first_line is None:
        raise InvalidSegmentFile("empty_file", "the file holds no rows (only blank lines)")
    fmt, delimiter = file_format(filename, head.first_line)
    names: list[str]
    sample: dict[str, list[str]] = {}
    if fmt == "jsonl":
        objects = [json_object(line) for line in head.lines]
        first = objects[0]
        if first is None:
            raise InvalidSegmentFile(
                "invalid_format",
                "a JSON Lines file holds one JSON object per line (JSON arrays are not read)",
            )
        more = [o for o in objects[1:] if o is not None]
        plan = plan_columns(
            first, fmt=fmt, delimiter=delimiter, compressed=head.compressed, options=options,
            more_rows=more,
        )  # fmt: skip
        names = list(dict.fromkeys(str(k) for o in (first, *more) for k in o))
        for obj in (first, *more):
            for k, v in obj.items():
                if isinstance(v, str):
                    sample.setdefault(str(k), []).append(v)
    else:
        names = parse_line(head.first_line, delimiter)
        plan = plan_columns(
            names, fmt=fmt, delimiter=delimiter, compressed=head.compressed, options=options
        )
        for line in head.lines[1:] if plan.header else ():
            for name, value in zip(names, parse_line(line, delimiter), strict=False):
                sample.setdefault(name, []).append(value)
    plan = plan._replace(encoding=head.encoding.as_dict())
    described, column_warnings = describe_columns(names, plan, options, sample)
    reading = reading_item(
        encoding=head.encoding.report(),
        columns=described,
        options=options.echo(),
        warnings=[*options.warnings(), *head.notes, *column_warnings],
    )
    # The job item holds per-range counters (DynamoDB items stop at 400 KB): cap the count.
    range_bytes = max(range_bytes, -(-size // MAX_RANGES))
    ranges = [(0, size)] if head.single_range else plan_ranges(size, range_bytes)
    return PlannedFile(plan, ranges, reading)
