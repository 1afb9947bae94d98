"""Every table the CLI prints fits an 80-column terminal and cuts no value: ids, counts and times
are whole on one line, names wrap (never to nothing), and rich's ellipsis never appears."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console

from tiktok_connector.events.delivery import MESSAGES, DeliveryReport
from tiktok_connector_cli import views
from tiktok_connector_cli.audiences import AudienceListing, AudienceRow, TikTokAudience
from tiktok_connector_cli.connections import ConnectionCheck
from tiktok_connector_cli.dlq import DeadLetter, Depth
from tiktok_connector_cli.jobs import JobRow, JobView, Rejects
from tiktok_connector_cli.render import compact, table

NOW = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
AUDIENCE_ID = "7391234567890123456"
ADV = "7100000000000000001"
LONG_NAME = "Customers who bought twice in the spring sale campaign"


def render(items: Any, width: int = 80) -> list[str]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=False, color_system=None)
    for item in items if isinstance(items, list) else [items]:
        console.print(item)
    return buffer.getvalue().splitlines()


def assert_fits(lines: list[str], *whole: str) -> None:
    too_wide = [line for line in lines if len(line) > 80]
    assert not too_wide, too_wide
    text = "\n".join(lines)
    assert "…" not in text  # rich's truncation mark
    for value in whole:
        assert any(value in line for line in lines), (value, text)


def words_present(lines: list[str], phrase: str) -> bool:
    """A wrapped phrase: each of its words is somewhere, in order (columns interleave lines)."""
    text = " ".join(lines)
    return all(word in text for word in phrase.split())


def job(**overrides: Any) -> JobRow:
    values: dict[str, Any] = {
        "job_id": "0123456789abcdef0123456789abcdef",
        "key": f"segments/{ADV}/{LONG_NAME}/replace/customers-2026-11-20-export.csv.gz",
        "advertiser_id": ADV,
        "audience_name": LONG_NAME,
        "action": "replace",
        "status": "succeeded",
        "read": 9_876_543,
        "accepted": 9_876_000,
        "rejected": 543,
        "chunks_done": 20,
        "chunks_total": 20,
        "audience_id": AUDIENCE_ID,
        "started_at": (NOW - timedelta(hours=3)).isoformat(),
        "error_code": None,
    }
    values.update(overrides)
    return JobRow(**values)


def test_the_jobs_table_fits_with_long_names_and_millions_of_rows() -> None:
    rows = [
        job(),
        job(status="failed", audience_id=None, error_code="audience_not_found", read=12),
        job(status="running", read=123_456_789, accepted=123_000_000, rejected=456_789),
    ]
    lines = render(views.jobs_by_advertiser(rows, now=NOW))
    assert_fits(
        lines,
        AUDIENCE_ID,
        "9,876,543",
        "9,876,000",
        "123M",
        "457k" if False else "456,789",
        "audience_not_found",
        "succeeded",
        "running",
        "20/20",
        "3h",
    )
    assert words_present(lines, LONG_NAME)
    assert any("customers-2026-11-20-export" in line or "customers-2026" in line for line in lines)


def test_a_key_outside_segments_shows_whole() -> None:
    lines = render(views.jobs_table([job(key="uploads/x.csv", audience_name=None)], now=NOW))
    assert_fits(lines, "uploads/x.csv")


def test_compact_numbers_stay_exact_below_ten_million() -> None:
    assert compact(9_999_999) == "9,999,999"
    assert compact(10_000_000) == "10M"
    assert compact(123_456_789) == "123M"
    assert compact(1_234_567_890) == "1.23B"
    assert compact(0) == "0"


def test_job_details_fit_and_show_every_report_field() -> None:
    report = {
        "job_id": "0123456789abcdef0123456789abcdef",
        "source": {
            "bucket": "tiktok-connector-segments-123456789012",
            "key": f"segments/{ADV}/{LONG_NAME}/append/file.csv",
            "version_id": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
        },
        "advertiser_id": ADV,
        "audience_name": LONG_NAME,
        "action": "append",
        "api": "file",
        "status": "failed",
        "rows": {"read": 1200, "accepted": 1100, "rejected": 100, "blank": 2, "duplicates": 3},
        "identifiers": {
            "email": {"accepted": 1100, "rejected": 60},
            "phone": {"accepted": 0, "rejected": 40},
        },
        "rejected_by_reason": {"invalid_email": 60, "invalid_phone": 40},
        "chunks": {"total": 1, "done": 1},
        "tiktok": {
            "audience_id": AUDIENCE_ID,
            "file_paths": [f"dmp/{ADV}/{i:032x}.csv" for i in range(5)],
            "request_ids": ["202611201430000000011A2B3C4D5E"],
        },
        "error": {
            "code": "40002",
            "message": "APPEND would leave the audience with 900 members",
            "request_id": "202611201430000000011A2B3C4D5F",
        },
        "started_at": "2026-11-20T14:00:00.000Z",
        "finished_at": "2026-11-20T14:02:05.000Z",
    }
    rejects = Rejects(
        rows=[("7", "invalid_email", "email"), ("12", "invalid_phone", "phone")], more=True
    )
    lines = render(views.job_details(JobView(report), rejects, rejects_wanted=2))
    assert_fits(
        lines,
        "0123456789abcdef0123456789abcdef",
        "failed",
        AUDIENCE_ID,
        "202611201430000000011A2B3C4D5E",
        "invalid_email",
        "(2m 5s)",
        "and 2 more (--json lists all)",
    )
    text = " ".join(lines)
    for word in ("read 1,200", "accepted 1,100", "rejected 100", "40002", "900 members"):
        assert word in text


def test_the_audiences_table_fits() -> None:
    tiktok = TikTokAudience(
        audience_id=AUDIENCE_ID,
        cover_num=123_456_789,
        is_valid=False,
        is_expiring=True,
        expired_time="2027-11-20 14:00:00",
        last_action="APPEND",
        last_change="2026-11-20 12:30:00",
        message="",
    )
    listing = AudienceListing(
        rows=[
            AudienceRow(ADV, LONG_NAME, "segment", "ready", AUDIENCE_ID, 0.0, tiktok),
            AudienceRow(ADV, "Buyers", "file", "creating", None, NOW.timestamp() - 60),
        ],
        problems={},
        audience_problems={},
        staging=1,
    )
    lines = render(views.audiences_tables(listing, now=NOW))
    assert_fits(lines, AUDIENCE_ID, "123M", "2027-11-20", "2h APPEND", "segment", "no")
    assert "soon" in " ".join(lines)  # is_expiring
    assert words_present(lines, LONG_NAME)


def test_the_events_tables_fit() -> None:
    report = DeliveryReport(since=NOW - timedelta(days=1), until=NOW)
    long_event = "custom_event:" + "Newsletter signup from the footer form of the web shop"
    event_id = "6004677780660780003"
    report.add(
        {
            "connection": "shop-eu-production",
            "event": "CompletePayment",
            "hour": "2026-11-20T13:00:00Z",
            "sent": 1_234_567,
            "failed": 12,
            "refused": 3,
            "drop_missing_page_url": 4_567,
            "last_drop_missing_page_url": event_id,
        }
    )
    report.add(
        {
            "connection": "shop-eu-production",
            "event": long_event,
            "hour": "2026-11-20T13:00:00Z",
            "drop_unsupported_event": 99,
            "last_drop_unsupported_event": "3199bfe9-1e3d-45cc-8fa6-40979529f33f/12",
        }
    )
    report.add(
        {
            "connection": "shop-eu-production",
            "event": MESSAGES,
            "hour": "2026-11-20T13:00:00Z",
            "dlq_tiktok_permission_denied": 2,
            "last_dlq_tiktok_permission_denied": "270b05a9-549f-493c-a7d9-d1f9f12ba2a6",
            "left_out_currency:unsupported_currency": 7,
        }
    )
    lines = render(views.events_tables(report))
    assert_fits(
        lines,
        "1,234,567",
        "4,567",
        event_id,
        "3199bfe9-1e3d-45cc-8fa6-40979529f33f/12",
        "270b05a9-549f-493c-a7d9-d1f9f12ba2a6",
        "CompletePayment",
        "missing_page_url",
    )
    text = " ".join(lines)
    assert "tiktok_permission_denied" in text
    assert "unsupported_currency" in text
    assert "failed: TikTok did not take the request for now" in text
    assert words_present(lines, long_event.replace(":", " "))


def test_the_dead_letter_tables_fit() -> None:
    letters = [
        DeadLetter(
            message_id="m1",
            original_message_id="m1",
            copies=2,
            reason="tiktok_permission_denied",
            detail="No permission to operate pixel code: CDEMOPIXEL000000000A. You must be an admin or operator of this advertiser account.",
            connection="shop-eu-production",
            tiktok_code="40001",
            tiktok_request_id="202611201430000000011A2B3C4D5E",
            failed_at="2026-11-20T14:20:00Z",
        ),
        DeadLetter(
            message_id="m2",
            original_message_id="m2",
            receive_count=6,
            sent_at=NOW.timestamp() - 7200,
            summary="mParticle batch, 3 event(s)",
        ),
    ]
    lines = render(views.dead_letters_table("events", letters, now=NOW))
    assert_fits(lines, "10m", "2h", "tiktok_permission_denied", "after 6 receives")
    assert words_present(lines, "TikTok 40001: No permission to operate pixel code")
    summary = render(
        views.dlq_summary(
            [
                ("events", "tiktok-connector-production-events-dlq", Depth(12_345, 6, 0), ""),
                ("ingest-failures", "-", None, "the stack has no IngestFailuresQueueUrl"),
            ]
        )
    )
    assert_fits(summary, "12,345", "ingest-failures")
    chunks = render(
        views.dead_letters_table(
            "chunks",
            [
                DeadLetter(
                    "m",
                    "m",
                    receive_count=5,
                    sent_at=NOW.timestamp(),
                    summary="chunk, job 0123456789abcdef0123456789abcdef, 0000-00001.csv",
                )
            ],
            now=NOW,
        )
    )
    assert_fits(chunks, "0123456789abcdef0123456789abcdef")


def test_the_connection_views_fit_and_hold_no_token() -> None:
    from tiktok_connector.events.settings import ConnectionSettings

    settings = ConnectionSettings.model_validate(
        {
            "access_token": "tok-very-secret",
            "event_source_type": "app",
            "event_source_id": "7200000000000000001",
            "custom_mappings": [
                {
                    "event_type": "custom_event",
                    "event_name": "Newsletter signup",
                    "tiktok_event": "Subscribe",
                }
            ],
        }
    )
    good = ConnectionCheck(
        "shop-eu-production", "tiktok-connector/connections/shop", settings, has_token=True
    )
    bad = ConnectionCheck(
        "broken",
        "tiktok-connector/connections/broken",
        problems=["enrich_ip: Input should be a valid boolean", "pixel: unknown setting"],
        has_token=True,
        keys=["access_token", "enrich_ip", "pixel"],
    )
    lines = render(
        views.connections_table([good, bad])
        + views.connection_details(good)
        + views.connection_details(bad)
    )
    assert_fits(lines, "7200000000000000001", "invalid", "set (not shown)")
    text = " ".join(lines)
    assert "tok-very-secret" not in text
    assert "pixel: unknown setting" in text
    assert "custom_event Newsletter signup → Subscribe" in text


@pytest.mark.parametrize("width", [80, 100])
def test_tables_never_exceed_the_terminal(width: int) -> None:
    t = table("a=", "b", "c#")
    t.add_row("x" * 30, "word " * 40, "1,234,567")
    assert all(len(line) <= width for line in render(t, width))


def test_a_title_never_wraps() -> None:
    t = table("n#", title="rejected rows by reason")
    t.add_row("1")
    assert render(t)[0].strip() == "rejected rows by reason"


def test_ages_and_times() -> None:
    from tiktok_connector_cli.render import age, parse_time

    assert age(NOW - timedelta(seconds=40), NOW) == "40s"
    assert age(NOW - timedelta(minutes=12), NOW) == "12m"
    assert age(NOW - timedelta(hours=3, minutes=59), NOW) == "3h"
    assert age(NOW - timedelta(days=5), NOW) == "5d"
    assert age(None, NOW) == "-"
    assert parse_time("2026-11-20 14:00:00") == datetime(2026, 11, 20, 14, tzinfo=UTC)
    assert parse_time("2026-11-20T14:00:00.000Z") == datetime(2026, 11, 20, 14, tzinfo=UTC)
    assert parse_time("soon") is None
    assert re.fullmatch(r"\d+[smhd]", age(NOW - timedelta(days=400), NOW))


def test_the_audience_size_row_fits_and_says_why_a_size_is_unknown() -> None:
    base = {
        "job_id": "0123456789abcdef0123456789abcdef",
        "source": {"bucket": "b", "key": f"segments/{ADV}/{LONG_NAME}/create/f.csv"},
        "status": "succeeded",
        "rows": {"read": 1, "accepted": 1, "rejected": 0},
        "chunks": {"total": 1, "done": 1},
    }
    checked = "2026-11-20T14:02:06Z"
    sized = {
        **base,
        "tiktok": {
            "audience_id": AUDIENCE_ID,
            "audience_size": 1_234_567,
            "is_valid": False,
            "status_checked_at": checked,
        },
    }
    text = " ".join(render(views.job_details(JobView(sized), None, rejects_wanted=0)))
    assert_fits(render(views.job_details(JobView(sized), None, rejects_wanted=0)))
    assert "1,234,567 matched" in text
    assert "TikTok still computing it" in text.replace("  ", " ")

    reason = "TikTok answered 40001: " + "No permission to operate the audience. " * 3
    unknown = {
        **base,
        "tiktok": {
            "audience_id": AUDIENCE_ID,
            "audience_size": None,
            "status_checked_at": checked,
            "size_unknown_reason": reason,
        },
    }
    lines = render(views.job_details(JobView(unknown), None, rejects_wanted=0))
    assert_fits(lines, "unknown: TikTok answered 40001")
    assert "No permission" in " ".join(lines)
    never = {**base, "tiktok": {"audience_id": AUDIENCE_ID}}  # a report from before sizes
    assert "audience size" not in " ".join(
        render(views.job_details(JobView(never), None, rejects_wanted=0))
    )


def test_a_sync_job_line_shows_its_difference_and_fits() -> None:
    rows = [
        job(action="sync", changes=(5_123_456, 3_000_001, 96_876_543)),
        job(action="sync", changes=None, status="running", audience_id=None),  # still diffing
        job(),  # not a sync: no difference line
    ]
    lines = render(views.jobs_by_advertiser(rows, now=NOW))
    assert_fits(lines, "+5,123,456", "−3,000,001", "=96.9M")  # each whole, though the cell wraps
    assert sum("−" in line for line in lines) == 1


def test_sync_details_list_changes_per_type_and_the_synced_state() -> None:
    report = {
        "job_id": "0123456789abcdef0123456789abcdef",
        "source": {"bucket": "b", "key": f"segments/{ADV}/{LONG_NAME}/sync/all.csv"},
        "advertiser_id": ADV,
        "audience_name": LONG_NAME,
        "action": "sync",
        "api": "file",
        "status": "succeeded",
        "rows": {"read": 2100, "accepted": 2100, "rejected": 0, "blank": 0, "duplicates": 0},
        "chunks": {"total": 2, "done": 2},
        "tiktok": {"audience_id": AUDIENCE_ID, "file_paths": [], "request_ids": []},
        "error": None,
        "changes": {
            "EMAIL_SHA256": {"added": 100, "removed": 60, "unchanged": 1900},
            "PHONE_SHA256": {"added": 0, "removed": 1, "unchanged": 100},
        },
        "sync": {
            "previous_generation": "fedcba9876543210fedcba9876543210",
            "reconciled_generations": [],
            "members": 2100,
            "committed": True,
        },
    }
    lines = render(views.job_details(JobView(report), None, rejects_wanted=0))
    assert_fits(
        lines,
        "EMAIL_SHA256: +100 −60 =1,900",
        "PHONE_SHA256: +0 −1 =100",
        "fedcba9876543210fedcba9876543210",
        "members after: 2,100",
        "synced state: this file",
    )


def test_the_audiences_table_marks_synced_audiences() -> None:
    listing = AudienceListing(
        rows=[
            AudienceRow(ADV, "Daily", "file", "ready", AUDIENCE_ID, 0.0, sync="synced"),
            AudienceRow(ADV, "Stream", "segment", "creating", None, 0.0, sync="syncing"),
            AudienceRow(ADV, "Plain", "file", "ready", "7391234567890123457", 0.0),
        ]
    )
    lines = render(views.audiences_tables(listing, now=NOW))
    assert_fits(lines, "Daily (synced)")
    assert words_present(lines, "Stream (creating, syncing)")
    assert any(line.startswith("Plain ") or " Plain " in line for line in lines)
    assert not any("Plain (" in line for line in lines)
