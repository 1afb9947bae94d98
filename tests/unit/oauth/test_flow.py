"""OAuthFlow with in-memory collaborators: state first, TikTok errors made actionable, disconnect."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.oauth.fakes import (
    ADVERTISERS,
    APP_ID,
    APP_SECRET,
    STATE_KEY,
    TOKEN,
    FakeAuthorizations,
    FakeClient,
    FakeNonces,
    FakeSecrets,
    settings,
)
from tiktok_connector.oauth.errors import (
    AuthorizationDeniedError,
    DisconnectError,
    OAuthError,
    StateRejectedError,
    TicketRejectedError,
    TikTokRefusedError,
    TikTokUnavailableError,
)
from tiktok_connector.oauth.flow import OAuthFlow, authorization_id_for
from tiktok_connector.oauth.scopes import scope_warnings
from tiktok_connector.oauth.state import SignedClaims, sign
from tiktok_connector.oauth.store import Authorization
from tiktok_connector.oauth.tickets import issue_ticket
from tiktok_connector.tiktok import (
    PermanentTikTokError,
    RetryableTikTokError,
    TokenRejectedError,
)

NOW = 1_800_000_000.0
EXCHANGE = "oauth2/access_token"
NAMES = "oauth2/advertiser/get"
REVOKE = "oauth2/revoke_token"


class World:
    def __init__(self, **setting_overrides: Any) -> None:
        self.now = NOW
        self.nonces = FakeNonces()
        self.secrets = FakeSecrets()
        self.client = FakeClient(
            answers={
                EXCHANGE: {"access_token": TOKEN, "advertiser_ids": ADVERTISERS, "scope": [3, 5]},
                NAMES: {
                    "list": [
                        {"advertiser_id": ADVERTISERS[0], "advertiser_name": "One"},
                        {"advertiser_id": ADVERTISERS[1], "advertiser_name": ""},
                    ]
                },
                REVOKE: {"app_id": APP_ID, "advertiser_ids": ADVERTISERS},
            }
        )
        self.authorizations = FakeAuthorizations()
        self.flow = OAuthFlow(
            settings=settings(**setting_overrides),
            secrets=self.secrets,  # type: ignore[arg-type]
            client=self.client,  # type: ignore[arg-type]
            nonces=self.nonces,  # type: ignore[arg-type]
            authorizations=self.authorizations,  # type: ignore[arg-type]
            clock=lambda: self.now,
        )

    def ticket(self, label: str = "") -> str:
        return issue_ticket(key=STATE_KEY, nonces=self.nonces, label=label, now=self.now)  # type: ignore[arg-type]

    def state(self, label: str = "") -> str:
        location = self.flow.connect(
            ticket=self.ticket(label), label=None, domain_name="api.example"
        )
        return parse_qs(urlsplit(location).query)["state"][0]


def no_secret_in(exc: BaseException) -> None:
    text = f"{exc} {exc!r} {vars(exc)}"
    assert TOKEN not in text
    assert APP_SECRET not in text


# ---------------------------------------------------------------------- connect
def test_connect_builds_the_consent_url_with_a_recorded_state() -> None:
    world = World()
    location = world.flow.connect(
        ticket=world.ticket("acme"), label=None, domain_name="api.example"
    )
    parts = urlsplit(location)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://tiktok.example/portal/auth"
    assert query["app_id"] == [APP_ID]
    assert query["redirect_uri"] == ["https://api.example/oauth/callback"]
    assert [k for k in world.nonces.items if k.startswith("state#")]
    assert not [k for k in world.nonces.items if k.startswith("ticket#")]  # consumed


def test_configured_redirect_uri_wins_over_the_request_domain() -> None:
    world = World(oauth_redirect_uri="https://connect.example.com/oauth/callback")
    location = world.flow.connect(ticket=world.ticket(), label=None, domain_name="api.example")
    assert parse_qs(urlsplit(location).query)["redirect_uri"] == [
        "https://connect.example.com/oauth/callback"
    ]


def test_query_label_applies_only_to_unlabelled_tickets() -> None:
    world = World()
    world.flow.connect(ticket=world.ticket(), label="chosen", domain_name="d")
    with pytest.raises(TicketRejectedError):
        world.flow.connect(ticket=world.ticket("fixed"), label="other", domain_name="d")
    with pytest.raises(TicketRejectedError):
        world.flow.connect(ticket=world.ticket(), label="bad/label", domain_name="d")


@pytest.mark.parametrize("ticket", [None, "", "v1.abc.def"])
def test_connect_without_a_valid_ticket_records_no_state(ticket: str | None) -> None:
    world = World()
    with pytest.raises(TicketRejectedError) as info:
        world.flow.connect(ticket=ticket, label=None, domain_name="d")
    assert info.value.status == 403
    assert not world.nonces.items


def test_a_state_is_not_a_ticket() -> None:
    world = World()
    with pytest.raises(TicketRejectedError):
        world.flow.connect(ticket=world.state(), label=None, domain_name="d")


def test_expired_ticket_is_rejected() -> None:
    world = World()
    ticket = world.ticket()
    world.now += 24 * 3600 + 1
    with pytest.raises(TicketRejectedError) as info:
        world.flow.connect(ticket=ticket, label=None, domain_name="d")
    assert info.value.reason == "ticket_expired"


# ---------------------------------------------------------------------- callback
def test_callback_stores_the_authorization_and_reports_names() -> None:
    world = World()
    result = world.flow.callback({"state": world.state("acme"), "auth_code": "code-1"})
    assert result.authorization_id == "acme"
    assert result.advertiser_ids == ADVERTISERS
    assert result.advertiser_names == {ADVERTISERS[0]: "One"}
    assert result.warnings == []
    stored = world.authorizations.saved["acme"]
    assert stored.access_token == TOKEN
    assert stored.scope == [3, 5]
    assert stored.label == "acme"
    assert stored.connected_at.startswith("2027-")
    assert TOKEN not in repr(stored)
    method, path, kwargs = world.client.calls[0]
    assert (method, path) == ("POST", EXCHANGE)
    assert kwargs["json"] == {"app_id": APP_ID, "secret": APP_SECRET, "auth_code": "code-1"}


def test_callback_falls_back_to_code() -> None:
    world = World()
    world.flow.callback({"state": world.state(), "code": "code-2"})
    assert world.client.calls[0][2]["json"]["auth_code"] == "code-2"


def _state_cases(world: World) -> dict[str, dict[str, str]]:
    good = world.state()
    expired = sign(SignedClaims("state", "old", "", int(NOW) - 1), STATE_KEY)
    world.nonces.items["state#old"] = int(NOW) - 1
    ticket = world.ticket()
    used = world.state()
    world.nonces.consume("state", _nonce_of(used), now=NOW)
    return {
        "missing": {"auth_code": "c"},
        "forged": {"state": good[:-2] + "xx", "auth_code": "c"},
        "expired": {"state": expired, "auth_code": "c"},
        "ticket": {"state": ticket, "auth_code": "c"},
        "replayed": {"state": used, "auth_code": "c"},
    }


def _nonce_of(state: str) -> str:
    import base64
    import json

    payload = state.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=="))["n"])


@pytest.mark.parametrize("case", ["missing", "forged", "expired", "ticket", "replayed"])
def test_bad_state_never_reaches_tiktok(case: str) -> None:
    world = World()
    params = _state_cases(world)[case]
    with pytest.raises(StateRejectedError) as info:
        world.flow.callback(params)
    assert info.value.status == 400
    expected = {"ticket": "forged"}.get(case, case)
    assert info.value.reason == f"state_{expected}"
    assert world.client.calls == []
    assert world.authorizations.saved == {}


def test_state_works_once() -> None:
    world = World()
    state = world.state()
    world.flow.callback({"state": state, "auth_code": "c"})
    with pytest.raises(StateRejectedError, match="already used"):
        world.flow.callback({"state": state, "auth_code": "c2"})
    assert world.client.paths().count(EXCHANGE) == 1


def test_state_expires_after_its_ttl() -> None:
    world = World(state_ttl_seconds=600)
    state = world.state()
    world.now += 600
    with pytest.raises(StateRejectedError) as info:
        world.flow.callback({"state": state, "auth_code": "c"})
    assert info.value.reason == "state_expired"


def test_cancelled_consent_has_no_code() -> None:
    world = World()
    with pytest.raises(AuthorizationDeniedError):
        world.flow.callback({"state": world.state()})
    assert world.client.calls == []


@pytest.mark.parametrize(
    ("error", "kind", "status", "reason"),
    [
        (
            PermanentTikTokError(40110, "auth_code invalid"),
            TikTokRefusedError,
            400,
            "auth_code_invalid",
        ),
        (
            PermanentTikTokError(40101, "bad app"),
            TikTokRefusedError,
            502,
            "app_credentials_rejected",
        ),
        (PermanentTikTokError(40002, "param"), TikTokRefusedError, 502, "tiktok_refused"),
        (RetryableTikTokError(-1, "HTTP 500"), TikTokUnavailableError, 503, "tiktok_unavailable"),
        (RetryableTikTokError(50002, "timeout"), TikTokUnavailableError, 503, "tiktok_unavailable"),
    ],
)
def test_tiktok_errors_become_actionable_pages(
    error: Exception, kind: type[OAuthError], status: int, reason: str
) -> None:
    world = World()
    world.client.answers[EXCHANGE] = error  # type: ignore[assignment]
    with pytest.raises(kind) as info:
        world.flow.callback({"state": world.state(), "auth_code": "c"})
    assert info.value.status == status
    assert info.value.reason == reason
    assert info.value.hint
    no_secret_in(info.value)
    assert world.authorizations.saved == {}
    assert world.secrets.refreshed == (1 if reason == "app_credentials_rejected" else 0)


def test_names_lookup_failure_still_connects() -> None:
    world = World()
    world.client.answers[NAMES] = TokenRejectedError(40105, "invalid")
    result = world.flow.callback({"state": world.state(), "auth_code": "c"})
    assert result.advertiser_ids == ADVERTISERS
    assert result.advertiser_names == {}


def test_ids_come_from_the_names_list_when_the_exchange_omits_them() -> None:
    world = World()
    world.client.answers[EXCHANGE] = {"access_token": TOKEN, "advertiser_ids": [], "scope": [3, 5]}
    result = world.flow.callback({"state": world.state(), "auth_code": "c"})
    assert result.advertiser_ids == ADVERTISERS


REPORT_CONVERSION_EVENT = 7224195155857866754
REPORT_PIXEL_EVENT = 51


@pytest.mark.parametrize(
    ("scope", "audience_warned", "measurement_warned"),
    [
        ([3, 5], False, False),
        ([30, 31, 32, 5], False, False),
        ([3, 30, 31, 5], False, False),
        ([30, 5], True, False),
        ([31, 5], True, False),
        ([3], False, True),
        ([], True, True),
        ([4, 6], True, True),
        # Measurement's children alone (contract OA-07): no warning about events.
        ([3, REPORT_CONVERSION_EVENT, REPORT_PIXEL_EVENT], False, False),
        ([3, REPORT_CONVERSION_EVENT], False, False),
        ([30, 31, REPORT_CONVERSION_EVENT, REPORT_PIXEL_EVENT], False, False),
        ([3, 50], False, True),  # Report App Event is not one the connector uses
    ],
)
def test_scope_warnings(scope: list[int], audience_warned: bool, measurement_warned: bool) -> None:
    text = " ".join(scope_warnings(scope))
    assert ("Audience Management" in text) is audience_warned
    assert ("Measurement" in text) is measurement_warned


def test_only_the_pixel_child_scope_warns_that_events_api_2_is_not_covered() -> None:
    [warning] = scope_warnings([3, REPORT_PIXEL_EVENT])
    assert "Report Conversion Event was not granted" in warning
    assert "legacy pixel" in warning


@given(st.lists(st.from_regex(r"7[0-9]{18}", fullmatch=True), min_size=1, max_size=6, unique=True))
def test_authorization_id_is_stable_and_order_free(ids: list[str]) -> None:
    expected = authorization_id_for("", ids)
    for permutation in itertools.islice(itertools.permutations(ids), 6):
        assert authorization_id_for("", list(permutation)) == expected
    assert expected.startswith("adv-")
    assert authorization_id_for("label", ids) == "label"


def test_authorization_ids_differ_for_different_advertiser_sets() -> None:
    assert authorization_id_for("", ["1", "2"]) != authorization_id_for("", ["1"])


# ---------------------------------------------------------------------- disconnect
def _connected(world: World, label: str = "acme") -> None:
    world.flow.callback({"state": world.state(label), "auth_code": "c"})


def test_disconnect_revokes_then_deletes() -> None:
    world = World()
    _connected(world)
    result = world.flow.disconnect(advertiser_id=ADVERTISERS[1])
    assert result.as_dict() == {
        "authorization_id": "acme",
        "advertiser_ids": ADVERTISERS,
        "revoked": True,
    }
    assert world.client.calls[-1][2]["json"] == {
        "app_id": APP_ID,
        "secret": APP_SECRET,
        "access_token": TOKEN,
    }
    assert world.authorizations.deleted == ["acme"]


def test_disconnect_of_an_already_revoked_token_still_cleans_up() -> None:
    world = World()
    _connected(world)
    world.client.answers[REVOKE] = TokenRejectedError(40105, "revoked")
    assert world.flow.disconnect(authorization_id="acme").revoked is False
    assert world.authorizations.deleted == ["acme"]


@pytest.mark.parametrize(
    ("error", "status"),
    [(RetryableTikTokError(-1, "HTTP 500"), 503), (PermanentTikTokError(40101, "bad app"), 502)],
)
def test_disconnect_keeps_the_secret_when_revocation_fails(error: Exception, status: int) -> None:
    world = World()
    _connected(world)
    world.client.answers[REVOKE] = error  # type: ignore[assignment]
    with pytest.raises(DisconnectError) as info:
        world.flow.disconnect(authorization_id="acme")
    assert info.value.status == status
    assert world.authorizations.deleted == []
    no_secret_in(info.value)


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({}, 400),
        ({"authorization_id": "../x"}, 400),
        ({"authorization_id": "nobody"}, 404),
        ({"advertiser_id": "7199999999999999999"}, 404),
    ],
)
def test_disconnect_needs_a_known_authorization(kwargs: dict[str, str], status: int) -> None:
    world = World()
    with pytest.raises(DisconnectError) as info:
        world.flow.disconnect(**kwargs)
    assert info.value.status == status
    assert world.client.calls == []


def test_stored_authorization_round_trips_through_json() -> None:
    auth = Authorization(
        "acme", TOKEN, ADVERTISERS, [3, 5], "acme", "2027-01-01T00:00:00+00:00", {"1": "x"}
    )
    assert Authorization.from_json(auth.to_json()) == auth


def test_the_writer_and_the_reader_agree_on_the_index_key() -> None:
    from tiktok_connector import tokens
    from tiktok_connector.oauth import store

    assert store.INDEX_PREFIX == tokens.INDEX_PREFIX


def test_connect_without_app_credentials_keeps_the_ticket() -> None:
    from tiktok_connector.oauth.errors import ConfigurationError

    world = World()
    ticket = world.ticket()

    def unset() -> tuple[str, str]:
        raise ConfigurationError("not set", reason="app_secret_empty")

    world.secrets.app_credentials = unset  # type: ignore[method-assign]
    with pytest.raises(ConfigurationError):
        world.flow.connect(ticket=ticket, label=None, domain_name="d")
    assert [k for k in world.nonces.items if k.startswith("ticket#")]


def test_odd_scope_values_are_ignored() -> None:
    world = World()
    world.client.answers[EXCHANGE] = {
        "access_token": TOKEN,
        "advertiser_ids": ADVERTISERS,
        "scope": [3, "5", "x", True, None, 2.5],
    }
    assert world.flow.callback({"state": world.state(), "auth_code": "c"}).scope == [3, 5]


class _Provider:
    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.cleared = 0

    def get(self, name: str, **kwargs: Any) -> Any:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        if name not in self.values:
            raise GetParameterError("not found")
        return self.values[name]

    def clear_cache(self) -> None:
        self.cleared += 1


@pytest.mark.parametrize(
    ("values", "call", "reason"),
    [
        ({}, "state_key", "state_key_unreadable"),
        ({"t/oauth-state-key": "short"}, "state_key", "state_key_invalid"),
        ({}, "app_credentials", "app_secret_unreadable"),
        ({"t/app": {"app_id": "", "secret": ""}}, "app_credentials", "app_secret_empty"),
        ({"t/app": ["not", "an", "object"]}, "app_credentials", "app_secret_empty"),
    ],
)
def test_stack_secrets_explain_what_to_fix(values: dict[str, Any], call: str, reason: str) -> None:
    from tiktok_connector.oauth.errors import ConfigurationError
    from tiktok_connector.oauth.secrets import StackSecrets

    secrets = StackSecrets(settings(), _Provider(values))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError) as info:
        getattr(secrets, call)()
    assert info.value.reason == reason
    assert info.value.status == 500
    assert ("t/oauth-state-key" if call == "state_key" else "t/app") in info.value.hint


def test_stack_secrets_return_configured_values() -> None:
    from tiktok_connector.oauth.secrets import StackSecrets

    provider = _Provider({"t/oauth-state-key": "k" * 64, "t/app": {"app_id": "1", "secret": "s"}})
    secrets = StackSecrets(settings(), provider)  # type: ignore[arg-type]
    assert secrets.state_key() == b"k" * 64
    assert secrets.app_credentials() == ("1", "s")
    secrets.refresh()
    assert provider.cleared == 1
