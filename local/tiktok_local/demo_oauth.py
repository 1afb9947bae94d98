"""Demo step: authorize through the emulator's consent page, as an advertiser admin would.

Makes a connect link (as ``make connect-link`` does), follows it with ``requests`` to the
emulator's consent page, submits the form with every listed advertiser ticked, follows the
redirect to the callback and prints the advertisers the success page lists. The token it stores
is what the audience upload step then uses (through the advertiser index). No token is printed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser

import requests

from tiktok_local.connect_link import make_connect_link
from tiktok_local.stack import LocalStack

Say = Callable[[str], None]
DEMO_LABEL = "demo"


class DemoFailure(RuntimeError):
    """The authorization round trip did not end on the success page."""


class _ConsentForm(HTMLParser):
    """The consent page's form: its action, hidden fields and advertiser checkboxes."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.advertisers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = values.get("action", "")
        elif tag == "input" and values.get("type") == "hidden":
            self.fields[values.get("name", "")] = values.get("value", "")
        elif tag == "input" and values.get("name") == "advertiser_id":
            self.advertisers.append(values.get("value", ""))


def authorize_advertisers(stack: LocalStack, say: Say) -> None:
    """Connect TikTok through the consent page and show the connected advertisers."""
    link = make_connect_link(
        secretsmanager=stack.client("secretsmanager"),
        dynamodb=stack.client("dynamodb"),
        oauth_table=stack.names["oauth_table"],
        state_key_secret_name=stack.names["state_key_secret_name"],
        api_url=stack.http_front_url,
        label=DEMO_LABEL,
    )
    say(f"connect link made for label {DEMO_LABEL!r} (signed, single use)")
    with requests.Session() as browser:
        consent = browser.get(link, timeout=30)
        if consent.status_code != 200 or "/portal/auth" not in consent.url:
            raise DemoFailure(
                f"/connect did not lead to the consent page (HTTP {consent.status_code})"
            )
        form = _ConsentForm()
        form.feed(consent.text)
        if not form.advertisers:
            raise DemoFailure("the consent page lists no advertiser accounts")
        say(
            f"consent page at {consent.url.split('?', 1)[0]}: confirming {len(form.advertisers)} advertisers"
        )
        answer = browser.post(
            requests.compat.urljoin(consent.url, form.action),
            data={**form.fields, "advertiser_id": form.advertisers, "decision": "confirm"},
            timeout=30,
        )
    if answer.status_code != 200 or "/oauth/callback" not in answer.url:
        raise DemoFailure(f"the callback answered HTTP {answer.status_code}")
    connected = re.findall(
        r'<li data-advertiser-id="([^"]+)">(.*?)</li>', answer.text, flags=re.DOTALL
    )
    if not connected:
        raise DemoFailure("the callback page lists no connected advertiser")
    say(f"callback: TikTok connected, {len(connected)} advertiser(s):")
    for advertiser_id, item in connected:
        text = html.unescape(re.sub(r"<[^>]+>", "", item))
        say(f"  {html.unescape(advertiser_id)}: {text}")
    prefix = stack.names["authorizations_secret_prefix"]
    say(f"token stored in Secrets Manager as {prefix}{DEMO_LABEL} (not shown)")
