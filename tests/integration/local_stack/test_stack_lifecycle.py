"""stack.json appears only when every service answers; env overrides replace the emulator."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from tiktok_local import stack as stack_module
from tiktok_local.stack import LocalStack


def test_stack_json_is_written_once_everything_is_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    real_replace = os.replace

    def check_ready(src: str | Path, dst: str | Path) -> None:
        if Path(dst).name == "stack.json":
            names = json.loads(Path(src).read_text())
            sqs = boto3.client(
                "sqs", endpoint_url=names["aws_endpoint_url"], region_name="us-east-1"
            )
            queue = sqs.get_queue_attributes(
                QueueUrl=names["events_queue_url"], AttributeNames=["QueueArn"]
            )
            assert queue["Attributes"]["QueueArn"].endswith("tiktok-connector-events")
            state = requests.get(f"{names['emulator_url']}/_emulator/state", timeout=5)
            assert state.status_code == 200
            front = requests.get(f"{names['connect_url'].rsplit('/', 1)[0]}/nope", timeout=5)
            assert front.status_code == 404  # the HTTP front answers
            checks.append("ready")
        real_replace(src, dst)

    monkeypatch.setattr(stack_module.os, "replace", check_ready)
    with LocalStack.start(workdir=tmp_path, time_scale=0.001) as stack:
        assert checks == ["ready"]
        assert stack.stack_json_path.exists()
        assert stack.dispatcher._started
    assert not (tmp_path / ".local" / "stack.json").exists()  # a stopped stack leaves no file


def test_tiktok_urls_from_the_environment_replace_the_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTOK_API_BASE_URL", "http://127.0.0.1:9/open_api/v1.3")
    monkeypatch.setenv("TIKTOK_AUTH_URL", "http://127.0.0.1:9/portal/auth")
    with LocalStack.start(workdir=tmp_path, time_scale=0.001) as stack:
        names: dict[str, Any] = json.loads(stack.stack_json_path.read_text())
        assert names["tiktok_api_base_url"] == "http://127.0.0.1:9/open_api/v1.3"
        assert names["tiktok_auth_url"] == "http://127.0.0.1:9/portal/auth"
        assert os.environ["TIKTOK_API_BASE_URL"] == "http://127.0.0.1:9/open_api/v1.3"
        assert names["emulator_url"] == stack.emulator.base_url  # still running, not used
        endpoint = stack.aws_endpoint_url
    # The stack gives the process environment back.
    assert os.environ["TIKTOK_API_BASE_URL"] == "http://127.0.0.1:9/open_api/v1.3"
    assert os.environ.get("AWS_ENDPOINT_URL") != endpoint


def test_only_one_stack_per_process(tmp_path: Path) -> None:
    with (
        LocalStack.start(workdir=tmp_path, time_scale=0.001),
        pytest.raises(RuntimeError, match="already running"),
    ):
        LocalStack.start(workdir=tmp_path / "other")
