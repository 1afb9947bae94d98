"""Files as people export them, from S3 to a TikTok audience in the emulator (in-process).

moto plays S3, SQS and DynamoDB; the real ingest reads the file and queues chunk messages; the
real uploader delivers them to the strict TikTok emulator. Files are built the way the tools
write them — Python's ``csv`` with the Excel dialect in cp1252 with ``;`` (Windows Excel, German
locale), JSON Lines from a warehouse mixing raw and pre-hashed keys — and the expected audience
is computed here with hashlib from the people the test made, independently of the connector.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import TemplateAws
from tests.integration.audiences.conftest import (  # noqa: F401 (fixtures)
    ADV,
    BUCKET,
    JOBS,
    World,
    emulator,
    world,
)
from tiktok_connector.segments.ingest import SegmentIngest
from tiktok_connector.segments.settings import IngestSettings


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class Person:
    name: str
    email: str
    landline: str  # as written in the file (German national format)
    mobile: str
    e164_landline: str  # digits of +E.164, TikTok's customer-file phone form
    e164_mobile: str

    def members(self) -> set[tuple[str, str]]:
        return {
            ("EMAIL_SHA256", sha256(self.email.lower())),
            ("PHONE_SHA256", sha256(self.e164_landline)),
            ("PHONE_SHA256", sha256(self.e164_mobile)),
        }


FIRST = ["Jürgen", "Anna", "Zoë", "Björn", "Günther", "Käthe", "Léa", "Søren"]
LAST = ["Müller", "Weiß", "Größ", "Schäfer", "Köhler", "Bäcker", "Dürr", "Fußmann"]


def people(start: int, stop: int) -> list[Person]:
    out = []
    for i in range(start, stop):
        landline, mobile = f"{1000000 + i}", f"{10000000 + i}"
        out.append(
            Person(
                name=f"{FIRST[i % len(FIRST)]} {LAST[i % len(LAST)]}",
                email=f"Kunde.{i}@Beispiel.de",
                landline=f"030 {landline}",
                mobile=f"0151 {mobile}",
                e164_landline=f"4930{landline}",
                e164_mobile=f"49151{mobile}",
            )
        )
    return out


def windows_excel_csv(rows: list[list[str]]) -> bytes:
    """Excel on Windows, German locale, "CSV (Trennzeichen-getrennt)": cp1252, ``;``, CRLF."""
    out = io.StringIO(newline="")
    csv.writer(out, dialect="excel", delimiter=";").writerows(rows)
    return out.getvalue().encode("cp1252")


class Pipe:
    """Drop a file in S3 and carry it through ingest and upload to the emulator."""

    def __init__(self, stage: World, template_aws: TemplateAws) -> None:
        self.world = stage
        self.sqs = template_aws.client("sqs")
        self.chunks = template_aws.queue_url("ChunkQueue")
        ranges = template_aws.queue_url("RangesQueue")
        settings = IngestSettings(
            segments_bucket=BUCKET, chunk_queue_url=self.chunks, ranges_queue_url=ranges,
            jobs_table=JOBS,
        )  # fmt: skip
        self.ingest = SegmentIngest(s3=stage.s3, sqs=self.sqs, jobs=stage.jobs, settings=settings)

    def drop(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> dict[str, Any]:
        self.world.s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata=metadata or {})
        result = self.ingest.object_created(BUCKET, key, None)
        assert result.job_id is not None
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.chunks, MaxNumberOfMessages=10)
            batch = messages.get("Messages", [])
            if not batch:
                break
            for m in batch:
                self.world.deliver_body(m["Body"])
                self.sqs.delete_message(QueueUrl=self.chunks, ReceiptHandle=m["ReceiptHandle"])
        return self.world.report(result.job_id)

    def rejects(self, report: dict[str, Any]) -> list[list[str]]:
        body = self.world.s3.get_object(Bucket=BUCKET, Key=f"rejects/{report['job_id']}.csv")
        return list(csv.reader(io.StringIO(body["Body"].read().decode())))


@pytest.fixture
def pipe(world: World, template_aws: TemplateAws) -> Pipe:  # noqa: F811
    return Pipe(world, template_aws)


def test_windows_excel_export_and_jsonl_removal_give_exactly_the_expected_audience(
    pipe: Pipe,
) -> None:
    customers = people(0, 1200)
    rows = [["Kundennummer", "Name", "E-Mail-Adresse", "Telefon", "Handy", "Notiz"]]
    rows += [
        [f"K{i:05d}", p.name, p.email, p.landline, p.mobile, "Grüße"]
        for i, p in enumerate(customers)
    ]
    rows.append(["K99999", "Ohne Daten", "keine-adresse", "1", "", ""])  # bad email and phone
    rows.append(["K99998", "Nur Handy", "kaputt@", "", customers[0].mobile, ""])  # one good id
    key = f"segments/{ADV}/Newsletter Kunden/create/Kunden Export.csv"

    created = pipe.drop(key, windows_excel_csv(rows), {"phone-region": "DE"})

    assert created["status"] == "succeeded", (created["error"], created["warnings"])
    assert created["encoding"] == {"name": "cp1252", "how": "detected"}
    assert [(c["name"], c["read_as"]) for c in created["columns"]] == [
        ("Kundennummer", "ignored"), ("Name", "ignored"), ("E-Mail-Adresse", "email"),
        ("Telefon", "phone"), ("Handy", "phone"), ("Notiz", "ignored"),
    ]  # fmt: skip
    assert created["options"]["applied"]["phone-region"] == "DE"
    assert created["options"]["from_metadata"] == ["phone-region"]
    assert created["rows"]["accepted"] == 1201
    assert created["rows"]["rejected"] == 1
    assert pipe.rejects(created)[1:] == [
        ["1202", "invalid_email", "E-Mail-Adresse", "no"],
        ["1203", "invalid_email", "E-Mail-Adresse", "yes"],  # sent for its mobile number
    ]
    audience_id = created["tiktok"]["audience_id"]
    expected = set().union(*(p.members() for p in customers))
    assert pipe.world.emu.state.audience_members(audience_id) == expected

    # A warehouse's removal list: raw and pre-hashed keys mixed, row by row.
    leaving = customers[:40]
    lines = []
    for i, p in enumerate(leaving):
        if i == 0:
            lines.append({"email": p.email, "phone": p.landline, "mobile": p.mobile})
        elif i % 2:
            lines.append(
                {"email_sha256": sha256(p.email.lower()), "phone_sha256": sha256(p.e164_landline)}
            )
        else:
            lines.append(
                {"Email": f" {p.email.upper()} ", "mobile_sha256": sha256(p.e164_mobile).upper()}
            )
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    removal = pipe.drop(
        f"segments/{ADV}/Newsletter Kunden/remove/abmeldungen.jsonl", body, {"phone-region": "DE"}
    )

    assert removal["status"] == "succeeded", (removal["error"], removal["warnings"])
    assert removal["rows"] == {
        "read": 40,
        "accepted": 40,
        "rejected": 0,
        "blank": 0,
        "duplicates": 0,
    }
    assert [(c["name"], c["read_as"], c.get("hashed")) for c in removal["columns"]] == [
        ("email", "email", None), ("phone", "phone", None), ("mobile", "phone", None),
        ("email_sha256", "email", "sha256"), ("phone_sha256", "phone", "sha256"),
        ("Email", "email", None), ("mobile_sha256", "phone", "sha256"),
    ]  # fmt: skip
    # exactly the ids the rows name leave (odd rows name no mobile, even rows no landline)
    gone = {("EMAIL_SHA256", sha256(p.email.lower())) for p in leaving}
    gone |= {("PHONE_SHA256", sha256(leaving[0].e164_landline))}
    gone |= {("PHONE_SHA256", sha256(p.e164_mobile)) for i, p in enumerate(leaving) if not i % 2}
    gone |= {("PHONE_SHA256", sha256(p.e164_landline)) for i, p in enumerate(leaving) if i % 2}
    assert pipe.world.emu.state.audience_members(audience_id) == expected - gone


def test_excel_unicode_text_utf16_with_tabs_is_read(pipe: Pipe) -> None:
    customers = people(2000, 3100)
    rows = [["Name", "E-Mail", "Mobiltelefon"]] + [[p.name, p.email, p.mobile] for p in customers]
    out = io.StringIO(newline="")
    csv.writer(out, dialect="excel-tab").writerows(rows)
    body = out.getvalue().encode("utf-16")  # Excel's "Unicode Text": UTF-16 LE with a BOM

    report = pipe.drop(
        f"segments/{ADV}/Unicode Kunden/create/export.txt", body, {"phone-region": "DE"}
    )

    assert report["status"] == "succeeded", report["error"]
    assert report["encoding"] == {"name": "utf-16-le", "how": "bom"}
    expected = {("EMAIL_SHA256", sha256(p.email.lower())) for p in customers}
    expected |= {("PHONE_SHA256", sha256(p.e164_mobile)) for p in customers}
    members = pipe.world.emu.state.audience_members(report["tiktok"]["audience_id"])
    assert members == expected


def test_a_macos_folder_name_finds_the_audience_a_windows_upload_created(pipe: Pipe) -> None:
    customers = people(4000, 5100)
    body = ("email\n" + "".join(p.email + "\n" for p in customers)).encode()
    created = pipe.drop(f"segments/{ADV}/Café Kunden/create/a.csv", body)
    assert created["status"] == "succeeded", created["error"]

    nfd = "Cafe\u0301 Kunden"  # the same name as a macOS folder sends it
    more = people(5100, 5110)
    appended = pipe.drop(
        f"segments/{ADV}/{nfd}/append/b.csv",
        ("email\n" + "".join(p.email + "\n" for p in more)).encode(),
    )

    assert appended["status"] == "succeeded", appended["error"]
    assert appended["audience_name"] == "Café Kunden"
    assert appended["tiktok"]["audience_id"] == created["tiktok"]["audience_id"]
    assert len(pipe.world.emu.state.find_audiences(ADV, "Café Kunden")) == 1


@pytest.mark.parametrize("action", ["append", "remove", "replace"])
def test_a_name_known_under_the_other_api_is_named_and_no_second_audience_is_made(
    pipe: Pipe, action: str
) -> None:
    partners = people(6000, 6020)
    body = ("email\n" + "".join(p.email + "\n" for p in partners)).encode()
    made = pipe.drop(f"segments/{ADV}/VIP/create/a.csv", body, {"audience-api": "segment"})
    assert made["status"] == "succeeded", made["error"]

    wrong = pipe.drop(f"segments/{ADV}/VIP/{action}/b.csv", body)  # audience-api defaults to file

    assert wrong["status"] == "failed"
    assert wrong["error"]["code"] == "audience_in_other_api"
    message = wrong["error"]["message"]
    assert "a partner audience of that name is" in message
    assert "audience-api=segment" in message
    assert "use replace" not in message
    assert len(pipe.world.emu.state.find_audiences(ADV, "VIP")) == 1


def test_an_unknown_name_suggests_replace_only_with_its_caveat(pipe: Pipe) -> None:
    body = b"email\na@example.com\n"
    report = pipe.drop(f"segments/{ADV}/Nobody/append/a.csv", body)
    assert report["error"]["code"] == "audience_not_found"
    assert "under either audience API" in report["error"]["message"]
    assert "not if TikTok already holds one made elsewhere" in report["error"]["message"]


def test_phones_read_in_the_wrong_region_end_succeeded_with_warnings(pipe: Pipe) -> None:
    customers = people(7000, 8100)
    rows = [["E-Mail", "Handy"]] + [[p.email, p.mobile] for p in customers]

    report = pipe.drop(f"segments/{ADV}/Ohne Region/create/k.csv", windows_excel_csv(rows))

    assert report["status"] == "succeeded_with_warnings"
    assert report["options"]["applied"]["phone-region"] == "US"
    (warning,) = report["warnings"]
    assert warning["code"] == "phone_region_assumed"
    assert "read as US numbers" in warning["message"]
    assert "set metadata phone-region" in warning["message"]
    assert report["rows"]["accepted"] == len(customers)  # the emails went
