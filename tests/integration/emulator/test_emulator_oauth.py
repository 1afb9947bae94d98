"""Consent page, token exchange, advertiser/get, revoke, and the token rules (reference §1, §2.2)."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tiktok_local.emulator import EmulatorConfig, EmulatorServer

from .support import ADV1, ADV2, Api

CALLBACK = "http://127.0.0.1:8765/oauth/callback"


class FormReader(HTMLParser):
    """Reads the consent form like a browser would: fields, checkboxes, buttons and labels."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.method = ""
        self.fields: list[tuple[str, str]] = []
        self.buttons: dict[str, tuple[str, str]] = {}  # text -> (name, value)
        self._button: dict[str, str] | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action, self.method = a.get("action", ""), a.get("method", "")
        elif tag == "input" and (a.get("type") == "hidden" or "checked" in a):
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "button":
            self._button = a

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._button is not None and data.strip():
            self.buttons[data.strip()] = (self._button["name"], self._button["value"])
            self._button = None


def open_consent(emu: EmulatorServer, state: str, redirect_uri: str = CALLBACK) -> FormReader:
    resp = requests.get(
        emu.auth_url,
        params={"app_id": emu.config.app_id, "state": state, "redirect_uri": redirect_uri},
        timeout=10,
    )
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    form = FormReader()
    form.feed(resp.text)
    return form


def press(emu: EmulatorServer, form: FormReader, button: str) -> requests.Response:
    name, value = form.buttons[button]
    return requests.post(
        emu.base_url + form.action,
        data=[*form.fields, (name, value)],
        allow_redirects=False,
        timeout=10,
    )


def authorize(emu: EmulatorServer, state: str = "s1") -> str:
    resp = press(emu, open_consent(emu, state), "Confirm")
    assert resp.status_code == 302
    return parse_qs(urlsplit(resp.headers["Location"]).query)["auth_code"][0]


def exchange(api: Api, code: str, **overrides: str) -> dict:
    body = {"app_id": api.emu.config.app_id, "secret": api.emu.config.app_secret, "auth_code": code}
    return api.post("/oauth2/access_token/", {**body, **overrides}, token="")


def test_consent_page_lists_advertisers_permissions_and_a_confirm_button(emu: EmulatorServer):
    form = open_consent(emu, "abc")
    text = " ".join(form.text)
    assert form.method == "post"
    assert form.action == "/portal/auth"
    assert set(form.buttons) == {"Confirm", "Cancel"}
    assert "Demo Advertiser One" in text
    assert "Demo Advertiser Two" in text
    assert "Audience Management" in text
    assert "Measurement" in text


def test_confirm_redirects_with_auth_code_code_and_state_echoed_verbatim(emu: EmulatorServer):
    state = "v1.nonce+/=&x y"
    resp = press(emu, open_consent(emu, state), "Confirm")
    assert resp.status_code == 302
    location = urlsplit(resp.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == [state]
    assert query["auth_code"] == query["code"]
    assert len(query["auth_code"][0]) >= 16


def test_cancel_redirects_without_auth_code(emu: EmulatorServer):
    resp = press(emu, open_consent(emu, "st"), "Cancel")
    assert resp.status_code == 302
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert query == {"state": ["st"]}


def test_redirect_uri_keeps_its_own_query(emu: EmulatorServer):
    resp = press(emu, open_consent(emu, "s", CALLBACK + "?env=local"), "Confirm")
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert query["env"] == ["local"]
    assert "auth_code" in query


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"app_id": "999", "redirect_uri": CALLBACK}, "Unknown app_id"),
        ({"redirect_uri": CALLBACK}, "Unknown app_id"),
        ({"app_id": "APP", "redirect_uri": "https://evil.example/cb"}, "not registered"),
        ({"app_id": "APP"}, "redirect_uri is missing"),
        # Look like a registered loopback prefix but point elsewhere (userinfo / host tricks).
        ({"app_id": "APP", "redirect_uri": "http://127.0.0.1:9@evil.example/cb"}, "not registered"),
        ({"app_id": "APP", "redirect_uri": "http://localhost:.evil.example/cb"}, "not registered"),
        ({"app_id": "APP", "redirect_uri": "https://127.0.0.1:8443/cb"}, "not registered"),
    ],
)
def test_consent_rejects_unknown_app_and_unregistered_redirect(
    emu: EmulatorServer, params: dict, needle: str
):
    params = {k: emu.config.app_id if v == "APP" else v for k, v in params.items()}
    resp = requests.get(emu.auth_url, params=params, timeout=10)
    assert resp.status_code == 400
    assert needle in resp.text
    # Posting the form directly to a bad redirect is refused the same way (no code minted).
    resp = requests.post(
        emu.auth_url, data={**params, "decision": "confirm"}, allow_redirects=False, timeout=10
    )
    assert resp.status_code == 400


def test_exact_registered_redirect_uris(make_emulator):
    emu = make_emulator(EmulatorConfig(redirect_uris=["https://app.example/cb"]))
    ok = requests.get(
        emu.auth_url,
        params={"app_id": emu.config.app_id, "redirect_uri": "https://app.example/cb"},
        timeout=10,
    )
    other = requests.get(
        emu.auth_url,
        params={"app_id": emu.config.app_id, "redirect_uri": "http://127.0.0.1:9/cb"},
        timeout=10,
    )
    assert (ok.status_code, other.status_code) == (200, 400)


def test_full_flow_exchange_advertiser_get_revoke(emu: EmulatorServer, api: Api):
    body = exchange(api, authorize(emu))
    assert body["code"] == 0
    assert body["message"] == "OK"
    assert body["request_id"]
    data = body["data"]
    token = data["access_token"]
    assert sorted(data["advertiser_ids"]) == [ADV1, ADV2]
    assert data["scope"] == [3, 30, 31, 5]
    assert all(isinstance(s, int) for s in data["scope"])
    assert emu.state.tokens[token]["revoked"] is False

    got = api.get(
        "/oauth2/advertiser/get/",
        {"app_id": emu.config.app_id, "secret": emu.config.app_secret},
        token=token,
    )
    assert got["code"] == 0
    assert {(a["advertiser_id"], a["advertiser_name"]) for a in got["data"]["list"]} == {
        (ADV1, "Demo Advertiser One"),
        (ADV2, "Demo Advertiser Two"),
    }

    revoked = api.post(
        "/oauth2/revoke_token/",
        {"app_id": emu.config.app_id, "secret": emu.config.app_secret, "access_token": token},
        token="",
    )
    assert revoked["code"] == 0
    assert revoked["data"] == {"app_id": emu.config.app_id, "advertiser_ids": [ADV1, ADV2]}
    after = api.get(
        "/oauth2/advertiser/get/",
        {"app_id": emu.config.app_id, "secret": emu.config.app_secret},
        token=token,
    )
    assert after["code"] == 40105
    assert after["data"] == {}


def test_consent_with_one_advertiser_unchecked_limits_the_token(emu: EmulatorServer, api: Api):
    form = open_consent(emu, "s")
    form.fields = [f for f in form.fields if f != ("advertiser_id", ADV2)]
    resp = press(emu, form, "Confirm")
    code = parse_qs(urlsplit(resp.headers["Location"]).query)["auth_code"][0]
    assert exchange(api, code)["data"]["advertiser_ids"] == [ADV1]


def test_auth_code_is_single_use_40110(emu: EmulatorServer, api: Api):
    code = authorize(emu)
    assert exchange(api, code)["code"] == 0
    again = exchange(api, code)
    assert again["code"] == 40110
    assert again["data"] == {}


def test_auth_code_expires_after_one_hour_40110(emu: EmulatorServer, api: Api):
    code = authorize(emu)
    emu.state.advance_time(3601)
    assert exchange(api, code)["code"] == 40110


def test_unknown_auth_code_40110(api: Api):
    assert exchange(api, "not-a-code")["code"] == 40110


@pytest.mark.parametrize("field", ["app_id", "secret"])
def test_wrong_app_credentials_40101_and_code_not_spent(emu: EmulatorServer, api: Api, field):
    code = authorize(emu)
    assert exchange(api, code, **{field: "wrong"})["code"] == 40101
    assert exchange(api, code)["code"] == 0  # the failed attempt did not burn the code


def test_access_token_rejects_unknown_fields(emu: EmulatorServer, api: Api):
    assert exchange(api, authorize(emu), grant_type="x")["code"] == 40002


def test_advertiser_get_wrong_secret_40101(emu: EmulatorServer, api: Api):
    got = api.get("/oauth2/advertiser/get/", {"app_id": emu.config.app_id, "secret": "nope"})
    assert got["code"] == 40101


def test_revoke_unknown_token_40105(emu: EmulatorServer, api: Api):
    body = {"app_id": emu.config.app_id, "secret": emu.config.app_secret, "access_token": "zz"}
    assert api.post("/oauth2/revoke_token/", body, token="")["code"] == 40105


# ---------------------------------------------------------------- token rules on every endpoint
LIST = "/dmp/custom_audience/list/"


def test_missing_access_token_header_40104(api: Api):
    assert api.get(LIST, {"advertiser_id": ADV1}, token="")["code"] == 40104


def test_bearer_authorization_is_not_access_token_40104(emu: EmulatorServer, api: Api):
    resp = requests.get(
        api.url(LIST),
        params={"advertiser_id": ADV1},
        headers={"Authorization": f"Bearer {api.token}"},
        timeout=10,
    )
    assert resp.status_code == 200
    assert resp.json()["code"] == 40104


def test_unknown_token_40105(api: Api):
    assert api.get(LIST, {"advertiser_id": ADV1}, token="f" * 40)["code"] == 40105


def test_revoked_token_40105(emu: EmulatorServer, api: Api):
    emu.state.revoke_token(api.token)
    assert api.get(LIST, {"advertiser_id": ADV1})["code"] == 40105


def test_advertiser_not_reachable_by_token_40001(emu: EmulatorServer, api: Api):
    token = emu.state.issue_token(advertiser_ids=[ADV1])
    assert api.get(LIST, {"advertiser_id": ADV2}, token=token)["code"] == 40001
    assert api.get(LIST, {"advertiser_id": ADV1}, token=token)["code"] == 0


def test_scope_not_granted_40001(emu: EmulatorServer, api: Api):
    measurement_only = emu.state.issue_token(scope=[5])
    assert api.get(LIST, {"advertiser_id": ADV1}, token=measurement_only)["code"] == 40001
    # Scope 3 (Audience Management) grants its children 30 and 31.
    parent_only = emu.state.issue_token(scope=[3])
    assert api.get(LIST, {"advertiser_id": ADV1}, token=parent_only)["code"] == 0
