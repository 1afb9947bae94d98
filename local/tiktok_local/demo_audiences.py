"""Demo step: every segment job ends, and its TikTok audience holds exactly the expected hashes.

Runs after the step that drops a sample segment file. It waits for each job's report to leave
``running``, then compares the audience in the emulator with the job's accepted hashes (every
value in the job's chunk files, which hold the accepted rows' hashes): a ``create`` or ``replace``
audience must equal them, an ``append`` must contain them, a ``remove`` must hold none of them.
Only counts, names and ids are printed — never hashes, raw values or tokens.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from typing import Any

from tiktok_connector.contract.pointer import is_pointer_key
from tiktok_local.stack import LocalStack

Say = Callable[[str], None]

WAIT_SECONDS = 60.0


class AudienceCheckFailed(RuntimeError):
    """A segment job failed, or its audience does not hold what the file said."""


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return keys


def _reports(s3: Any, bucket: str) -> list[dict[str, Any]]:
    return [
        json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        for key in _keys(s3, bucket, "reports/")
        if key.endswith(".json") and not is_pointer_key(key)
    ]


def expected_hashes(s3: Any, bucket: str, job_id: str) -> set[str]:
    """Every hash in the job's chunk files (the accepted rows' identifiers)."""
    hashes: set[str] = set()
    for key in _keys(s3, bucket, f"chunks/{job_id}/"):
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        rows = csv.reader(io.StringIO(text))
        next(rows, None)  # the header row (TikTok column names)
        hashes.update(cell for row in rows for cell in row if cell)
    return hashes


def wait_for_jobs(stack: LocalStack, timeout: float = WAIT_SECONDS) -> list[dict[str, Any]]:
    """Reports of every segment job, once none is ``running`` (or the timeout passed)."""
    s3 = stack.client("s3")
    bucket = stack.names["segments_bucket"]
    deadline = time.monotonic() + timeout
    while True:
        sources = _keys(s3, bucket, "segments/")
        reports = _reports(s3, bucket)
        unfinished = ("running", "waiting_for_tiktok")  # a job waiting for TikTok still runs
        settled = len(reports) >= len(sources) and all(
            r["status"] not in unfinished for r in reports
        )
        if settled or time.monotonic() >= deadline:
            return reports
        stack.wait_idle(min(5.0, max(0.1, deadline - time.monotonic())))


def check_audiences(stack: LocalStack, say: Say) -> None:
    """Wait for the segment jobs, then check each audience in the emulator against its file."""
    s3 = stack.client("s3")
    bucket = stack.names["segments_bucket"]
    if not _keys(s3, bucket, "segments/"):
        say("no segment file was dropped: no audience to check")
        return
    reports = wait_for_jobs(stack)
    if not reports:
        raise AudienceCheckFailed("no segment job report appeared")
    if stack.emulator is None:
        say("audiences: not checked (no emulator; TikTok is external)")
        return
    for report in reports:
        label = f"{report['advertiser_id']} / {report['audience_name']!r} ({report['action']})"
        if report["status"] not in ("succeeded", "succeeded_with_warnings"):
            error = report.get("error") or {}
            raise AudienceCheckFailed(
                f"job {report['job_id']} for {label} is {report['status']}: "
                f"{error.get('code')}: {error.get('message')}"
            )
        audience_id = report["tiktok"]["audience_id"]
        members = stack.emulator.state.audience_hashes(audience_id)
        expected = expected_hashes(s3, bucket, report["job_id"])
        action = report["action"]
        if action in ("create", "replace"):
            ok = members == expected
        elif action == "append":
            ok = expected <= members
        else:
            ok = not (expected & members)
        rows = report["rows"]
        say(
            f"{label}: audience {audience_id} has {len(members)} members; "
            f"{len(expected)} accepted hashes from {rows['accepted']} of {rows['read']} rows "
            f"({rows['rejected']} rejected) — {'as expected' if ok else 'MISMATCH'}"
        )
        if not ok:
            raise AudienceCheckFailed(
                f"audience {audience_id} for {label} does not match the job's accepted hashes"
            )
