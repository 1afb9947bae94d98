"""The hot row loop: one byte range's lines → chunk lines, reject rows and counters.

:class:`RangeProcessor` is what :func:`.ranges.process_range` runs over a range's text. The common
file — one identifier column of a delimited file — takes the batched fast path here: lines are read
in C-speed batches, the column's values hashed with the identity ``Hasher.many``, duplicates dropped
with the :class:`.chunks.HashFilter` probe inlined, accepted hashes handed to the sink in batches.
Every other file (several columns, JSON Lines, lines typed by shape) goes through
:func:`.rows.read_rows`.

Accounting (DESIGN §3.7): a non-blank line is a row; a row is accepted when at least one of its
identifiers is valid, else rejected with the reason of its first invalid identifier
(``no_identifier`` when its id cells are empty, ``malformed_row`` when it cannot be parsed), so
``read == accepted + rejected`` by construction and ``rejected_by_reason`` sums to ``rejected``.
An accepted row whose every hash was already written in this range is a ``duplicate``. Each
physical line is one row (a quoted field cannot span lines), which keeps byte ranges and line
numbers exact and stops a stray quote from swallowing the rest of a file.
"""

from __future__ import annotations

import functools
import io
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tiktok_connector.contract.job import AUTO
from tiktok_connector.identity.hashes import LinesFn
from tiktok_connector.segments.chunks import HashFilter
from tiktok_connector.segments.columns import ColumnPlan
from tiktok_connector.segments.formats import parse_line
from tiktok_connector.segments.reading import INVALID_PHONES
from tiktok_connector.segments.rows import (
    EMPTY,
    INVALID_PHONE,
    NO_IDENTIFIER,
    hasher_for,
    read_rows,
)
from tiktok_connector.segments.stats import RangeStats

# Single-column fast path: lines per batch ≈ this many characters. Small enough that a batch's
# strings stay in the CPU caches beside the duplicate filter's probes (measured: 32K chars ran
# 3-4 points of the floor faster than 128K at 1M rows), large enough for C-speed batch calls.
BATCH_CHARS = 32 * 1024
BATCH_LINES = 2048  # … or this many lines when the input is a plain iterable


Batch = tuple[str, "list[str] | None"]
"""A batch of whole lines: their text, and the lines themselves when they are already split."""


def _take(it: Iterator[str], n: int) -> Batch:
    """The next ``n`` lines of an iterable (the lines as given, for tests and small inputs)."""
    batch = list(itertools.islice(it, n))
    return "".join(batch), batch


def _read(read: Callable[[int], str], readline: Callable[[], str]) -> Batch:
    """The next ``BATCH_CHARS`` characters of a text stream, completed to a line end by the
    stream's own ``readline`` — one C call for the batch where ``readlines`` builds a string per
    line. Lines are split only when a batch needs them (``_lines``)."""
    text = read(BATCH_CHARS)
    if text and text[-1] != "\n":
        text += readline()  # also completes a "\r\n" cut after its "\r"
    return text, None


def _lines(text: str) -> list[str]:
    """``text`` split into lines exactly as the stream splits them (``newline=""``: "\n", "\r"
    and "\r\n" end a line, and nothing else does)."""
    return io.StringIO(text, newline="").readlines()


def _cell(line: str, delimiter: str, index: int) -> str:
    """Cell ``index`` of a physical line ("" when the row is too short)."""
    if '"' in line or delimiter in line:
        row = parse_line(line, delimiter)
        return row[index] if index < len(row) else ""
    return line if index == 0 else ""


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
            read, readline = getattr(lines, "read", None), getattr(lines, "readline", None)
            if read is not None and readline is not None:
                # C-speed batches of about BATCH_CHARS characters (bounded memory)
                batches: Callable[[], Batch] = functools.partial(_read, read, readline)
            else:
                batches = functools.partial(_take, it, BATCH_LINES)
            lineno = self._run_single(batches, lineno)
        else:
            lineno = read_rows(
                it,
                lineno,
                plan=plan,
                stats=stats,
                sink=self.sink,
                rejects=self.rejects,
                dedupe=self.dedupe,
                api=self._api,
                region=self._region,
            )
        stats.lines += lineno
        stats.read = stats.accepted + stats.rejected
        return stats

    def _run_single(self, batches: Callable[[], Batch], lineno: int) -> int:
        """The common case, one identifier column of a delimited file, a batch at a time."""
        stats = self.stats
        src = self.plan.sources[0]
        hasher = hasher_for(src.id_type, src.alg, src.declared_hashed, self._api, self._region)
        many = getattr(hasher, "many", None) or functools.partial(map, hasher)
        lines = getattr(hasher, "lines", None)
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
        while True:
            joined, batch = batches()
            if not joined:
                break
            count, batch, results = _hash_batch(joined, batch, index, delimiter, lines, many)
            if used + len(results) <= limit and (
                batch is None or set(map(type, results)) == {str_type}
            ):
                # every line a hash and room for all of them: the lean loop
                fresh = _enter_fresh(results, table, mask)
                duplicates += len(results) - len(fresh)
                used += len(fresh)
                lineno += count
                accepted += count
                if fresh:
                    sink(fresh)
                continue
            if batch is None:
                batch = _lines(joined)
            pending: list[str] = []
            append = pending.append
            others = 0  # rows of this batch that are not accepted
            for k, result in enumerate(results):
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
                if reason != EMPTY:
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
            lineno += count
            accepted += count - others
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


def _hash_batch(
    joined: str,
    batch: list[str] | None,
    index: int,
    delimiter: str,
    lines: LinesFn | None,
    many: Callable[[list[str]], list[Any]],
) -> tuple[int, list[str] | None, list[Any]]:
    """``(count, batch, results)`` for a batch of whole lines: how many lines it holds, its
    lines (``None`` when the hasher's block form hashed the text in one go: every result is
    then a hash) and one result per line.

    A line that is one value (column 0, no quote, no delimiter in the batch) goes to the
    hasher as is (it trims); otherwise the column's cell is cut out of each line first."""
    if batch is None and "\r" in joined:
        batch = _lines(joined)
    count = len(batch) if batch is not None else joined.count("\n") + (joined[-1] != "\n")
    whole = index == 0 and '"' not in joined and delimiter not in joined
    if whole and lines is not None:
        hashes = lines(joined, count)
        if hashes is not None:
            return count, None, hashes
    if batch is None:
        batch = _lines(joined)
    values = batch if whole else [_cell(line, delimiter, index) for line in batch]
    return count, batch, many(values)


def _enter_fresh(results: list[str], table: Any, mask: int) -> list[str]:
    """Enter each hash of ``results`` in the duplicate filter's ``table``; return the hashes not
    seen before (``results`` itself when none was). The caller checked that every result is a
    hash and that the table has room for all of them (no growth in here).

    ``HashFilter.add`` inlined (see :meth:`.chunks.HashFilter.state`), fingerprints computed in C
    for the batch, and the common case — the first probe finds an empty slot — tried first. A
    fingerprint of 0 (p = 2⁻⁶⁴) reads as an empty slot: that hash is never deduplicated.
    """
    seen: list[int] = []
    for k, h in enumerate(map(hash, results)):
        i = h & mask
        v = table[i]
        if not v:
            table[i] = h
            continue
        while v and v != h:
            i = (i + 1) & mask
            v = table[i]
        if v:
            seen.append(k)
            continue
        table[i] = h
    if not seen:
        return results
    # the runs between repeats, copied in C (a batch can hold hundreds of repeats)
    fresh: list[str] = []
    start = 0
    for k in seen:
        fresh += results[start:k]
        start = k + 1
    fresh += results[start:]
    return fresh
