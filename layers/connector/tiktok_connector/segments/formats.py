"""File formats: the two we read (delimited text, JSON Lines) and the ones we refuse.

:func:`file_format` tells CSV (and its delimiter) from JSON Lines by the file's name and first
line; :func:`parse_line` splits one physical line of a delimited file into cells;
:func:`json_object` reads one JSON Lines line. Files we do not read (spreadsheets, archives,
columnar exports) are told apart by their first bytes (:func:`refuse_unsupported`).

Segment files are text: CSV / TSV / TXT / JSON Lines, optionally gzip-compressed. A workbook, an
archive or a warehouse's binary export is refused with a sentence that names the format and what
to send instead, rather than the generic "binary data" a reader would otherwise report. Parquet
is refused too: reading it would need pyarrow (136 MB unpacked, ~0.5 s and ~40 MiB to import:
too much for the shared layer and every cold start for one format); warehouses export CSV or JSON
Lines just as easily.
"""

from __future__ import annotations

import csv
import json
from typing import Any

from tiktok_connector.segments.keys import InvalidSegmentFile

_JSONL_EXT = (".jsonl", ".ndjson", ".json")
_DELIMITERS = ("\t", ",", ";", "|")


def file_format(filename: str, first_line: str) -> tuple[str, str]:
    """(format, delimiter) from the file name and its first non-blank line."""
    name = filename.lower().removesuffix(".gz")
    if name.endswith(_JSONL_EXT) or (
        not name.endswith((".csv", ".tsv", ".tab", ".txt")) and first_line.lstrip().startswith("{")
    ):
        return "jsonl", ""
    default = "\t" if name.endswith((".tsv", ".tab")) else ","
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: (counts[d], d == default))
    return "csv", best if counts[best] else default


def parse_line(line: str, delimiter: str) -> list[str]:
    """One physical line → cells (``csv`` rules for quoted lines, a plain split otherwise)."""
    if '"' in line:
        try:
            return next(csv.reader((line,), delimiter=delimiter), [])
        except csv.Error:
            return [line.rstrip("\r\n")]
    return line.rstrip("\r\n").split(delimiter)


def json_object(line: str) -> dict[str, Any] | None:
    """The JSON object on ``line``, or None (not JSON, or not an object)."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):  # nesting deeper than json can parse
        return None
    return value if isinstance(value, dict) else None


_CSV_FROM_EXCEL = "save it from Excel as 'CSV UTF-8 (Comma delimited)' and upload that file"
_TEXT_EXPORT = "export it as CSV or JSON Lines (gzip allowed) and upload that"
_UNPACK = "unpack it and upload the CSV / TXT / JSON Lines file inside (gzip, .gz, is read as is)"

# (magic bytes at offset 0, what it is, what to do)
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"PAR1", "a Parquet file", _TEXT_EXPORT),
    (b"ORC", "an ORC file", _TEXT_EXPORT),
    (b"Obj\x01", "an Avro file", _TEXT_EXPORT),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (XLS)", _CSV_FROM_EXCEL),
    (b"%PDF", "a PDF document", "export the list as CSV and upload that"),
    (b"BZh", "a bzip2 archive", "compress it with gzip instead, or upload it uncompressed"),
    (b"\xfd7zXZ\x00", "an xz archive", "compress it with gzip instead, or upload it uncompressed"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive", "compress it with gzip instead, or upload it uncompressed"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", _UNPACK),
    (b"Rar!\x1a\x07", "a RAR archive", _UNPACK),
    (b"SQLite format 3\x00", "an SQLite database", _TEXT_EXPORT),
)  # fmt: skip
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


def refuse_unsupported(head: bytes, *, filename: str) -> None:
    """Raise ``unsupported_format`` when ``head`` (a file's first bytes, after gzip) is a format
    we do not read."""
    for magic, what, instead in _MAGIC:
        if head.startswith(magic) and _binary(head):
            raise InvalidSegmentFile("unsupported_format", f"the file is {what}: {instead}")
    if head.startswith(_ZIP_MAGIC):
        what, instead = _zip_kind(head, filename)
        raise InvalidSegmentFile("unsupported_format", f"the file is {what}: {instead}")


def _binary(head: bytes) -> bool:
    """A control byte (not tab or a line end) near the start: some magic numbers are plain
    letters (``PAR1``, ``ORC``), and a CSV header may start with them too."""
    return any(b < 0x20 and b not in (0x09, 0x0A, 0x0D) for b in head[:64])


def _zip_kind(head: bytes, filename: str) -> tuple[str, str]:
    """Office documents are ZIP files too; their first entries (or the name) tell which."""
    name = filename.lower()
    if b"xl/" in head or name.endswith((".xlsx", ".xlsm")):
        return "an Excel workbook (XLSX)", _CSV_FROM_EXCEL
    if b"opendocument.spreadsheet" in head or name.endswith(".ods"):
        return (
            "an OpenDocument spreadsheet (ODS)",
            "save it as CSV (UTF-8, comma separated) and upload that file",
        )
    if name.endswith(".numbers"):
        return "an Apple Numbers spreadsheet", "export it as CSV (UTF-8) and upload that file"
    return "a ZIP archive", _UNPACK
