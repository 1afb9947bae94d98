"""The CLI's pure parts: what a dead letter is shown as (never its PII), TikTok's audience answer,
where a job is, how an S3 reference is read, and what a missing stack output says."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests import mparticle_sdk as sdk
from tiktok_connector_cli.audiences import parse_get_response
from tiktok_connector_cli.dlq import _dead_letter, summarize_body
from tiktok_connector_cli.jobs import JobView, looks_like_job_id, progress_of, split_s3_ref
from tiktok_connector_cli.stack import Stack, StackError

EMAIL = "jane.doe@example.com"


def test_an_event_batch_is_summarized_without_its_content() -> None:
    body = sdk.batch(
        [sdk.purchase(1), sdk.purchase(2)], user_identities=sdk.identities(email=EMAIL)
    )
    assert EMAIL in body
    summary = summarize_body("events", body)
    assert summary == "mParticle batch, 2 event(s)"
    assert EMAIL not in summary
    assert summarize_body("events", json.dumps({"data": [{}, {}, {}]})) == "TikTok events, 3"
    assert summarize_body(
        "events", json.dumps({"event": "Purchase", "user": {"email": EMAIL}})
    ) == ("TikTok event")
    assert summarize_body("events", f"name,email\nJane,{EMAIL}") == "not JSON (36 bytes)"
    assert summarize_body("events", "[1, 2]") == "JSON list"


def test_queue_messages_name_their_job() -> None:
    chunk = {
        "type": "chunk",
        "job_id": "0123456789abcdef0123456789abcdef",
        "chunk_key": "chunks/0123456789abcdef0123456789abcdef/0000-00001.csv",
        "rows": 10,
        "md5": "x",
    }
    assert summarize_body("chunks", json.dumps(chunk)) == (
        "chunk, job 0123456789abcdef0123456789abcdef, 0000-00001.csv"
    )
    ranged = {"type": "range", "job_id": "j", "range": 3, "start": 0, "end": 9}
    assert summarize_body("ranges", json.dumps(ranged)) == "range, job j, range 3"


def test_an_ingest_failure_names_the_file_and_the_error() -> None:
    record = {
        "requestContext": {"condition": "RetriesExhausted"},
        "requestPayload": {"Records": [{"s3": {"object": {"key": "segments/1/A/create/a.csv"}}}]},
        "responsePayload": {"errorType": "ClientError", "errorMessage": "boom"},
    }
    assert summarize_body("ingest-failures", json.dumps(record)) == (
        "file segments/1/A/create/a.csv: ClientError (RetriesExhausted)"
    )


def _message(**attributes: str) -> dict[str, Any]:
    return {
        "MessageId": "m-2",
        "ReceiptHandle": "rh",
        "Body": "not json",
        "Attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1700000000000"},
        "MessageAttributes": {
            k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
        },
    }


def test_a_dead_letter_reads_the_forwarders_attributes() -> None:
    letter = _dead_letter(
        "events",
        _message(
            failure_reason="tiktok_permission_denied",
            failure_detail="No permission",
            tiktok_code="40001",
            tiktok_request_id="req-1",
            original_message_id="m-1",
            connection="shop",
            failed_at="2026-11-20T14:00:00Z",
        ),
    )
    assert (letter.reason, letter.detail, letter.tiktok_code, letter.connection) == (
        "tiktok_permission_denied",
        "No permission",
        "40001",
        "shop",
    )
    assert letter.original_message_id == "m-1"
    assert letter.receive_count == 3
    assert letter.sent_at == 1_700_000_000


def test_a_dead_letter_without_attributes_is_its_own_original() -> None:
    letter = _dead_letter("events", _message())
    assert letter.original_message_id == "m-2"
    assert letter.reason == ""
    assert letter.summary == "not JSON (8 bytes)"


def test_tiktoks_audience_answer_is_read_as_documented() -> None:
    """Shape from tiktok/tiktok-business-api-sdk yml_files/dmp_custom_audience_get.yml."""
    data = {
        "list": [
            {
                "audience_details": {
                    "audience_id": "7391234567890123456",
                    "name": "Buyers",
                    "cover_num": 12345,
                    "is_valid": True,
                    "is_expiring": False,
                    "expired_time": "2027-11-20 14:00:00",
                    "msg": "",
                },
                "audience_history": [
                    {"action": "CREATE", "opt_time": "2026-11-19 10:00:00"},
                    {"action": "APPEND", "opt_time": "2026-11-20 12:00:00"},
                ],
            },
            {"audience_details": {"audience_id": "2", "cover_num": "77", "is_valid": "yes"}},
            {"audience_details": {}},
            "junk",
        ]
    }
    parsed = parse_get_response(data)
    first = parsed["7391234567890123456"]
    assert (first.cover_num, first.is_valid, first.is_expiring) == (12345, True, False)
    assert (first.last_action, first.last_change) == ("APPEND", "2026-11-20 12:00:00")
    assert first.expired_time == "2027-11-20 14:00:00"
    second = parsed["2"]
    assert second.cover_num == 77  # a numeric string is read as a number
    assert second.is_valid is None  # not a boolean: unknown, not "valid"
    assert set(parsed) == {"7391234567890123456", "2"}


def test_progress_reads_ranges_first_then_chunks() -> None:
    reading = JobView({"status": "running", "chunks": {"total": 0, "done": 0}}, 1, 4)
    assert progress_of(reading).phase == "reading the file"
    assert (progress_of(reading).completed, progress_of(reading).total) == (1, 4)
    uploading = JobView({"status": "running", "chunks": {"total": 8, "done": 3}}, 4, 4)
    assert (progress_of(uploading).phase, progress_of(uploading).completed) == (
        "uploading to TikTok",
        3,
    )
    done = JobView({"status": "failed", "chunks": {"total": 8, "done": 5}}, 4, 4)
    assert progress_of(done).phase == "failed"
    assert done.ended


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (
            "s3://other-bucket/segments/1/A/create/a.csv",
            ("other-bucket", "segments/1/A/create/a.csv"),
        ),
        ("segments/1/A B/create/a.csv", ("stack-bucket", "segments/1/A B/create/a.csv")),
        ("/segments/1/A/create/a.csv", ("stack-bucket", "segments/1/A/create/a.csv")),
    ],
)
def test_s3_references(ref: str, expected: tuple[str, str]) -> None:
    assert split_s3_ref(ref, "stack-bucket") == expected


def test_job_ids_are_32_hex_characters() -> None:
    assert looks_like_job_id("0123456789abcdef0123456789abcdef")
    assert not looks_like_job_id("0123456789ABCDEF0123456789ABCDEF")
    assert not looks_like_job_id("segments/0123456789abcdef0123456789abcdef")


def test_a_missing_stack_output_says_which_and_what_to_do() -> None:
    stack = Stack(description="stack prod in eu-west-1", names={"jobs_table": "t"}, session=None)
    assert stack.name("jobs_table") == "t"
    with pytest.raises(StackError) as err:
        stack.name("event_stats_table")
    assert "stack prod in eu-west-1 has no EventStatsTableName" in str(err.value)
    assert "sam deploy" in str(err.value)


def test_the_local_files_http_front_is_the_http_api() -> None:
    stack = Stack(
        description="local", names={"http_front_url": "http://127.0.0.1:3000"}, session=None
    )
    assert stack.name("http_api_url") == "http://127.0.0.1:3000"


def test_the_local_stack_file_is_looked_for_where_make_up_writes_it(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tiktok_connector_cli.stack import REPO_ROOT, default_stack_json

    monkeypatch.setenv("TIKTOK_LOCAL_WORKDIR", str(tmp_path / "elsewhere"))
    assert default_stack_json() == tmp_path / "elsewhere" / ".local" / "stack.json"
    monkeypatch.delenv("TIKTOK_LOCAL_WORKDIR")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "stack.json").write_text("{}")
    assert default_stack_json() == tmp_path / ".local" / "stack.json"  # the current directory
    (tmp_path / ".local" / "stack.json").unlink()
    expected = REPO_ROOT / ".local" / "stack.json"
    assert default_stack_json() in (expected, tmp_path / ".local" / "stack.json")
    assert (REPO_ROOT / "cli" / "tiktok_connector_cli").is_dir()
