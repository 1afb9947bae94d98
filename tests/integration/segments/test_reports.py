"""What a report says about how a file was read: columns, options, encoding, warnings, and the
sentence for a file we do not read (against moto, ingest only)."""

from __future__ import annotations

import io
from pathlib import Path

from openpyxl import Workbook

from .conftest import Harness

ADV = "7100000000000000001"


def xlsx() -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["E-Mail", "Telefon"])
    sheet.append(["a@example.com", "+49 30 1234567"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_excel_workbook_is_refused_with_what_to_send_and_a_rejects_file(
    harness: Harness,
) -> None:
    result = harness.drop(f"segments/{ADV}/Kunden/create/Kunden.xlsx", xlsx())
    report = harness.report(result.job_id or "")
    assert report["status"] == "failed"
    assert report["error"]["code"] == "unsupported_format"
    assert report["error"]["message"] == (
        "the file is an Excel workbook (XLSX): save it from Excel as 'CSV UTF-8 (Comma "
        "delimited)' and upload that file"
    )
    assert harness.rejects(result.job_id or "") == [["line", "reason", "column", "partial"]]
    assert report["options"]["applied"]["audience-api"] == "file"
    assert harness.chunk_messages() == []


def test_a_parquet_export_is_refused_by_name(harness: Harness) -> None:
    body = b"PAR1\x15\x04\x15\x10\x15\x14L\x15\x02\x15\x00\x12\x00\x00" + bytes(64) + b"PAR1"
    result = harness.drop(f"segments/{ADV}/W/create/part-0000.parquet", body)
    report = harness.report(result.job_id or "")
    assert report["error"]["code"] == "unsupported_format"
    assert report["error"]["message"].startswith("the file is a Parquet file: export it as CSV")


def test_unknown_and_misspelt_options_are_echoed_and_warned(harness: Harness) -> None:
    result = harness.drop(
        f"segments/{ADV}/O/create/a.csv",
        "email\na@example.com\n",
        {"region": "GB", "retention-days": "30", "mtime": "1700000000"},
    )
    report = harness.report(result.job_id or "")
    assert report["options"] == {
        "applied": {
            "audience-api": "file", "retention-days": 30, "phone-region": "US", "id-type": None,
            "maid-hash": "sha256", "encoding": None, "columns": None,
        },
        "from_metadata": ["retention-days"],
        "unknown": [
            {"key": "region", "hint": "did you mean phone-region?"},
            {"key": "mtime", "hint": "written by file-sync tools, not meant for this connector"},
        ],
    }  # fmt: skip
    assert [w["code"] for w in report["warnings"]] == ["unknown_option"]


def test_uk_is_refused_with_gb_suggested_and_the_refusal_echoes_what_was_read(
    harness: Harness,
) -> None:
    result = harness.drop(
        f"segments/{ADV}/O/create/b.csv", "phone\n07700 900123\n", {"phone-region": "UK"}
    )
    report = harness.report(result.job_id or "")
    assert report["status"] == "failed"
    assert report["error"]["code"] == "invalid_option"
    assert report["error"]["message"].endswith("did you mean GB?")
    assert harness.rejects(result.job_id or "") == [["line", "reason", "column", "partial"]]


def test_columns_option_and_the_columns_section(harness: Harness) -> None:
    body = (
        "Kundennummer;Kontakt;Mobil;Fax;Privat\r\n"
        "100234;x@example.de;0151 23456789;030 1111111;y@example.de\r\n"
        "100235;z@example.de;0151 23456790;030 1111112;w@example.de\r\n"
    ).encode("cp1252")
    result = harness.drop(
        f"segments/{ADV}/C/create/c.csv", body,
        {"columns": "Kontakt=email;Fax=ignore", "phone-region": "DE", "id-type": "email"},
    )  # fmt: skip
    report = harness.report(result.job_id or "")
    assert report["error"] is None
    assert report["columns"] == [
        {"position": 1, "name": "Kundennummer", "read_as": "ignored"},
        {"position": 2, "name": "Kontakt", "read_as": "email", "by": "option"},
        {"position": 3, "name": "Mobil", "read_as": "phone", "by": "name"},
        {"position": 4, "name": "Fax", "read_as": "ignored", "by": "option"},
        {"position": 5, "name": "Privat", "read_as": "ignored"},
    ]
    codes = [w["code"] for w in report["warnings"]]
    assert codes == ["unused_identifier_column", "id_type_option_unused"]
    assert "'Privat'" in report["warnings"][0]["message"]
    assert report["encoding"] == {"name": "utf-8", "how": "utf-8"}  # ASCII only: read as UTF-8
    assert report["identifiers"] == {
        "email": {"accepted": 2, "rejected": 0}, "phone": {"accepted": 2, "rejected": 0},
    }  # fmt: skip


def test_retention_days_on_an_append_is_reported_as_not_applied(harness: Harness) -> None:
    result = harness.drop(
        f"segments/{ADV}/R/append/a.csv", "email\na@example.com\n", {"retention-days": "30"}
    )
    report = harness.report(result.job_id or "")
    assert [w["code"] for w in report["warnings"]] == ["retention_days_unused"]


SAMPLES = Path(__file__).resolve().parents[3] / "events" / "samples"


def test_the_readme_samples_read_as_documented(harness: Harness) -> None:
    excel = harness.drop(
        f"segments/{ADV}/Kunden/create/kunden.csv",
        (SAMPLES / "kunden-excel-windows.csv").read_bytes(),
        {"phone-region": "DE"},
    )
    report = harness.report(excel.job_id or "")
    assert report["encoding"] == {"name": "cp1252", "how": "detected"}
    assert [c["read_as"] for c in report["columns"]] == [
        "ignored", "ignored", "email", "phone", "phone", "ignored",
    ]  # fmt: skip
    assert report["rows"]["accepted"] == 5
    assert report["rejected_by_reason"] == {"invalid_email": 1}
    assert report["warnings"] == []
    removal = harness.drop(
        f"segments/{ADV}/Kunden/remove/abmeldungen.jsonl",
        (SAMPLES / "abmeldungen.jsonl").read_bytes(),
        {"phone-region": "DE"},
    )
    report = harness.report(removal.job_id or "")
    assert report["rows"] == {"read": 4, "accepted": 4, "rejected": 0, "blank": 0, "duplicates": 0}
    assert report["warnings"] == []
