"""The advertiser consent page (``/portal/auth``): plain, accessible HTML forms."""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Numeric permission ids (reference §1.6) and what the consent page calls them.
SCOPE_NAMES = {
    3: "Audience Management",
    30: "Read Custom Audiences",
    31: "Create & Update Custom Audiences",
    32: "Share Custom Audiences",
    5: "Measurement",
    50: "Report App Event",
    51: "Report Pixel Event",
    7224195155857866754: "Report Conversion Event",
}

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
</head>
<body>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"""


def page(title: str, body_html: str) -> str:
    return _PAGE.format(title=escape(title), body=body_html)


def consent_page(
    *, app_id: str, state: str, redirect_uri: str, advertisers: dict[str, str], scopes: list[int]
) -> str:
    """The form an advertiser confirms; every value is escaped and sent back as hidden fields."""
    adv_items = "\n".join(
        f'<li><label><input type="checkbox" name="advertiser_id" value="{escape(aid)}" checked> '
        f"{escape(name)} ({escape(aid)})</label></li>"
        for aid, name in advertisers.items()
    )
    scope_items = "\n".join(
        f"<li>{escape(SCOPE_NAMES.get(s, f'Permission {s}'))}</li>" for s in scopes
    )
    body = f"""<p>The developer app <strong>{escape(app_id)}</strong> asks for access to your
TikTok advertiser accounts.</p>
<form method="post" action="/portal/auth">
<input type="hidden" name="app_id" value="{escape(app_id)}">
<input type="hidden" name="state" value="{escape(state)}">
<input type="hidden" name="redirect_uri" value="{escape(redirect_uri)}">
<input type="hidden" name="advertisers_listed" value="1">
<fieldset>
<legend>Advertiser accounts</legend>
<ul id="advertisers">
{adv_items}
</ul>
</fieldset>
<section aria-labelledby="permissions-heading">
<h2 id="permissions-heading">Permissions requested</h2>
<ul id="permissions">
{scope_items}
</ul>
</section>
<button type="submit" id="confirm" name="decision" value="confirm">Confirm</button>
<button type="submit" id="cancel" name="decision" value="cancel">Cancel</button>
</form>"""
    return page("Authorize app", body)


def error_page(message: str) -> str:
    return page("Authorization error", f'<p role="alert">{escape(message)}</p>')


def redirect_with(redirect_uri: str, params: dict[str, str]) -> str:
    """``redirect_uri`` with ``params`` added to its query (URL-encoded, existing query kept)."""
    parts = urlsplit(redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))
