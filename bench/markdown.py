"""``python -m bench.markdown [bench/results.json]``: the results as the README's Markdown table."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def table(result: dict[str, Any]) -> str:
    rows = [
        "| figure | median | unit | min..max (runs) | floor | ratio | target | met |",
        "|---|---:|---|---|---:|---:|---|---|",
    ]
    for f in result["figures"]:
        met = {True: "yes", False: "**no**", None: "-"}[f["met"]]
        ratio = f"{f['ratio']:.0%}" if f["ratio"] is not None else "-"
        spread = f"{_num(f['min'])}..{_num(f['max'])} ({len(f['runs'])})" if f["runs"] else "-"
        rows.append(
            f"| {f['name']} | {_num(f['value'])} | {f['unit']} | {spread} | "
            f"{_num(f['baseline'])} | {ratio} | {f['target']} | {met} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else Path(__file__).with_name("results.json")
    print(table(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
