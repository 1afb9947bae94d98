"""Customer files in TikTok's format, and the shape every file of one audience must share.

Chunk files in S3 keep our own column names (``EMAIL_SHA256``, ``PHONE_SHA256``, ``IDFA_SHA256``,
``GAID_MD5``, ``MAID_SHA256`` …, written by ingest; the partner path reads them as they are). What
goes to ``/dmp/custom_audience/file/upload/`` is rewritten here into TikTok's format:

* the header row uses the names TikTok documents: ``Email_SHA256``, ``Phone_SHA256``,
  ``MAID_SHA256`` / ``MAID_MD5`` (IDFA and GAID columns go under the MAID headers), each at most
  three times in one file (contract CF-05, CF-06) — single-type files carry the header too;
* the ``calculate_type`` comes from TikTok's enums: a MAID column of unknown platform is
  ``FIRST_*`` (``/create/`` has no ``MAID_*``; contract CF-02, CF-03);
* every file of an audience has the audience's :class:`FileShape` (its calculate type and, for
  ``MULTIPLE_TYPES``, its header set), because TikTok refuses an update whose files have another
  calculate type (40909, contract CF-09). A follow-up file with fewer columns is written with
  empty cells; a column the audience cannot hold is refused before anything is uploaded
  (:class:`DoesNotFit`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tiktok_connector.contract.job import JobItem, Shape

MULTIPLE_TYPES = "MULTIPLE_TYPES"

# Chunk column → TikTok's header name (contract CF-05).
HEADER_OF: Mapping[str, str] = {
    "EMAIL_SHA256": "Email_SHA256",
    "PHONE_SHA256": "Phone_SHA256",
    "IDFA_SHA256": "MAID_SHA256",
    "GAID_SHA256": "MAID_SHA256",
    "MAID_SHA256": "MAID_SHA256",
    "FIRST_SHA256": "MAID_SHA256",
    "IDFA_MD5": "MAID_MD5",
    "GAID_MD5": "MAID_MD5",
    "MAID_MD5": "MAID_MD5",
    "FIRST_MD5": "MAID_MD5",
}
# Chunk column → calculate_type of a file holding only that column; valid for upload and create
# alike (contract CF-02, CF-03: MAID_* exist on upload only, with FIRST_*'s values).
CALCULATE_TYPE_OF: Mapping[str, str] = {
    "EMAIL_SHA256": "EMAIL_SHA256",
    "PHONE_SHA256": "PHONE_SHA256",
    "IDFA_SHA256": "IDFA_SHA256",
    "IDFA_MD5": "IDFA_MD5",
    "GAID_SHA256": "GAID_SHA256",
    "GAID_MD5": "GAID_MD5",
    "MAID_SHA256": "FIRST_SHA256",
    "MAID_MD5": "FIRST_MD5",
    "FIRST_SHA256": "FIRST_SHA256",
    "FIRST_MD5": "FIRST_MD5",
}
# Each header at most 3 times in one MULTIPLE_TYPES file (contract CF-06).
MAX_PER_HEADER = 3

# What a person calls each chunk column in a sentence.
_PLAIN = {
    "EMAIL": "e-mail",
    "PHONE": "phone",
    "IDFA": "IDFA",
    "GAID": "GAID",
    "MAID": "mobile ad id",
    "FIRST": "mobile ad id",
}
# Chunk column → the ingest id type its identifier counts are kept under.
_ID_TYPE = {"EMAIL": "email", "PHONE": "phone", "IDFA": "idfa", "GAID": "gaid", "MAID": "maid"}


def describe(column: str) -> str:
    """``IDFA_MD5`` → ``IDFA (MD5)``: a column's name for a sentence."""
    kind, _, alg = column.partition("_")
    return f"{_PLAIN.get(kind, kind.lower())} ({alg or '?'})"


def id_type_of(column: str) -> str:
    """The ingest id type (identifier counts key) of a chunk column: ``GAID_MD5`` → ``gaid``."""
    return _ID_TYPE.get(column.partition("_")[0], column.lower())


class DoesNotFit(ValueError):
    """A file's identifiers cannot go into the audience it targets (TikTok would answer 40909).

    The message is a sentence for the job report; it names column types, never values."""

    def __init__(self, columns: Sequence[str], shape: FileShape, name: str) -> None:
        self.columns = tuple(columns)
        kinds = ", ".join(sorted({describe(c) for c in columns}))
        holds = ", ".join(sorted({describe(c) for c in shape.columns}))
        super().__init__(
            f"this file's {kinds} values cannot be added to the customer-file audience "
            f"{name!r}, which holds {holds} (TikTok keeps an audience's id types fixed at "
            "creation). Nothing was uploaded: drop those columns from the file, or send it "
            "to a new audience name."
        )


@dataclass(frozen=True, slots=True)
class FileShape:
    """The calculate type and the columns (chunk names, in file order) of an audience's files."""

    calculate_type: str
    columns: tuple[str, ...]

    @classmethod
    def of_columns(cls, columns: Iterable[str]) -> FileShape:
        """The shape of a file with these chunk columns: one column → its own type. A header
        appears at most :data:`MAX_PER_HEADER` times (CF-06): IDFA, GAID and MAID columns share
        the MAID headers, so further columns are left out and :func:`conform` puts their values
        on extra lines."""
        cols = tuple(str(c).upper() for c in columns)
        if not cols:
            raise ValueError("a customer file has at least one column")
        unknown = [c for c in cols if c not in HEADER_OF]
        if unknown:
            raise ValueError(f"no customer-file type for column {unknown[0][:40]!r}")
        if len(cols) == 1:
            return cls(CALCULATE_TYPE_OF[cols[0]], cols)
        kept: list[str] = []
        for column in cols:
            if sum(HEADER_OF[k] == HEADER_OF[column] for k in kept) < MAX_PER_HEADER:
                kept.append(column)
        return cls(MULTIPLE_TYPES, tuple(kept))

    @classmethod
    def from_record(cls, record: Shape | None) -> FileShape | None:
        """A stored shape (job item, registry), None when absent or empty."""
        if record is None or not record.calculate_type or not record.columns:
            return None
        return cls(record.calculate_type, tuple(record.columns))

    def as_record(self) -> Shape:
        """The shape as the job item and the registry store it."""
        return Shape(calculate_type=self.calculate_type, columns=self.columns)

    @property
    def multiple(self) -> bool:
        return self.calculate_type == MULTIPLE_TYPES

    @property
    def headers(self) -> tuple[str, ...]:
        """TikTok's header name of each column."""
        return tuple(HEADER_OF[c] for c in self.columns)

    def header_line(self) -> str:
        """The file's header row (single-type files carry one too: contract CF-05)."""
        return ",".join(self.headers)

    def fits(self, column: str) -> bool:
        """Can values of chunk column ``column`` go into files of this shape?"""
        column = column.upper()
        if column not in HEADER_OF:
            return False
        if self.multiple:
            return HEADER_OF[column] in self.headers
        return CALCULATE_TYPE_OF[column] == self.calculate_type


def misfits(shape: FileShape, columns: Iterable[str]) -> list[str]:
    """The chunk columns among ``columns`` that ``shape`` cannot hold (order kept, no repeats)."""
    out: list[str] = []
    for column in columns:
        if not shape.fits(column) and column not in out:
            out.append(column)
    return out


def conform(content: bytes, shape: FileShape, *, name: str) -> bytes:
    """Rewrite a chunk file (our header, rows of hashes, ``""`` where a row lacks a type) into a
    TikTok customer file of ``shape``.

    A row's values go to the columns with their TikTok header, in order; a row with more values
    of one header than the shape has columns for it continues on extra lines (a MULTIPLE_TYPES
    row is one person's ids: splitting it keeps every id). A value of a column the shape cannot
    hold raises :class:`DoesNotFit`. Chunk cells are hex hashes: no quoting is ever needed.
    """
    lines = content.decode("ascii").splitlines()
    source = [c.strip().upper() for c in lines[0].split(",")] if lines else []
    bad = misfits(shape, source)
    # the file's columns for each TikTok header (a single-type file has one column)
    slots: dict[str, list[int]] = {}
    if shape.multiple:
        for index, header in enumerate(shape.headers):
            slots.setdefault(header, []).append(index)
    width = len(shape.columns) if shape.multiple else 1
    key_of = [HEADER_OF.get(c, "") if shape.multiple else "" for c in source]
    if not shape.multiple:
        slots[""] = [0]
    out = [shape.header_line() if shape.multiple else shape.headers[0]]
    for line in lines[1:]:
        values: dict[str, list[str]] = {}
        for position, value in enumerate(line.split(",")):
            if not value:
                continue
            if position >= len(source) or source[position] in bad:
                raise DoesNotFit(bad or ["?"], shape, name)
            values.setdefault(key_of[position], []).append(value)
        if not values:
            continue
        height = max(-(-len(v) // len(slots[k])) for k, v in values.items())
        rows = [[""] * width for _ in range(height)]
        for key, found in values.items():
            columns = slots[key]
            for n, value in enumerate(found):
                rows[n // len(columns)][columns[n % len(columns)]] = value
        out.extend(",".join(row) for row in rows)
    return ("\n".join(out) + "\n").encode("ascii")


def present_columns(job: JobItem) -> list[str] | None:
    """The job's chunk columns that hold at least one accepted value, once every byte range is
    counted (None before: a later range may still bring another type)."""
    if job.ranges_done < job.ranges_total:
        return None
    accepted: dict[str, int] = {}
    for stats in job.ranges.values():
        for id_type, counts in stats.identifiers.items():
            accepted[id_type] = accepted.get(id_type, 0) + counts.accepted
    columns = [c.upper() for c in job.columns]
    return [c for c in columns if accepted.get(id_type_of(c), 0) > 0]


def job_shape(job: JobItem, *, headerless_auto: bool) -> FileShape:
    """The shape a job's own files have when it creates the audience.

    A header-less file typed line by line (``headerless_auto``) is typed by the ids it really
    holds once every range is counted (a file of phones is a phone audience, not a three-column
    MULTIPLE_TYPES one); any other file by its columns. A stored ``calculate_type`` is not
    trusted: ingest names MAID-only files ``MAID_*``, which ``/create/`` refuses (CF-03)."""
    columns = [c.upper() for c in job.columns]
    if headerless_auto:
        present = present_columns(job)
        if present:
            columns = present
    return FileShape.of_columns(columns)


def settled_shape(job: JobItem) -> FileShape:
    """The shape recorded on the job item (the upload side settles it on the first chunk); the
    job's own for an item that has none (a job from before shapes were recorded)."""
    recorded = FileShape.from_record(job.shape)
    return recorded or job_shape(job, headerless_auto=job.plan.typed_by_shape)
