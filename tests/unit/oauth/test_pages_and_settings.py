"""HTML pages escape every dynamic value; settings fail clearly on a bad environment."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiktok_connector.oauth import pages
from tiktok_connector.oauth.settings import OAuthSettings, oauth_settings
from tiktok_connector.settings import SettingsError, reset_settings

ENV = {
    "OAUTH_TABLE": "s-oauth",
    "APP_SECRET_NAME": "s/app",
    "STATE_KEY_SECRET_NAME": "s/oauth-state-key",
    "AUTHORIZATIONS_SECRET_PREFIX": "s/authorizations/",
}


class _Outline(HTMLParser):
    """Tags seen, and the text of each advertiser list item."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.items: list[str] = []
        self.alerts: list[str] = []
        self._in_li = False
        self._in_alert = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "li":
            self._in_li = True
            self.items.append("")
        if ("role", "alert") in attrs:
            self._in_alert = True
            self.alerts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self._in_li = False
        if tag == "p":
            self._in_alert = False

    def handle_data(self, data: str) -> None:
        if self._in_li:
            self.items[-1] += data
        if self._in_alert:
            self.alerts[-1] += data


SUCCESS_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "main",
    "h1",
    "p",
    "ul",
    "li",
    "span",
    "code",
}


@given(
    st.dictionaries(
        st.from_regex(r"[0-9<>&\"' ]{1,20}", fullmatch=True), st.text(max_size=40), max_size=4
    ),
    st.lists(st.text(max_size=60), max_size=3),
)
def test_success_page_shows_values_verbatim_and_injects_nothing(
    names: dict[str, str], warnings: list[str]
) -> None:
    ids = list(names)
    html = pages.success_page(
        advertiser_ids=ids, advertiser_names=names, authorization_id="<b>id</b>", warnings=warnings
    )
    outline = _Outline()
    outline.feed(html)
    assert set(outline.tags) <= SUCCESS_TAGS
    expected = [f"{names[i]} ({i})" if names[i] else i for i in ids]
    assert outline.items == expected
    assert outline.alerts == warnings
    assert "<b>id</b>" not in html


@given(st.text(max_size=80), st.text(max_size=80), st.text(max_size=80), st.text(max_size=80))
def test_error_page_escapes_everything(title: str, message: str, hint: str, detail: str) -> None:
    html = pages.error_page(title, message, hint, detail)
    outline = _Outline()
    outline.feed(html)
    assert set(outline.tags) <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "main",
        "h1",
        "p",
        "small",
    }
    assert outline.alerts == [message]


def test_pages_are_accessible_documents() -> None:
    html = pages.error_page("Nope", "Bad thing.", "Do this.")
    assert html.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert "<title>Nope · TikTok Connector</title>" in html
    assert "<main>\n<h1>Nope</h1>" in html
    assert "<script" not in html


def test_page_headers_forbid_caching_referrers_scripts_and_sniffing() -> None:
    headers = pages.PAGE_HEADERS
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # falls back to default-src 'none'
    assert "frame-ancestors 'none'" in csp
    assert pages.HTML_CONTENT_TYPE == "text/html; charset=utf-8"


# ---------------------------------------------------------------------- settings
@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (*ENV, "OAUTH_REDIRECT_URI", "AUTHORIZATION_RECOVERY_WINDOW_DAYS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    yield monkeypatch
    reset_settings()


def test_settings_read_from_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("OAUTH_REDIRECT_URI", "https://c.example/oauth/callback")
    got = oauth_settings()
    assert got.oauth_table == "s-oauth"
    assert got.oauth_redirect_uri == "https://c.example/oauth/callback"
    assert got.authorization_recovery_window_days == 7
    assert got.tiktok_auth_url == "https://business-api.tiktok.com/portal/auth"


def test_missing_variable_is_named(env: pytest.MonkeyPatch) -> None:
    env.delenv("STATE_KEY_SECRET_NAME")
    with pytest.raises(SettingsError, match="STATE_KEY_SECRET_NAME"):
        oauth_settings()


@pytest.mark.parametrize(
    ("days", "ok"), [("0", True), ("7", True), ("30", True), ("3", False), ("31", False)]
)
def test_recovery_window_follows_secrets_manager(
    env: pytest.MonkeyPatch, days: str, ok: bool
) -> None:
    env.setenv("AUTHORIZATION_RECOVERY_WINDOW_DAYS", days)
    if ok:
        assert oauth_settings().authorization_recovery_window_days == int(days)
    else:
        with pytest.raises(SettingsError, match="AUTHORIZATION_RECOVERY_WINDOW_DAYS"):
            oauth_settings()


def test_settings_model_is_frozen() -> None:
    assert OAuthSettings.model_config.get("frozen") is True
