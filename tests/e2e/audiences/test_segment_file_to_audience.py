"""End to end on the local stack: a segment file in S3 becomes an audience in the emulator.

The real template, moto, the dispatcher, the real ingest and upload handlers, the emulator. The
advertiser is connected the way the OAuth function leaves it (an authorization secret and the
advertiser index item), then files are dropped under ``segments/<advertiser>/<name>/<action>/``.
Expected members are computed here, independently of the connector's code.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.connected import connect_advertiser
from tiktok_connector.contract.pointer import is_pointer_key
from tiktok_local.demo_audiences import check_audiences
from tiktok_local.stack import LocalStack

ADV = "7100000000000000001"
TIME_SCALE = 0.002


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack.start(
        workdir=tmp_path_factory.mktemp("stack"), time_scale=TIME_SCALE, write_stack_json=False
    ) as running:
        connect_advertiser(running, ADV, "e2e-audiences")
        yield running


def drop(stack: LocalStack, key: str, body: str, **metadata: str) -> None:
    stack.client("s3").put_object(
        Bucket=stack.names["segments_bucket"], Key=key, Body=body.encode(), Metadata=metadata
    )


def report_for(stack: LocalStack, key: str, timeout: float = 60.0) -> dict[str, Any]:
    s3 = stack.client("s3")
    bucket = stack.names["segments_bucket"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.wait_idle(5.0)
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix="reports/").get("Contents", []):
            if is_pointer_key(obj["Key"]):  # a file's report pointer, not a report
                continue
            report = json.loads(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            if report["source"]["key"] == key and report["status"] not in (
                "running",
                "waiting_for_tiktok",
            ):
                return report
    raise AssertionError(f"no finished report for {key}")


def test_file_in_s3_becomes_an_audience_of_exactly_the_accepted_rows(stack: LocalStack) -> None:
    good = [f" User{i}@Example.com " for i in range(40)]
    lines = ["email", *good, "not-an-email", "", good[0]]  # a reject, a blank, a duplicate
    key = f"segments/{ADV}/E2E Buyers/create/buyers.csv"
    drop(stack, key, "\n".join(lines) + "\n")

    report = report_for(stack, key)

    assert report["status"] == "succeeded", report["error"]
    assert report["rows"]["rejected"] == 1
    audience_id = report["tiktok"]["audience_id"]
    assert report["tiktok"]["file_paths"]
    expected = {sha256(e.strip().lower()) for e in good}
    assert stack.emulator.state.audience_hashes(audience_id) == expected
    summary = stack.emulator.state.find_audience(ADV, "E2E Buyers")
    assert summary is not None
    assert summary["audience_id"] == audience_id


def test_partner_api_file_maps_members_into_a_partner_audience(stack: LocalStack) -> None:
    emails = [f"partner{i}@example.org" for i in range(25)]
    key = f"segments/{ADV}/E2E Partners/create/partners.csv"
    drop(stack, key, "email\n" + "\n".join(emails) + "\n", **{"audience-api": "segment"})

    report = report_for(stack, key)

    assert report["status"] == "succeeded", report["error"]
    members = stack.emulator.state.audience_members(report["tiktok"]["audience_id"])
    assert members == {("EMAIL_SHA256", sha256(e)) for e in emails}


def test_the_demo_check_agrees(stack: LocalStack) -> None:
    lines: list[str] = []
    check_audiences(stack, lines.append)
    assert any("E2E Buyers" in line and "as expected" in line for line in lines), lines
    assert all("MISMATCH" not in line for line in lines)
