"""stack.json appears only when every service answers; env overrides replace the emulator."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from tiktok_local import stack as stack_module
from tiktok_local.stack import LocalStack
from tiktok_local.stack_file import StackAlreadyRunning


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


def _dead_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _stack_json_of_a_live_stack(workdir: Path, listener: socket.socket) -> str:
    """A stack.json as another `up` (this process, a listening port) would have written it."""
    host, port = listener.getsockname()
    path = workdir / ".local" / "stack.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"pid": os.getpid(), "aws_endpoint_url": f"http://{host}:{port}"})
    path.write_text(text)
    return text


def test_a_stack_that_writes_no_stack_json_leaves_the_file_of_the_stack_beside_it(
    tmp_path: Path,
) -> None:
    """The demo (`make run`) used to delete the stack.json of the `make up` running beside it."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        theirs = _stack_json_of_a_live_stack(tmp_path, listener)
        with LocalStack.start(workdir=tmp_path, time_scale=0.001, write_stack_json=False):
            pass
        assert (tmp_path / ".local" / "stack.json").read_text() == theirs


def test_a_stack_leaves_a_stack_json_that_another_stack_wrote_over_its_own(
    tmp_path: Path,
) -> None:
    with LocalStack.start(workdir=tmp_path, time_scale=0.001) as stack:
        stack.stack_json_path.write_text('{"pid": 1, "aws_endpoint_url": "http://127.0.0.1:9"}')
    assert stack.stack_json_path.read_text().startswith('{"pid": 1,')


def test_a_stack_refuses_the_stack_json_of_a_live_stack_but_replaces_a_stale_one(
    tmp_path: Path,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        theirs = _stack_json_of_a_live_stack(tmp_path, listener)
        with pytest.raises(StackAlreadyRunning, match=f"pid {os.getpid()}"):
            LocalStack.start(workdir=tmp_path, time_scale=0.001)
        assert (tmp_path / ".local" / "stack.json").read_text() == theirs
    # A stack killed with SIGKILL leaves its file behind: its process is gone, so it is taken over.
    (tmp_path / ".local" / "stack.json").write_text(
        theirs.replace(f'"pid": {os.getpid()}', f'"pid": {_dead_pid()}')
    )
    with LocalStack.start(workdir=tmp_path, time_scale=0.001) as stack:
        assert json.loads(stack.stack_json_path.read_text())["pid"] == os.getpid()
        assert stack.names["aws_endpoint_url"] in stack.stack_json_path.read_text()
    assert not stack.stack_json_path.exists()
