"""Report additions (DESIGN §6b): sections, warnings from counts, ``succeeded_with_warnings``."""

from __future__ import annotations

from typing import Any

import pytest

from tiktok_connector.contract.job import JobItem
from tiktok_connector.segments.options import parse_options
from tiktok_connector.segments.reading import count_unplanned, reading_item
from tiktok_connector.segments.report import render_report as render_item
from tiktok_connector.segments.stats import RangeStats


def render_report(item: dict[str, Any]) -> dict[str, Any]:
    """The report of a job item given as its attributes, as JSON data."""
    return render_item(JobItem.model_validate(item)).as_json()


def item(
    *, status: str = "succeeded", metadata: dict[str, str] | None = None, **stats: Any
) -> dict[str, Any]:
    options = parse_options(metadata or {})
    range_stats = RangeStats(**stats)
    return {
        "job_id": "j" * 32,
        "status": status,
        "source": {"bucket": "b", "key": "k", "version_id": None},
        "phone_region": options.phone_region,
        "columns": ["EMAIL_SHA256", "PHONE_SHA256"],
        "reading": reading_item(
            encoding={"name": "cp1252", "how": "detected"},
            columns=[{"position": 1, "name": "E-Mail", "read_as": "email", "by": "name"}],
            options=options.echo(),
            warnings=options.warnings(),
        ),
        "ranges": {"0": range_stats.as_record().model_dump()},
    }


def test_a_clean_job_reports_succeeded_with_its_reading() -> None:
    report = render_report(item(read=3, accepted=3, identifiers={"email": [3, 0]}))
    assert report["status"] == "succeeded"
    assert report["encoding"] == {"name": "cp1252", "how": "detected"}
    assert report["columns"][0]["read_as"] == "email"
    assert report["options"]["applied"]["phone-region"] == "US"
    assert report["warnings"] == []


def test_unknown_option_makes_succeeded_with_warnings() -> None:
    report = render_report(item(metadata={"region": "GB"}, read=1, accepted=1))
    assert report["status"] == "succeeded_with_warnings"
    assert [w["code"] for w in report["warnings"]] == ["unknown_option"]
    assert "did you mean phone-region?" in report["warnings"][0]["message"]


@pytest.mark.parametrize("status", ["running", "failed"])
def test_other_statuses_are_left_alone(status: str) -> None:
    report = render_report(item(status=status, metadata={"region": "GB"}))
    assert report["status"] == status
    assert report["warnings"]


def test_most_phones_invalid_without_a_region_says_which_region_was_assumed() -> None:
    report = render_report(
        item(
            read=10, accepted=10, identifiers={"email": [10, 0], "phone": [3, 7]},
            findings={"invalid_phones": 7},
        )
    )  # fmt: skip
    assert report["status"] == "succeeded_with_warnings"
    (warning,) = report["warnings"]
    assert warning["code"] == "phone_region_assumed"
    assert "7 of 10 phone numbers" in warning["message"]
    assert "read as US numbers" in warning["message"]
    assert "phone-region=GB" in warning["message"]


def test_no_region_warning_when_the_file_set_one_or_most_phones_were_fine() -> None:
    given = item(
        metadata={"phone-region": "DE"}, read=10, accepted=10, identifiers={"phone": [3, 7]},
        findings={"invalid_phones": 7},
    )  # fmt: skip
    assert render_report(given)["warnings"] == []
    mostly_fine = item(
        read=10, accepted=10, identifiers={"phone": [7, 3]}, findings={"invalid_phones": 3}
    )
    assert render_report(mostly_fine)["warnings"] == []


def test_counts_found_by_ranges_become_warnings() -> None:
    findings: dict[str, int] = {"substituted_bytes": 2}
    count_unplanned(findings, "phone")
    count_unplanned(findings, "phone")
    report = render_report(item(read=1, accepted=1, findings=findings))
    codes = [w["code"] for w in report["warnings"]]
    assert codes == ["not_utf8_bytes", "column_not_planned"]
    assert "2 byte(s)" in report["warnings"][0]["message"]
    assert "2 value(s) under key 'phone'" in report["warnings"][1]["message"]
    assert "EMAIL_SHA256, PHONE_SHA256" in report["warnings"][1]["message"]


def test_unplanned_keys_are_counted_in_bounded_space() -> None:
    findings: dict[str, int] = {}
    for i in range(50):
        count_unplanned(findings, f"email{i}")
    assert len(findings) == 11
    assert findings["unplanned:(other keys)"] == 40


def test_a_job_item_from_before_reading_renders_without_the_sections() -> None:
    old = item(read=1, accepted=1)
    del old["reading"]
    report = render_report(old)
    assert report["status"] == "succeeded"
    assert (report["encoding"], report["columns"], report["options"], report["warnings"]) == (
        None, [], None, [],
    )  # fmt: skip
