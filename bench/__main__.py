"""Run the benchmark figure providers, print a table and write ``bench/results.json``.

    python -m bench [--quick] [--only SUBSTRING] [--out PATH] [--strict]

To add figures, write a module with ``figures(quick: bool) -> list[bench.Figure]`` and add
its name to ``PROVIDERS``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import Figure

PROVIDERS = [
    "bench.bench_identity",
    "bench.bench_ingest",
    "bench.bench_upload",
    "bench.bench_events",
    "bench.bench_coldstart",
    "bench.bench_fanout",  # simulates 100M rows with what the others measured
    "bench.bench_sync",  # last: its 100M-row sync simulation also uses ingest's and upload's
]


def _pin_to_one_core() -> str:
    """DESIGN §6 figures are per core: keep the process on a single CPU."""
    if not hasattr(os, "sched_setaffinity"):
        return "unpinned"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"cpu{cpu}"


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _table(figures: list[Figure]) -> str:
    header = ["figure", "value", "unit", "floor", "ratio", "target", "met", "runs min..max"]
    rows = [header]
    for f in figures:
        met = {True: "yes", False: "NO", None: "-"}[f.met]
        ratio = f"{f.ratio:.0%}" if f.ratio is not None else "-"
        spread = f"{_fmt(f.low)}..{_fmt(f.high)} (n={len(f.runs)})" if f.runs else "-"
        rows.append([f.name, _fmt(f.value), f.unit, _fmt(f.baseline), ratio, f.target, met, spread])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"  {f.name}: {f.note}" for f in figures if f.note]
    return "\n".join(lines + (["", *notes] if notes else []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small inputs, few runs (seconds)")
    parser.add_argument("--only", default="", help="run providers whose module name contains this")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is not met")
    args = parser.parse_args(argv)

    core = _pin_to_one_core()
    figures: list[Figure] = []
    failed: list[str] = []
    started = time.time()
    for name in PROVIDERS:
        if args.only and args.only not in name:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            figures.extend(importlib.import_module(name).figures(args.quick))
        except Exception:  # one broken provider must not hide the others' figures
            traceback.print_exc()
            failed.append(name)

    print(_table(figures))
    result: dict[str, Any] = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": round(time.time() - started, 2),
        "quick": args.quick,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "core": core,
        "cpus_online": os.cpu_count(),
        "failed_providers": failed,
        "figures": [f.as_json() for f in figures],
    }
    out = Path(args.out)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(out)
    print(f"\nwrote {out}", file=sys.stderr)

    if failed:
        return 2
    if args.strict and any(f.met is False for f in figures):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
