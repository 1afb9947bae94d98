"""``--since``: how far back a command looks.

A duration back from now — a number and a unit, several of them in a row: ``90s``, ``30m``,
``1h``, ``1h30m``, ``1d``, ``2w`` (``s`` seconds, ``m`` minutes, ``h`` hours, ``d`` days, ``w``
weeks) — or a point in time in ISO 8601: ``2026-11-20``, ``2026-11-20T14:00``,
``2026-11-20T14:00:00+01:00`` (UTC when no offset is given).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+)([smhdw])")
_DURATION = re.compile(r"(?:\d+[smhdw])+")
# Far enough back for any table this CLI reads (their items expire within months).
MAX_SECONDS = 10 * 365 * 86400


class SinceError(ValueError):
    """The text is neither a duration nor an ISO 8601 time."""


def parse_duration(text: str) -> timedelta:
    """``1h30m`` → 90 minutes; :class:`SinceError` for anything else."""
    compact = text.strip().lower().replace(" ", "")
    if not compact or not _DURATION.fullmatch(compact):
        raise SinceError(
            f"{text!r} is not a duration such as 30m, 1h, 1d or 1h30m (s, m, h, d, w), "
            "nor a time such as 2026-11-20 or 2026-11-20T14:00"
        )
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(compact))
    if seconds > MAX_SECONDS:
        raise SinceError(f"{text!r} is more than ten years")
    return timedelta(seconds=seconds)


def parse_since(text: str, *, now: datetime) -> datetime:
    """The UTC time ``text`` names, relative to ``now`` for a duration."""
    stripped = text.strip()
    if stripped[:1].isdigit() and "-" in stripped:
        try:
            moment = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
        except ValueError:
            raise SinceError(f"{text!r} is not an ISO 8601 date or time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    return now.astimezone(UTC) - parse_duration(stripped)


class Since(click.ParamType):
    """A click parameter type for ``--since`` (converted against the current time)."""

    name = "since"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            return parse_since(str(value), now=datetime.now(UTC))
        except SinceError as exc:
            self.fail(str(exc), param, ctx)
