"""Cold-start figure: each handler module imported in a fresh interpreter (DESIGN §6: < 400 ms).

Every run is a new ``python`` process that times ``import <handler module>`` around the import
statement alone (interpreter start-up is the runtime's, not ours), with a Lambda-like
environment (region, Powertools service and namespace; no credentials, no network). Byte code is
warm (``.pyc`` already written by a first, untimed run), as in a layer built by ``pip``. The
slowest imports come from one ``python -X importtime`` run per handler.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench import Figure, median

HANDLERS = [
    "oauth_function.app",
    "segment_ingest_function.app",
    "audience_upload_function.app",
    "event_forwarder_function.app",
]
TARGET_MS = 400.0

_TIMER = (
    "import time\n"
    "w, c = time.perf_counter(), time.process_time()\n"
    "{statement}\n"
    "print(time.perf_counter() - w, time.process_time() - c)\n"
)
# The third-party modules a module pulls in, in import order (to time them alone: the floor).
_DEPS = (
    "import sys, {module}\n"
    "print(' '.join(n for n, m in list(sys.modules.items())\n"
    "    if 'site-packages' in (getattr(m, '__file__', None) or '')))\n"
)
_IMPORT_ALL = (
    "import importlib\n"
    "for n in {names!r}:\n"
    "    try:\n"
    "        importlib.import_module(n)\n"
    "    except Exception:\n"
    "        pass"
)


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "POWERTOOLS_", "TIKTOK_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": "tiktok-connector",
            "POWERTOOLS_METRICS_NAMESPACE": "TikTokConnector",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
    )
    return env


def time_import(module: str) -> tuple[float, float]:
    """(wall ms, CPU ms) of ``import module`` in a fresh interpreter."""
    return time_statement(f"import {module}")


def time_statement(statement: str) -> tuple[float, float]:
    """(wall ms, CPU ms) of running ``statement`` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", _TIMER.format(statement=statement)],
        check=True,
        capture_output=True,
        text=True,
        env=_env(),
    )
    wall, cpu = out.stdout.split()
    return float(wall) * 1000, float(cpu) * 1000


def third_party(module: str) -> list[str]:
    """The site-packages modules ``import module`` loads, in import order."""
    out = subprocess.run(
        [sys.executable, "-c", _DEPS.format(module=module)],
        check=True,
        capture_output=True,
        text=True,
        env=_env(),
    )
    return out.stdout.split()


def slowest_imports(module: str, top: int = 3) -> list[tuple[str, float]]:
    """The ``top`` packages with the largest cumulative import time (``-X importtime``)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        check=True,
        capture_output=True,
        text=True,
        env=_env(),
    )
    cumulative: dict[str, float] = {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line.removeprefix("import time:").split("|")
        try:
            cum_us = float(parts[1])
        except ValueError:
            continue
        name = parts[2].strip()
        if "." not in name and name != module.split(".")[0]:
            cumulative[name] = max(cumulative.get(name, 0.0), cum_us / 1000)
    return sorted(cumulative.items(), key=lambda kv: -kv[1])[:top]


def figures(quick: bool) -> list[Figure]:
    repeat = 3 if quick else 7
    found: list[Figure] = []
    for module in HANDLERS:
        time_import(module)  # writes .pyc, warms the page cache
        deps = third_party(module)
        load_deps = _IMPORT_ALL.format(names=deps)
        timings: list[tuple[float, float]] = []
        floor: list[float] = []
        for _ in range(repeat):  # in alternation: both see the same machine load
            floor.append(time_statement(load_deps)[1])
            timings.append(time_import(module))
        walls = [w for w, _ in timings]
        cpus = [c for _, c in timings]
        packages = sorted({name.partition(".")[0] for name in deps if not name.startswith("_")})
        top = slowest_imports(module)
        value = median(cpus)
        found.append(
            Figure(
                name=f"cold start: import {module}",
                value=value,
                unit="CPU ms",
                target=f"< {TARGET_MS:.0f} ms in a fresh interpreter",
                baseline=median(floor),
                ratio=value / max(median(floor), 1e-9),
                met=value < TARGET_MS,
                runs=cpus,
                note=(
                    f"CPU time of the import; wall median {median(walls):.0f} ms on this shared "
                    f"machine; floor = importing the same {len(deps)} third-party modules alone "
                    f"({', '.join(packages)}); largest imports (wall): "
                    + ", ".join(f"{name} {ms:.0f} ms" for name, ms in top)
                ),
            )
        )
    return found


if __name__ == "__main__":  # pragma: no cover - manual use
    print(json.dumps({m: time_import(m) for m in HANDLERS}, indent=2))
