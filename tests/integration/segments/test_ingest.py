"""Segment ingest end to end against moto: formats, broken rows, bad files, keys, idempotency."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from pydantic import ValidationError

from tests.conftest import sqs_record
from tiktok_connector.contract.job import job_id_for
from tiktok_connector.contract.messages import RangeMessage
from tiktok_connector.contract.queues import RangesQueueRecord, poison_reason
from tiktok_connector.identity import HashAlg, IdType, hash_identifier, md5_hex, sha256_hex

from .conftest import BUCKET, Harness

ADV = "7100000000000000001"


def email(v: str) -> str:
    return sha256_hex(v.strip().lower())


def phone(v: str, region: str = "US") -> str:
    h = hash_identifier(IdType.PHONE, v, phone_region=region)
    assert isinstance(h, str)
    return h


def maid(v: str, alg: str = "sha256") -> str:
    h = hash_identifier(IdType.MAID, v, alg=HashAlg(alg))
    assert isinstance(h, str)
    return h


def assert_accounting(h: Harness, job_id: str) -> dict[str, Any]:
    """The invariants every report keeps (DESIGN §3.7)."""
    report = h.report(job_id)
    rows = report["rows"]
    assert rows["read"] == rows["accepted"] + rows["rejected"]
    assert sum(report["rejected_by_reason"].values()) == rows["rejected"]
    rejects = h.rejects(job_id)
    assert rejects[0] == ["line", "reason", "column", "partial"]
    assert sum(1 for r in rejects[1:] if r[3] == "no") == rows["rejected"]
    return report


# ---------------------------------------------------------------------------- formats


def test_csv_with_aliases_bom_crlf_and_quotes(harness: Harness) -> None:
    body = (
        "\ufeffCustomer,Email Address,Mobile\r\n"
        '"Doe, Jane",Jane@Example.com,"+1 (212) 555-0100"\r\n'
        '"Roe, Rick",rick@example.org,\r\n'
    )
    result = harness.drop(f"segments/{ADV}/Buyers/create/crm.csv", body)
    header, rows = harness.chunk_rows(harness.chunk_messages())
    assert header == "EMAIL_SHA256,PHONE_SHA256"
    assert rows == [
        f"{email('jane@example.com')},{phone('+1 (212) 555-0100')}",
        f"{email('rick@example.org')},",
    ]
    report = assert_accounting(harness, result.job_id or "")
    assert report["status"] == "running"
    assert report["identifiers"] == {
        "email": {"accepted": 2, "rejected": 0},
        "phone": {"accepted": 1, "rejected": 0},
    }
    item = harness.jobs.get(result.job_id or "")
    assert item is not None
    assert item.calculate_type == "MULTIPLE_TYPES"
    assert item.columns == ["EMAIL_SHA256", "PHONE_SHA256"]


def test_tsv_and_semicolon_csv(harness: Harness) -> None:
    r1 = harness.drop(f"segments/{ADV}/T/append/x.tsv", "name\tphone_number\nA\t2125550100\n")
    r2 = harness.drop(f"segments/{ADV}/S/append/x.csv", "email;name\na@b.co;A\n")
    msgs = harness.chunk_messages()
    by_job = {m["job_id"]: m for m in msgs}
    assert harness.chunk_rows([by_job[r1.job_id or ""]]) == (
        "PHONE_SHA256",
        [phone("2125550100")],
    )
    assert harness.chunk_rows([by_job[r2.job_id or ""]]) == ("EMAIL_SHA256", [email("a@b.co")])


def test_txt_one_id_per_line_typed_by_shape(harness: Harness) -> None:
    idfa = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
    body = f"a@b.co\n(212) 555-0100\n{idfa}\n\n{'a' * 64}\n"
    result = harness.drop(f"segments/{ADV}/Mixed/create/ids.txt", body)
    header, rows = harness.chunk_rows(harness.chunk_messages())
    assert header == "EMAIL_SHA256,PHONE_SHA256,MAID_SHA256"
    assert rows == [f"{email('a@b.co')},,", f",{phone('2125550100')},", f",,{maid(idfa)}"]
    report = assert_accounting(harness, result.job_id or "")
    assert report["rows"] == {
        "read": 4, "accepted": 3, "rejected": 1, "blank": 1, "duplicates": 0,
    }  # fmt: skip
    assert report["rejected_by_reason"] == {"ambiguous_hash": 1}


def test_txt_with_id_type_metadata_passes_hashes_through(harness: Harness) -> None:
    hashed = sha256_hex("x@y.co").upper()
    body = f"{hashed}\nz@y.co\n"
    harness.drop(f"segments/{ADV}/E/create/e.txt", body, {"id-type": "email"})
    _, rows = harness.chunk_rows(harness.chunk_messages())
    assert rows == [hashed.lower(), email("z@y.co")]


def test_md5_maids_by_metadata(harness: Harness) -> None:
    gaid = "38400000-8cf0-11bd-b23e-10b96e40000d"
    harness.drop(f"segments/{ADV}/G/create/g.csv", f"gaid\n{gaid}\n", {"maid-hash": "md5"})
    assert harness.chunk_rows(harness.chunk_messages()) == ("GAID_MD5", [md5_hex(gaid)])


def test_jsonl(harness: Harness) -> None:
    body = (
        '{"email": "a@b.co", "phone": 2125550100, "x": 1}\n'
        "\n"
        '{"email": "c@d.co"}\n'
        "not json\n"
        '{"email": ["list"], "phone": null}\n'
        "[1, 2]\n"
    )
    result = harness.drop(f"segments/{ADV}/J/create/users.jsonl", body)
    header, rows = harness.chunk_rows(harness.chunk_messages())
    assert header == "EMAIL_SHA256,PHONE_SHA256"
    assert rows == [f"{email('a@b.co')},{phone('2125550100')}", f"{email('c@d.co')},"]
    report = assert_accounting(harness, result.job_id or "")
    assert report["rows"]["blank"] == 1
    assert report["rejected_by_reason"] == {"malformed_row": 2, "invalid_value": 1}


def test_gzip_file(harness: Harness) -> None:
    body = gzip.compress(b"email\n" + b"".join(f"u{i}@x.co\n".encode() for i in range(500)))
    result = harness.drop(f"segments/{ADV}/Z/create/list.csv.gz", body)
    _, rows = harness.chunk_rows(harness.chunk_messages())
    assert rows == [email(f"u{i}@x.co") for i in range(500)]
    assert assert_accounting(harness, result.job_id or "")["rows"]["accepted"] == 500


# ---------------------------------------------------------------------------- broken rows


BROKEN = "\r\n".join(
    [
        "email,phone,idfa_sha256,idfa,name",  # 1 header
        "a@b.co,+12125550100,,,ok",  # 2 accepted (email + phone)
        "not-an-email,,,,x",  # 3 rejected invalid_email
        ",123,,,x",  # 4 rejected invalid_phone
        "bad,+12125550101,,,x",  # 5 accepted (phone), one email value rejected
        ",,,,only a name",  # 6 rejected no_identifier
        "",  # 7 blank
        ",,,,",  # 8 blank (only delimiters)
        "c@d.co",  # 9 ragged short row: accepted
        "e@f.co,,,,x,extra,cells",  # 10 ragged long row: accepted
        "a@b.co,+12125550100,,,dup",  # 11 duplicate of line 2
        ",,raw-not-hash,,x",  # 12 rejected not_a_hash
        f",,,{'0' * 8}-0000-0000-0000-{'0' * 12},x",  # 13 rejected zeroed_maid
        ",,,not-a-uuid,x",  # 14 rejected invalid_maid
        f",,{md5_hex('x')},,x",  # 15 rejected hash_type_mismatch (md5 in a sha256 column)
        '"g@h.co",,,,"Doe, ""J"""',  # 16 quoted fields: accepted
        '"unterminated@x.co,,,,x',  # 17 stray quote: its own row only (accepted)
        "   ",  # 18 blank (whitespace)
        "i@j.co,,,,x",  # 19 accepted after the stray quote
    ]
)


def test_every_kind_of_broken_row_is_counted_exactly(harness: Harness) -> None:
    result = harness.drop(f"segments/{ADV}/Broken/create/broken.csv", BROKEN + "\r\n")
    report = assert_accounting(harness, result.job_id or "")
    assert report["rejected_by_reason"] == {
        "invalid_email": 1,
        "invalid_phone": 1,
        "no_identifier": 1,
        "not_a_hash": 1,
        "zeroed_maid": 1,
        "invalid_maid": 1,
        "hash_type_mismatch": 1,
    }
    assert report["rows"] == {
        "read": 15, "accepted": 8, "rejected": 7, "blank": 3, "duplicates": 1,
    }  # fmt: skip
    assert report["identifiers"]["email"] == {"accepted": 7, "rejected": 2}
    assert report["identifiers"]["phone"] == {"accepted": 3, "rejected": 1}
    rejects = harness.rejects(result.job_id or "")[1:]
    # line 5 was sent for its phone; its bad email still has a line, marked partial
    assert [int(r[0]) for r in rejects] == [3, 4, 5, 6, 12, 13, 14, 15]
    assert rejects[0] == ["3", "invalid_email", "email", "no"]
    assert rejects[1] == ["4", "invalid_phone", "phone", "no"]
    assert rejects[2] == ["5", "invalid_email", "email", "yes"]
    assert rejects[4][2] == "idfa_sha256"
    _, rows = harness.chunk_rows(harness.chunk_messages())
    assert len(rows) == report["rows"]["accepted"] - report["rows"]["duplicates"]
    assert f"{email('g@h.co')},,," in rows
    assert f"{email('i@j.co')},,," in rows
    raw = "\n".join(rows) + "".join(",".join(r) for r in harness.rejects(result.job_id or ""))
    for pii in ("a@b.co", "2125550100", "not-an-email", "raw-not-hash"):
        assert pii not in raw


def test_rejects_file_neutralises_formula_headers(harness: Harness) -> None:
    result = harness.drop(f"segments/{ADV}/F/create/f.csv", "=cmd|' /C calc'!A0 email\nnope\n")
    # the header folds to an email alias? no: it is not one, so the file has no id column
    assert harness.report(result.job_id or "")["error"]["code"] == "no_id_column"
    result = harness.drop(f"segments/{ADV}/F/create/g.csv", "@email\nnope\n")
    rejects = harness.rejects(result.job_id or "")
    assert rejects[1] == ["2", "invalid_email", "'@email", "no"]


# ---------------------------------------------------------------------------- unreadable files


@pytest.mark.parametrize(
    ("name", "body", "code"),
    [
        ("list.csv.gz", b"email\na@b.co\n", "not_gzip"),
        ("list.csv", "email\na@b.co\n".encode("utf-32"), "unsupported_encoding"),
        ("list.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary_file"),
        ("list.csv", b"customer,name\n1,2\n", "no_id_column"),
        ("list.csv", b"", "empty_file"),
        ("list.csv", b"\n\n\n", "empty_file"),
        ("list.json", b'[{"email": "a@b.co"}]\n', "invalid_format"),
        ("list.csv", b"email\nnot-an-email\n", "no_valid_rows"),
    ],
)
def test_unreadable_file_gives_failed_report_without_retry(
    harness: Harness, name: str, body: bytes, code: str
) -> None:
    result = harness.drop(f"segments/{ADV}/Bad/create/{name}", body)
    assert result.status == "failed"
    report = harness.report(result.job_id or "")
    assert report["status"] == "failed"
    assert report["error"]["code"] == code
    assert report["error"]["message"]
    assert report["finished_at"]
    assert [m for m in harness.chunk_messages() if m["type"] == "chunk"] == []


def test_invalid_utf8_late_in_a_declared_utf8_file_fails_naming_line_and_byte(
    harness: Harness,
) -> None:
    body = b"email\n" + b"a@b.co\n" * 20_000 + b"\xff@x.co\n"
    result = harness.drop(f"segments/{ADV}/Late/create/list.csv", body, {"encoding": "utf-8"})
    report = harness.report(result.job_id or "")
    assert report["error"]["code"] == "undecodable"
    assert "line 20002 (byte offset 140006)" in report["error"]["message"]
    assert "utf-8" in report["error"]["message"]
    assert harness.rejects(result.job_id or "") == [["line", "reason", "column", "partial"]]
    assert harness.chunk_messages() == []


def test_a_cp1252_byte_after_a_utf8_head_is_read_as_cp1252_with_a_warning(
    harness: Harness,
) -> None:
    # the first 64 KiB are plain ASCII: the file looks like UTF-8 until Windows' "ü" shows up
    body = b"email,name\n" + b"a@b.co,Anna\n" * 20_000 + "m@x.de,Müller\n".encode("cp1252")
    result = harness.drop(f"segments/{ADV}/Late/create/list.csv", body)
    report = harness.report(result.job_id or "")
    assert report["error"] is None
    assert report["rows"]["accepted"] == 20_001
    assert report["encoding"] == {"name": "utf-8", "how": "utf-8"}
    assert [w["code"] for w in report["warnings"]] == ["not_utf8_bytes"]
    assert "1 byte(s)" in report["warnings"][0]["message"]
    _, rows = harness.chunk_rows(harness.chunk_messages())
    assert email("m@x.de") in rows


# ---------------------------------------------------------------------------- keys and options


@pytest.mark.parametrize(
    ("key", "metadata", "code"),
    [
        ("segments/71000x/VIP/create/a.csv", {}, "invalid_advertiser_id"),
        (f"segments/{ADV}/VIP/upsert/a.csv", {}, "invalid_action"),
        (f"segments/{ADV}/{'n' * 129}/create/a.csv", {}, "invalid_audience_name"),
        (f"segments/{ADV}/ /create/a.csv", {}, "invalid_audience_name"),
        (f"segments/{ADV}/VIP/create/sub/a.csv", {}, "invalid_key"),
        (f"segments/{ADV}/{'n' * 71}/create/a.csv", {"audience-api": "segment"}, "invalid_audience_name"),
        (f"segments/{ADV}/VIP/create/a.csv", {"retention-days": "0"}, "invalid_option"),
        (f"segments/{ADV}/VIP/create/a.csv", {"retention-days": "366"}, "invalid_option"),
        (f"segments/{ADV}/VIP/create/a.csv", {"audience-api": "dmp"}, "invalid_option"),
        (f"segments/{ADV}/VIP/create/a.csv", {"phone-region": "XX"}, "invalid_option"),
        (f"segments/{ADV}/VIP/create/a.csv", {"id-type": "fax"}, "invalid_option"),
        (f"segments/{ADV}/VIP/create/a.csv", {"maid-hash": "sha1"}, "invalid_option"),
    ],
)  # fmt: skip
def test_invalid_key_or_options_give_a_clear_failed_report(
    harness: Harness, key: str, metadata: dict[str, str], code: str
) -> None:
    result = harness.drop(key, "email\na@b.co\n", metadata)
    report = harness.report(result.job_id or "")
    assert report["status"] == "failed"
    assert report["error"]["code"] == code
    assert report["source"]["key"] == key
    assert harness.chunk_messages() == []


def test_options_reach_the_job(harness: Harness) -> None:
    meta = {"retention-days": "30", "phone-region": "gb", "audience-api": "segment"}
    result = harness.drop(f"segments/{ADV}/UK/replace/p.csv", "phone\n020 7946 0958\n", meta)
    item = harness.jobs.get(result.job_id or "")
    assert item is not None
    assert (item.api, item.retention_days, item.phone_region) == ("segment", 30, "GB")
    _, rows = harness.chunk_rows(harness.chunk_messages())
    expected = hash_identifier(
        IdType.PHONE, "020 7946 0958", phone_region="GB", surface="segment_api"
    )
    assert rows == [expected]


def test_segment_api_refuses_platformless_maid_columns(harness: Harness) -> None:
    result = harness.drop(
        f"segments/{ADV}/M/create/m.csv",
        "maid\n6D92078A-8246-4BA4-AE5B-76104861E7DC\n",
        {"audience-api": "segment"},
    )
    assert harness.report(result.job_id or "")["error"]["code"] == "invalid_column"


# ---------------------------------------------------------------------------- idempotency, chunks


def test_duplicate_notification_does_not_create_a_second_job(harness: Harness) -> None:
    key = f"segments/{ADV}/Dup/append/list.csv"
    version = harness.put(key, "email\na@b.co\nc@d.co\n")
    first = harness.ingest.object_created(BUCKET, key, version)
    second = harness.ingest.object_created(BUCKET, key, version)
    assert first.job_id == second.job_id == job_id_for(BUCKET, key, version)
    assert second.status == "skipped"
    msgs = harness.chunk_messages()
    assert len(msgs) == 1
    report = harness.report(first.job_id or "")
    assert report["rows"]["read"] == 2
    assert report["chunks"]["total"] == 1
    # a new version of the same key is a new job
    third = harness.drop(key, "email\ne@f.co\n")
    assert third.job_id != first.job_id


def test_redelivered_range_after_a_crash_resends_messages_but_counts_once(
    harness: Harness,
) -> None:
    key = f"segments/{ADV}/Crash/append/list.csv"
    version = harness.put(key, "email\na@b.co\n")
    first = harness.ingest.object_created(BUCKET, key, version)
    item = harness.jobs.get(first.job_id or "")
    assert item is not None
    from tiktok_connector.segments.ranges import process_range

    again = process_range(
        item, 0, s3=harness.s3, sqs=harness.sqs, jobs=harness.jobs, settings=harness.settings
    )
    assert again.status == "running"
    msgs = harness.chunk_messages()
    assert len(msgs) == 2
    assert {m["chunk_key"] for m in msgs} == {msgs[0]["chunk_key"]}
    assert harness.report(first.job_id or "")["rows"]["read"] == 1


def test_chunks_are_cut_to_the_row_limit(aws: dict[str, Any]) -> None:
    h = Harness(aws, chunk_rows=3)
    result = h.drop(
        f"segments/{ADV}/C/create/c.csv", "email\n" + "".join(f"u{i}@x.co\n" for i in range(10))
    )
    msgs = h.chunk_messages()
    assert sorted(m["rows"] for m in msgs) == [1, 3, 3, 3]
    assert all(m["chunk_key"].startswith(f"chunks/{result.job_id}/0000-") for m in msgs)
    _, rows = h.chunk_rows(msgs)
    assert rows == [email(f"u{i}@x.co") for i in range(10)]
    assert h.report(result.job_id or "")["chunks"]["total"] == 4


# ---------------------------------------------------------------------------- byte-range fan-out


def test_large_file_fans_out_by_byte_range_and_covers_every_row_once(aws: dict[str, Any]) -> None:
    h = Harness(aws, ingest_range_bytes=4096, chunk_rows=100)
    lines = ["Email"]
    for i in range(3000):
        lines.append(f"user{i}@example.com" if i % 97 else f"bad-{i}")
    body = "\r\n".join(lines) + "\r\n"
    result = h.drop(f"segments/{ADV}/Big/create/big.csv", body)
    item = h.jobs.get(result.job_id or "")
    assert item is not None
    assert item.ranges_total == len(body) // 4096 + 1
    assert item.ranges_done == item.ranges_total
    _, rows = h.chunk_rows(h.chunk_messages())
    assert sorted(rows) == sorted(email(f"user{i}@example.com") for i in range(3000) if i % 97)
    report = assert_accounting(h, result.job_id or "")
    assert report["rows"]["read"] == 3000
    assert report["rows"]["rejected"] == len(range(0, 3000, 97))
    # reject line numbers are file line numbers (header is line 1)
    rejects = h.rejects(result.job_id or "")[1:]
    assert [int(r[0]) for r in rejects] == [i + 2 for i in range(0, 3000, 97)]


def test_last_range_without_chunks_sends_finalize(aws: dict[str, Any]) -> None:
    h = Harness(aws, ingest_range_bytes=1024)
    good = "".join(f"user{i}@example.com\n" for i in range(40))  # > 1 KiB: range 0 (and 1)
    body = "email\n" + good + "nope\n" * 400  # the tail ranges hold only rejects
    key = f"segments/{ADV}/Fin/create/f.csv"
    version = h.put(key, body)
    result = h.ingest.object_created(BUCKET, key, version)
    ranges = h.sqs.receive_message(QueueUrl=aws["ranges_queue_url"], MaxNumberOfMessages=10)
    bodies = sorted((json.loads(m["Body"]) for m in ranges["Messages"]), key=lambda b: b["range"])
    h.ingest.queued(RangeMessage.model_validate(bodies[0]))
    for m in h.chunk_messages():  # the upload side finishes range 0's chunks
        assert h.jobs.mark_chunk_done(m["job_id"], m["chunk_key"], "fp") is not None
    for b in bodies[1:]:
        h.ingest.queued(RangeMessage.model_validate(b))
    msgs = h.chunk_messages()
    assert msgs[-1] == {"type": "finalize", "job_id": result.job_id}
    item = h.jobs.get(result.job_id or "")
    assert item is not None
    assert h.jobs.ready_to_finalize(item)


def test_range_message_for_unknown_job_is_poison(harness: Harness) -> None:
    with pytest.raises(ValueError, match="unknown job"):
        harness.ingest.queued(RangeMessage(job_id="0" * 32, range=0, start=0, end=1))
    # a body that is not a range message never reaches ingest: its record fails with the reason
    with pytest.raises(ValidationError) as caught:
        RangesQueueRecord.model_validate(sqs_record("{", queue="ranges"))
    assert poison_reason(caught.value, "range") == "range message body is not JSON"


def test_duplicate_notification_of_a_multi_range_file_sends_ranges_once(
    aws: dict[str, Any],
) -> None:
    h = Harness(aws, ingest_range_bytes=1024)
    key = f"segments/{ADV}/Multi/create/m.csv"
    version = h.put(key, "email\n" + "".join(f"user{i}@example.com\n" for i in range(200)))
    first = h.ingest.object_created(BUCKET, key, version)
    second = h.ingest.object_created(BUCKET, key, version)
    assert second.status == "skipped"
    sent = h.sqs.receive_message(QueueUrl=aws["ranges_queue_url"], MaxNumberOfMessages=10)
    assert len(sent["Messages"]) == first.ranges_total
