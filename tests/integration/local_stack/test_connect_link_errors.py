"""`make connect-link` without a stack says what to do (local) or what it looked for (deployed)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from moto import mock_aws

from tiktok_local.connect_link import main as connect_link_main

from .up_process import tiktok_local


@pytest.fixture
def no_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No region, credentials or profile from the environment; .local/ in an empty tmp_path."""
    for var in (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("TIKTOK_LOCAL_WORKDIR", str(tmp_path))
    return tmp_path


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_without_a_local_stack_it_says_to_start_make_up(
    no_aws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: it fell back to a deployed stack named tiktok-connector and failed with botocore's
    # "You must specify a region."
    assert connect_link_main([]) == 2
    error = _one_line_error(capsys)
    assert error.startswith("connect-link: no local stack")
    assert str(no_aws / ".local" / "stack.json") in error
    assert "start `make up` first" in error
    assert "--stack-name" in error  # and how to name a deployed stack instead


def test_as_make_runs_it_there_is_no_traceback(tmp_path: Path) -> None:
    result = tiktok_local("connect-link", workdir=tmp_path)
    assert result.returncode == 2
    assert "start `make up` first" in result.stderr
    assert "Traceback" not in result.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_stack_json_left_by_a_killed_stack_is_named_as_not_running(
    no_aws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(gone.stdout)
    stale = no_aws / ".local" / "stack.json"
    stale.parent.mkdir()
    stale.write_text(
        json.dumps(
            {
                "pid": dead_pid,
                "aws_endpoint_url": f"http://127.0.0.1:{_closed_port()}",
                "region": "us-east-1",
                "oauth_table": "t",
                "state_key_secret_name": "s",
                "http_front_url": "http://127.0.0.1:9",
            }
        )
    )
    assert connect_link_main([]) == 2
    error = _one_line_error(capsys)
    assert f"{stale} describes a local stack that is not running" in error
    assert f"process {dead_pid}" in error
    assert "start `make up` first" in error


def test_deployed_without_a_region_it_says_which_stack_needs_one(
    no_aws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert connect_link_main(["--stack-name", "acme-connector"]) == 2
    error = _one_line_error(capsys)
    assert "no AWS region to look for stack acme-connector in" in error
    assert "--region" in error


def test_deployed_stack_not_found_names_the_stack_and_region(
    no_aws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        status = connect_link_main(["--stack-name", "acme-connector", "--region", "eu-west-1"])
    assert status == 2
    error = _one_line_error(capsys)
    assert "no CloudFormation stack acme-connector in region eu-west-1" in error


def test_deployed_without_credentials_names_the_stack_and_region(
    no_aws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert connect_link_main(["--stack-name", "acme-connector", "--region", "eu-west-1"]) == 2
    error = _one_line_error(capsys)
    assert "no AWS credentials to look up stack acme-connector in region eu-west-1" in error
