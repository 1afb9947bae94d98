"""Hostile input through the real handlers on the local stack: a clear, bounded error for each,
and no batch crashed, no neighbour lost.

Segment files: binary garbage, a huge line, UTF-32, a ZIP archive, zip bombs disguised as ``.gz``,
formula-injection cells (the rejects file must neutralise them), deeply nested / wrong-typed
JSONL rows, and S3 keys with path traversal and odd characters — each dropped together with a
good neighbour file. Events: deeply nested, wrong-typed, enormous and unicode messages in the
same SQS batches as good ones. OAuth: header and parameter injection into the HTML pages.
(Unit-level properties of the same parsers: ``tests/reliability/test_parser_properties.py``.)
"""

from __future__ import annotations

import gzip
import json
import re
import time
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.reliability.pipeline import ADV, Pipeline, pipeline_fixture
from tests.reliability.support import email_hash, sha256

pytestmark = pytest.mark.slow
WAIT = 90.0
REPORT_KEY = re.compile(r"reports/[0-9a-f]{32}\.json")
# a file's report pointer: under reports/by-key/, no part of it only dots (it cannot climb out)
POINTER_KEY = re.compile(r"reports/by-key/(?:(?!\.+(?:/|\.json$))[^/]*/)*[^/]+\.json")
OUTPUT_KEY = re.compile(r"(chunks/[0-9a-f]{32}/\d{4}-\d{5}\.csv|rejects/[0-9a-f]{32}(\.csv|/.*))")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    yield from pipeline_fixture(tmp_path_factory.mktemp("hostile"))


def bomb(pattern: bytes, size: int) -> bytes:
    """``size`` bytes of ``pattern`` as gzip, compressed as a stream (a few hundred KB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = pattern * (1024 * 1024 // len(pattern))
    parts = [compressor.compress(block) for _ in range(size // len(block))]
    return b"".join([*parts, compressor.flush()])


def good_file(tag: str, n: int = 30) -> tuple[str, list[str]]:
    emails = [f"{tag}.ok{i}@example.com" for i in range(n)]
    return "email\n" + "\n".join(emails) + "\n", emails


HOSTILE_FILES: dict[str, tuple[str, bytes, str]] = {
    # name: (file name, bytes, expected error code or "" when rows are rejected instead)
    "binary": ("garbage.csv", bytes(range(256)) * 64, "binary_file"),
    "huge_line": ("one-line.csv", b"email\n" + b"a" * (3 * 1024 * 1024), "line_too_long"),
    "utf32": ("utf32.csv", "email\na@example.com\n".encode("utf-32"), "unsupported_encoding"),
    "zip": ("list.zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(40), "unsupported_format"),
    "bomb_zeros": ("emails.csv.gz", bomb(b"\x00", 300 * 1024 * 1024), "binary_file"),
    "bomb_one_line": ("emails2.csv.gz", bomb(b"A", 300 * 1024 * 1024), "line_too_long"),
    "gz_lie": ("fake.csv.gz", b"email\na@example.com\n", "not_gzip"),
    "gz_truncated": ("cut.csv.gz", gzip.compress(b"email\n" + b"".join(b"x%d@example.com\n" % i for i in range(5000)))[:-400], "not_gzip"),
    "empty": ("empty.csv", b"", "empty_file"),
}  # fmt: skip


def test_hostile_segment_files_end_in_clear_bounded_errors_and_neighbours_succeed(
    pipeline: Pipeline,
) -> None:
    started = time.monotonic()
    keys: dict[str, str] = {}
    for label, (filename, body, _) in HOSTILE_FILES.items():
        key = f"segments/{ADV}/Hostile {label}/create/{filename}"
        pipeline.stack.client("s3").put_object(
            Bucket=pipeline.stack.names["segments_bucket"], Key=key, Body=body
        )
        keys[label] = key
    text, emails = good_file("neighbour")
    good_key = f"segments/{ADV}/Hostile Neighbour/create/good.csv"
    pipeline.stack.client("s3").put_object(
        Bucket=pipeline.stack.names["segments_bucket"], Key=good_key, Body=text.encode()
    )
    reports = pipeline.wait_reports([*keys.values(), good_key], WAIT)
    elapsed = time.monotonic() - started

    for label, key in keys.items():
        expected = HOSTILE_FILES[label][2]
        report = reports.get(key)
        assert report is not None, f"{label}: no finished report"
        assert report["status"] == "failed", label
        assert report["error"]["code"] == expected, (label, report["error"])
        assert report["error"]["message"], label
    assert reports[good_key]["status"] == "succeeded"
    members = pipeline.emulator.state.audience_hashes(reports[good_key]["tiktok"]["audience_id"])
    assert members == {sha256(e) for e in emails}
    assert elapsed < WAIT  # bounded: 600 MB of bombs refused in seconds, not minutes
    assert pipeline.depth("ingest_failures_queue_url") == 0  # no endless retry, nothing given up


def test_formula_cells_and_bad_rows_are_rejected_with_safe_reject_files(
    pipeline: Pipeline,
) -> None:
    formulas = ["=cmd|' /C calc'!A0", "+SUM(1,2)", "-2+3", "@foo", "\t=1", '=HYPERLINK("x")']
    # identifier headers that are formulas too: the rejects file names them in its column cell
    header = '=Email,"=HYPERLINK(""http://evil.example"")",+Phone'
    rows = [
        f'"{f}","{f}","{f}"'.replace('"=HYPERLINK("x")"', '"=HYPERLINK(""x"")"') for f in formulas
    ]
    good = [f"formula.ok{i}@example.com,x,(212) 555-01{i:02d}" for i in range(20)]
    key = f"segments/{ADV}/Hostile Formulas/create/formulas.csv"
    body = "\n".join([header, *rows, *good]) + "\n"
    pipeline.stack.client("s3").put_object(
        Bucket=pipeline.stack.names["segments_bucket"], Key=key, Body=body.encode()
    )
    report = pipeline.wait_reports([key], WAIT)[key]

    assert report["status"] == "succeeded", report["error"]
    assert report["rows"]["read"] == len(formulas) + len(good)
    assert report["rows"]["rejected"] == len(formulas)
    rejects = pipeline.read(f"rejects/{report['job_id']}.csv").decode()
    cells = [cell for line in rejects.splitlines() for cell in line.split(",")]
    assert cells, rejects
    assert not [c for c in cells if c.startswith(FORMULA_START)], rejects
    for formula in formulas:
        assert formula.strip() not in rejects  # never the raw value
    expected = {sha256(f"formula.ok{i}@example.com") for i in range(20)}
    expected |= {sha256(f"121255501{i:02d}") for i in range(20)}
    members = pipeline.emulator.state.audience_hashes(report["tiktok"]["audience_id"])
    assert members == expected


def test_deeply_nested_and_wrong_typed_jsonl_rows_are_rejected_not_fatal(
    pipeline: Pipeline,
) -> None:
    hostile = [
        '{"email": ' + "[" * 200_000 + "]" * 200_000 + "}",  # deeper than json's recursion
        '{"email": ' + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "}",
        '{"email": 12345}',
        '{"email": null}',
        '{"email": ["list@example.com"]}',
        '{"email": {"x": 1}}',
        '{"email": true}',
        '{"email": 1e999}',
        "[1, 2, 3]",
        '"just a string"',
        "{not json",
        '{"email": "\\ud800@example.com"}',  # a lone surrogate
    ]
    good = [json.dumps({"email": f"jsonl.ok{i}@example.com"}) for i in range(25)]
    lines = [good[0], *hostile[:6], *good[1:12], *hostile[6:], *good[12:]]
    key = f"segments/{ADV}/Hostile JSONL/create/rows.jsonl"
    pipeline.stack.client("s3").put_object(
        Bucket=pipeline.stack.names["segments_bucket"],
        Key=key,
        Body=("\n".join(lines) + "\n").encode(),
    )
    report = pipeline.wait_reports([key], WAIT).get(key)

    assert report is not None, [
        (i.outcome, (i.error or "")[-300:])
        for i in pipeline.stack.dispatcher.invocations
        if i.kind == "s3" and any("JSONL" in k for k in i.message_ids)
    ]
    assert report["status"] == "succeeded", report["error"]
    assert report["rows"]["read"] == len(lines)
    assert report["rows"]["accepted"] == len(good)
    assert report["rows"]["rejected"] == len(hostile)
    members = pipeline.emulator.state.audience_hashes(report["tiktok"]["audience_id"])
    assert members == {sha256(f"jsonl.ok{i}@example.com") for i in range(25)}
    assert pipeline.depth("ingest_failures_queue_url") == 0


ODD_NAMES = [
    "..",
    "Spaces  and+plus %25 & = ?",
    "ünïcödé 😀 名前",
    "quote\"apostrophe'back\\slash",
    "<b onmouseover=alert(1)>x",
]
BAD_KEYS = {
    f"segments/{ADV}/a/b/create/x.csv": "invalid_key",
    f"segments/{ADV}/Name/CREATE/x.csv": "invalid_action",
    "segments/../create/x.csv": "invalid_key",
    f"segments/{ADV}/../../reports/create/x.csv": "invalid_key",
    f"segments/{ADV}/Name/create/": None,  # a folder marker: skipped, no job
    f"segments/{ADV}/Tab\tname/create/x.csv": "invalid_audience_name",
    "segments/not-a-number/Name/create/x.csv": "invalid_advertiser_id",
    f"segments/{ADV}/{'n' * 200}/create/x.csv": "invalid_audience_name",
}


def test_odd_and_traversing_keys_stay_inside_their_job_and_bad_keys_get_reports(
    pipeline: Pipeline,
) -> None:
    s3 = pipeline.stack.client("s3")
    bucket = pipeline.stack.names["segments_bucket"]
    before = set(pipeline.keys(""))
    odd_keys = {}
    for i, name in enumerate(ODD_NAMES):
        key = f"segments/{ADV}/{name}/create/f i+le%20{i}.csv"
        s3.put_object(Bucket=bucket, Key=key, Body=good_file(f"odd{i}", 5)[0].encode())
        odd_keys[name] = key
    for key in BAD_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=good_file("bad", 5)[0].encode())
    expected_reports = [*odd_keys.values(), *(k for k, code in BAD_KEYS.items() if code)]
    reports = pipeline.wait_reports(expected_reports, WAIT)

    for i, (name, key) in enumerate(odd_keys.items()):
        report = reports[key]  # the key exactly as put: decoded right, nothing lost
        assert report["status"] == "succeeded", (name, report["error"])
        assert report["audience_name"] == name.strip()
        found = pipeline.emulator.state.find_audience(ADV, name.strip())
        assert found is not None, name
        assert pipeline.emulator.state.audience_hashes(found["audience_id"]) == {
            email_hash(n, f"odd{i}") for n in range(5)
        } or pipeline.emulator.state.audience_hashes(found["audience_id"]) == {
            sha256(f"odd{i}.ok{n}@example.com") for n in range(5)
        }
    for key, code in BAD_KEYS.items():
        if code is None:
            continue
        assert reports[key]["status"] == "failed", key
        assert reports[key]["error"]["code"] == code, (key, reports[key]["error"])
    written = set(pipeline.keys("")) - before
    for key in written:
        if key.startswith("segments/"):
            continue
        assert (
            REPORT_KEY.fullmatch(key) or OUTPUT_KEY.fullmatch(key) or POINTER_KEY.fullmatch(key)
        ), key
        assert ".." not in key.split("/"), key
    assert pipeline.depth("ingest_failures_queue_url") == 0


# ----------------------------------------------------------------------------- events


def mparticle(event_ids: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "events": [
            {
                "event_type": "commerce_event",
                "data": {
                    "source_message_id": event_id,
                    "timestamp_unixtime_ms": int(time.time() * 1000) - 5000,
                    "custom_flags": {"TikTok.URL": "https://shop.example.com/p"},
                    "product_action": {"action": "add_to_cart", "products": [{"id": 1}]},
                },
            }
            for event_id in event_ids
        ],
        "user_identities": {"email": "hostile.events@example.com"},
        **extra,
    }


def test_hostile_event_messages_fail_alone_and_their_neighbours_arrive_once(
    pipeline: Pipeline,
) -> None:
    good_ids: set[str] = set()
    messages: list[str] = []

    def good(n: int) -> None:
        ids = [f"hostile-good-{len(good_ids) + i}" for i in range(n)]
        good_ids.update(ids)
        messages.append(json.dumps(mparticle(ids)))

    enormous = [f"hostile-big-{i}" for i in range(1200)]  # > 1,000: two requests
    hostile = [
        "[" * 200_000 + "]" * 200_000,  # deeper than json's recursion
        json.dumps({"events": "not a list"}),
        json.dumps({"events": [1, None, "s", [], {"event_type": 7}]}),
        json.dumps({"data": {"not": "a list"}}),
        json.dumps(
            {"data": [{"event": "ViewContent", "event_time": "yesterday", "event_id": {"a": 1}}]}
        ),
        json.dumps(mparticle(["hostile-types"], user_identities=[1, 2], user_attributes="x")),
        '{"events": [{"event_type": "commerce_event", "data": {"source_message_id": "\\ud800", "timestamp_unixtime_ms": 1}}]}',
        json.dumps(
            {
                "events": [
                    {
                        "event_type": "commerce_event",
                        "data": {
                            "product_action": {
                                "action": "purchase",
                                "total_amount": "1e999",
                                "products": [{"price": "NaN", "quantity": 1e308}],
                            }
                        },
                    }
                ]
            }
        ),
    ]
    unicode_ids = ["hostile-ünï-😀-名前", "hostile-\u202eRTL", "hostile-" + "é" * 200]
    good_ids.update(unicode_ids)
    for i, bad in enumerate(hostile):
        good(20)
        messages.append(bad)
        if i == 3:
            messages.append(json.dumps(mparticle(unicode_ids)))
            messages.append(json.dumps(mparticle(enormous)))
            good_ids.update(enormous)
    good(20)

    sqs = pipeline.stack.client("sqs")
    url = pipeline.stack.names["events_queue_url"]
    for start in range(0, len(messages), 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(messages[start : start + 10])],
        )  # fmt: skip
    assert pipeline.stack.wait_idle(90)

    received = [
        r["event"]["event_id"]
        for r in pipeline.emulator.state.events
        if str(r["event"].get("event_id", "")).startswith("hostile-")
    ]
    assert set(received) == good_ids  # every neighbour, nothing from the hostile ones
    unique = {
        (r["event_source_id"], r["event"]["event"], r["event"]["event_id"])
        for r in pipeline.emulator.state.events
        if str(r["event"].get("event_id", "")).startswith("hostile-")
    }
    assert len(unique) == len(good_ids)  # once per event_id
    dead = pipeline.queue_bodies("events_dlq_url")
    assert set(dead) <= set(hostile)  # only hostile messages are given up, never a neighbour
    assert pipeline.depth("events_queue_url") == 0


# ----------------------------------------------------------------------------- OAuth pages


INJECTIONS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "x\r\nSet-Cookie: injected=1",
    "x%0d%0aSet-Cookie:%20injected=1",
    "\u202e<b>",
    "A" * 20_000,
]


@pytest.mark.parametrize("value", INJECTIONS, ids=range(len(INJECTIONS)))
@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/connect", "ticket"),
        ("/connect", "label"),
        ("/oauth/callback", "state"),
        ("/oauth/callback", "auth_code"),
        ("/oauth/callback", "error"),
        ("/oauth/callback", "error_description"),
    ],
)
def test_oauth_pages_escape_parameters_and_take_no_injected_headers(
    pipeline: Pipeline, path: str, param: str, value: str
) -> None:
    url = pipeline.stack.http_front_url + path
    query = f"{param}={quote(value, safe='')}"
    if param in ("auth_code", "error", "error_description"):
        query += "&state=" + quote(value[:100], safe="")
    response = requests.get(f"{url}?{query}&{param}={quote(value, safe='')}", timeout=30, allow_redirects=False)  # fmt: skip

    assert 400 <= response.status_code < 500, response.status_code
    assert response.headers["Content-Type"].startswith("text/html")
    for name, header in response.headers.items():
        assert "\r" not in header
        assert "\n" not in header
        assert "injected" not in header, name
    assert "injected" not in response.cookies
    body = response.text
    for raw in ("<script>alert", "<img src=x", "\u202e<b>", "onerror=alert(1)>"):
        assert raw not in body
    assert "A" * 2_000 not in body  # long input is not echoed back whole
    assert len(body) < 20_000
