"""`tiktok-connector` against the local stack, end to end (issue 14 item 5).

The real template on moto, the dispatcher running the real handlers, the TikTok emulator; the CLI
reads the stack from the ``stack.json`` the stack wrote, as it does beside ``make up``. Every
command's output is checked to fit 80 columns. What a test expects is read from the emulator and
the queues, not from the CLI's own code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests import mparticle_sdk as sdk
from tests.e2e.connected import connect_advertiser
from tiktok_connector_cli.app import cli
from tiktok_local.resources import seed_connection
from tiktok_local.stack import LocalStack

ADV = "7100000000000000001"
PIXEL = "CDEMOPIXEL000000000A"
TIME_SCALE = 0.002


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack.start(
        workdir=tmp_path_factory.mktemp("cli-stack"), time_scale=TIME_SCALE
    ) as running:
        connect_advertiser(running, ADV, "e2e-cli")
        yield running


@dataclass(frozen=True)
class Ran:
    exit_code: int
    output: str


def run(stack: LocalStack, *args: str, input: str | None = None, fits: bool = True) -> Ran:
    """``tiktok-connector <args> --stack-json <the stack's file>`` in an 80-column terminal.

    The handlers run in this process and write their JSON log and metric lines to the same
    stdout: those lines are not the CLI's and are left out. ``fits=False`` for a command whose
    output is one value that must not wrap (a link).
    """
    result = CliRunner().invoke(
        cli,
        [*args, "--stack-json", str(stack.stack_json_path)],
        obj={},
        input=input,
        env={"COLUMNS": "80"},
        catch_exceptions=False,
    )
    output = "\n".join(line for line in result.output.splitlines() if not line.startswith('{"'))
    wide = [line for line in output.splitlines() if len(line) > 80]
    assert not (fits and wide), wide
    return Ran(result.exit_code, output)


def put_file(stack: LocalStack, key: str, lines: list[str]) -> None:
    stack.client("s3").put_object(
        Bucket=stack.names["segments_bucket"], Key=key, Body=("\n".join(lines) + "\n").encode()
    )


def dlq_messages(stack: LocalStack, url_key: str = "events_dlq_url") -> list[dict[str, Any]]:
    """Every message on a DLQ (read, then made visible again)."""
    sqs = stack.client("sqs")
    url = stack.names[url_key]
    got = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=5
    ).get("Messages", [])
    for message in got:
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return got


def received_event_ids(stack: LocalStack) -> list[str]:
    assert stack.emulator is not None
    return [str(r["event"].get("event_id")) for r in stack.emulator.state.events]


# ------------------------------------------------------------------------- jobs and watch


def test_watch_follows_a_new_file_to_its_audience_which_audiences_lists_with_its_size(
    stack: LocalStack,
) -> None:
    key = f"segments/{ADV}/CLI Buyers/create/buyers.csv"
    emails = [f"buyer{i}@example.com" for i in range(1200)]
    put_file(stack, key, ["email", *emails, "not-an-email"])

    watched = run(stack, "watch", key, "--timeout", "120", "--interval", "0.2")

    assert watched.exit_code == 0, watched.output
    assert stack.emulator is not None
    audience = stack.emulator.state.find_audience(ADV, "CLI Buyers")
    assert audience is not None
    audience_id = audience["audience_id"]
    assert re.search(r"job [0-9a-f]{32} succeeded: 1,200 of 1,201 rows", watched.output)
    assert f"TikTok audience {audience_id}" in watched.output

    size = len(stack.emulator.state.audience_members(audience_id))
    assert size == 1200
    # TikTok processes a new audience for a while (the local stack's emulator: 2 s), during
    # which `get` says is_valid false; the listing shows TikTok's word each time it is run.
    deadline = time.monotonic() + 30
    while True:
        listed = run(stack, "audiences")
        assert listed.exit_code == 0, listed.output
        [line] = [line for line in listed.output.splitlines() if audience_id in line]
        assert "CLI Buyers" in line
        assert f"{size:,}" in line  # TikTok's cover_num, as the emulator reports it
        if " yes " in line or time.monotonic() > deadline:
            break
        assert " no " in line
        time.sleep(0.5)
    assert " yes " in line  # is_valid once TikTok is done

    # the job's report kept the size read right after the job (TikTok was still computing it
    # then, or had just finished); --refresh asks again and rewrites the report
    refreshed = run(stack, "jobs", "show", key, "--refresh")
    assert refreshed.exit_code == 0, refreshed.output
    assert re.search(r"audience size\s+1,200 matched \(valid\) at 20", refreshed.output)
    as_json = json.loads(run(stack, "jobs", "show", key, "--json").output)
    assert as_json["tiktok"]["audience_size"] == 1200
    assert as_json["tiktok"]["is_valid"] is True
    assert as_json["tiktok"]["size_unknown_reason"] is None


def test_audiences_refresh_settles_the_size_tiktok_was_still_computing(
    stack: LocalStack,
) -> None:
    """What the hourly schedule does, run by hand: a job's size read while TikTok was computing
    the audience (is_valid false) is read again by `audiences --refresh` into its report."""
    assert stack.emulator is not None
    config = stack.emulator.config
    processing = config.audience_processing_seconds
    config.audience_processing_seconds = 86400.0  # TikTok still computing it when the job ends
    try:
        key = f"segments/{ADV}/CLI Computing/create/computing.csv"
        put_file(stack, key, ["email", *[f"c{i}@example.com" for i in range(300)]])
        assert run(stack, "watch", key, "--timeout", "120", "--interval", "0.2").exit_code == 0
        before = json.loads(run(stack, "jobs", "show", key, "--json").output)["tiktok"]
        assert (before["audience_size"], before["is_valid"]) == (300, False)

        stack.emulator.state.advance_time(86401.0)  # TikTok has finished
        listed = run(stack, "audiences", "--refresh")
    finally:
        config.audience_processing_seconds = processing

    assert listed.exit_code == 0, listed.output
    found = re.search(r"job reports refreshed: (\d+) read, (\d+) settled, 0 unknown", listed.output)
    assert found is not None, listed.output
    assert int(found[2]) >= 1
    after = json.loads(run(stack, "jobs", "show", key, "--json").output)["tiktok"]
    assert (after["audience_size"], after["is_valid"]) == (300, True)
    assert after["status_checked_at"] >= before["status_checked_at"]
    # settled: a second refresh does not read this job again
    again = run(stack, "audiences", "--refresh")
    assert json.loads(run(stack, "jobs", "show", key, "--json").output)["tiktok"] == after
    assert "job reports refreshed" in again.output


def test_jobs_lists_the_file_and_jobs_show_prints_its_report_and_rejects(
    stack: LocalStack,
) -> None:
    key = f"segments/{ADV}/CLI Listing/create/listing.csv"
    put_file(stack, key, ["email", *[f"l{i}@example.com" for i in range(5)], "bad@", "", "bad2@"])
    assert run(stack, "watch", key, "--timeout", "120", "--interval", "0.2").exit_code == 0

    listing = run(stack, "jobs", "--audience", "CLI Listing")
    assert listing.exit_code == 0, listing.output
    assert "listing.csv" in listing.output
    assert "CLI Listing (create)" in listing.output
    assert "succeeded" in listing.output
    assert "CLI Buyers" not in listing.output  # --audience filters

    shown = run(stack, "jobs", "show", key)
    assert shown.exit_code == 0, shown.output
    text = shown.output
    for counted in ("read 7", "accepted 5", "rejected 2"):
        assert counted in text
    # the first rejects, with their file line numbers (header = line 1)
    assert re.search(r"^\s*7\s+invalid_email\s+email", text, re.M)
    assert re.search(r"^\s*9\s+invalid_email\s+email", text, re.M)

    job_id = re.search(r"^job\s+([0-9a-f]{32})", text, re.M)
    assert job_id is not None
    as_json = run(stack, "jobs", "show", job_id.group(1), "--json")
    report = json.loads(as_json.output)
    stored = json.loads(
        stack.client("s3")
        .get_object(Bucket=stack.names["segments_bucket"], Key=f"reports/{job_id.group(1)}.json")[
            "Body"
        ]
        .read()
    )
    assert report == stored  # the same report users find in reports/


def test_watch_exits_1_when_the_job_fails(stack: LocalStack) -> None:
    key = f"segments/{ADV}/No Such Audience/append/more.csv"
    put_file(stack, key, ["email", *[f"m{i}@example.com" for i in range(3)]])

    watched = run(stack, "watch", key, "--timeout", "120", "--interval", "0.2")

    assert watched.exit_code == 1, watched.output
    assert "failed" in watched.output
    assert "audience_not_found" in watched.output
    assert run(stack, "jobs", "show", key).exit_code == 1


def test_watch_gives_up_on_a_file_that_never_arrives(stack: LocalStack) -> None:
    key = f"segments/{ADV}/Never/create/never.csv"
    watched = run(stack, "watch", key, "--timeout", "1", "--interval", "0.2")
    assert watched.exit_code == 2
    unwrapped = watched.output.replace("\n", "")  # long lines wrap at 80 columns
    assert f"waiting for s3://{stack.names['segments_bucket']}/{key}" in unwrapped
    assert "gave up after 1s" in unwrapped


# ----------------------------------------------------------------------- dead letters


def test_a_poison_message_is_shown_with_its_reason_and_redrive_moves_it_back(
    stack: LocalStack,
) -> None:
    """The issue's 'done when': a message the forwarder cannot deliver (its connection does not
    exist yet) lands in the events DLQ, `dlq` shows it with its reason, and once the connection
    exists, `dlq redrive` moves it back and its events reach TikTok."""
    assert stack.emulator is not None
    sqs = stack.client("sqs")
    event_ids = [str(6004677780660780000 + i) for i in (301, 302)]
    sqs.send_message(
        QueueUrl=stack.names["events_queue_url"],
        MessageBody=sdk.batch([sdk.purchase(301), sdk.purchase(302)]),
        MessageAttributes={"connection": {"DataType": "String", "StringValue": "late-shop"}},
    )
    assert stack.wait_idle(60)
    assert len(dlq_messages(stack)) == 1

    shown = run(stack, "dlq", "--queue", "events")
    assert shown.exit_code == 0, shown.output
    [line] = [line for line in shown.output.splitlines() if "late-shop" in line]
    assert "unknown_connection" in line
    assert "@" not in shown.output  # no body content (the batch holds an e-mail address)

    missing = run(stack, "connections", "check", "late-shop")
    assert missing.exit_code == 1
    assert "no such connection" in missing.output

    seed_connection(
        stack.client,
        prefix=stack.names["connections_secret_prefix"],
        name="late-shop",
        value={
            "event_source_type": "web",
            "event_source_id": PIXEL,
            "access_token": stack.emulator.state.issue_token(),
        },
    )
    dry = run(stack, "dlq", "redrive", "--queue", "events", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "events: 1 message(s) → tiktok-connector-events" in dry.output
    assert "dry run: nothing moved" in dry.output
    declined = run(stack, "dlq", "redrive", "--queue", "events", input="n\n")
    assert declined.exit_code == 1
    assert "Move them back?" in declined.output
    assert len(dlq_messages(stack)) == 1  # neither moved anything

    moved = run(stack, "dlq", "redrive", "--queue", "events", "--yes")

    assert moved.exit_code == 0, moved.output
    assert "events: completed, 1 moved" in moved.output
    assert stack.wait_idle(60)
    assert dlq_messages(stack) == []
    received = received_event_ids(stack)
    assert all(received.count(i) == 1 for i in event_ids), received


def test_copies_of_one_undeliverable_message_are_shown_and_redriven_once(
    stack: LocalStack,
) -> None:
    """An invocation that dies after moving a message is retried and moves a second copy; both
    share original_message_id (docs/architecture.md). The CLI folds them and redrives one."""
    sqs = stack.client("sqs")
    body = sdk.batch([sdk.purchase(401)])
    for _ in range(2):
        sqs.send_message(
            QueueUrl=stack.names["events_dlq_url"],
            MessageBody=body,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in {
                    "connection": "default",
                    "failure_reason": "tiktok_refused_request",
                    "failure_detail": "simulated for the test",
                    "original_message_id": "original-401",
                    "failed_at": "2026-11-20T14:00:00Z",
                }.items()
            },
        )
    shown = run(stack, "dlq", "--queue", "events")
    [line] = [line for line in shown.output.splitlines() if "tiktok_refused_request" in line]
    assert line.rstrip().endswith(" 2")  # copies
    assert "1 extra copy of the same message(s) folded in" in shown.output

    moved = run(stack, "dlq", "redrive", "--queue", "events", "--yes")

    assert moved.exit_code == 0, moved.output
    assert "1 extra copy will be deleted" in moved.output
    assert "events: completed, 1 moved, 1 extra copies deleted" in moved.output
    assert stack.wait_idle(60)
    assert dlq_messages(stack) == []
    assert received_event_ids(stack).count(str(6004677780660780000 + 401)) == 1


def test_messages_sqs_dead_lettered_show_what_is_known(stack: LocalStack) -> None:
    job = "0123456789abcdef0123456789abcdef"
    stack.client("sqs").send_message(
        QueueUrl=stack.names["chunk_dlq_url"],
        MessageBody=json.dumps(
            {"type": "chunk", "job_id": job, "chunk_key": f"chunks/{job}/0000-00001.csv", "rows": 1}
        ),
    )
    shown = run(stack, "dlq")
    assert shown.exit_code == 0
    summary = {
        m.group(1): int(m.group(2))
        for m in re.finditer(
            r"^(events|chunks|ranges|ingest-failures)\s+\S+\s+(\d+)", shown.output, re.M
        )
    }
    assert summary["chunks"] == 1
    assert f"chunk, job {job}, 0000-00001.csv" in shown.output

    refused = run(stack, "dlq", "redrive", "--queue", "ingest-failures")
    assert refused.exit_code == 1
    assert "cannot be redriven" in refused.output
    # clean up for the other tests: chunk messages of an unknown job are poison for upload
    sqs = stack.client("sqs")
    sqs.purge_queue(QueueUrl=stack.names["chunk_dlq_url"])


# -------------------------------------------------------------------- events and settings


def test_events_shows_sent_and_dropped_per_connection_and_event(stack: LocalStack) -> None:
    sqs = stack.client("sqs")
    sqs.send_message(
        QueueUrl=stack.names["events_queue_url"],
        MessageBody=sdk.batch([sdk.purchase(601), sdk.purchase(602), sdk.purchase(603, url=None)]),
        MessageAttributes={"connection": {"DataType": "String", "StringValue": "default"}},
    )
    assert stack.wait_idle(60)

    shown = run(stack, "events", "--connection", "default", "--since", "1h")

    assert shown.exit_code == 0, shown.output
    row = re.search(r"^default\s+PlaceAnOrder\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", shown.output, re.M)
    assert row is not None, shown.output
    sent, failed, refused, dropped = (int(g) for g in row.groups())
    assert sent >= 2
    assert dropped >= 1
    assert (failed, refused) == (0, 0)
    assert f"missing_page_url 1 (last: {6004677780660780000 + 603})" in shown.output
    assert "late-shop" not in shown.output  # --connection


def test_connections_check_names_the_exact_problem_and_never_the_token(
    stack: LocalStack,
) -> None:
    token = "tok-e2e-very-secret-0001"
    seed_connection(
        stack.client,
        prefix=stack.names["connections_secret_prefix"],
        name="broken",
        value={
            "event_source_type": "web",
            "event_source_id": PIXEL,
            "access_token": token,
            "enrich_ip": "sometimes",
            "pixel_id": PIXEL,
        },
    )
    listing = run(stack, "connections")
    checked = run(stack, "connections", "check", "broken")
    good = run(stack, "connections", "check", "default")

    assert listing.exit_code == 1
    assert re.search(r"^broken\s+invalid", listing.output, re.M)
    assert re.search(r"^default\s+ok\s+web\s+" + PIXEL, listing.output, re.M)
    assert checked.exit_code == 1
    assert "enrich_ip: Input should be a valid boolean" in checked.output
    assert "pixel_id: unknown setting" in checked.output
    assert good.exit_code == 0
    assert "set (not shown)" in good.output
    for output in (listing.output, checked.output, good.output):
        assert token not in output
        assert stack.emulator is not None
        assert not any(t in output for t in stack.emulator.state.tokens)


def test_connect_link_and_status(stack: LocalStack) -> None:
    link = run(stack, "connect-link", "--label", "e2e", fits=False)  # one URL, never wrapped
    assert link.exit_code == 0
    assert link.output.strip().startswith(f"{stack.http_front_url}/connect?ticket=")

    status = run(stack, "status")
    assert status.exit_code == 0, status.output
    assert "jobs, last 24 h" in status.output
    assert "dead letters" in status.output
    assert "events since" in status.output


def test_the_installed_command_runs_against_the_stack(stack: LocalStack) -> None:
    """`make venv` installs the project: the console script exists and reads the stack file."""
    command = Path(sys.executable).parent / "tiktok-connector"
    assert command.exists(), "run `make venv`: it installs the tiktok-connector command"
    done = subprocess.run(
        [str(command), "dlq", "--stack-json", str(stack.stack_json_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "tiktok-connector-events-dlq" in done.stdout


def test_without_a_running_stack_the_cli_says_what_to_do(tmp_path: Any) -> None:
    result = CliRunner().invoke(cli, ["jobs", "--stack-json", str(tmp_path / "stack.json")], obj={})
    assert result.exit_code == 1
    assert "start `make up` first" in result.output
