"""The lines `make up` prints: one per invocation, OAuth request and job change; no data in them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tiktok_local.dispatcher import Invocation
from tiktok_local.progress import Progress, ReportWatcher

QUEUE = "http://127.0.0.1:4566/123456789012/tiktok-connector-chunks"


def _lines() -> tuple[Progress, list[str]]:
    lines: list[str] = []
    return Progress(lines.append), lines


@pytest.mark.parametrize(
    ("outcome", "failed", "error", "expected"),
    [
        ("ok", [], None, "2 messages from chunks: ok (0.25 s)"),
        ("partial", ["b"], None, "2 messages from chunks: 1 of 2 failed, back on the queue"),
        ("timeout", ["a", "b"], "Task timed out", "timed out, back on the queue"),
        (
            "error",
            ["a", "b"],
            "ValueError: ana@example.com is not valid",
            "2 messages from chunks: raised ValueError, back on the queue",
        ),
        (
            "invalid_response",
            ["a", "b"],
            None,
            "malformed batchItemFailures, all back on the queue",
        ),
    ],
)
def test_an_sqs_invocation_is_one_line_saying_what_happens_next(
    outcome: str, failed: list[str], error: str | None, expected: str
) -> None:
    progress, lines = _lines()
    progress.invocation(
        Invocation(
            "tiktok-connector-audience-upload",
            "sqs",
            outcome,
            ["a", "b"],
            failed,
            error,
            seconds=0.25,
            queue_url=QUEUE,
        )
    )
    assert len(lines) == 1
    assert " audience-upload " in lines[0]
    assert expected in lines[0]
    assert "ana@example.com" not in lines[0]  # the exception's type only


def test_an_s3_invocation_names_the_key_as_written() -> None:
    progress, lines = _lines()
    key = "segments/7100000000000000001/Spring+Buyers/create/buyers.csv"  # S3's form encoding
    progress.invocation(
        Invocation("tiktok-connector-segment-ingest", "s3", "error", [key], [key], "OSError: x")
    )
    assert "s3 segments/7100000000000000001/Spring Buyers/create/buyers.csv" in lines[0]
    assert "raised OSError, Lambda retries it, then the failure queue" in lines[0]


def test_an_oauth_request_line_has_the_path_only() -> None:
    progress, lines = _lines()
    progress.http_request("tiktok-connector-oauth", "GET", "/connect", 302, 0.05)
    assert lines[0].endswith("oauth            GET /connect -> 302 (0.05 s)")


class _FakeS3:
    """list_objects_v2 / get_object over a dict, enough for the watcher."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, report: dict[str, Any]) -> None:
        self.objects[key] = json.dumps(report).encode()

    def get_paginator(self, name: str) -> Any:
        objects = self.objects

        class Paginator:
            def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
                return [
                    {
                        "Contents": [
                            {"Key": k, "ETag": str(hash(v))}
                            for k, v in objects.items()
                            if k.startswith(kwargs["Prefix"])
                        ]
                    }
                ]

        return Paginator()

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        class Body:
            def __init__(self, data: bytes) -> None:
                self.data = data

            def read(self) -> bytes:
                return self.data

        return {"Body": Body(self.objects[Key])}


def test_the_report_watcher_hands_over_each_job_change_once() -> None:
    s3, seen = _FakeS3(), []
    watcher = ReportWatcher(s3, "bucket", seen.append)
    report = {
        "job_id": "j1",
        "status": "running",
        "advertiser_id": "7100000000000000001",
        "audience_name": "Spring Buyers",
        "action": "create",
        "rows": {"read": 3, "accepted": 2, "rejected": 1},
        "rejected_by_reason": {"invalid_email": 1},
        "error": None,
    }
    s3.put("reports/j1.json", report)
    s3.put("rejects/j1.csv", {"not": "a report"})
    watcher.poll_once()
    watcher.poll_once()  # nothing changed
    s3.put("reports/j1.json", {**report, "started_at": "rewritten, same status and counts"})
    watcher.poll_once()
    s3.put("reports/j1.json", {**report, "status": "succeeded"})
    watcher.poll_once()
    assert [r["status"] for r in seen] == ["running", "succeeded"]
    progress, lines = _lines()
    progress.job(seen[-1])
    assert lines[0].endswith(
        "job j1 succeeded: 7100000000000000001 / Spring Buyers / create, rows: 3 read,"
        " 2 accepted, 1 rejected (invalid_email 1) (make reports JOB=j1)"
    )
