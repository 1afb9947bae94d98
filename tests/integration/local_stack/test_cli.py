"""`python -m tiktok_local up`, `demo`, `env` and `reports` as a user runs them (`make up/run/...`)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from tiktok_local.demo import demo_stack_options
from tiktok_local.stack import REQUIRED_KEYS, LocalStack
from tiktok_local.stack_file import running_stack_names

from .up_process import ROOT, UpProcess, clean_env, tiktok_local

ADVERTISER = "7100000000000000001"


def _s3(names: dict[str, Any]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=str(names["aws_endpoint_url"]),
        region_name=str(names["region"]),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_up_publishes_stack_json_serves_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    up = UpProcess(tmp_path)
    try:
        names = up.wait_ready()
        assert all(names.get(key) for key in REQUIRED_KEYS)
        assert names["pid"] == up.process.pid
        state = requests.get(f"{names['emulator_url']}/_emulator/state", timeout=5)
        assert state.status_code == 200
    finally:
        status = up.stop()
    output = up.output()
    assert status == 0, output
    assert "local stack ready" in output
    assert "s3 cp" in output
    assert "sqs send-message" in output
    assert f"function logs     {up.log_file}" in output
    assert not up.stack_json.exists()


def test_demo_and_a_second_up_beside_a_running_up_leave_its_stack_json_alone(
    tmp_path: Path,
) -> None:
    """`make run` while `make up` runs used to delete up's stack.json when the demo stopped."""
    up = UpProcess(tmp_path)
    try:
        up.wait_ready()
        published = up.stack_json.read_text()
        # The demo's own stack (the options `make run` uses), in the same directory.
        with LocalStack.start(workdir=tmp_path, **demo_stack_options(time_scale=0.001)) as demo:
            assert demo.stack_json_path == up.stack_json
        assert up.stack_json.read_text() == published
        assert running_stack_names(up.stack_json)["pid"] == up.process.pid
        # A second `up` in the same directory refuses rather than taking the file over.
        second = tiktok_local("up", workdir=tmp_path)
        assert second.returncode == 1, second.stdout + second.stderr
        assert "already running" in second.stderr
        assert f"pid {up.process.pid}" in second.stderr
        assert up.stack_json.read_text() == published
        # ... and `up` goes on serving: connect-link still finds it.
        link = tiktok_local("connect-link", workdir=tmp_path)
        assert link.returncode == 0, link.stderr
        assert link.stdout.startswith(json.loads(published)["connect_url"])
    finally:
        status = up.stop()
    assert status == 0, up.output()
    assert not up.stack_json.exists()  # its own file goes when it stops


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    running = UpProcess(tmp_path_factory.mktemp("up"))
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


def test_up_prints_a_line_per_invocation_and_job_and_logs_json_to_a_file(up: UpProcess) -> None:
    names = json.loads(up.stack_json.read_text())
    key = f"segments/{ADVERTISER}/Terminal Lines/create/emails.csv"
    _s3(names).put_object(
        Bucket=names["segments_bucket"], Key=key, Body=b"email\nana@example.com\nnot-an-email\n"
    )
    invocation = up.wait_for(lambda line: f"s3 {key}" in line, what="for the ingest invocation")
    assert "segment-ingest" in invocation
    assert invocation.rstrip().endswith("s)")
    # No advertiser is connected: the job fails, and its line says why, in words.
    job = up.wait_for(
        lambda line: "job " in line and "Terminal Lines" in line and " failed" in line,
        what="for the failed job",
    )
    assert "not_connected" in job
    assert "1 rejected" in job
    assert "make reports JOB=" in job
    # The functions' Powertools JSON and EMF metrics are in the log file, not on the terminal.
    assert not [line for line in up.lines if line.lstrip().startswith("{")]
    logged = [json.loads(line) for line in up.log_file.read_text().splitlines() if line[:1] == "{"]
    # One process, one Powertools logger: the function is named by the invocation's keys.
    functions = {entry.get("function_name") for entry in logged}
    assert "tiktok-connector-segment-ingest" in functions
    assert any("_aws" in entry for entry in logged)  # an EMF metrics line
    assert "ana@example.com" not in up.log_file.read_text()
    assert "ana@example.com" not in up.output()


def test_env_exports_what_the_aws_cli_and_boto3_need_for_the_stack(up: UpProcess) -> None:
    names = json.loads(up.stack_json.read_text())
    script = (
        'eval "$("$PYTHON" -m tiktok_local env)" && "$PYTHON" -c '
        "\"import boto3, os; print(os.environ['SEGMENTS_BUCKET']); "
        "print([b['Name'] for b in boto3.client('s3').list_buckets()['Buckets']])\""
    )
    env = clean_env(up.workdir)
    env["PYTHON"] = sys.executable
    env["AWS_PROFILE"] = "a-profile-that-does-not-exist"  # env must unset it
    result = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    bucket, listed = result.stdout.splitlines()
    assert bucket == names["segments_bucket"]
    assert names["segments_bucket"] in listed


def test_reports_downloads_a_jobs_report_and_rejects_into_dot_local(up: UpProcess) -> None:
    names = json.loads(up.stack_json.read_text())
    key = f"segments/{ADVERTISER}/Downloaded/create/emails.csv"
    _s3(names).put_object(
        Bucket=names["segments_bucket"], Key=key, Body=b"email\nbad-one\nana@example.com\n"
    )
    job_line = up.wait_for(
        lambda line: "job " in line and "Downloaded" in line and " failed" in line,
        what="for the job",
    )
    job_id = job_line.split("job ", 1)[1].split()[0]
    result = tiktok_local("reports", job_id[:8], workdir=up.workdir)
    assert result.returncode == 0, result.stderr
    report_path = up.workdir / ".local" / "reports" / f"{job_id}.json"
    rejects_path = up.workdir / ".local" / "reports" / f"{job_id}.rejects.csv"
    assert json.loads(report_path.read_text())["job_id"] == job_id
    assert rejects_path.read_text().splitlines()[1].startswith("2,")  # line 2: bad-one
    assert "bad-one" not in rejects_path.read_text()  # never the raw value
    assert str(report_path) in result.stdout
    assert "(1 rejected row)" in result.stdout
    unknown = tiktok_local("reports", "ffffffffffff", workdir=up.workdir)
    assert unknown.returncode == 2
    assert "no job report whose id starts with 'ffffffffffff'" in unknown.stderr


@pytest.mark.parametrize("command", ["env", "reports"])
def test_commands_beside_up_say_to_start_it_when_no_stack_runs(
    tmp_path: Path, command: str
) -> None:
    result = tiktok_local(command, workdir=tmp_path)
    assert result.returncode == 2
    assert "start `make up` first" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # `eval "$(make -s env)"` then runs nothing


@pytest.mark.slow  # runs every demo step of every function (grows as functions land)
def test_demo_exits_zero_and_reports_what_reached_tiktok() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tiktok_local", "demo"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "what reached TikTok" in result.stdout
    assert "failure queues: all empty" in result.stdout
    # the functions' JSON logs and EMF metrics go to the log file, not between the demo's lines
    assert not [line for line in result.stdout.splitlines() if line.lstrip().startswith("{")]
    assert "function logs: " in result.stdout
