"""OAuth connect → consent → callback → disconnect on the local stack (real handler, emulator).

Every scenario runs under ``no_secrets_in_logs`` (conftest): the logs captured while it ran never
contain a token the emulator issued or the app secret.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
import requests

from tests.e2e.oauth.support import (
    ADVERTISER_1,
    ADVERTISER_2,
    REVOKE_PATH,
    LogCapture,
    advertisers_on_page,
    connect,
    connect_link,
    consent_to_callback_url,
    disconnect,
    exchanges,
    index_item,
    query_value,
    secret,
    start_consent,
    with_query,
)
from tiktok_connector.oauth.state import PURPOSE_STATE, SignedClaims, sign
from tiktok_connector.oauth.store import STATE_KIND, NonceStore
from tiktok_connector.oauth.tickets import connect_url, issue_ticket
from tiktok_connector.tokens import TokenNotFoundError, TokenStore
from tiktok_local.stack import LocalStack


def state_key(stack: LocalStack) -> bytes:
    value = stack.client("secretsmanager").get_secret_value(
        SecretId=stack.names["state_key_secret_name"]
    )["SecretString"]
    return str(value).encode()


def token_store(stack: LocalStack) -> TokenStore:
    dynamodb = boto3.session.Session().resource(
        "dynamodb", endpoint_url=stack.aws_endpoint_url, region_name=stack.region
    )
    return TokenStore(
        oauth_table=stack.names["oauth_table"],
        secrets_client=stack.client("secretsmanager"),
        dynamodb_resource=dynamodb,
    )


def assert_html_page(response: requests.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    text = response.text
    assert '<html lang="en">' in text
    assert "<title>" in text
    assert text.count("<h1>") == 1
    assert "<main>" in text
    assert "<script" not in text


# ---------------------------------------------------------------------- happy path
def test_connect_redirects_to_consent_with_signed_state(stack: LocalStack) -> None:
    response = start_consent(connect_link(stack, "redirect-check"))
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(stack.emulator.auth_url + "?")
    assert query_value(location, "app_id") == stack.emulator.config.app_id
    assert query_value(location, "redirect_uri") == stack.names["callback_url"]
    assert query_value(location, "state").startswith("v1.")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_happy_path_stores_token_and_lists_advertisers(stack: LocalStack) -> None:
    before = exchanges(stack)
    response = connect(stack, "acme")
    assert_html_page(response, 200)
    assert advertisers_on_page(response.text) == [ADVERTISER_1, ADVERTISER_2]
    assert "Demo Advertiser One" in response.text
    assert "Demo Advertiser Two" in response.text
    assert 'role="alert"' not in response.text  # all scopes granted: no warning
    assert exchanges(stack) == before + 1

    stored = secret(stack, "acme")
    record = stack.emulator.state.token_record(stored["access_token"])
    assert record is not None
    assert not record.revoked
    assert stored["advertiser_ids"] == [ADVERTISER_1, ADVERTISER_2]
    assert sorted(stored["scope"]) == sorted(stack.emulator.config.granted_scopes)
    assert stored["label"] == "acme"
    assert stored["authorization_id"] == "acme"
    assert stored["connected_at"]
    assert stored["access_token"] not in response.text
    secret_name = f"{stack.names['authorizations_secret_prefix']}acme"
    for advertiser in (ADVERTISER_1, ADVERTISER_2):
        item = index_item(stack, advertiser)
        assert item is not None
        assert item["secret_name"]["S"] == secret_name
        assert token_store(stack).token_for(advertiser) == stored["access_token"]


def test_without_label_the_authorization_id_is_a_digest_of_the_advertisers(
    stack: LocalStack,
) -> None:
    first = connect(stack, "", advertisers=(ADVERTISER_2,))
    assert_html_page(first, 200)
    id_text = first.text.split("Authorization <code>")[1].split("</code>")[0]
    assert id_text.startswith("adv-")
    assert secret(stack, id_text)["advertiser_ids"] == [ADVERTISER_2]
    assert secret(stack, id_text)["label"] == ""
    # The same advertisers again: the same authorization, updated.
    second = connect(stack, "", advertisers=(ADVERTISER_2,))
    assert f"Authorization <code>{id_text}</code>" in second.text


def test_callback_reads_code_when_auth_code_is_absent(stack: LocalStack) -> None:
    callback = consent_to_callback_url(stack, connect_link(stack, "code-only"))
    response = requests.get(with_query(callback, auth_code=None), timeout=30)
    assert_html_page(response, 200)
    assert secret(stack, "code-only")["advertiser_ids"] == [ADVERTISER_1, ADVERTISER_2]


def test_advertiser_names_are_escaped(stack: LocalStack) -> None:
    hostile = "7100000000000000009"
    stack.emulator.config.advertisers[hostile] = '<script>alert("x")</script> & Co'
    try:
        response = connect(stack, "escaping", advertisers=(hostile,))
    finally:
        del stack.emulator.config.advertisers[hostile]
    assert_html_page(response, 200)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in response.text


# ---------------------------------------------------------------------- state checks
def _fresh_callback(stack: LocalStack, label: str) -> str:
    return consent_to_callback_url(stack, connect_link(stack, label))


def _forged_state(stack: LocalStack, callback: str) -> str:
    state = query_value(callback, "state")
    head, payload, signature = state.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{head}.{payload}.{flipped}"


def _wrong_key_state(stack: LocalStack, callback: str) -> str:
    claims = SignedClaims(PURPOSE_STATE, "nonce-of-attacker", "evil", int(time.time()) + 600)
    return sign(claims, b"not-the-stack-key-but-long-enough-to-look-real")


def _expired_state(stack: LocalStack, callback: str) -> str:
    # Genuinely signed with the stack's key, nonce recorded, but past its expiry.
    nonces = NonceStore(stack.names["oauth_table"], dynamodb=stack.client("dynamodb"))
    past = int(time.time()) - 5
    claims = SignedClaims(PURPOSE_STATE, "expired-nonce-" + str(time.time_ns()), "late", past)
    nonces.record(STATE_KIND, claims.nonce, expires_at=past)
    return sign(claims, state_key(stack))


def _ticket_as_state(stack: LocalStack, callback: str) -> str:
    # A valid connect ticket must not pass as a state (purpose is signed).
    nonces = NonceStore(stack.names["oauth_table"], dynamodb=stack.client("dynamodb"))
    return issue_ticket(key=state_key(stack), nonces=nonces, label="x")


@pytest.mark.parametrize(
    ("case", "make_state", "phrase"),
    [
        ("missing", None, "carries no state"),
        ("forged", _forged_state, "not issued by this connector"),
        ("wrong-key", _wrong_key_state, "not issued by this connector"),
        ("ticket-as-state", _ticket_as_state, "not issued by this connector"),
        ("expired", _expired_state, "expired"),
    ],
)
def test_bad_state_is_rejected_before_the_code_is_spent(
    stack: LocalStack, case: str, make_state: Any, phrase: str
) -> None:
    callback = _fresh_callback(stack, f"bad-{case}")
    state = make_state(stack, callback) if make_state else None
    before = exchanges(stack)
    response = requests.get(with_query(callback, state=state), timeout=30)
    assert_html_page(response, 400)
    assert phrase in response.text
    assert "new connect link" in response.text
    assert exchanges(stack) == before, "the auth_code was sent to TikTok"
    # The code is still unspent: the genuine callback still works.
    assert_html_page(requests.get(callback, timeout=30), 200)


def test_replayed_state_is_rejected_and_the_new_code_is_not_spent(stack: LocalStack) -> None:
    link = connect_link(stack, "replay")
    callback = consent_to_callback_url(stack, link)
    assert_html_page(requests.get(callback, timeout=30), 200)
    before = exchanges(stack)
    # The exact same answer again.
    again = requests.get(callback, timeout=30)
    assert_html_page(again, 400)
    assert "already used" in again.text
    # The used state with a brand-new code from the consent page.
    fresh_code = query_value(_fresh_callback(stack, "replay-other"), "auth_code")
    spliced = with_query(callback, auth_code=fresh_code, code=fresh_code)
    assert_html_page(requests.get(spliced, timeout=30), 400)
    assert exchanges(stack) == before


# ---------------------------------------------------------------------- tickets
def _expired_ticket(stack: LocalStack) -> str:
    nonces = NonceStore(stack.names["oauth_table"], dynamodb=stack.client("dynamodb"))
    ticket = issue_ticket(key=state_key(stack), nonces=nonces, ttl_seconds=10, now=time.time() - 60)
    return connect_url(stack.http_front_url, ticket)


@pytest.mark.parametrize(
    ("case", "phrase"),
    [
        ("missing", "needs a connect link"),
        ("forged", "not valid"),
        ("expired", "expired"),
        ("replayed", "already used"),
    ],
)
def test_connect_without_a_valid_ticket_is_forbidden(
    stack: LocalStack, case: str, phrase: str
) -> None:
    if case == "missing":
        link = stack.names["connect_url"]
    elif case == "forged":
        genuine = connect_link(stack, "t-forged")
        link = genuine[:-3] + ("AAA" if not genuine.endswith("AAA") else "BBB")
    elif case == "expired":
        link = _expired_ticket(stack)
    else:
        link = connect_link(stack, "t-replayed")
        assert start_consent(link).status_code == 302
    response = start_consent(link)
    assert_html_page(response, 403)
    assert phrase in response.text
    assert "Location" not in response.headers


def test_a_labelled_ticket_cannot_be_relabelled(stack: LocalStack) -> None:
    response = start_consent(connect_link(stack, "owner") + "&label=someone-else")
    assert_html_page(response, 403)


# ---------------------------------------------------------------------- TikTok errors
def test_reused_code_gives_an_actionable_40110_page(stack: LocalStack) -> None:
    used = _fresh_callback(stack, "reuse-a")
    assert_html_page(requests.get(used, timeout=30), 200)
    other = _fresh_callback(stack, "reuse-b")
    code = query_value(used, "auth_code")
    response = requests.get(with_query(other, auth_code=code, code=code), timeout=30)
    assert_html_page(response, 400)
    assert "expired or was already used" in response.text
    assert "new connect link" in response.text
    assert "40110" in response.text


def test_tiktok_down_gives_a_try_later_page(stack: LocalStack) -> None:
    callback = _fresh_callback(stack, "down")
    stack.emulator.faults.add("http_500", path="/oauth2/access_token/")
    response = requests.get(callback, timeout=30)
    assert_html_page(response, 503)
    assert "Try again" in response.text
    assert "could not be reached" in response.text


def test_app_credentials_mismatch_gives_a_40101_page(stack: LocalStack) -> None:
    from tiktok_connector.oauth.flow import default_flow

    sm = stack.client("secretsmanager")
    name = stack.names["app_secret_name"]
    good = sm.get_secret_value(SecretId=name)["SecretString"]
    callback = _fresh_callback(stack, "badcreds")
    sm.put_secret_value(
        SecretId=name,
        SecretString=json.dumps({"app_id": stack.emulator.config.app_id, "secret": "wrong-secret"}),
    )
    default_flow().secrets.refresh()
    try:
        response = requests.get(callback, timeout=30)
    finally:
        sm.put_secret_value(SecretId=name, SecretString=good)
        default_flow().secrets.refresh()
    assert_html_page(response, 502)
    assert "app credentials" in response.text
    assert name in response.text  # says which secret to check
    assert "wrong-secret" not in response.text


# ---------------------------------------------------------------------- re-authorization
def test_reauthorization_updates_the_stored_token(stack: LocalStack) -> None:
    assert_html_page(connect(stack, "reauth"), 200)
    first = secret(stack, "reauth")["access_token"]
    store = token_store(stack)
    assert store.token_for(ADVERTISER_1) == first

    response = connect(stack, "reauth", advertisers=(ADVERTISER_1,))
    assert_html_page(response, 200)
    second = secret(stack, "reauth")["access_token"]
    assert second != first
    # A reader with the old token cached gets the new one when it refetches (after a 40105).
    assert store.token_for(ADVERTISER_1, refresh=True) == second
    versions = stack.client("secretsmanager").list_secret_version_ids(
        SecretId=f"{stack.names['authorizations_secret_prefix']}reauth"
    )["Versions"]
    assert len(versions) >= 2
    # Advertiser 2 is no longer reached by this authorization: its index item (if it still
    # names this secret) is gone.
    item = index_item(stack, ADVERTISER_2)
    assert item is None or not item["secret_name"]["S"].endswith("/reauth")


def test_missing_scopes_are_warned_about(stack: LocalStack) -> None:
    config = stack.emulator.config
    saved = list(config.granted_scopes)
    config.granted_scopes = [30]
    try:
        response = connect(stack, "narrow")
    finally:
        config.granted_scopes = saved
    assert_html_page(response, 200)
    assert response.text.count('role="alert"') == 2
    assert "Audience Management was not granted" in response.text
    assert "Measurement (Report Conversion Event) was not granted" in response.text
    assert secret(stack, "narrow")["scope"] == [30]


def test_a_token_with_only_measurements_child_scopes_is_not_warned_about(stack: LocalStack) -> None:
    # contract: OA-07 — TikTok grants Report Conversion Event (7224195155857866754) and Report
    # Pixel Event (51) without their parent Measurement (5); both endpoints work with them.
    config = stack.emulator.config
    saved = list(config.granted_scopes)
    config.granted_scopes = [3, 7224195155857866754, 51]
    try:
        response = connect(stack, "children")
    finally:
        config.granted_scopes = saved
    assert_html_page(response, 200)
    assert 'role="alert"' not in response.text
    assert secret(stack, "children")["scope"] == [3, 7224195155857866754, 51]


# ---------------------------------------------------------------------- disconnect
def test_disconnect_revokes_and_removes_secret_and_index(stack: LocalStack) -> None:
    assert_html_page(connect(stack, "leaving", advertisers=(ADVERTISER_2,)), 200)
    token = secret(stack, "leaving")["access_token"]
    revokes = sum(1 for r in stack.emulator.state.requests if r["path"] == REVOKE_PATH)

    unsigned = disconnect(stack, {"authorization_id": "leaving"}, signed=False)
    assert unsigned.status_code == 403  # AWS_IAM at the gateway
    response = disconnect(stack, {"advertiser_id": ADVERTISER_2})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "authorization_id": "leaving",
        "advertiser_ids": [ADVERTISER_2],
        "revoked": True,
    }
    assert token not in response.text
    assert stack.emulator.state.token_record(token).revoked
    assert sum(1 for r in stack.emulator.state.requests if r["path"] == REVOKE_PATH) == revokes + 1
    sm = stack.client("secretsmanager")
    with pytest.raises(sm.exceptions.ClientError):
        sm.get_secret_value(SecretId=f"{stack.names['authorizations_secret_prefix']}leaving")
    assert index_item(stack, ADVERTISER_2) is None
    with pytest.raises(TokenNotFoundError):
        token_store(stack).token_for(ADVERTISER_2)

    assert disconnect(stack, {"authorization_id": "leaving"}).status_code == 404
    # Connecting again under the same label works (the deleted secret is restored and updated).
    assert_html_page(connect(stack, "leaving", advertisers=(ADVERTISER_2,)), 200)
    assert secret(stack, "leaving")["access_token"] != token


def test_disconnect_keeps_everything_when_tiktok_is_down(stack: LocalStack) -> None:
    assert_html_page(connect(stack, "sticky", advertisers=(ADVERTISER_1,)), 200)
    stack.emulator.faults.add("http_500", path="/oauth2/revoke_token/")
    response = disconnect(stack, {"authorization_id": "sticky"})
    assert response.status_code == 503
    assert secret(stack, "sticky")["access_token"]
    assert index_item(stack, ADVERTISER_1) is not None


def test_disconnect_needs_a_name(stack: LocalStack) -> None:
    assert disconnect(stack, {}).status_code == 400
    assert disconnect(stack, {"authorization_id": "../etc"}).status_code == 400


def test_the_log_capture_sees_the_oauth_logs(
    stack: LocalStack, no_secrets_in_logs: LogCapture
) -> None:
    """The leak check is only as good as its capture: it must see the handler's own records."""
    assert_html_page(connect(stack, "logged"), 200)
    logged = no_secrets_in_logs.text()
    assert "consent started" in logged
    assert "authorization stored" in logged
    assert '"logged"' in logged or "'logged'" in logged  # extra fields are captured too
