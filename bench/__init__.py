"""`make bench`: the DESIGN §6 figures.

A figure provider is a module with ``def figures(quick: bool) -> list[Figure]``; list it in
``bench.__main__.PROVIDERS``. Providers measure on the current core (the runner pins the
process to one CPU), repeat each measurement and report the median with every run kept, and
compare against a floor measured in the same run when a target is relative. Rates are items
per CPU-second of the process (``time.process_time``), so a busy shared machine does not
count other processes' work against a figure.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Figure", "interleaved_rates", "median", "rates"]


@dataclass
class Figure:
    """One measured number next to its target."""

    name: str
    value: float  # the median of ``runs``
    unit: str
    target: str  # human text, e.g. ">= 50 % of the hashlib floor"
    baseline: float | None = None  # the floor measured in the same run, same unit
    ratio: float | None = None  # value / baseline (median of paired runs)
    met: bool | None = None  # None: informational, no target
    runs: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def low(self) -> float | None:
        return min(self.runs) if self.runs else None

    @property
    def high(self) -> float | None:
        return max(self.runs) if self.runs else None

    @classmethod
    def against_floor(
        cls,
        name: str,
        unit: str,
        runs: list[float],
        floor: list[float],
        ratios: list[float],
        *,
        target: str,
        share: float = 0.5,
        note: str = "",
    ) -> Figure:
        """A rate measured in alternation with its floor; met when the median ratio >= ``share``."""
        ratio = median(ratios)
        return cls(
            name=name,
            value=median(runs),
            unit=unit,
            target=target,
            baseline=median(floor),
            ratio=ratio,
            met=ratio >= share,
            runs=runs,
            note=note,
        )

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["min"], data["max"] = self.low, self.high
        return data


def _rate(work: Callable[[], int]) -> float:
    # CPU time of this process: "per core" even when the machine is shared and we get
    # descheduled (wall time would count other people's work against us).
    start = time.process_time()
    count = work()
    return count / max(time.process_time() - start, 1e-9)


def rates(work: Callable[[], int], *, repeat: int) -> list[float]:
    """Items per second of ``work`` (which returns how many items it processed), per run."""
    work()  # warm-up: lazy metadata, caches, branch predictors
    return [_rate(work) for _ in range(repeat)]


def interleaved_rates(
    subject: Callable[[], int], floor: Callable[[], int], *, repeat: int
) -> tuple[list[float], list[float], list[float]]:
    """Rates of ``subject`` and ``floor`` measured in alternation, and their per-pair ratios.

    Alternating keeps both exposed to the same machine load (the machine is shared), and the
    median of per-pair ratios is steadier than a ratio of medians.
    """
    subject(), floor()
    subject_runs: list[float] = []
    floor_runs: list[float] = []
    for _ in range(repeat):
        floor_runs.append(_rate(floor))
        subject_runs.append(_rate(subject))
    ratios = [s / f for s, f in zip(subject_runs, floor_runs, strict=True)]
    return subject_runs, floor_runs, ratios


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
