"""Property tests for the emulator's parsers (customer files, redirects, event times)."""

from __future__ import annotations

import copy
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from tiktok_local.emulator import EmulatorConfig, EmulatorServer
from tiktok_local.emulator.consent import redirect_with
from tiktok_local.emulator.rules import (
    FILE_HEADERS,
    ApiError,
    parse_customer_file,
    validate_event,
)

sha256_hex = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
HEX64 = re.compile(r"[0-9a-f]{64}")


@given(
    hashes=st.lists(sha256_hex, min_size=1, max_size=30),
    header=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
    blank_every=st.integers(min_value=0, max_value=5),
)
def test_single_type_files_parse_to_their_hashes(hashes, header, newline, bom, blank_every):
    lines = (["EMAIL_SHA256"] if header else []) + [
        h + (newline if blank_every and i % blank_every == 0 else "") for i, h in enumerate(hashes)
    ]
    text = ("\ufeff" if bom else "") + newline.join(lines) + newline
    members, rows = parse_customer_file(text.encode(), "EMAIL_SHA256")
    assert members == [("EMAIL_SHA256", h) for h in hashes]
    assert rows == len(hashes)


@given(
    hashes=st.lists(sha256_hex, min_size=1, max_size=10),
    bad=st.text(min_size=1, max_size=80).filter(
        lambda s: (
            s.strip()
            and "," not in s
            and not HEX64.fullmatch(s.strip())
            and s.strip().upper() not in FILE_HEADERS
            and not any(c in s for c in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
        )
    ),
    position=st.integers(min_value=0, max_value=10),
)
def test_any_value_that_is_not_a_hash_is_40062(hashes, bad, position):
    lines = list(hashes)
    lines.insert(min(position, len(lines)), bad)
    lines.insert(0, "EMAIL_SHA256")
    with pytest.raises(ApiError) as err:
        parse_customer_file(("\n".join(lines)).encode(), "EMAIL_SHA256")
    assert err.value.code == 40062
    # The message names the line and column, never the value itself.
    assert re.fullmatch(
        r"Line \d+: value in column EMAIL_SHA256 is not a lower-case SHA256 hex hash "
        r"\(raw or wrongly hashed PII\)",
        err.value.message,
    )


@given(
    rows=st.lists(
        st.tuples(st.one_of(st.just(""), sha256_hex), st.one_of(st.just(""), sha256_hex)),
        min_size=1,
        max_size=20,
    ).filter(lambda rs: any(a or b for a, b in rs))
)
def test_multiple_types_rows_keep_their_columns(rows):
    text = "EMAIL_SHA256,PHONE_SHA256\n" + "\n".join(f"{a},{b}" for a, b in rows)
    members, _ = parse_customer_file(text.encode(), "MULTIPLE_TYPES")
    expected = []
    for a, b in rows:
        if a:
            expected.append(("EMAIL_SHA256", a))
        if b:
            expected.append(("PHONE_SHA256", b))
    assert members == expected


@given(state=st.text(max_size=60), existing=st.booleans())
def test_redirect_echoes_any_state_verbatim(state, existing):
    uri = "http://127.0.0.1:8000/cb" + ("?env=x" if existing else "")
    target = redirect_with(uri, {"auth_code": "c", "state": state})
    query = parse_qs(urlsplit(target).query, keep_blank_values=True)
    assert query["state"] == [state]
    assert query["auth_code"] == ["c"]
    assert ("env" in query) is existing


@given(seconds=st.integers(min_value=1, max_value=99_999_999_999))
def test_integer_unix_seconds_accepted(seconds):
    validate_event({"event": "Search", "event_time": seconds}, "offline", 0)


@given(
    value=st.one_of(
        st.floats(allow_nan=True),
        st.text(),
        st.booleans(),
        st.integers(min_value=100_000_000_000),
        st.integers(max_value=0),
    )
)
def test_non_seconds_event_time_rejected(value):
    with pytest.raises(ApiError) as err:
        validate_event({"event": "Search", "event_time": value}, "offline", 3)
    assert err.value.code == 40002
    assert "data[3].event_time" in err.value.message


# ---------------------------------------------------------------- robustness of every endpoint
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
ADV = "7100000000000000001"
_H = "0" * 64
# A valid body per endpoint; the fuzz test mutates a few of its fields (paths below).
TEMPLATES: dict[str, dict] = {
    "/oauth2/access_token/": {"app_id": "7000000000000000001", "secret": "s", "auth_code": "c"},
    "/oauth2/revoke_token/": {"app_id": "7000000000000000001", "secret": "s", "access_token": "t"},
    "/dmp/custom_audience/create/": {
        "advertiser_id": ADV,
        "custom_audience_name": "n",
        "calculate_type": "EMAIL_SHA256",
        "file_paths": ["f"],
        "retention_in_days": 30,
    },
    "/dmp/custom_audience/update/": {
        "advertiser_id": ADV,
        "custom_audience_id": "1",
        "file_paths": ["f"],
        "action": "APPEND",
    },
    "/dmp/custom_audience/delete/": {"advertiser_id": ADV, "custom_audience_ids": ["1"]},
    "/segment/audience/": {"advertiser_id": ADV, "action": "create", "custom_audience_name": "n"},
    "/segment/mapping/": {
        "advertiser_ids": [ADV],
        "action": "add",
        "id_schema": ["EMAIL_SHA256"],
        "batch_data": [[{"id": _H, "audience_ids": ["1"]}]],
    },
    "/event/track/": {
        "event_source": "web",
        "event_source_id": "CDEMOPIXEL000000000A",
        "data": [
            {
                "event": "Search",
                "event_time": 1_760_000_000,
                "user": {"email": [_H], "ip": "1.2.3.4", "att_status": "DENIED"},
                "page": {"url": "https://x.example/"},
                "properties": {"contents": [{"content_id": "1"}], "value": 1},
                "app": {"app_id": "1"},
                "lead": {"lead_id": "1"},
                "ad": {"callback": "c"},
            }
        ],
    },
    "/pixel/track/": {
        "pixel_code": "CDEMOPIXEL000000000A",
        "event": "Search",
        "test_event_code": "TEST1",
        "timestamp": "2025-01-01T00:00:00Z",
        "context": {"user": {"email": _H}, "page": {"url": "https://x.example/"}},
        "properties": {"value": 1, "currency": "EUR"},
    },
    "/pixel/batch/": {
        "pixel_code": "CDEMOPIXEL000000000A",
        "batch": [
            {
                "type": "track",
                "event": "Search",
                "timestamp": "2025-01-01T00:00:00Z",
                "context": {"user": {"email": _H}, "page": {"url": "https://x.example/"}},
                "properties": {"value": 1},
            }
        ],
    },
}
MUTATION_PATHS = [
    ("event_source",),
    ("advertiser_id",),
    ("calculate_type",),
    ("action",),
    ("file_paths",),
    ("file_paths", 0),
    ("custom_audience_ids",),
    ("custom_audience_id",),
    ("id_schema",),
    ("id_schema", 0),
    ("batch_data",),
    ("batch_data", 0),
    ("batch_data", 0, 0),
    ("batch_data", 0, 0, "id"),
    ("batch_data", 0, 0, "audience_ids"),
    ("data",),
    ("data", 0),
    ("data", 0, "event"),
    ("data", 0, "event_time"),
    ("data", 0, "user"),
    ("data", 0, "user", "email"),
    ("data", 0, "user", "att_status"),
    ("data", 0, "page"),
    ("data", 0, "page", "url"),
    ("data", 0, "properties"),
    ("data", 0, "properties", "contents"),
    ("data", 0, "properties", "contents", 0),
    ("data", 0, "app"),
    ("data", 0, "lead"),
    ("data", 0, "ad"),
    ("batch",),
    ("batch", 0),
    ("batch", 0, "timestamp"),
    ("batch", 0, "context"),
    ("batch", 0, "context", "user"),
    ("batch", 0, "context", "page"),
    ("batch", 0, "properties"),
    ("pixel_code",),
    ("event",),
    ("test_event_code",),
    ("context",),
    ("properties",),
    ("auth_code",),
    ("app_id",),
    ("retention_in_days",),
    ("custom_audience_name",),
]


def mutate(body: dict, path: tuple, value: object) -> None:
    target: object = body
    for key in path[:-1]:
        try:
            target = target[key]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(target, dict) or (
        isinstance(target, list) and isinstance(path[-1], int) and path[-1] < len(target)
    ):
        target[path[-1]] = value  # type: ignore[index]


_fuzz_emulator = EmulatorServer(EmulatorConfig(qps={}))  # WSGI only: no socket, no thread
_fuzz_token = _fuzz_emulator.state.issue_token()


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_json_body_gets_a_tiktok_code_never_an_emulator_error(data):
    path = data.draw(st.sampled_from(sorted(TEMPLATES)))
    template = TEMPLATES[path]
    relevant = [p for p in MUTATION_PATHS if p[0] in template]
    whole = data.draw(st.one_of(st.none(), json_values))
    mutations = data.draw(st.lists(st.tuples(st.sampled_from(relevant), json_values), max_size=3))
    body = copy.deepcopy(template) if whole is None else whole
    for where, value in mutations:
        if isinstance(body, dict):
            mutate(body, where, value)
    client = Client(_fuzz_emulator.wsgi_app)
    resp = client.post("/open_api/v1.3" + path, json=body, headers={"Access-Token": _fuzz_token})
    assert resp.status_code == 200
    payload = resp.get_json()
    assert set(payload) == {"code", "message", "request_id", "data"}
    if payload["code"] != 0:
        assert payload["data"] == {}
