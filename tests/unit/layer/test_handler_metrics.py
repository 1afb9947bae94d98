"""Handlers' metrics have their namespace whatever the environment held when they were imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tiktok_connector import METRICS_NAMESPACE

ROOT = Path(__file__).resolve().parents[3]
PATHS = [
    "layers/connector",
    "functions/segment_ingest",
    "functions/audience_upload",
    "functions/event_forwarder",
]


@pytest.mark.parametrize(
    "module",
    [
        "segment_ingest_function.app",
        "audience_upload_function.app",
        "event_forwarder_function.app",
    ],
)
def test_namespace_does_not_depend_on_the_environment_at_import(module: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_")}
    env["PYTHONPATH"] = os.pathsep.join(str(ROOT / p) for p in PATHS)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    out = subprocess.run(
        [sys.executable, "-c", f"import {module} as m; print(m.metrics.namespace)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == METRICS_NAMESPACE == "TikTokConnector"
