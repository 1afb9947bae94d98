"""The TikTok emulator in its own process, with the QPS limits a figure needs.

``python -m bench._emulator --qps segment_mapping=20 --qps dmp=10`` prints one JSON line
(``api_base_url``, ``state_url``, ``access_token``) and serves until terminated. A separate
process keeps the emulator's validation off the core the runner pins the benchmark to.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

from tiktok_local.emulator import EmulatorConfig, EmulatorServer


@contextlib.contextmanager
def emulator(qps: dict[str, float] | None = None) -> Iterator[dict[str, Any]]:
    """Start the emulator process; yield its info; stop it."""
    args = [f"--qps={group}={limit}" for group, limit in (qps or {}).items()]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench._emulator", *args],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        # The runner pins itself to one core; the emulator is the far side of the network.
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(proc.pid, range(os.cpu_count() or 1))
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process did not start")
        yield json.loads(line)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench._emulator")
    parser.add_argument("--qps", action="append", default=[], help="GROUP=LIMIT")
    args = parser.parse_args(argv)
    config = EmulatorConfig()
    for item in args.qps:
        group, _, limit = item.partition("=")
        config.qps[group] = float(limit)
    emu = EmulatorServer(config).start(host="127.0.0.1", port=0)
    info = {
        "api_base_url": emu.api_base_url,
        "state_url": emu.base_url + "/_emulator/state",
        "access_token": emu.state.issue_token(),
        "advertiser_id": next(iter(config.advertisers)),
        "qps": config.qps,
    }
    print(json.dumps(info), flush=True)
    try:
        threading.Event().wait()
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
