"""``python -m tiktok_local up`` as a user runs it (``make up``): a subprocess whose lines we read."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
PYTHONPATH = os.pathsep.join(
    str(ROOT / p)
    for p in (
        "layers/connector",
        "functions/oauth",
        "functions/segment_ingest",
        "functions/audience_upload",
        "functions/event_forwarder",
        "local",
        ".",
    )
)


def clean_env(workdir: Path | None = None) -> dict[str, str]:
    """The test's environment without AWS or TikTok settings, with the local PYTHONPATH.

    Without make's own variables either: under `make test`, a `make` the test runs would
    otherwise act as a sub-make (and print "Entering directory" lines a person never sees).
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "TIKTOK_")) and k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")
    }
    env["PYTHONPATH"] = PYTHONPATH
    if workdir is not None:
        env["TIKTOK_LOCAL_WORKDIR"] = str(workdir)
    return env


def tiktok_local(
    *args: str, workdir: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tiktok_local ARGS`` with ``.local/`` in ``workdir``."""
    return subprocess.run(
        [sys.executable, "-m", "tiktok_local", *args],
        cwd=ROOT,
        env=clean_env(workdir),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class UpProcess:
    """A running ``up`` with ``.local/`` in ``workdir``; its output lines collect in ``lines``.

    ``command`` replaces ``python -m tiktok_local up`` (e.g. ``["make", "up"]``); it runs in a
    process group of its own, which :meth:`stop` interrupts as Ctrl-C in a terminal would.
    """

    def __init__(self, workdir: Path, command: list[str] | None = None) -> None:
        self.workdir = workdir
        self.stack_json = workdir / ".local" / "stack.json"
        self.log_file = workdir / ".local" / "logs" / "functions.log"
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            command or [sys.executable, "-m", "tiktok_local", "up"],
            cwd=ROOT,
            env=clean_env(workdir),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def wait_for(self, found: Callable[[str], bool], timeout: float = 60, what: str = "") -> str:
        """The first output line for which ``found`` holds (fails after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for line in self.lines:
                    if found(line):
                        return line
            assert self.process.poll() is None, f"up exited early:\n{self.output()}"
            time.sleep(0.1)
        raise AssertionError(f"no line {what} within {timeout} s:\n{self.output()}")

    def wait_ready(self, timeout: float = 60) -> dict[str, Any]:
        self.wait_for(lambda line: line.startswith("Ctrl-C to stop"), timeout, "'Ctrl-C to stop'")
        names: dict[str, Any] = json.loads(self.stack_json.read_text())
        return names

    def stop(self, timeout: float = 30) -> int:
        """SIGINT (Ctrl-C), then wait; returns the exit status."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._reader.join(timeout=5)
        return self.process.returncode
