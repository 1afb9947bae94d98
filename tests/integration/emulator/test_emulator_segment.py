"""Partner (segment) audiences: /segment/audience/ and /segment/mapping/ (reference §4)."""

from __future__ import annotations

from typing import Any

import pytest

from tiktok_local.emulator import EmulatorServer

from .support import ADV1, ADV2, Api, md5, sha256

MAPPING = "/segment/mapping/"


def mapping(
    audience_ids: list[str], rows: list[list[dict[str, Any]]], **overrides: Any
) -> dict[str, Any]:
    return {
        "advertiser_ids": [ADV1],
        "action": "add",
        "id_schema": ["EMAIL_SHA256", "PHONE_SHA256"],
        "batch_data": rows,
        **overrides,
    }


def entry(value: str, audience_ids: list[str]) -> dict[str, Any]:
    return {"id": value, "audience_ids": audience_ids}


# ---------------------------------------------------------------- audience create / delete
def test_create_returns_audience_id_and_allows_duplicate_names(emu: EmulatorServer, api: Api):
    first = api.segment("Buyers")
    second = api.segment("Buyers")
    assert first != second
    assert [a["audience_id"] for a in emu.state.find_audiences(ADV1, "Buyers")] == [first, second]
    assert emu.state.find_audience(ADV1, "Buyers")["kind"] == "partner"


def test_long_names_are_cut_to_67_chars_plus_ellipsis(emu: EmulatorServer, api: Api):
    long_id = api.segment("x" * 71)
    exact_id = api.segment("y" * 70)
    names = {a["audience_id"]: a["name"] for a in emu.state.audiences_for(ADV1)}
    assert names[long_id] == "x" * 67 + "..."
    assert names[exact_id] == "y" * 70


def test_default_action_is_create(api: Api):
    body = api.post("/segment/audience/", {"advertiser_id": ADV1, "custom_audience_name": "D"})
    assert body["code"] == 0
    assert body["data"]["audience_id"]


@pytest.mark.parametrize("action", ["CREATE", "update", "Delete"])
def test_action_is_lower_case_create_or_delete_40002(api: Api, action: str):
    body = api.post(
        "/segment/audience/",
        {"advertiser_id": ADV1, "action": action, "custom_audience_name": "N"},
    )
    assert body["code"] == 40002


def test_create_without_name_40002(api: Api):
    assert api.post("/segment/audience/", {"advertiser_id": ADV1})["code"] == 40002


def test_delete_partner_audience(emu: EmulatorServer, api: Api):
    audience_id = api.segment("Gone")
    body = api.post(
        "/segment/audience/",
        {"advertiser_id": ADV1, "action": "delete", "delete_audience_id": audience_id},
    )
    assert body["code"] == 0
    assert emu.state.audiences_for(ADV1) == []


def test_delete_another_advertisers_audience_40001(emu: EmulatorServer, api: Api):
    theirs = api.segment("Theirs", advertiser_id=ADV2)
    body = api.post(
        "/segment/audience/",
        {"advertiser_id": ADV1, "action": "delete", "delete_audience_id": theirs},
    )
    assert body["code"] == 40001
    assert len(emu.state.audiences_for(ADV2)) == 1


def test_id_type_at_create_is_no_longer_a_field_40002(api: Api):
    body = api.post(
        "/segment/audience/",
        {"advertiser_id": ADV1, "custom_audience_name": "N", "id_type": "EMAIL_SHA256"},
    )
    assert body["code"] == 40002


# ---------------------------------------------------------------- mapping
def test_mapping_add_then_delete_changes_members(emu: EmulatorServer, api: Api):
    aud = api.segment("Seg")
    e1, e2, p1 = sha256("a@x.io"), sha256("b@x.io"), sha256("+15551234567")
    added = api.post(
        MAPPING, mapping([aud], [[entry(e1, [aud]), entry(p1, [aud])], [entry(e2, [aud]), {}]])
    )
    assert added["code"] == 0
    assert added["data"] == {}
    assert emu.state.audience_members(aud) == {
        ("EMAIL_SHA256", e1),
        ("PHONE_SHA256", p1),
        ("EMAIL_SHA256", e2),
    }
    deleted = api.post(MAPPING, mapping([aud], [[entry(e1, [aud]), {}]], action="delete"))
    assert deleted["code"] == 0
    assert emu.state.audience_members(aud) == {("PHONE_SHA256", p1), ("EMAIL_SHA256", e2)}
    assert [h["action"] for h in emu.state.audience_history(aud)] == ["CREATE", "ADD", "DELETE"]


def test_one_row_maps_to_several_audiences(emu: EmulatorServer, api: Api):
    a, b = api.segment("A"), api.segment("B")
    value = sha256("c@x.io")
    body = api.post(MAPPING, mapping([a], [[entry(value, [a, b])]], id_schema=["EMAIL_SHA256"]))
    assert body["code"] == 0
    assert emu.state.audience_hashes(a) == emu.state.audience_hashes(b) == {value}


def test_lower_case_id_schema_and_md5_types_accepted(emu: EmulatorServer, api: Api):
    aud = api.segment("Devices")
    idfa, aaid = md5("IDFA-1"), sha256("aaid-1")
    body = api.post(
        MAPPING,
        mapping(
            [aud], [[entry(idfa, [aud]), entry(aaid, [aud])]], id_schema=["idfa_md5", "aaid_sha256"]
        ),
    )
    assert body["code"] == 0
    assert emu.state.audience_members(aud) == {("IDFA_MD5", idfa), ("AAID_SHA256", aaid)}


@pytest.mark.parametrize(
    "schema",
    [["GAID_SHA256"], ["GAID_MD5"], ["EMAIL"], ["MAID_SHA256"], ["EMAIL_SHA256", "email_sha256"]],
)
def test_invalid_or_duplicate_id_schema_40002(api: Api, schema: list[str]):
    aud = api.segment("S")
    rows = [[entry(sha256("v"), [aud]) for _ in schema]]
    assert api.post(MAPPING, mapping([aud], rows, id_schema=schema))["code"] == 40002


def test_row_length_must_match_id_schema_40002(emu: EmulatorServer, api: Api):
    aud = api.segment("S")
    body = api.post(MAPPING, mapping([aud], [[entry(sha256("a"), [aud])]]))
    assert body["code"] == 40002
    assert "batch_data[0]" in body["message"]


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ("EMAIL_SHA256", "alice@example.com"),
        ("PHONE_SHA256", "+15551234567"),
        ("EMAIL_SHA256", sha256("a").upper()),
        ("IDFA_MD5", sha256("a")),
        ("AAID_SHA256", md5("a")),
    ],
)
def test_value_not_a_hash_of_its_schema_type_40062(
    emu: EmulatorServer, api: Api, schema: str, value: str
):
    aud = api.segment("S")
    good = entry(sha256("fine") if schema.endswith("256") else md5("fine"), [aud])
    rows = [[good], [entry(value, [aud])]]
    body = api.post(MAPPING, mapping([aud], rows, id_schema=[schema]))
    assert body["code"] == 40062
    assert value not in body["message"]
    assert emu.state.audience_members(aud) == set()  # the whole request is rejected


def test_entry_with_unknown_keys_40002(api: Api):
    aud = api.segment("S")
    rows = [[{"id": sha256("a"), "audience_ids": [aud], "type": "email"}]]
    assert api.post(MAPPING, mapping([aud], rows, id_schema=["EMAIL_SHA256"]))["code"] == 40002


def test_more_rows_than_max_40061(emu: EmulatorServer, api: Api):
    aud = api.segment("S")
    assert emu.config.max_mapping_rows == 10_000
    rows = [[{}] for _ in range(10_001)]
    body = api.post(MAPPING, mapping([aud], rows, id_schema=["EMAIL_SHA256"]))
    assert body["code"] == 40061


def test_empty_batch_40061(api: Api):
    aud = api.segment("S")
    assert api.post(MAPPING, mapping([aud], [], id_schema=["EMAIL_SHA256"]))["code"] == 40061


def test_audience_of_another_advertiser_40001(emu: EmulatorServer, api: Api):
    mine, theirs = api.segment("Mine"), api.segment("Theirs", advertiser_id=ADV2)
    rows = [[entry(sha256("a"), [mine])], [entry(sha256("b"), [theirs])]]
    body = api.post(MAPPING, mapping([mine], rows, id_schema=["EMAIL_SHA256"]))
    assert body["code"] == 40001
    assert emu.state.audience_members(mine) == set()


def test_customer_file_audience_is_not_a_mapping_target_40002(emu: EmulatorServer, api: Api):
    path = api.upload_hashes([sha256("z")])
    file_aud = api.create_audience("File", [path])["data"]["custom_audience_id"]
    rows = [[entry(sha256("a"), [file_aud])]]
    assert api.post(MAPPING, mapping([file_aud], rows, id_schema=["EMAIL_SHA256"]))["code"] == 40002


def test_advertiser_ids_must_be_reachable_by_token_40001(emu: EmulatorServer, api: Api):
    aud = api.segment("S")
    token = emu.state.issue_token(advertiser_ids=[ADV2])
    rows = [[entry(sha256("a"), [aud])]]
    body = api.post(MAPPING, mapping([aud], rows, id_schema=["EMAIL_SHA256"]), token=token)
    assert body["code"] == 40001


def test_singular_advertiser_id_typo_40002(api: Api):
    aud = api.segment("S")
    body = mapping([aud], [[entry(sha256("a"), [aud])]], id_schema=["EMAIL_SHA256"])
    body["advertiser_id"] = body.pop("advertiser_ids")[0]
    assert api.post(MAPPING, body)["code"] == 40002


@pytest.mark.parametrize("action", ["remove", "ADD", "append"])
def test_mapping_action_is_add_or_delete_40002(api: Api, action: str):
    aud = api.segment("S")
    rows = [[entry(sha256("a"), [aud])]]
    body = api.post(MAPPING, mapping([aud], rows, id_schema=["EMAIL_SHA256"], action=action))
    assert body["code"] == 40002
