"""The rejects file ``rejects/<job_id>.csv``: ``line,reason,column,partial`` — never the raw value.

One line per rejected row (``partial`` = ``no``: the row was not sent; its first bad identifier's
reason, as counted in ``rejected_by_reason``), and one line per bad identifier of a row that was
sent for its other, valid identifiers (``partial`` = ``yes``: the row is in the audience, the
value in ``column`` is not). So every value that did not reach TikTok has a line to look at.

Each byte range spools its rejected rows (range-local line numbers) to a temporary file. A job
of one range writes ``rejects/<job_id>.csv`` directly; a job of several writes parts
``rejects/<job_id>/<range:04d>.csv`` and the range that finishes last merges them, turning local
line numbers into file line numbers with the line counts every range recorded on the job.

The ``column`` cell is a header name taken from the user's file, so it is neutralised against
spreadsheet formula injection (a leading ``=``, ``+``, ``-``, ``@``, tab or CR gets a ``'``).
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Mapping, Sequence
from typing import IO, Any

from tiktok_connector.segments.reader import BlockStream, s3_blocks

HEADER = "line,reason,column,partial\r\n"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """``value`` made inert for spreadsheets (OWASP CSV-injection advice)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def rejects_key(job_id: str) -> str:
    """``rejects/<job_id>.csv``."""
    return f"rejects/{job_id}.csv"


def part_key(job_id: str, range_index: int) -> str:
    """``rejects/<job_id>/<range:04d>.csv`` (a range's part of a multi-range job)."""
    return f"rejects/{job_id}/{range_index:04d}.csv"


class RejectWriter:
    """Spools ``line,reason,column,partial`` rows of one range to a temporary file.

    ``count`` is the number of rejected rows (``partial`` ones not included)."""

    def __init__(self) -> None:
        self._file: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115
        self._csv = csv.writer(self._file)
        self._labels: dict[str, str] = {}
        self.count = 0

    def add(self, line: int, reason: str, column: str, partial: bool = False) -> None:
        """A rejected row (or, with ``partial``, a bad value of a row that was sent)."""
        label = self._labels.get(column)
        if label is None:
            label = safe_cell(column)
            if len(self._labels) < 1024:  # JSONL keys are the file's: keep the cache bounded
                self._labels[column] = label
        self._csv.writerow((line, reason, label, "yes" if partial else "no"))
        if not partial:
            self.count += 1

    def upload(self, *, s3: Any, bucket: str, key: str, header: bool) -> None:
        """Write the spooled rows (with the header line when ``header``) to ``key``."""
        self._file.flush()
        self._file.seek(0)
        with tempfile.TemporaryFile() as out:
            if header:
                out.write(HEADER.encode())
            while block := self._file.read(1 << 16):
                out.write(block.encode("utf-8"))
            out.seek(0)
            s3.put_object(Bucket=bucket, Key=key, Body=out, ContentType="text/csv")

    def close(self) -> None:
        self._file.close()


def merge_parts(
    *,
    s3: Any,
    bucket: str,
    job_id: str,
    line_counts: Mapping[int, int] | Sequence[int],
    target_key: str,
) -> int:
    """Merge the parts of a multi-range job into ``target_key``, shifting line numbers.

    ``line_counts[i]`` is the number of physical lines range ``i`` consumed. Streams part by part
    (memory stays flat). Returns the number of lines written (partial ones included).
    """
    counts = (
        [line_counts[i] for i in range(len(line_counts))]
        if isinstance(line_counts, Mapping)
        else list(line_counts)
    )
    written = 0
    offset = 0
    with tempfile.TemporaryFile() as out:
        out.write(HEADER.encode())
        for index, lines in enumerate(counts):
            blocks = s3_blocks(s3, bucket, part_key(job_id, index), None)
            text = io.TextIOWrapper(
                io.BufferedReader(BlockStream(blocks)), encoding="utf-8", newline=""
            )
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            for row in csv.reader(text):
                writer.writerow((int(row[0]) + offset, *row[1:]))
                written += 1
                if buffer.tell() > 1 << 16:
                    out.write(buffer.getvalue().encode())
                    buffer.seek(0)
                    buffer.truncate()
            out.write(buffer.getvalue().encode())
            text.close()
            offset += lines
        out.seek(0)
        s3.put_object(Bucket=bucket, Key=target_key, Body=out, ContentType="text/csv")
    return written
