"""QPS limits (40100), fault injection, HTTP behaviour, admin routes and the standalone runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tiktok_local.emulator import EmulatorConfig, EmulatorServer

from .support import ADV1, Api, FrozenClock, email_hashes, no_qps_config, sha256

LIST = "/dmp/custom_audience/list/"
SEGMENT = "/segment/audience/"


def create_segment(api: Api, name: str = "S") -> requests.Response:
    return api.session.post(
        api.url(SEGMENT),
        json={"advertiser_id": ADV1, "custom_audience_name": name},
        headers={"Access-Token": api.token},
        timeout=10,
    )


# ---------------------------------------------------------------- QPS
def test_basic_tier_10_qps_then_40100_until_the_window_slides(make_emulator):
    emu = make_emulator(EmulatorConfig(clock=FrozenClock()))
    api = Api(emu, emu.state.issue_token())
    codes = [api.get(LIST, {"advertiser_id": ADV1})["code"] for _ in range(11)]
    assert codes == [0] * 10 + [40100]
    throttled = api.get(LIST, {"advertiser_id": ADV1})
    assert throttled["message"] == "Too many requests. Please retry in some time."
    assert throttled["data"] == {}
    emu.state.advance_time(1.0)
    assert api.get(LIST, {"advertiser_id": ADV1})["code"] == 0


def test_throttled_request_changes_no_state(make_emulator):
    emu = make_emulator(EmulatorConfig(clock=FrozenClock(), qps={"segment_audience": 1}))
    api = Api(emu, emu.state.issue_token())
    assert create_segment(api, "first").json()["code"] == 0
    resp = create_segment(api, "second")
    assert resp.status_code == 200
    assert resp.json()["code"] == 40100
    assert [a["name"] for a in emu.state.audiences_for(ADV1)] == ["first"]


def test_events_group_has_its_own_higher_limit(make_emulator):
    emu = make_emulator(EmulatorConfig(clock=FrozenClock(), qps={"dmp": 1, "events": 1000}))
    api = Api(emu, emu.state.issue_token())
    assert api.get(LIST, {"advertiser_id": ADV1})["code"] == 0
    assert api.get(LIST, {"advertiser_id": ADV1})["code"] == 40100
    body = {"event_source": "web", "event_source_id": "CDEMOPIXEL000000000A", "data": []}
    # Not throttled (the events window is separate); rejected for its empty batch instead.
    assert [api.post("/event/track/", body)["code"] for _ in range(5)] == [40061] * 5


def test_qps_window_per_endpoint_or_per_group(make_emulator):
    per_endpoint = make_emulator(EmulatorConfig(clock=FrozenClock(), qps={"dmp": 1}))
    per_group = make_emulator(
        EmulatorConfig(clock=FrozenClock(), qps={"dmp": 1}, qps_scope="group")
    )
    results = []
    for emu in (per_endpoint, per_group):
        api = Api(emu, emu.state.issue_token())
        api.get(LIST, {"advertiser_id": ADV1})
        results.append(api.get("/dmp/custom_audience/get/", {"advertiser_id": ADV1})["code"])
    # get without ids is a 40002 when it reaches the handler; 40100 when the group is spent.
    assert results == [40002, 40100]


def test_qps_disabled_with_none():
    config = no_qps_config()
    assert config.qps == {}
    assert EmulatorConfig().qps["segment_mapping"] == 10_000


# ---------------------------------------------------------------- faults
def test_http_500_count_then_normal(emu: EmulatorServer, api: Api):
    emu.faults.add("http_500", path="/segment/", count=2, status=503)
    statuses = [create_segment(api, f"s{i}").status_code for i in range(3)]
    assert statuses == [503, 503, 200]
    assert len(emu.state.audiences_for(ADV1)) == 1
    assert [r["fault"] for r in emu.state.requests] == ["http_500", "http_500", None]


def test_code_50002_changes_no_state(emu: EmulatorServer, api: Api):
    emu.faults.add("code_50002", count=1)
    body = create_segment(api).json()
    assert body["code"] == 50002
    assert body["data"] == {}
    assert emu.state.audiences_for(ADV1) == []


@pytest.mark.parametrize("code", [None, 40133, 40132, 40016, 61000])
def test_throttle_fault_codes(emu: EmulatorServer, api: Api, code):
    emu.faults.add("throttle", count=1, code=code)
    resp = create_segment(api)
    assert resp.status_code == 200
    assert resp.json()["code"] == (code or 40100)
    assert emu.state.audiences_for(ADV1) == []


def test_slow_fault_delays_then_answers(emu: EmulatorServer, api: Api):
    emu.faults.add("slow", delay=0.3, count=1)
    started = time.monotonic()
    assert create_segment(api).json()["code"] == 0
    assert time.monotonic() - started >= 0.3


def test_slow_fault_trips_client_timeout(emu: EmulatorServer, api: Api):
    emu.faults.add("slow", delay=0.5, count=1)
    with pytest.raises(requests.Timeout):
        api.session.get(
            api.url(LIST),
            params={"advertiser_id": ADV1},
            headers={"Access-Token": api.token},
            timeout=0.1,
        )
    # Let the slow request finish so it cannot touch the next test's state.
    deadline = time.monotonic() + 5
    while not emu.state.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert emu.state.requests[0]["code"] == 0


def test_drop_closes_without_response_and_applies_nothing(emu: EmulatorServer, api: Api):
    emu.faults.add("drop", count=1)
    with pytest.raises(requests.ConnectionError):
        create_segment(api)
    assert emu.state.audiences_for(ADV1) == []
    assert create_segment(api).json()["code"] == 0


def test_drop_after_apply_applies_then_loses_the_answer(emu: EmulatorServer, api: Api):
    emu.faults.add("drop_after_apply", path="/segment/audience/", count=1)
    with pytest.raises(requests.ConnectionError):
        create_segment(api, "applied")
    assert [a["name"] for a in emu.state.audiences_for(ADV1)] == ["applied"]
    assert [(r["code"], r["fault"]) for r in emu.state.requests] == [(0, "drop_after_apply")]


def test_revoke_token_fault(emu: EmulatorServer, api: Api):
    other = emu.state.issue_token()
    emu.faults.add("revoke_token", token=api.token, path="/dmp/")
    assert create_segment(api).json()["code"] == 0  # path does not match: not yet revoked
    assert api.get(LIST, {"advertiser_id": ADV1})["code"] == 40105
    assert emu.state.tokens[api.token]["revoked"] is True
    assert create_segment(api).json()["code"] == 40105
    assert api.get(LIST, {"advertiser_id": ADV1}, token=other)["code"] == 0


def test_outage_and_clear(emu: EmulatorServer, api: Api):
    emu.faults.add("http_500", rate=1.0)
    assert {create_segment(api).status_code for _ in range(3)} == {500}
    emu.faults.clear()
    assert create_segment(api).status_code == 200


def test_faults_do_not_touch_consent_or_admin_routes(emu: EmulatorServer):
    emu.faults.add("http_500", rate=1.0)
    params = {"app_id": emu.config.app_id, "redirect_uri": "http://127.0.0.1:1/cb"}
    assert requests.get(emu.auth_url, params=params, timeout=10).status_code == 200
    assert requests.get(emu.base_url + "/_emulator/state", timeout=10).status_code == 200


def test_path_prefix_with_or_without_api_base(emu: EmulatorServer, api: Api):
    emu.faults.add("code_50002", path="/open_api/v1.3/dmp/", count=1)
    assert create_segment(api).json()["code"] == 0
    assert api.get(LIST, {"advertiser_id": ADV1})["code"] == 50002


def _pattern(seed: int) -> list[int]:
    with EmulatorServer(no_qps_config(seed=seed)).start() as emu:
        api = Api(emu, emu.state.issue_token())
        emu.faults.add("code_50002", rate=0.5)
        return [api.get(LIST, {"advertiser_id": ADV1})["code"] for _ in range(24)]


def test_rate_faults_are_deterministic_for_a_seed():
    first, again, other = _pattern(7), _pattern(7), _pattern(8)
    assert first == again
    assert set(first) == {0, 50002}
    assert first != other


def test_invalid_fault_arguments_raise(emu: EmulatorServer):
    with pytest.raises(ValueError, match="unknown fault kind"):
        emu.faults.add("explode")
    with pytest.raises(ValueError, match="throttle code"):
        emu.faults.add("throttle", code=40002)
    with pytest.raises(ValueError, match="delay"):
        emu.faults.add("slow")


# ---------------------------------------------------------------- HTTP behaviour
@pytest.mark.parametrize(
    "path",
    [
        "/open_api/v1.3/dmp/custom_audience/list",  # missing trailing slash
        "/open_api/v1.3/dmp/custom_audience/nope/",
        "/open_api/v1.2/dmp/custom_audience/list/",
        "/elsewhere/",
    ],
)
def test_unknown_path_or_missing_trailing_slash_is_http_404(emu: EmulatorServer, api: Api, path):
    resp = requests.get(emu.base_url + path, headers={"Access-Token": api.token}, timeout=10)
    assert resp.status_code == 404


def test_wrong_method_is_http_405(emu: EmulatorServer, api: Api):
    resp = requests.get(api.url(SEGMENT), headers={"Access-Token": api.token}, timeout=10)
    assert resp.status_code == 405


def test_envelope_shape_on_error(api: Api):
    body = api.get(LIST, {"advertiser_id": ADV1}, token="")
    assert set(body) == {"code", "message", "request_id", "data"}
    assert body["data"] == {}
    assert isinstance(body["request_id"], str)


def test_request_ids_are_unique(api: Api):
    ids = {api.get(LIST, {"advertiser_id": ADV1})["request_id"] for _ in range(5)}
    assert len(ids) == 5


def test_request_log_and_state_view_never_hold_the_token(emu: EmulatorServer, api: Api):
    create_segment(api)
    api.get("/oauth2/advertiser/get/", {"app_id": emu.config.app_id, "secret": "x"})
    assert api.token not in json.dumps(emu.state.requests)
    assert [(r["path"], r["code"]) for r in emu.state.requests] == [
        ("/open_api/v1.3/segment/audience/", 0),
        ("/open_api/v1.3/oauth2/advertiser/get/", 40101),
    ]
    view = requests.get(emu.base_url + "/_emulator/state", timeout=10).text
    assert api.token not in view
    assert emu.config.app_secret not in view


def test_concurrent_mapping_requests_all_land(emu: EmulatorServer, api: Api):
    audience_id = api.segment("Concurrent")
    hashes = email_hashes(64)

    def add(value: str) -> int:
        body = {
            "advertiser_ids": [ADV1],
            "id_schema": ["EMAIL_SHA256"],
            "batch_data": [[{"id": value, "audience_ids": [audience_id]}]],
        }
        return int(Api(emu, api.token).post("/segment/mapping/", body)["code"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(add, hashes)) == {0}
    assert emu.state.audience_hashes(audience_id) == set(hashes)


# ---------------------------------------------------------------- admin routes
def test_admin_routes_tokens_faults_state_reset(emu: EmulatorServer):
    admin = emu.base_url + "/_emulator"
    token = requests.post(admin + "/tokens", json={"scope": [3]}, timeout=10).json()["access_token"]
    api = Api(emu, token)
    assert emu.state.tokens[token]["scope"] == [3]
    segment_id = api.segment("Via HTTP")
    api.post(
        "/segment/mapping/",
        {
            "advertiser_ids": [ADV1],
            "id_schema": ["EMAIL_SHA256"],
            "batch_data": [[{"id": sha256("a"), "audience_ids": [segment_id]}]],
        },
    )

    added = requests.post(admin + "/faults", json={"kind": "throttle", "count": 1}, timeout=10)
    assert added.json()["fault"]["kind"] == "throttle"
    assert api.get(LIST, {"advertiser_id": ADV1})["code"] == 40100
    bad = requests.post(admin + "/faults", json={"kind": "nope"}, timeout=10)
    assert bad.status_code == 400

    state = requests.get(admin + "/state", timeout=10).json()
    (audience,) = state["audiences"]
    assert audience["name"] == "Via HTTP"
    assert audience["members"] == [["EMAIL_SHA256", sha256("a")]]
    assert state["tokens"][0]["token"].startswith("sha256:")
    slim = requests.get(admin + "/state", params={"members": "0"}, timeout=10).json()
    assert "members" not in slim["audiences"][0]

    requests.post(admin + "/faults", json={"clear": True}, timeout=10)
    assert emu.faults.active == []
    requests.post(admin + "/reset", timeout=10)
    assert emu.state.audiences_for(ADV1) == []
    assert emu.state.tokens == {}


def test_admin_time_advances_the_clock(emu: EmulatorServer):
    before = emu.state.now()
    requests.post(emu.base_url + "/_emulator/time", json={"advance": 7200}, timeout=10)
    assert emu.state.now() - before >= 7200


# ---------------------------------------------------------------- standalone
def test_module_runs_standalone_and_prints_its_urls():
    local_dir = Path(__file__).resolve().parents[3] / "local"
    env = {**os.environ, "PYTHONPATH": str(local_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tiktok_local.emulator", "--port", "0", "--issue-token"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("}"):
                break
        info = json.loads("".join(lines))
        assert info["tiktok_api_base_url"].endswith("/open_api/v1.3")
        assert info["tiktok_auth_url"].endswith("/portal/auth")
        resp = requests.get(
            info["tiktok_api_base_url"] + LIST,
            params={"advertiser_id": ADV1},
            headers={"Access-Token": info["access_token"]},
            timeout=10,
        )
        assert resp.json()["code"] == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
