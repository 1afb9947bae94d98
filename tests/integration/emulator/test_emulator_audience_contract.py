"""The emulator's audience endpoints against docs/tiktok-contract.md (CF, PA and TM rows).

Each test names the row it checks; each failed against the emulator as it was before issue 17
(one enum for upload and create, our own header names, 64-character file paths, the list label
"Customer File", no processing or readiness states).
"""

from __future__ import annotations

import pytest

from tiktok_local.emulator import EmulatorConfig, EmulatorServer

from .support import ADV1, Api, FrozenClock, email_hashes, md5, no_qps_config, sha256

CREATE = "/dmp/custom_audience/create/"
UPDATE = "/dmp/custom_audience/update/"
LIST = "/dmp/custom_audience/list/"
GET = "/dmp/custom_audience/get/"
MAPPING = "/segment/mapping/"


def lines(*rows: str) -> bytes:
    return ("\n".join(rows) + "\n").encode()


def maids_sha(n: int) -> list[str]:
    return [sha256(f"6d92078a-8246-4ba4-ae5b-{i:012d}") for i in range(n)]


# ---------------------------------------------------------------- CF-02 / CF-03: two enums
def test_maid_types_exist_on_upload_only_create_takes_first(emu: EmulatorServer, api: Api):
    """CF-02, CF-03: upload takes MAID_SHA256 (an alias of FIRST_SHA256); create's strict enum
    has no MAID_* — a MAID-only audience is created as FIRST_SHA256."""
    path = api.upload_hashes(maids_sha(1000), calculate_type="MAID_SHA256")
    refused = api.create_audience("Devices", [path], calculate_type="MAID_SHA256")
    assert refused["code"] == 40909
    assert emu.state.find_audience(ADV1, "Devices") is None
    created = api.create_audience("Devices", [path], calculate_type="FIRST_SHA256")
    assert created["code"] == 0, created
    assert emu.state.audience_hashes(created["data"]["custom_audience_id"]) == set(maids_sha(1000))


# ---------------------------------------------------------------- CF-04: 16-character paths
def test_file_paths_are_16_characters_and_create_refuses_other_lengths(api: Api):
    path = api.upload_hashes(email_hashes(3))
    assert len(path) == 16
    body = api.create_audience("A", [path, path + "x"])
    assert body["code"] == 40002
    assert "16 characters" in body["message"]


# ---------------------------------------------------------------- CF-05..CF-07: header names
def test_multiple_types_headers_are_tiktoks_names_and_mobile_ids_go_under_maid(
    emu: EmulatorServer, api: Api
):
    emails, idfas, gaids = email_hashes(2), maids_sha(2), maids_sha(4)[2:]
    content = lines(
        "Email_SHA256,MAID_SHA256,MAID_SHA256",
        f"{emails[0]},{idfas[0]},{gaids[0]}",
        f"{emails[1]},{idfas[1]},",
        f",,{gaids[1]}",
    )
    body = api.upload(content, calculate_type="MULTIPLE_TYPES")
    assert body["code"] == 0, body
    created = api.create_audience(
        "Mixed", [body["data"]["file_path"]], calculate_type="MULTIPLE_TYPES"
    )
    members = emu.state.audience_members(created["data"]["custom_audience_id"])
    assert members == {("EMAIL_SHA256", e) for e in emails} | {
        ("FIRST_SHA256", m) for m in idfas + gaids
    }


@pytest.mark.parametrize("header", ["IDFA_SHA256", "GAID_SHA256", "EMAIL", "Phone", "FIRST_MD5"])
def test_headers_tiktok_does_not_document_are_refused_40915(api: Api, header: str):
    content = lines(f"Email_SHA256,{header}", f"{sha256('a')},{sha256('b')}")
    body = api.upload(content, calculate_type="MULTIPLE_TYPES")
    assert body["code"] == 40915
    assert "Email_SHA256, Phone_SHA256, MAID_SHA256 or MAID_MD5" in body["message"]


def test_a_header_at_most_three_times(api: Api):
    four = lines("MAID_MD5,MAID_MD5,MAID_MD5,MAID_MD5", ",".join(md5(str(i)) for i in range(4)))
    assert api.upload(four, calculate_type="MULTIPLE_TYPES")["code"] == 40915
    three = lines("MAID_MD5,MAID_MD5,MAID_MD5", ",".join(md5(str(i)) for i in range(3)))
    assert api.upload(three, calculate_type="MULTIPLE_TYPES")["code"] == 0


@pytest.mark.parametrize("calculate_type", ["IDFA_SHA256", "GAID_SHA256", "FIRST_SHA256"])
def test_single_type_mobile_id_files_carry_the_maid_header(api: Api, calculate_type: str):
    assert (
        api.upload(lines("MAID_SHA256", *maids_sha(2)), calculate_type=calculate_type)["code"] == 0
    )
    # the header of another hash type does not fit the calculate type
    mismatch = api.upload(lines("MAID_MD5", *maids_sha(2)), calculate_type=calculate_type)
    assert mismatch["code"] == 40909


# ---------------------------------------------------------------- CF-11 / CF-12: list and get
def test_list_labels_and_get_returns_type_with_the_sdk_fields(api: Api):
    file_id = api.create_audience("Buyers", [api.upload_hashes(email_hashes(3))])["data"][
        "custom_audience_id"
    ]
    partner_id = api.segment("Partners")
    listed = {a["audience_id"]: a for a in api.get(LIST, {"advertiser_id": ADV1})["data"]["list"]}
    assert listed[file_id]["audience_type"] == "Customer File Audience"
    assert listed[partner_id]["audience_type"] == "Partner"
    assert listed[partner_id]["calculate_type"] is None
    got = api.get(GET, {"advertiser_id": ADV1, "custom_audience_ids": [file_id]})
    details = got["data"]["list"][0]["audience_details"]
    assert details["type"] == "Customer File Audience"
    assert "audience_type" not in details
    for field in ("cover_num", "is_valid", "msg", "error_msg", "expired_time", "is_expiring"):
        assert field in details, field
    assert details["is_valid"] is True
    assert got["data"]["list"][0]["audience_history"][0]["editor"] == "open_api"


def test_an_audience_past_its_retention_is_not_valid(make_emulator):
    emu = make_emulator(no_qps_config(clock=FrozenClock()))
    api = Api(emu, emu.state.issue_token())
    path = api.upload_hashes(email_hashes(3))
    audience_id = api.create_audience("Short", [path], retention_in_days=90)["data"][
        "custom_audience_id"
    ]

    def details() -> dict:
        got = api.get(GET, {"advertiser_id": ADV1, "custom_audience_ids": [audience_id]})
        return got["data"]["list"][0]["audience_details"]

    assert details()["is_expiring"] is False
    emu.state.advance_time(31 * 86400)  # within 60 days of the expiry
    assert details()["is_expiring"] is True
    assert details()["is_valid"] is True
    emu.state.advance_time(60 * 86400)
    assert details()["is_valid"] is False
    assert details()["is_expiring"] is False


# ---------------------------------------------------------------- TM-01 / TM-02: processing
def test_an_audience_processes_after_create_and_update_and_refuses_updates_meanwhile(
    make_emulator,
):
    emu = make_emulator(no_qps_config(clock=FrozenClock(), audience_processing_seconds=600))
    api = Api(emu, emu.state.issue_token())
    audience_id = api.create_audience("Busy", [api.upload_hashes(email_hashes(1200))])["data"][
        "custom_audience_id"
    ]

    def status() -> dict:
        got = api.get(GET, {"advertiser_id": ADV1, "custom_audience_ids": [audience_id]})
        return got["data"]["list"][0]["audience_details"]

    def append(prefix: str) -> dict:
        return api.post(
            UPDATE,
            {
                "advertiser_id": ADV1,
                "custom_audience_id": audience_id,
                "action": "APPEND",
                "file_paths": [api.upload_hashes(email_hashes(10, prefix))],
            },
        )

    assert status()["is_valid"] is False
    refused = append("b")
    assert refused["code"] == 40002
    assert "being updated or under processing" in refused["message"]
    assert emu.state.audience_hashes(audience_id) == set(email_hashes(1200))
    emu.state.advance_time(601)
    assert status()["is_valid"] is True
    assert append("c")["code"] == 0
    # an update starts processing again
    assert status()["is_valid"] is False
    assert append("d")["code"] == 40002


def test_processing_is_off_by_default(api: Api):
    audience_id = api.create_audience("Quick", [api.upload_hashes(email_hashes(1200))])["data"][
        "custom_audience_id"
    ]
    got = api.get(GET, {"advertiser_id": ADV1, "custom_audience_ids": [audience_id]})
    assert got["data"]["list"][0]["audience_details"]["is_valid"] is True


# ---------------------------------------------------------------- TM-03: partner readiness
def test_a_new_partner_audience_refuses_mappings_for_a_while(make_emulator):
    emu = make_emulator(EmulatorConfig(qps={}, clock=FrozenClock(), partner_ready_seconds=90))
    api = Api(emu, emu.state.issue_token())
    audience_id = api.segment("Fresh")
    mapping = {
        "advertiser_ids": [ADV1],
        "action": "add",
        "id_schema": ["EMAIL_SHA256"],
        "batch_data": [[{"id": sha256("a@b.co"), "audience_ids": [audience_id]}]],
    }
    refused = api.post(MAPPING, mapping)
    assert refused["code"] == 40002
    assert emu.state.audience_hashes(audience_id) == set()
    emu.state.advance_time(91)
    assert api.post(MAPPING, mapping)["code"] == 0
    assert emu.state.audience_hashes(audience_id) == {sha256("a@b.co")}


# ------------------------------------------------- CF-14 / TM-06: the size TikTok reports
def test_get_reports_the_matched_size_as_an_integer_cover_num(make_emulator):
    emu = make_emulator(EmulatorConfig(qps={}, clock=FrozenClock(), audience_processing_seconds=60))
    api = Api(emu, emu.state.issue_token())
    file_id = api.create_audience("Sized", [api.upload_hashes(email_hashes(7))])["data"][
        "custom_audience_id"
    ]
    query = {"advertiser_id": ADV1, "custom_audience_ids": [file_id]}
    details = api.get(GET, query)["data"]["list"][0]["audience_details"]
    assert details["cover_num"] == 7
    assert isinstance(details["cover_num"], int)
    assert details["is_valid"] is False  # still computing (TM-02)
    emu.state.advance_time(61)
    details = api.get(GET, query)["data"]["list"][0]["audience_details"]
    assert (details["cover_num"], details["is_valid"]) == (7, True)


def test_a_partner_audience_reports_its_mapped_members(api: Api):
    audience_id = api.segment("PartnerSized")
    query = {"advertiser_id": ADV1, "custom_audience_ids": [audience_id]}
    details = api.get(GET, query)["data"]["list"][0]["audience_details"]
    assert (details["type"], details["cover_num"]) == ("Partner", 0)
    rows = [[{"id": h, "audience_ids": [audience_id]}] for h in email_hashes(4)]
    mapping = {"advertiser_ids": [ADV1], "action": "add", "id_schema": ["EMAIL_SHA256"]}
    assert api.post(MAPPING, {**mapping, "batch_data": rows})["code"] == 0
    details = api.get(GET, query)["data"]["list"][0]["audience_details"]
    assert details["cover_num"] == 4
