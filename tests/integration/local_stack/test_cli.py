"""`python -m tiktok_local up` and `demo` as a user runs them (subprocesses, like `make up/run`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tiktok_local.stack import REQUIRED_KEYS

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


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TIKTOK_"))}
    env["PYTHONPATH"] = PYTHONPATH
    return env


def test_up_publishes_stack_json_serves_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    stack_json = tmp_path / ".local" / "stack.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "tiktok_local", "up", "--workdir", str(tmp_path)],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not stack_json.exists():
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "stack.json never appeared"
            time.sleep(0.1)
        names = json.loads(stack_json.read_text())
        assert all(names.get(key) for key in REQUIRED_KEYS)
        state = requests.get(f"{names['emulator_url']}/_emulator/state", timeout=5)
        assert state.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "local stack ready" in output
    assert "s3 cp" in output
    assert "sqs send-message" in output
    assert not stack_json.exists()


@pytest.mark.slow  # runs every demo step of every function (grows as functions land)
def test_demo_exits_zero_and_reports_what_reached_tiktok() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tiktok_local", "demo"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "what reached TikTok" in result.stdout
    assert "failure queues: all empty" in result.stdout
