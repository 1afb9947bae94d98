"""How the CLI prints: compact rich tables that stay readable in an 80-column terminal.

Rules every table follows: no outer borders, one space between columns; ids, counts and times
never wrap (a column of them keeps its width); only free text (file names, audience names, event
names, reasons) wraps, folding long words instead of cutting them, so nothing is ever truncated.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from rich import box
from rich.console import Console
from rich.table import Table

MIN_TEXT_WIDTH = 8


def table(*columns: str, title: str | None = None) -> Table:
    """A table with the CLI's style. A column name ending in ``#`` holds numbers (right-aligned,
    never wrapped); ``=`` short values of bounded width (codes, times, 19-digit TikTok ids: never
    wrapped); anything else is text that wraps.

    Values of unbounded width that must stay whole (SQS message ids, event ids) go in plain
    lines below a table, not in it: rich crops a table that cannot fit. Keep the sum of the
    ``#``/``=`` widths well under 80; a test renders every view at 80 columns."""
    out = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1, 0, 0),  # one space between columns
        title=title,
        title_justify="left",
        title_style="bold",
        header_style="bold",
        show_edge=False,
        min_width=len(title) if title else None,  # a title never wraps
    )
    for column in columns:
        if column.endswith("#"):
            out.add_column(column[:-1], justify="right", no_wrap=True)
        elif column.endswith("="):
            out.add_column(column[:-1], no_wrap=True)
        else:
            out.add_column(column, overflow="fold", min_width=MIN_TEXT_WIDTH)
    return out


def number(n: int | None) -> str:
    """``1234567`` → ``1,234,567``; ``None`` → ``-``."""
    return "-" if n is None else f"{n:,}"


def compact(n: int) -> str:
    """Exact up to 9,999,999 (``1,234,567``); beyond, three digits and a unit (``12.3M``,
    ``1.20B``) so a column of counts stays narrow. Detail views print exact numbers."""
    if n < 10_000_000:
        return f"{n:,}"
    for unit, size in (("B", 1_000_000_000), ("M", 1_000_000)):
        if n >= size:
            value = n / size
            return f"{value:.3g}{unit}" if value < 1000 else f"{value:,.0f}{unit}"
    return f"{n:,}"  # pragma: no cover - unreachable


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 (``...Z``) or TikTok (``YYYY-MM-DD HH:MM:SS``, UTC) time, or None."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def age(moment: datetime | None, now: datetime) -> str:
    """How long ago, in the largest whole unit: ``40s``, ``12m``, ``3h``, ``5d``."""
    if moment is None:
        return "-"
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def short_time(moment: datetime | None) -> str:
    """``2026-11-20 14:05`` (UTC), or ``-``."""
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def reasons(counts: Iterable[tuple[str, int]]) -> str:
    """``missing_page_url 3, invalid_event 1`` (most first)."""
    ordered = sorted(counts, key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{reason} {n:,}" for reason, n in ordered if n) or "-"


def console(*, stderr: bool = False, width: int | None = None) -> Console:
    """A console on stdout (or stderr) that never wraps at less than 80 columns when piped."""
    return Console(stderr=stderr, width=width, soft_wrap=False, highlight=False)
