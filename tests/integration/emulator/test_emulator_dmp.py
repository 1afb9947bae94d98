"""Customer-file audiences: upload, create, update, list, get, delete (reference §3)."""

from __future__ import annotations

import hashlib

import pytest

from tiktok_local.emulator import EmulatorServer

from .support import ADV1, ADV2, Api, email_hashes, md5, sha256

UPDATE = "/dmp/custom_audience/update/"


def file_bytes(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


# ---------------------------------------------------------------- happy path
def test_upload_create_update_list_get_with_members(emu: EmulatorServer, api: Api):
    first = email_hashes(1200, "a")
    more = email_hashes(300, "b")
    path1 = api.upload_hashes(first[:600])
    path2 = api.upload_hashes(first[600:], header=False)
    assert emu.state.files[path1]["rows"] == 600
    assert emu.state.files[path1]["advertiser_id"] == ADV1

    created = api.create_audience("Newsletter", [path1, path2], retention_in_days=90)
    assert created["code"] == 0
    audience_id = created["data"]["custom_audience_id"]
    assert emu.state.audience_members(audience_id) == {("EMAIL_SHA256", h) for h in first}
    assert emu.state.find_audience(ADV1, "Newsletter")["audience_id"] == audience_id

    path3 = api.upload_hashes(more)
    appended = api.post(
        UPDATE,
        {
            "advertiser_id": ADV1,
            "custom_audience_id": audience_id,
            "action": "APPEND",
            "file_paths": [path3],
        },
    )
    assert appended["code"] == 0
    assert emu.state.audience_hashes(audience_id) == set(first) | set(more)

    listed = api.get("/dmp/custom_audience/list/", {"advertiser_id": ADV1})
    assert listed["code"] == 0
    assert listed["data"]["page_info"]["total_number"] == 1
    item = listed["data"]["list"][0]
    assert item["audience_id"] == audience_id
    assert item["name"] == "Newsletter"
    assert item["cover_num"] == 1500
    assert item["calculate_type"] == "EMAIL_SHA256"

    got = api.get(
        "/dmp/custom_audience/get/", {"advertiser_id": ADV1, "custom_audience_ids": [audience_id]}
    )
    assert got["code"] == 0
    details = got["data"]["list"][0]
    assert details["audience_details"]["audience_id"] == audience_id
    assert [h["action"] for h in details["audience_history"]] == ["APPEND", "CREATE"]


def test_update_replace_and_remove_semantics(emu: EmulatorServer, api: Api):
    base = email_hashes(1500, "x")
    audience_id = api.create_audience("A", [api.upload_hashes(base)])["data"]["custom_audience_id"]
    removed = api.post(
        UPDATE,
        {
            "advertiser_id": ADV1,
            "custom_audience_id": audience_id,
            "action": "REMOVE",
            "file_paths": [api.upload_hashes(base[:200])],
        },
    )
    assert removed["code"] == 0
    assert emu.state.audience_hashes(audience_id) == set(base[200:])

    fresh = email_hashes(1000, "y")
    replaced = api.post(  # no action: TikTok's default is REPLACE
        UPDATE,
        {
            "advertiser_id": ADV1,
            "custom_audience_id": audience_id,
            "file_paths": [api.upload_hashes(fresh)],
        },
    )
    assert replaced["code"] == 0
    assert emu.state.audience_hashes(audience_id) == set(fresh)
    actions = [h["action"] for h in emu.state.audience_history(audience_id)]
    assert actions == ["CREATE", "REMOVE", "REPLACE"]


@pytest.mark.parametrize(
    ("action", "incoming", "expected"),
    [("REPLACE", 999, 999), ("REMOVE", 600, 600), ("APPEND", 10, 510)],
)
def test_update_leaving_fewer_than_1000_members_is_40002_and_changes_nothing(
    emu: EmulatorServer, api: Api, action: str, incoming: int, expected: int
):
    start = email_hashes(1200 if action == "REMOVE" else 500, "m")
    audience_id = api.create_audience("Small", [api.upload_hashes(start)])["data"][
        "custom_audience_id"
    ]
    other = start[:incoming] if action == "REMOVE" else email_hashes(incoming, "n")
    body = api.post(
        UPDATE,
        {
            "advertiser_id": ADV1,
            "custom_audience_id": audience_id,
            "action": action,
            "file_paths": [api.upload_hashes(other)],
        },
    )
    assert body["code"] == 40002
    assert "1,000" in body["message"]
    assert str(expected) in body["message"]
    assert body["data"] == {}
    assert emu.state.audience_hashes(audience_id) == set(start)


def test_rename_only_update_is_allowed(emu: EmulatorServer, api: Api):
    audience_id = api.create_audience("Old", [api.upload_hashes(email_hashes(5))])["data"][
        "custom_audience_id"
    ]
    body = api.post(
        UPDATE,
        {"advertiser_id": ADV1, "custom_audience_id": audience_id, "custom_audience_name": "New"},
    )
    assert body["code"] == 0
    assert emu.state.find_audience(ADV1, "New")["audience_id"] == audience_id


@pytest.mark.parametrize("action", ["append", "DELETE", "RESET"])
def test_update_action_must_be_append_remove_replace(api: Api, action: str):
    audience_id = api.create_audience("A", [api.upload_hashes(email_hashes(5))])["data"][
        "custom_audience_id"
    ]
    body = api.post(
        UPDATE,
        {
            "advertiser_id": ADV1,
            "custom_audience_id": audience_id,
            "action": action,
            "file_paths": [api.upload_hashes(email_hashes(1000))],
        },
    )
    assert body["code"] == 40002


def test_update_with_file_of_another_type_40909(api: Api):
    audience_id = api.create_audience("A", [api.upload_hashes(email_hashes(5))])["data"][
        "custom_audience_id"
    ]
    phones = api.upload_hashes(
        [sha256(f"+1555000{i:04d}") for i in range(1000)], calculate_type="PHONE_SHA256"
    )
    body = api.post(
        UPDATE,
        {
            "advertiser_id": ADV1,
            "custom_audience_id": audience_id,
            "action": "APPEND",
            "file_paths": [phones],
        },
    )
    assert body["code"] == 40909


def test_multiple_types_file_with_header_naming_each_column(emu: EmulatorServer, api: Api):
    emails = email_hashes(3)
    phones = [sha256(f"+1555123000{i}") for i in range(3)]
    content = file_bytes(
        ["EMAIL_SHA256,PHONE_SHA256", f"{emails[0]},{phones[0]}", f"{emails[1]},", f",{phones[2]}"]
    )
    body = api.upload(content, calculate_type="MULTIPLE_TYPES")
    assert body["code"] == 0
    audience_id = api.create_audience(
        "Mixed", [body["data"]["file_path"]], calculate_type="MULTIPLE_TYPES"
    )["data"]["custom_audience_id"]
    assert emu.state.audience_members(audience_id) == {
        ("EMAIL_SHA256", emails[0]),
        ("PHONE_SHA256", phones[0]),
        ("EMAIL_SHA256", emails[1]),
        ("PHONE_SHA256", phones[2]),
    }


def test_md5_maid_file_and_maid_alias_of_first(emu: EmulatorServer, api: Api):
    maids = [md5(f"6d92078a-8246-4ba4-ae5b-76104861e7d{i}") for i in range(5)]
    path = api.upload_hashes(maids, calculate_type="MAID_MD5")
    body = api.create_audience("Devices", [path], calculate_type="FIRST_MD5")
    assert body["code"] == 0
    assert emu.state.audience_hashes(body["data"]["custom_audience_id"]) == set(maids)


def test_maid_and_first_aliases_are_one_member_type(emu: EmulatorServer, api: Api):
    maids = [md5(f"6d92078a-8246-4ba4-ae5b-{i:012d}") for i in range(1_100)]
    created = api.create_audience(
        "Aliased devices",
        [api.upload_hashes(maids, calculate_type="FIRST_MD5")],
        calculate_type="FIRST_MD5",
    )
    audience_id = created["data"]["custom_audience_id"]
    removal = api.upload_hashes(maids[:50], calculate_type="MAID_MD5")
    body = api.post(
        "/dmp/custom_audience/update/",
        {
            "advertiser_id": ADV1,
            "custom_audience_id": audience_id,
            "action": "REMOVE",
            "file_paths": [removal],
        },
    )
    assert body["code"] == 0, body
    assert emu.state.audience_hashes(audience_id) == set(maids[50:])


def test_quoted_csv_header_and_cells_are_read_as_csv(emu: EmulatorServer, api: Api):
    hashes = email_hashes(3)
    content = ('"EMAIL_SHA256"\n' + "".join(f'"{h}"\n' for h in hashes)).encode()
    body = api.upload(content)
    assert body["code"] == 0, body
    created = api.create_audience("Quoted", [body["data"]["file_path"]])
    assert emu.state.audience_hashes(created["data"]["custom_audience_id"]) == set(hashes)


def test_list_pagination_and_get_and_delete(emu: EmulatorServer, api: Api):
    path = api.upload_hashes(email_hashes(3))
    ids = [api.create_audience(f"A{i}", [path])["data"]["custom_audience_id"] for i in range(3)]
    page2 = api.get(
        "/dmp/custom_audience/list/", {"advertiser_id": ADV1, "page": 2, "page_size": 2}
    )
    assert page2["data"]["page_info"] == {
        "page": 2,
        "page_size": 2,
        "total_number": 3,
        "total_page": 2,
    }
    assert [a["audience_id"] for a in page2["data"]["list"]] == [ids[2]]
    filtered = api.get(
        "/dmp/custom_audience/list/", {"advertiser_id": ADV1, "custom_audience_ids": [ids[1]]}
    )
    assert [a["audience_id"] for a in filtered["data"]["list"]] == [ids[1]]

    deleted = api.post(
        "/dmp/custom_audience/delete/", {"advertiser_id": ADV1, "custom_audience_ids": ids[:2]}
    )
    assert deleted["code"] == 0
    assert [a["audience_id"] for a in emu.state.audiences_for(ADV1)] == [ids[2]]
    gone = api.get(
        "/dmp/custom_audience/get/", {"advertiser_id": ADV1, "custom_audience_ids": [ids[0]]}
    )
    assert gone["code"] == 40007


def test_list_page_size_over_100_40002(api: Api):
    assert (
        api.get("/dmp/custom_audience/list/", {"advertiser_id": ADV1, "page_size": 101})["code"]
        == 40002
    )


def test_get_needs_json_encoded_ids_40002(api: Api):
    body = api.get(
        "/dmp/custom_audience/get/", {"advertiser_id": ADV1, "custom_audience_ids": "123"}
    )
    assert body["code"] == 40002


def test_get_audience_of_another_advertiser_40001(emu: EmulatorServer, api: Api):
    other = api.segment("Theirs", advertiser_id=ADV2)
    body = api.get(
        "/dmp/custom_audience/get/", {"advertiser_id": ADV1, "custom_audience_ids": [other]}
    )
    assert body["code"] == 40001


# ---------------------------------------------------------------- upload strictness
def test_file_signature_mismatch_40900(emu: EmulatorServer, api: Api):
    content = file_bytes(["EMAIL_SHA256", *email_hashes(2)])
    body = api.upload(content, signature=hashlib.md5(b"other").hexdigest())  # noqa: S324
    assert body["code"] == 40900
    assert body["data"] == {}
    assert emu.state.files == {}


@pytest.mark.parametrize("calculate_type", ["EMAIL", "email_sha256", "FIRST_NORMAL", "SHA256"])
def test_unsupported_calculate_type_40909(api: Api, calculate_type: str):
    body = api.upload(file_bytes(email_hashes(2)), calculate_type=calculate_type)
    assert body["code"] == 40909


@pytest.mark.parametrize("content", [b"", b"\n\n", b"EMAIL_SHA256\n"])
def test_empty_file_40906(api: Api, content: bytes):
    assert api.upload(content)["code"] == 40906


@pytest.mark.parametrize("filename", ["ids.CSV", "ids.csv.gz", "ids.zip", "ids.tsv", "ids"])
def test_file_suffix_must_be_csv_or_txt_40908(api: Api, filename: str):
    assert api.upload(file_bytes(email_hashes(2)), filename=filename)["code"] == 40908


def test_txt_suffix_accepted(api: Api):
    assert api.upload(file_bytes(email_hashes(2)), filename="ids.txt")["code"] == 0


@pytest.mark.parametrize(
    ("calculate_type", "value"),
    [
        ("EMAIL_SHA256", "alice@example.com"),  # raw PII
        ("EMAIL_SHA256", sha256("a@b.co").upper()),  # upper-case hex
        ("PHONE_SHA256", "+15551234567"),
        ("IDFA_MD5", sha256("x")),  # SHA-256 where MD5 is promised
        ("GAID_SHA256", md5("x")),  # MD5 where SHA-256 is promised
    ],
)
def test_content_not_matching_the_hashed_type_40062(api: Api, calculate_type: str, value: str):
    # 40062 PII_NOT_HASHED: the most specific code for "not a hash of the declared type";
    # see rules.parse_customer_file for why not 40915.
    body = api.upload(file_bytes([sha256("ok"), value]), calculate_type=calculate_type)
    assert body["code"] == 40062
    assert value not in body["message"]  # raw values never echoed back


def test_header_naming_another_type_40909(api: Api):
    assert api.upload(file_bytes(["PHONE_SHA256", *email_hashes(2)]))["code"] == 40909


def test_multiple_types_without_header_40915(api: Api):
    rows = [f"{a},{b}" for a, b in zip(email_hashes(2), email_hashes(2, "p"), strict=True)]
    assert api.upload(file_bytes(rows), calculate_type="MULTIPLE_TYPES")["code"] == 40915


def test_multiple_types_row_with_wrong_column_count_40915(api: Api):
    content = file_bytes(
        ["EMAIL_SHA256,PHONE_SHA256", f"{sha256('a')},{sha256('b')},{sha256('c')}"]
    )
    assert api.upload(content, calculate_type="MULTIPLE_TYPES")["code"] == 40915


def test_single_type_file_with_two_columns_40915(api: Api):
    assert api.upload(file_bytes([f"{sha256('a')},{sha256('b')}"]))["code"] == 40915


def test_upload_unknown_form_field_40002(api: Api):
    body = api.upload(file_bytes(email_hashes(2)), extra={"caculate_type": "EMAIL_SHA256"})
    assert body["code"] == 40002


def test_upload_for_unreachable_advertiser_40001(emu: EmulatorServer, api: Api):
    token = emu.state.issue_token(advertiser_ids=[ADV2])
    assert api.upload(file_bytes(email_hashes(2)), token=token)["code"] == 40001


def test_upload_crlf_and_bom_accepted(emu: EmulatorServer, api: Api):
    hashes = email_hashes(2)
    content = ("\ufeffEMAIL_SHA256\r\n" + "\r\n".join(hashes) + "\r\n").encode()
    body = api.upload(content)
    assert body["code"] == 0
    assert emu.state.files[body["data"]["file_path"]]["rows"] == 2


# ---------------------------------------------------------------- create strictness
@pytest.mark.parametrize("name", ["", "n" * 129, 42])
def test_create_name_must_be_1_to_128_chars_40002(api: Api, name):
    assert api.create_audience(name, [api.upload_hashes(email_hashes(2))])["code"] == 40002


def test_create_name_of_128_chars_accepted(api: Api):
    assert api.create_audience("n" * 128, [api.upload_hashes(email_hashes(2))])["code"] == 0


def test_create_calculate_type_must_equal_the_files_40909(api: Api):
    path = api.upload_hashes(email_hashes(2))
    assert api.create_audience("A", [path], calculate_type="PHONE_SHA256")["code"] == 40909


def test_create_with_unknown_file_path_40002(api: Api):
    assert api.create_audience("A", ["dmp/nope.csv"])["code"] == 40002


def test_create_with_another_advertisers_file_40001(emu: EmulatorServer, api: Api):
    content = file_bytes(email_hashes(2))
    other = api.upload(content, advertiser_id=ADV2)["data"]["file_path"]
    assert api.create_audience("A", [other])["code"] == 40001


@pytest.mark.parametrize("count", [0, 501])
def test_create_file_paths_1_to_500_40002(api: Api, count: int):
    path = api.upload_hashes(email_hashes(2))
    assert api.create_audience("A", [path] * count)["code"] == 40002


@pytest.mark.parametrize("retention", [0, 366, "30", 30.0, True])
def test_create_retention_in_days_int_1_to_365_40002(api: Api, retention):
    path = api.upload_hashes(email_hashes(2))
    assert api.create_audience("A", [path], retention_in_days=retention)["code"] == 40002


def test_create_unknown_field_40002(emu: EmulatorServer, api: Api):
    path = api.upload_hashes(email_hashes(2))
    assert api.create_audience("A", [path], audience_name="typo")["code"] == 40002
    assert emu.state.audiences_for(ADV1) == []


def test_create_advertiser_id_must_be_a_string_40002(api: Api):
    path = api.upload_hashes(email_hashes(2))
    body = api.post(
        "/dmp/custom_audience/create/",
        {
            "advertiser_id": int(ADV1),
            "custom_audience_name": "A",
            "calculate_type": "EMAIL_SHA256",
            "file_paths": [path],
        },
    )
    assert body["code"] == 40002


def test_create_over_the_per_advertiser_audience_cap_40002(emu: EmulatorServer, api: Api):
    assert emu.config.max_audiences_per_advertiser == 400  # reference §3.6
    path = api.upload_hashes(email_hashes(2))
    emu.config.max_audiences_per_advertiser = 2
    try:
        assert api.create_audience("A", [path])["code"] == 0
        api.segment("B")
        body = api.create_audience("C", [path])
        assert body["code"] == 40002
        assert len(emu.state.audiences_for(ADV1)) == 2
    finally:
        emu.config.max_audiences_per_advertiser = 400


def test_json_endpoint_without_json_content_type_40002(emu: EmulatorServer, api: Api):
    resp = api.session.post(
        api.url("/dmp/custom_audience/delete/"),
        data="advertiser_id=1",
        headers={"Access-Token": api.token, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert resp.json()["code"] == 40002
