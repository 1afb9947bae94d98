"""Segment ingest: an S3 object becomes chunk files of hashes, chunk messages and a job report.

Entry points (the handler calls exactly one per record):

* :func:`ingest_object` — an S3 ``ObjectCreated`` notification. Parses the key and metadata
  (:mod:`.options`), sniffs the file's head (compression, refused formats :mod:`.formats`,
  encoding :mod:`.encoding`, format, delimiter, header), plans its columns (:mod:`.columns`),
  creates the job (idempotent per object version; what was learned goes to the report, see
  :mod:`.reading`) and either processes the file as one range or, when it is larger than
  ``INGEST_RANGE_BYTES``, sends one message per byte range to the ranges queue.
* :func:`ingest_range` — one ranges-queue message ``{"type": "range", "job_id", "range",
  "start", "end"}``.

A range is streamed line by line (:mod:`.reader`), each identifier normalised and hashed by
:mod:`tiktok_connector.identity`, accepted rows written to chunk files (:mod:`.chunks`), rejected
rows to the rejects file (:mod:`.rejects`). Then the range is recorded on the job (chunk count,
counters) and only then its chunk messages are sent (docs/architecture.md). The range that
completes the job merges reject parts, fails the job when nothing was accepted, and sends a
``finalize`` message when every chunk was already uploaded.

Accounting (DESIGN §3.7): a non-blank line is a row; a row is accepted when at least one of its
identifiers is valid, else rejected with the reason of its first invalid identifier
(``no_identifier`` when its id cells are empty, ``malformed_row`` when it cannot be parsed), so
``read == accepted + rejected`` by construction and ``rejected_by_reason`` sums to ``rejected``.
An accepted row's bad identifiers get rejects lines too, marked partial (:mod:`.rejects`).
Per identifier type, valid and invalid values are counted separately. An accepted row whose every
hash was already uploaded in this range is a ``duplicate`` (not written again; see
:mod:`.chunks` for the bounded-memory dedupe). Each physical line is one row (a quoted field
cannot span lines), which keeps byte ranges and line numbers exact and stops a stray quote from
swallowing the rest of a file.

A file that cannot be read (not gzip though named so, a format we do not read, binary, a byte its
encoding cannot decode, no identifier column, empty) ends as a ``failed`` report with a clear
error and a header-only rejects file; nothing is raised, so S3 does not retry.
Only infrastructure errors (S3, SQS, DynamoDB) propagate, to be retried by Lambda/SQS.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import itertools
import json
import logging
import re
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import ClientError

from tiktok_connector.identity import HashAlg, Hasher, IdType, Surface
from tiktok_connector.segments.chunks import ChunkInfo, ChunkWriter, HashFilter
from tiktok_connector.segments.columns import (
    AUTO,
    ColumnPlan,
    describe_columns,
    plan_columns,
    read_as,
)
from tiktok_connector.segments.encoding import (
    STRICT_UTF8,
    TextEncoding,
    choose_encoding,
    counting_substitutions,
    locate_undecodable,
)
from tiktok_connector.segments.formats import refuse_unsupported
from tiktok_connector.segments.jobs import (
    RUNNING,
    JobError,
    JobSpec,
    JobStore,
    RangeStats,
    job_id_for,
    job_plan,
    rejects_key,
)
from tiktok_connector.segments.keys import (
    AudienceApi,
    InvalidSegmentFile,
    is_folder_marker,
    parse_segment_key,
    validate_audience_name,
)
from tiktok_connector.segments.options import FileOptions, parse_options
from tiktok_connector.segments.reader import (
    GZIP_MAGIC,
    gunzip_blocks,
    open_range,
    plan_ranges,
    range_bytes,
)
from tiktok_connector.segments.reading import (
    INVALID_PHONES,
    SUBSTITUTED_BYTES,
    count_unplanned,
    reading_item,
)
from tiktok_connector.segments.rejects import RejectWriter, merge_parts, part_key
from tiktok_connector.segments.settings import IngestSettings

logger = logging.getLogger(__name__)

HEAD_BYTES = 64 * 1024
SAMPLE_LINES = 500  # lines of the head that plan JSONL keys and check ignored columns' values
MAX_RANGES = 200
FLUSH_LINES = 8192
BATCH_CHARS = 256 * 1024  # single-column fast path: lines per batch ≈ this many characters
BATCH_LINES = 2048  # … or this many lines when the input is a plain iterable
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{64}")
_JSONL_EXT = (".jsonl", ".ndjson", ".json")
_DELIMITERS = ("\t", ",", ";", "|")

# reasons this module adds to identity's (invalid_email, invalid_phone, not_a_hash, …)
NO_IDENTIFIER = "no_identifier"
MALFORMED_ROW = "malformed_row"
INVALID_VALUE = "invalid_value"
AMBIGUOUS_HASH = "ambiguous_hash"
MAID_PLATFORM_UNKNOWN = "maid_platform_unknown"
COLUMN_NOT_PLANNED = "column_not_planned"
INVALID_PHONE = "invalid_phone"
_EMPTY = "empty"
_UNSEEN = object()
MAX_CACHED_KEYS = 4096
MAX_LABEL_CHARS = 100


@dataclass(slots=True)
class IngestResult:
    """What one invocation did (for logs and metrics; no PII)."""

    job_id: str | None
    status: str  # "running", "failed", "succeeded", "skipped"
    ranges_total: int = 0
    range_index: int | None = None
    chunks: int = 0
    error: str | None = None
    stats: RangeStats | None = None
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- sniffing


def _format_for(filename: str, first_line: str) -> tuple[str, str]:
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


@dataclass(frozen=True, slots=True)
class Head:
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


# ----------------------------------------------------------------------------- row processing


def _take(it: Iterator[str], n: int) -> list[str]:
    return list(itertools.islice(it, n))


def _cell(line: str, delimiter: str, index: int) -> str:
    """Cell ``index`` of a physical line ("" when the row is too short)."""
    if '"' in line or delimiter in line:
        row = parse_line(line, delimiter)
        return row[index] if index < len(row) else ""
    return line if index == 0 else ""


def _hasher(id_type: str, alg: str, declared: bool, api: str, region: str) -> Any:
    surface = Surface.SEGMENT_API if api == AudienceApi.SEGMENT else Surface.CUSTOMER_FILE
    return Hasher(
        IdType(id_type),
        alg=HashAlg(alg),
        surface=surface,
        phone_region=region,
        declared_hashed=declared,
    )


class _Rejected:
    """A local rejection (same shape as identity's ``Rejected``)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


_REJECT_HASH = _Rejected(AMBIGUOUS_HASH)
_REJECT_MAID = _Rejected(MAID_PLATFORM_UNKNOWN)


def _auto_typer(plan: ColumnPlan, api: str, region: str) -> Callable[[str], tuple[int, str, Any]]:
    """For header-less files without ``id-type``: type a value by its shape (DESIGN §3.7)."""
    source = plan.sources[0]
    email = _hasher("email", "sha256", False, api, region)
    phone = _hasher("phone", "sha256", False, api, region)
    maid = _hasher("maid", source.alg, False, api, region) if len(source.slots) > 2 else None
    s_email, s_phone = source.slots[0], source.slots[1]
    s_maid = source.slots[2] if maid else -1
    uuid_match = _UUID.fullmatch
    hex_match = _HEX.fullmatch

    def typed(value: str) -> tuple[int, str, Any]:
        v = value.strip()
        if "@" in v:
            return s_email, "email", email(v)
        if uuid_match(v):
            if maid is None:
                return -1, "maid", _REJECT_MAID
            return s_maid, "maid", maid(v)
        if hex_match(v):
            return -1, "unknown", _REJECT_HASH
        return s_phone, "phone", phone(v)

    return typed


class RangeProcessor:
    """Turns the lines of one range into chunk lines, reject rows and counters.

    ``sink(lines)`` receives accepted rows as chunk lines in batches; ``rejects`` gets
    ``add(line, reason, column)``. No AWS in here: tests drive it with plain lists.
    """

    def __init__(
        self,
        plan: ColumnPlan,
        *,
        api: str,
        phone_region: str,
        sink: Callable[[list[str]], None],
        rejects: Any,
        dedupe: HashFilter | None = None,
    ) -> None:
        self.plan = plan
        self.sink = sink
        self.rejects = rejects
        self.dedupe = dedupe if dedupe is not None else HashFilter()
        self.stats = RangeStats()
        self._api = api
        self._region = phone_region

    def run(self, lines: Iterable[str], *, skip_header: bool) -> RangeStats:
        """Process ``lines`` (physical lines, with line ends: a text stream or any iterable).
        ``skip_header``: this range holds the file's first line and the plan has a header row."""
        stats = self.stats
        it = iter(lines)
        lineno = 0
        if skip_header:  # blank lines before the header row are blank lines
            for line in it:
                lineno += 1
                if line.strip():
                    break
                stats.blank += 1
        plan = self.plan
        if len(plan.sources) == 1 and plan.format == "csv" and plan.sources[0].id_type != AUTO:
            readlines = getattr(lines, "readlines", None)
            if readlines is not None:
                # C-speed batches of about BATCH_CHARS characters (bounded memory)
                batches: Callable[[], list[str]] = functools.partial(readlines, BATCH_CHARS)
            else:
                batches = functools.partial(_take, it, BATCH_LINES)
            lineno = self._run_single(batches, lineno)
        else:
            lineno = self._run_general(it, lineno)
        stats.lines += lineno
        stats.read = stats.accepted + stats.rejected
        return stats

    def _run_single(self, batches: Callable[[], list[str]], lineno: int) -> int:
        """The common case, one identifier column of a delimited file, a batch at a time."""
        stats = self.stats
        src = self.plan.sources[0]
        hasher = _hasher(src.id_type, src.alg, src.declared_hashed, self._api, self._region)
        many = getattr(hasher, "many", None) or functools.partial(map, hasher)
        counter = stats.identifiers.setdefault(src.id_type, [0, 0])
        reasons = stats.rejected_by_reason
        invalid_before = reasons.get(INVALID_PHONE, 0)
        add_reject = self.rejects.add
        label = src.label
        index = src.index or 0
        delimiter = self.plan.delimiter
        dedupe = self.dedupe
        table, mask, limit, used = dedupe.state()
        sink = self.sink
        str_type = str
        accepted = rejected = blank = duplicates = 0
        while batch := batches():
            joined = "".join(batch)
            if index == 0 and '"' not in joined and delimiter not in joined:
                values: list[str] = batch  # the line is the value (the hasher trims)
            else:
                values = [_cell(line, delimiter, index) for line in batch]
            pending: list[str] = []
            append = pending.append
            others = 0  # rows of this batch that are not accepted
            for k, result in enumerate(many(values)):
                if result.__class__ is str_type:
                    # HashFilter.add, inlined (see chunks.HashFilter.state); a fingerprint of 0
                    # (p = 2⁻⁶⁴) reads as an empty slot: that hash is never deduplicated
                    h = hash(result)
                    i = h & mask
                    v = table[i]
                    while v and v != h:
                        i = (i + 1) & mask
                        v = table[i]
                    if v:
                        duplicates += 1
                        continue
                    table[i] = h
                    used += 1
                    if used > limit:
                        table, mask, limit, used = dedupe.grown(used)
                    append(result)
                    continue
                others += 1
                reason = result.reason
                if reason != _EMPTY:
                    rejected += 1
                    counter[1] += 1
                    reasons[reason] = reasons.get(reason, 0) + 1
                    add_reject(lineno + k + 1, reason, label)
                    continue
                line = batch[k]
                if not line.strip() or not any(c.strip() for c in parse_line(line, delimiter)):
                    blank += 1
                    continue
                rejected += 1
                reasons[NO_IDENTIFIER] = reasons.get(NO_IDENTIFIER, 0) + 1
                add_reject(lineno + k + 1, NO_IDENTIFIER, label)
            lineno += len(batch)
            accepted += len(batch) - others
            if pending:
                sink(pending)
        dedupe.sync(used)
        if src.id_type == "phone" and reasons.get(INVALID_PHONE, 0) > invalid_before:
            # one column: each rejected row is one rejected value
            findings = stats.findings
            findings[INVALID_PHONES] = (
                findings.get(INVALID_PHONES, 0) + reasons[INVALID_PHONE] - invalid_before
            )
        counter[0] += accepted  # one column: its accepted values are the accepted rows
        stats.accepted += accepted
        stats.rejected += rejected
        stats.blank += blank
        stats.duplicates += duplicates
        return lineno

    def _run_general(self, lines: Iterator[str], lineno: int) -> int:
        """Several identifier columns, JSONL, or header-less lines typed by shape.

        A row is accepted when one of its identifiers is valid. Its bad identifiers still get
        a line in the rejects file, marked partial; a rejected row gets one line, with its first
        bad identifier's reason."""
        plan = self.plan
        stats = self.stats
        counts: dict[str, list[int]] = stats.identifiers
        reasons = stats.rejected_by_reason
        findings = stats.findings
        add_reject = self.rejects.add
        seen = self.dedupe.add
        pending: list[str] = []
        append = pending.append
        sink = self.sink
        ncols = len(plan.columns)
        jsonl = plan.format == "jsonl"
        delimiter = plan.delimiter
        auto = plan.sources[0].id_type == AUTO
        typer = _auto_typer(plan, self._api, self._region) if auto else None
        specs = []
        if not auto and not jsonl:
            for src in plan.sources:
                counter = counts.setdefault(src.id_type, [0, 0])
                hasher = _hasher(src.id_type, src.alg, src.declared_hashed, self._api, self._region)
                specs.append((src.index or 0, src.slots[0], hasher, counter, src.label))
        key_of = self._key_reader() if jsonl else None
        first_label = plan.sources[0].label
        accepted = rejected = blank = duplicates = invalid_phones = 0
        str_type = str
        empty_row = [""] * ncols
        bad: list[tuple[str, str]] | None

        for line in lines:
            lineno += 1
            bad = None  # (reason, column) of each bad identifier of this row
            out = empty_row.copy()
            ok = False
            if jsonl:
                text = line.strip()
                if not text:
                    blank += 1
                    continue
                try:
                    obj = json.loads(text)
                except (ValueError, RecursionError):  # nesting deeper than json can parse
                    obj = None
                if not isinstance(obj, dict):
                    rejected += 1
                    reasons[MALFORMED_ROW] = reasons.get(MALFORMED_ROW, 0) + 1
                    add_reject(lineno, MALFORMED_ROW, "")
                    continue
                assert key_of is not None
                for key, raw in obj.items():
                    spec = key_of(key)
                    if spec is None or raw is None or raw == "":
                        continue
                    slots, hasher, counter, label, unusable = spec
                    if raw.__class__ is not str_type:
                        if isinstance(raw, bool) or not isinstance(raw, int | float):
                            raw = None  # a list, an object, true/false: not an identifier
                        else:
                            if isinstance(raw, float) and raw.is_integer():
                                raw = int(raw)
                            raw = str(raw)
                    if raw is None or unusable:
                        counter[1] += 1
                        reason = unusable or INVALID_VALUE
                        if unusable == COLUMN_NOT_PLANNED:
                            count_unplanned(findings, label)
                        bad = [(reason, label)] if bad is None else [*bad, (reason, label)]
                        continue
                    result = hasher(raw)
                    if result.__class__ is not str_type:
                        if result.reason != _EMPTY:
                            counter[1] += 1
                            if result.reason == INVALID_PHONE:
                                invalid_phones += 1
                            pair = (result.reason, label)
                            bad = [pair] if bad is None else [*bad, pair]
                        continue
                    for slot in slots:
                        if not out[slot] or out[slot] == result:
                            out[slot] = result
                            break
                    else:  # more values of this type in the row than the plan has columns
                        counter[1] += 1
                        count_unplanned(findings, label)
                        pair = (COLUMN_NOT_PLANNED, label)
                        bad = [pair] if bad is None else [*bad, pair]
                        continue
                    counter[0] += 1
                    ok = True
            else:
                row = parse_line(line, delimiter)
                if typer is not None:
                    value = row[0] if row else ""
                    if value and value.strip():
                        slot, id_type, result = typer(value)
                        counter = counts.setdefault(id_type, [0, 0])
                        if result.__class__ is str_type:
                            out[slot] = result
                            counter[0] += 1
                            ok = True
                        elif result.reason != _EMPTY:
                            counter[1] += 1
                            if result.reason == INVALID_PHONE:
                                invalid_phones += 1
                            bad = [(result.reason, first_label)]
                else:
                    for index, slot, hasher, counter, label in specs:
                        value = row[index] if index < len(row) else ""
                        if not value:
                            continue
                        result = hasher(value)
                        if result.__class__ is str_type:
                            out[slot] = result
                            counter[0] += 1
                            ok = True
                        elif result.reason != _EMPTY:
                            counter[1] += 1
                            if result.reason == INVALID_PHONE:
                                invalid_phones += 1
                            pair = (result.reason, label)
                            bad = [pair] if bad is None else [*bad, pair]
            if ok:
                accepted += 1
                if bad is not None:
                    for reason, column in bad:
                        add_reject(lineno, reason, column, True)
                fresh = False
                for k, hashed in enumerate(out):
                    if hashed:
                        if seen(hashed):
                            fresh = True
                        else:
                            out[k] = ""
                if fresh:
                    append(",".join(out))
                    if len(pending) >= FLUSH_LINES:
                        sink(pending)
                        pending = []
                        append = pending.append
                else:
                    duplicates += 1
                continue
            if bad is None:
                if jsonl or any(c.strip() for c in row):
                    bad = [(NO_IDENTIFIER, first_label)]
                else:
                    blank += 1
                    continue
            reason, column = bad[0]
            rejected += 1
            reasons[reason] = reasons.get(reason, 0) + 1
            add_reject(lineno, reason, column)

        if pending:
            sink(pending)
        stats.accepted += accepted
        stats.rejected += rejected
        stats.blank += blank
        stats.duplicates += duplicates
        if invalid_phones:
            findings[INVALID_PHONES] = findings.get(INVALID_PHONES, 0) + invalid_phones
        return lineno

    def _key_reader(self) -> Callable[[str], tuple[Any, ...] | None]:
        """For JSONL: how each key of an object is read, looked up once per distinct key.

        Returns ``key -> None`` (not an identifier key) or ``(slots, hasher, counter, label,
        unusable)``: ``slots`` are the chunk columns of its type; ``unusable`` is the reason its
        values cannot be used (``column_not_planned``: the job has no column of that type,
        ``maid_platform_unknown``: a MAID key for the partner API), else ``""``."""
        plan = self.plan
        mapping = dict(plan.mapping)
        slots_of: dict[str, tuple[int, ...]] = {}
        for slot, column in enumerate(plan.columns):
            slots_of[column] = (*slots_of.get(column, ()), slot)
        counts = self.stats.identifiers
        cache: dict[str, tuple[Any, ...] | None] = {}

        def read(key: str) -> tuple[Any, ...] | None:
            found = cache.get(key, _UNSEEN)
            if found is not _UNSEEN:
                return found  # type: ignore[return-value]
            spec = read_as(key, mapping, plan.maid_hash)
            entry: tuple[Any, ...] | None = None
            if spec is not None:
                label = key[:MAX_LABEL_CHARS]
                slots = slots_of.get(spec.column, ())
                unusable = "" if slots else COLUMN_NOT_PLANNED
                if self._api == AudienceApi.SEGMENT and spec.id_type == "maid":
                    unusable, hasher = MAID_PLATFORM_UNKNOWN, None
                else:
                    hasher = _hasher(
                        spec.id_type, spec.alg, spec.declared_hashed, self._api, self._region
                    )
                counter = counts.setdefault(spec.id_type, [0, 0])
                entry = (slots, hasher, counter, label, unusable)
            if len(cache) < MAX_CACHED_KEYS:  # a hostile file's keys are unbounded
                cache[key] = entry
            return entry

        return read


# ----------------------------------------------------------------------------- orchestration


def _undecodable(
    s3: Any, source: dict[str, Any], plan: ColumnPlan, index: int, start: int, end: int
) -> tuple[str, str]:
    """The error of a range that stopped on a byte its encoding cannot decode: read the range
    again (only on this failure path) to name the line and byte."""
    encoding = TextEncoding.from_dict(plan.encoding)
    blocks: Iterable[bytes] = range_bytes(
        s3, source["bucket"], source["key"], source.get("version_id"),
        start=start, end=end, compressed=plan.compressed,
    )  # fmt: skip
    if plan.compressed:
        blocks = gunzip_blocks(blocks)
    found = locate_undecodable(blocks, encoding)
    if found is None:  # pragma: no cover - the first read failed, so this one does too
        where = "a byte"
    elif index == 0:
        where = f"line {found[0]} (byte offset {found[1]}{' uncompressed' * plan.compressed})"
    else:
        where = (
            f"line {found[0]} of byte range {index}, which begins with the first line starting "
            f"at or after byte offset {start}"
        )
    how = {"option": "the encoding metadata names", "bom": "its byte order mark says"}
    reason = how.get(encoding.how, "detected from the file's first 64 KiB")
    return "undecodable", (
        f"{where} cannot be read as {encoding.name} ({reason}); set metadata encoding to the "
        "file's real encoding (utf-8, cp1252, latin-1, utf-16) or save it as UTF-8"
    )


def _write_empty_rejects(s3: Any, bucket: str, job_id: str) -> None:
    """The rejects file of a job that failed before reading rows: its header only (every job
    that ends has one)."""
    writer = RejectWriter()
    try:
        writer.upload(s3=s3, bucket=bucket, key=rejects_key(job_id), header=True)
    finally:
        writer.close()


def ingest_object(
    bucket: str,
    key: str,
    version_id: str | None,
    *,
    s3: Any,
    sqs: Any,
    jobs: JobStore,
    settings: IngestSettings,
) -> IngestResult:
    """Handle one ``ObjectCreated`` notification for a decoded ``key`` (see module docs)."""
    if is_folder_marker(key):
        return IngestResult(None, "skipped", notes=["folder marker"])
    head_kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        head_kwargs["VersionId"] = version_id
    try:
        head = s3.head_object(**head_kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NoSuchVersion"):
            logger.warning("segment file vanished before ingest", extra={"bucket": bucket})
            return IngestResult(None, "skipped", notes=["object not found"])
        raise
    version = version_id or head.get("VersionId") or head.get("ETag", "").strip('"')
    if version == "null":  # unversioned object in a bucket that had versioning
        version = head.get("ETag", "").strip('"')
    job_id = job_id_for(bucket, key, version)
    source_version = version_id or head.get("VersionId")

    existing = jobs.get(job_id)
    if existing is not None and _nothing_left(existing):
        return IngestResult(job_id, "skipped", notes=["duplicate notification"])

    spec = JobSpec(job_id=job_id, bucket=bucket, key=key, version_id=source_version)
    reading: dict[str, Any] | None = None
    try:
        seg = parse_segment_key(key)
        spec = JobSpec(
            job_id=job_id,
            bucket=bucket,
            key=key,
            version_id=source_version,
            advertiser_id=seg.advertiser_id,
            audience_name=seg.audience_name,
            action=seg.action,
        )
        options = parse_options(
            head.get("Metadata") or {}, default_phone_region=settings.default_phone_region
        )
        spec = replace(
            spec,
            api=str(options.api),
            retention_days=options.retention_days,
            phone_region=options.phone_region,
        )
        reading = reading_item(options=options.echo(), warnings=options.warnings())
        validate_audience_name(seg.audience_name, options.api)
        size = int(head.get("ContentLength", 0))
        if size == 0:
            raise InvalidSegmentFile("empty_file", "the file is empty")
        planned = _plan_file(
            s3, bucket, key, source_version, filename=seg.filename, size=size, options=options,
            range_bytes=settings.ingest_range_bytes,
        )  # fmt: skip
    except InvalidSegmentFile as exc:
        spec = replace(spec, reading=reading)
        created, item = jobs.create(spec, error=JobError(exc.code, exc.message))
        if created:
            _write_empty_rejects(s3, settings.segments_bucket, job_id)
        jobs.write_report(item, s3=s3, bucket=settings.segments_bucket)
        logger.info("segment file refused", extra={"job_id": job_id, "code": exc.code})
        return IngestResult(job_id, item["status"], error=exc.code)

    plan, ranges = planned.plan, planned.ranges
    if options.retention_days is not None and seg.action in ("append", "remove"):
        planned.reading["warnings"].append(
            {
                "code": "retention_days_unused",
                "message": "metadata retention-days applies when an audience is created (create, "
                f"or a replace that creates it); it was not applied to this {seg.action}",
            }
        )
    spec = replace(
        spec,
        reading=planned.reading,
        columns=plan.columns,
        calculate_type=plan.calculate_type,
        ranges_total=len(ranges),
        plan={
            "columns": plan.as_dict(),
            "ranges": [list(r) for r in ranges],
            "maid_hash": options.maid_hash,
        },
    )
    created, item = jobs.create(spec)
    if not created and _nothing_left(item):
        return IngestResult(job_id, "skipped", notes=["duplicate notification"])
    if created:
        jobs.write_report(item, s3=s3, bucket=settings.segments_bucket)
    if len(ranges) == 1:
        return process_range(item, 0, s3=s3, sqs=sqs, jobs=jobs, settings=settings)
    if item.get("ranges_queued"):  # a duplicate notification: the ranges are on their way
        return IngestResult(job_id, "skipped", notes=["duplicate notification"])
    _send_range_messages(sqs, settings, job_id, ranges, item)
    jobs.mark_ranges_queued(job_id)
    return IngestResult(job_id, RUNNING, ranges_total=len(ranges))


def _nothing_left(item: dict[str, Any]) -> bool:
    """A job that has ended, or whose every range is recorded, needs no more ingest work."""
    return item.get("status") != RUNNING or item.get("ranges_done", 0) >= item.get(
        "ranges_total", 1
    )


@dataclass(frozen=True, slots=True)
class PlannedFile:
    """How a file will be read (:class:`ColumnPlan`, byte ranges) and what the report says about
    the reading (the job item's ``reading``, see :mod:`.reading`)."""

    plan: ColumnPlan
    ranges: list[tuple[int, int]]
    reading: dict[str, Any]


def _plan_file(
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
    fmt, delimiter = _format_for(filename, head.first_line)
    names: list[str]
    sample: dict[str, list[str]] = {}
    if fmt == "jsonl":
        objects = [_json_object(line) for line in head.lines]
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
    plan = replace(plan, encoding=head.encoding.as_dict())
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


def _json_object(line: str) -> dict[str, Any] | None:
    """The JSON object on ``line``, or None (not JSON, or not an object)."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _send_range_messages(
    sqs: Any, settings: IngestSettings, job_id: str, ranges: list[tuple[int, int]], item: Any
) -> None:
    if not settings.ranges_queue_url:
        raise RuntimeError("RANGES_QUEUE_URL is not set but the file needs byte ranges")
    done = set((item.get("ranges") or {}).keys())
    bodies = [
        {"type": "range", "job_id": job_id, "range": i, "start": s, "end": e}
        for i, (s, e) in enumerate(ranges)
        if str(i) not in done
    ]
    _send_batches(sqs, settings.ranges_queue_url, bodies)


def _send_batches(sqs: Any, queue_url: str, bodies: list[dict[str, Any]]) -> None:
    """``send_message_batch`` in tens; entries SQS refuses are sent again once, then raise."""
    for i in range(0, len(bodies), 10):
        entries = [
            {"Id": str(n), "MessageBody": json.dumps(b, separators=(",", ":"))}
            for n, b in enumerate(bodies[i : i + 10])
        ]
        for _attempt in range(3):
            resp = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            failed = {f["Id"] for f in resp.get("Failed", [])}
            if not failed:
                break
            entries = [e for e in entries if e["Id"] in failed]
            time.sleep(0.2)
        else:
            raise RuntimeError(f"SQS refused {len(entries)} message(s) after retries")


def ingest_range(
    message: dict[str, Any], *, s3: Any, sqs: Any, jobs: JobStore, settings: IngestSettings
) -> IngestResult:
    """Handle one ranges-queue message. Raises ``ValueError`` on a malformed message (poison)."""
    if message.get("type") != "range" or not isinstance(message.get("range"), int):
        raise ValueError("not a range message")
    job_id = str(message.get("job_id"))
    item = jobs.get(job_id)
    if item is None:
        raise ValueError("range message for an unknown job")
    index = message["range"]
    if item.get("status") != RUNNING or str(index) in (item.get("ranges") or {}):
        return IngestResult(job_id, "skipped", range_index=index, notes=["range already done"])
    return process_range(item, index, s3=s3, sqs=sqs, jobs=jobs, settings=settings)


def process_range(
    item: dict[str, Any],
    index: int,
    *,
    s3: Any,
    sqs: Any,
    jobs: JobStore,
    settings: IngestSettings,
) -> IngestResult:
    """Process byte range ``index`` of a job (see module docs). Safe to run twice."""
    job_id = item["job_id"]
    stored = job_plan(item)
    plan = ColumnPlan.from_dict(stored["columns"])
    ranges = [tuple(r) for r in stored["ranges"]]
    start, end = ranges[index]
    source = item["source"]
    bucket = settings.segments_bucket
    multi = len(ranges) > 1
    writer = ChunkWriter(
        s3=s3,
        bucket=bucket,
        job_id=job_id,
        range_index=index,
        columns=plan.columns,
        max_rows=settings.chunk_rows,
        max_bytes=settings.chunk_max_bytes,
    )
    rejects = RejectWriter()
    processor = RangeProcessor(
        plan,
        api=item.get("api") or "file",
        phone_region=item.get("phone_region") or settings.default_phone_region,
        sink=writer.write,
        rejects=rejects,
        dedupe=HashFilter(settings.dedupe_max_hashes, expected=_expected_rows(plan, start, end)),
    )
    started = time.monotonic()
    try:
        text = open_range(
            s3, source["bucket"], source["key"], source.get("version_id"),
            start=start, end=end, compressed=plan.compressed,
            encoding=TextEncoding.from_dict(plan.encoding),
        )  # fmt: skip
        try:
            with counting_substitutions() as substituted:
                stats = processor.run(text, skip_header=plan.header and start == 0)
        finally:
            text.close()
        if substituted[0]:
            stats.findings[SUBSTITUTED_BYTES] = substituted[0]
        chunks = writer.close()
    except (InvalidSegmentFile, UnicodeDecodeError) as exc:
        rejects.close()
        if isinstance(exc, InvalidSegmentFile):
            code, message = exc.code, exc.message
        else:
            code, message = _undecodable(s3, source, plan, index, start, end)
        final = jobs.fail(job_id, code, message)
        if final is not None:
            _write_empty_rejects(s3, bucket, job_id)
        jobs.write_report(final or job_id, s3=s3, bucket=bucket)
        logger.info("segment file unreadable", extra={"job_id": job_id, "code": code})
        return IngestResult(job_id, "failed", len(ranges), index, error=code)
    try:
        rejects.upload(
            s3=s3,
            bucket=bucket,
            key=part_key(job_id, index) if multi else rejects_key(job_id),
            header=not multi,
        )
    finally:
        rejects.close()
    stats.chunks = len(chunks)
    logger.info(
        "range processed",
        extra={
            "job_id": job_id,
            "range": index,
            "rows": stats.read,
            "chunks": stats.chunks,
            "seconds": round(time.monotonic() - started, 3),
        },
    )

    recorded = jobs.record_range(job_id, index, stats)
    if recorded is None:
        # Redelivered range: the first run recorded it. Its chunk messages may not have gone
        # out (crash between record and send), so send them again; upload ignores duplicates.
        current = jobs.get(job_id)
        if current is None or current.get("status") != RUNNING:
            return IngestResult(job_id, "skipped", len(ranges), index, notes=["job ended"])
        _send_chunk_messages(sqs, settings, job_id, chunks)
        return IngestResult(job_id, RUNNING, len(ranges), index, len(chunks), stats=stats)

    _send_chunk_messages(sqs, settings, job_id, chunks)
    status = RUNNING
    if recorded["ranges_done"] >= recorded["ranges_total"]:
        status = _complete_ingest(recorded, s3=s3, sqs=sqs, jobs=jobs, settings=settings)
    jobs.write_report(job_id, s3=s3, bucket=bucket)
    return IngestResult(job_id, status, len(ranges), index, len(chunks), stats=stats)


def _expected_rows(plan: ColumnPlan, start: int, end: int) -> int:
    """A generous guess of a range's rows (identifier lines are rarely under 16 bytes)."""
    size = end - start
    return (size * 4 if plan.compressed else size) // 16


def _send_chunk_messages(
    sqs: Any, settings: IngestSettings, job_id: str, chunks: list[ChunkInfo]
) -> None:
    _send_batches(
        sqs,
        settings.chunk_queue_url,
        [
            {"type": "chunk", "job_id": job_id, "chunk_key": c.key, "rows": c.rows, "md5": c.md5}
            for c in chunks
        ],
    )


def _complete_ingest(
    item: dict[str, Any], *, s3: Any, sqs: Any, jobs: JobStore, settings: IngestSettings
) -> str:
    """Run once, by the range whose record completed the job."""
    job_id = item["job_id"]
    ranges = item.get("ranges") or {}
    if item["ranges_total"] > 1:
        merge_parts(
            s3=s3,
            bucket=settings.segments_bucket,
            job_id=job_id,
            line_counts=[int(ranges[str(i)]["lines"]) for i in range(item["ranges_total"])],
            target_key=rejects_key(job_id),
        )
    if item.get("chunks_total", 0) == 0:
        jobs.fail(
            job_id,
            "no_valid_rows",
            "no row of the file holds a valid identifier; see the rejects file for reasons",
        )
        return "failed"
    if item.get("chunks_done", 0) >= item["chunks_total"]:
        # every chunk was uploaded before this last (chunk-less) range was recorded: nobody
        # else will trigger the fan-in
        _send_batches(sqs, settings.chunk_queue_url, [{"type": "finalize", "job_id": job_id}])
    return RUNNING


@dataclass(frozen=True, slots=True)
class Collaborators:
    """What ingest needs from outside: clients, the job store and the settings."""

    s3: Any
    sqs: Any
    jobs: JobStore
    settings: IngestSettings

    def object_created(self, bucket: str, key: str, version_id: str | None) -> IngestResult:
        """:func:`ingest_object` with these collaborators."""
        return ingest_object(
            bucket,
            key,
            version_id,
            s3=self.s3,
            sqs=self.sqs,
            jobs=self.jobs,
            settings=self.settings,
        )

    def range_message(self, body: str) -> IngestResult:
        """:func:`ingest_range` for a raw SQS body; ``ValueError`` when it is not one."""
        try:
            message = json.loads(body)
        except ValueError:
            raise ValueError("range message is not JSON") from None
        if not isinstance(message, dict):
            raise ValueError("range message is not a JSON object")
        return ingest_range(
            message, s3=self.s3, sqs=self.sqs, jobs=self.jobs, settings=self.settings
        )


def default_collaborators() -> Collaborators:
    """Collaborators from the environment and the layer's cached clients (handler entry)."""
    from tiktok_connector import aws
    from tiktok_connector.segments.settings import get_ingest_settings

    settings = get_ingest_settings()
    return Collaborators(
        s3=aws.s3(),
        sqs=aws.sqs(),
        jobs=JobStore(settings.jobs_table, dynamodb=aws.dynamodb(), ttl_days=settings.job_ttl_days),
        settings=settings,
    )
