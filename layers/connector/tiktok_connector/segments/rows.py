"""Rows of a range in the general case: several identifier columns, JSON Lines objects, or
header-less lines typed by their shape — and the vocabulary every row path shares.

:func:`read_rows` is the per-line loop for those files (the common single-column file takes the
batched fast path in :mod:`.processing`). A row is accepted when one of its identifiers is valid;
its bad identifiers still get a rejects line, marked partial; a rejected row gets one line with its
first bad identifier's reason. The reasons here add to identity's (``invalid_email``,
``invalid_phone``, ``not_a_hash`` …).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from tiktok_connector.contract.job import AUTO
from tiktok_connector.identity import HashAlg, Hasher, IdType, Surface
from tiktok_connector.segments.chunks import HashFilter
from tiktok_connector.segments.columns import ColumnPlan, read_as
from tiktok_connector.segments.formats import parse_line
from tiktok_connector.segments.keys import AudienceApi
from tiktok_connector.segments.reading import INVALID_PHONES, count_unplanned
from tiktok_connector.segments.stats import RangeStats

FLUSH_LINES = 8192  # chunk lines handed to the sink at once
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{64}")

# reasons this package adds to identity's (invalid_email, invalid_phone, not_a_hash, …)
NO_IDENTIFIER = "no_identifier"
MALFORMED_ROW = "malformed_row"
INVALID_VALUE = "invalid_value"
AMBIGUOUS_HASH = "ambiguous_hash"
MAID_PLATFORM_UNKNOWN = "maid_platform_unknown"
COLUMN_NOT_PLANNED = "column_not_planned"
INVALID_PHONE = "invalid_phone"
EMPTY = "empty"  # identity's reason for a blank value: not a rejection
_UNSEEN = object()
MAX_CACHED_KEYS = 4096
MAX_LABEL_CHARS = 100


def hasher_for(id_type: str, alg: str, declared: bool, api: str, region: str) -> Any:
    """The identity :class:`~tiktok_connector.identity.Hasher` of one planned column."""
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


def auto_typer(plan: ColumnPlan, api: str, region: str) -> Callable[[str], tuple[int, str, Any]]:
    """``value -> (slot, id type, hash or rejection)``.

    For header-less files without ``id-type``: type a value by its shape (DESIGN §3.7)."""
    source = plan.sources[0]
    email = hasher_for("email", "sha256", False, api, region)
    phone = hasher_for("phone", "sha256", False, api, region)
    maid = hasher_for("maid", source.alg, False, api, region) if len(source.slots) > 2 else None
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


def read_rows(  # noqa: C901 - one loop per line: a call per row would cost as much as the row
    lines: Iterator[str],
    lineno: int,
    *,
    plan: ColumnPlan,
    stats: RangeStats,
    sink: Callable[[list[str]], None],
    rejects: Any,
    dedupe: HashFilter,
    api: str,
    region: str,
) -> int:
    """Several identifier columns, JSONL, or header-less lines typed by shape.

    A row is accepted when one of its identifiers is valid. Its bad identifiers still get
    a line in the rejects file, marked partial; a rejected row gets one line, with its first
    bad identifier's reason."""
    counts: dict[str, list[int]] = stats.identifiers
    reasons = stats.rejected_by_reason
    findings = stats.findings
    add_reject = rejects.add
    seen = dedupe.add
    pending: list[str] = []
    append = pending.append
    ncols = len(plan.columns)
    jsonl = plan.format == "jsonl"
    delimiter = plan.delimiter
    auto = plan.sources[0].id_type == AUTO
    typer = auto_typer(plan, api, region) if auto else None
    specs = []
    if not auto and not jsonl:
        for src in plan.sources:
            counter = counts.setdefault(src.id_type, [0, 0])
            hasher = hasher_for(src.id_type, src.alg, src.declared_hashed, api, region)
            specs.append((src.index or 0, src.slots[0], hasher, counter, src.label))
    key_of = key_reader(plan, counts, api, region) if jsonl else None
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
                    if result.reason != EMPTY:
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
                    elif result.reason != EMPTY:
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
                    elif result.reason != EMPTY:
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


def key_reader(
    plan: ColumnPlan, counts: dict[str, list[int]], api: str, region: str
) -> Callable[[str], tuple[Any, ...] | None]:
    """For JSONL: how each key of an object is read, looked up once per distinct key.

    Returns ``key -> None`` (not an identifier key) or ``(slots, hasher, counter, label,
    unusable)``: ``slots`` are the chunk columns of its type; ``unusable`` is the reason its
    values cannot be used (``column_not_planned``: the job has no column of that type,
    ``maid_platform_unknown``: a MAID key for the partner API), else ``""``."""
    mapping = dict(plan.mapping)
    slots_of: dict[str, tuple[int, ...]] = {}
    for slot, column in enumerate(plan.columns):
        slots_of[column] = (*slots_of.get(column, ()), slot)
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
            if api == AudienceApi.SEGMENT and spec.id_type == "maid":
                unusable, hasher = MAID_PLATFORM_UNKNOWN, None
            else:
                hasher = hasher_for(spec.id_type, spec.alg, spec.declared_hashed, api, region)
            counter = counts.setdefault(spec.id_type, [0, 0])
            entry = (slots, hasher, counter, label, unusable)
        if len(cache) < MAX_CACHED_KEYS:  # a hostile file's keys are unbounded
            cache[key] = entry
        return entry

    return read
