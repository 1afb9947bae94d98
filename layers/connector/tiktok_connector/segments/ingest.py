"""Segment ingest: an S3 object becomes chunk files of hashes, chunk messages and a job report.

Entry points (the handler calls exactly one per record):

* :func:`ingest_object` — an S3 ``ObjectCreated`` notification. Parses the key and metadata,
  sniffs the file's head (compression, format, delimiter, header), creates the job (idempotent
  per object version) and either processes the file as one range or, when it is larger than
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
Per identifier type, valid and invalid values are counted separately. An accepted row whose every
hash was already uploaded in this range is a ``duplicate`` (not written again; see
:mod:`.chunks` for the bounded-memory dedupe). Each physical line is one row (a quoted field
cannot span lines), which keeps byte ranges and line numbers exact and stops a stray quote from
swallowing the rest of a file.

A file that cannot be read (not gzip though named so, not UTF-8, binary, no identifier column,
empty) ends as a ``failed`` report with a clear error; nothing is raised, so S3 does not retry.
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
from tiktok_connector.segments.columns import AUTO, ColumnPlan, plan_columns
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
    FileOptions,
    InvalidSegmentFile,
    is_folder_marker,
    parse_options,
    parse_segment_key,
    validate_audience_name,
)
from tiktok_connector.segments.reader import GZIP_MAGIC, open_range, plan_ranges
from tiktok_connector.segments.rejects import RejectWriter, merge_parts, part_key
from tiktok_connector.segments.settings import IngestSettings

logger = logging.getLogger(__name__)

HEAD_BYTES = 64 * 1024
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
_EMPTY = "empty"


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
    single_range: bool  # gzip or CR-only line ends: cannot be split by byte range
    first_line: str | None  # first non-blank line, None when the head holds none


def sniff_head(data: bytes, *, filename: str, size: int) -> Head:
    """Inspect the first ``HEAD_BYTES`` of a file (``data``) of ``size`` bytes."""
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
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InvalidSegmentFile("not_utf8", "the file is UTF-16 encoded; save it as UTF-8")
    if b"\x00" in data:
        raise InvalidSegmentFile("binary_file", "the file contains binary data, not UTF-8 text")
    try:
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(data, final=whole)
    except UnicodeDecodeError as exc:
        raise InvalidSegmentFile("not_utf8", "the file is not UTF-8 text") from exc
    cr_only = b"\r" in data and b"\n" not in data
    first = None
    for line in io.StringIO(text, newline=""):
        if line.strip():
            if not whole and not line.endswith(("\n", "\r")):
                raise InvalidSegmentFile(
                    "line_too_long", f"the first line is longer than {HEAD_BYTES // 1024} KiB"
                )
            first = line
            break
    return Head(compressed, compressed or cr_only, first)


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
        counter[0] += accepted  # one column: its accepted values are the accepted rows
        stats.accepted += accepted
        stats.rejected += rejected
        stats.blank += blank
        stats.duplicates += duplicates
        return lineno

    def _run_general(self, lines: Iterator[str], lineno: int) -> int:
        """Several identifier columns, JSONL, or header-less lines typed by shape."""
        plan = self.plan
        stats = self.stats
        counts: dict[str, list[int]] = stats.identifiers
        reasons = stats.rejected_by_reason
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
        if not auto:
            for src in plan.sources:
                counter = counts.setdefault(src.id_type, [0, 0])
                hasher = _hasher(src.id_type, src.alg, src.declared_hashed, self._api, self._region)
                key: Any = src.field if jsonl else src.index
                specs.append((key, src.slots[0], hasher, counter, src.label))
        first_label = plan.sources[0].label
        accepted = rejected = blank = duplicates = 0
        str_type = str
        empty_row = [""] * ncols

        for line in lines:
            lineno += 1
            # -- general path -------------------------------------------------------------
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
            else:
                row = parse_line(line, delimiter)
            out = empty_row.copy()
            ok = False
            first_reason = None
            first_column = ""
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
                        first_reason = result.reason
                        first_column = first_label
            else:
                for key, slot, hasher, counter, label in specs:
                    if jsonl:
                        raw = obj.get(key)
                        if raw is None or raw == "":
                            continue
                        if raw.__class__ is not str_type:
                            if isinstance(raw, bool) or not isinstance(raw, int | float):
                                counter[1] += 1
                                if first_reason is None:
                                    first_reason, first_column = INVALID_VALUE, label
                                continue
                            if isinstance(raw, float) and raw.is_integer():
                                raw = int(raw)
                            raw = str(raw)
                        value = raw
                    else:
                        value = row[key] if key < len(row) else ""
                        if not value:
                            continue
                    result = hasher(value)
                    if result.__class__ is str_type:
                        out[slot] = result
                        counter[0] += 1
                        ok = True
                    elif result.reason != _EMPTY:
                        counter[1] += 1
                        if first_reason is None:
                            first_reason, first_column = result.reason, label
            if ok:
                accepted += 1
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
            if first_reason is None:
                if jsonl or any(c.strip() for c in row):
                    first_reason, first_column = NO_IDENTIFIER, first_label
                else:
                    blank += 1
                    continue
            rejected += 1
            reasons[first_reason] = reasons.get(first_reason, 0) + 1
            add_reject(lineno, first_reason, first_column)

        if pending:
            sink(pending)
        stats.accepted += accepted
        stats.rejected += rejected
        stats.blank += blank
        stats.duplicates += duplicates
        return lineno


# ----------------------------------------------------------------------------- orchestration


def _error_code(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, InvalidSegmentFile):
        return exc.code, exc.message
    if isinstance(exc, UnicodeDecodeError):
        return "not_utf8", "the file is not valid UTF-8 text (save it as UTF-8 / CSV UTF-8)"
    return "unreadable_file", "the file could not be read"  # pragma: no cover


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
        validate_audience_name(seg.audience_name, options.api)
        size = int(head.get("ContentLength", 0))
        if size == 0:
            raise InvalidSegmentFile("empty_file", "the file is empty")
        plan, ranges = _plan_file(
            s3, bucket, key, source_version, filename=seg.filename, size=size, options=options,
            range_bytes=settings.ingest_range_bytes,
        )  # fmt: skip
    except InvalidSegmentFile as exc:
        created, item = jobs.create(spec, error=JobError(exc.code, exc.message))
        jobs.write_report(item, s3=s3, bucket=settings.segments_bucket)
        logger.info("segment file refused", extra={"job_id": job_id, "code": exc.code})
        return IngestResult(job_id, item["status"], error=exc.code)

    spec = replace(
        spec,
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
) -> tuple[ColumnPlan, list[tuple[int, int]]]:
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "Range": f"bytes=0-{HEAD_BYTES - 1}"}
    if version_id:
        kwargs["VersionId"] = version_id
    body = s3.get_object(**kwargs)["Body"]
    try:
        data = body.read()
    finally:
        body.close()
    head = sniff_head(data, filename=filename, size=size)
    if head.first_line is None:
        raise InvalidSegmentFile("empty_file", "the file holds no rows (only blank lines)")
    fmt, delimiter = _format_for(filename, head.first_line)
    if fmt == "jsonl":
        try:
            first: list[str] | dict[str, Any] = json.loads(head.first_line)
        except (ValueError, RecursionError):
            first = []
        if not isinstance(first, dict):
            raise InvalidSegmentFile(
                "invalid_format",
                "a JSON Lines file holds one JSON object per line (JSON arrays are not read)",
            )
    else:
        first = parse_line(head.first_line, delimiter)
    plan = plan_columns(
        first, fmt=fmt, delimiter=delimiter, compressed=head.compressed, options=options
    )
    # The job item holds per-range counters (DynamoDB items stop at 400 KB): cap the count.
    range_bytes = max(range_bytes, -(-size // MAX_RANGES))
    ranges = [(0, size)] if head.single_range else plan_ranges(size, range_bytes)
    return plan, ranges


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
        )  # fmt: skip
        try:
            stats = processor.run(text, skip_header=plan.header and start == 0)
        finally:
            text.close()
        chunks = writer.close()
    except (InvalidSegmentFile, UnicodeDecodeError) as exc:
        rejects.close()
        code, message = _error_code(exc)
        final = jobs.fail(job_id, code, message)
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
