"""Demo step: drop a messy sample segment file in S3 and show its ingest job report.

The file is what a CRM export looks like: a BOM, CRLF line ends, quoted fields, mixed-case and
padded emails, phones in national and international formats, an IDFA, a duplicate, a blank line
and a few broken rows. The S3 notification reaches the real ingest handler through the
dispatcher (the key has a space, so it arrives URL-encoded); the step waits for the job report
and prints its counts. Only counts and reasons are printed — never raw values or hashes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from tiktok_connector.contract.job import job_id_for
from tiktok_connector.segments.report import report_key
from tiktok_local.stack import LocalStack

Say = Callable[[str], None]

ADVERTISER_ID = "7100000000000000001"
AUDIENCE_NAME = "Demo Buyers"
SAMPLE_KEY = f"segments/{ADVERTISER_ID}/{AUDIENCE_NAME}/create/crm export.csv"
WAIT_SECONDS = 60.0

_GOOD = [
    ("Alice.Example@Example.com", "+1 (212) 555-0100"),
    ("  bob@example.org ", "212.555.0101"),
    ("carol@example.net", ""),
    ("", "+44 20 7946 0958"),
    ("dave@example.com", "(212) 555-0103"),
]


def sample_file() -> bytes:
    """A small, messy CRM export (fake identities on reserved domains and numbers)."""
    rows = ["\ufeffFirst Name,Email Address,Phone,IDFA"]
    for n, (email, phone) in enumerate(_GOOD):
        rows.append(f'"Person {n}, Jr.",{email},"{phone}",')
    rows.extend(f"User {i},user{i:03d}@example.com,+1 212 555 {1000 + i:04d}," for i in range(40))
    rows += [
        "Eve,,,6D92078A-8246-4BA4-AE5B-76104861E7DC",  # a MAID only
        "Alice again,alice.example@example.com,,",  # duplicate of the first row's email
        "",  # blank line
        "Broken,not-an-email,,",  # invalid_email
        "Broken,,12,",  # invalid_phone
        "No ids,,,",  # no_identifier
        "Zeroed,,,00000000-0000-0000-0000-000000000000",  # zeroed_maid
    ]
    return ("\r\n".join(rows) + "\r\n").encode("utf-8")


def _wait_for_report(stack: LocalStack, key: str, timeout: float) -> dict[str, Any]:
    s3 = stack.client("s3")
    bucket = stack.names["segments_bucket"]
    deadline = time.monotonic() + timeout
    while True:
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            report: dict[str, Any] = json.loads(body)
            if report["status"] != "running" or report["chunks"]["total"]:
                return report
        except s3.exceptions.NoSuchKey:
            pass
        if time.monotonic() >= deadline:
            raise RuntimeError(f"no ingest report at {key} within {timeout:.0f} s")
        stack.wait_idle(min(2.0, max(0.1, deadline - time.monotonic())))


def drop_sample_segment_file(stack: LocalStack, say: Say) -> None:
    """Put the sample file under the segments prefix and print its ingest report."""
    s3 = stack.client("s3")
    bucket = stack.names["segments_bucket"]
    put = s3.put_object(
        Bucket=bucket,
        Key=SAMPLE_KEY,
        Body=sample_file(),
        Metadata={"retention-days": "30"},
    )
    version = put.get("VersionId") or put["ETag"].strip('"')
    job_id = job_id_for(bucket, SAMPLE_KEY, version)
    say(f"dropped s3://{bucket}/{SAMPLE_KEY} (job {job_id})")
    report = _wait_for_report(stack, report_key(job_id), WAIT_SECONDS)
    rows = report["rows"]
    say(
        f"  ingest report: status {report['status']}; rows read {rows['read']}, accepted "
        f"{rows['accepted']}, rejected {rows['rejected']}, blank {rows['blank']}, "
        f"duplicates {rows['duplicates']}"
    )
    ids = ", ".join(
        f"{t} {c['accepted']} ok / {c['rejected']} bad" for t, c in report["identifiers"].items()
    )
    say(f"  identifiers: {ids}")
    reasons = ", ".join(f"{r} {n}" for r, n in report["rejected_by_reason"].items()) or "none"
    say(f"  rejected by reason: {reasons} (rejects/{job_id}.csv: line, reason, column, partial)")
    say(f"  chunks: {report['chunks']['total']} file(s) of hashes queued for upload")
    if report["status"] == "failed":
        raise RuntimeError(f"the sample segment job failed: {report['error']}")
    if rows["read"] != rows["accepted"] + rows["rejected"]:
        raise RuntimeError("the ingest report does not add up")
