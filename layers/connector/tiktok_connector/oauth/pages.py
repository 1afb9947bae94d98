"""The OAuth function's HTML pages: small, accessible, no JavaScript, every dynamic value escaped.

Each page has ``lang``, a ``title``, one ``h1`` inside a ``main`` landmark, and is served with
:data:`PAGE_HEADERS` (no caching, no referrer, a strict Content-Security-Policy).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape

HTML_CONTENT_TYPE = "text/html; charset=utf-8"
# default-src 'none' with inline styles only: the pages load nothing, run nothing, frame nothing.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS: dict[str, str] = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#111;background:#fff}"
    "h1{font-size:1.5rem}.warning{border-left:4px solid #b45309;padding-left:.75rem}"
    "code{font-size:.95em}"
)

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} · TikTok Connector</title>
<style>{style}</style>
</head>
<body>
<main>
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"""


def render(title: str, body_html: str) -> str:
    """A whole page; ``body_html`` must already be escaped."""
    return _TEMPLATE.format(title=escape(title), style=_STYLE, body=body_html)


def success_page(
    *,
    advertiser_ids: Sequence[str],
    advertiser_names: Mapping[str, str],
    authorization_id: str,
    warnings: Iterable[str] = (),
) -> str:
    """The callback's success page: each connected advertiser id, with its name when known."""
    items = []
    for advertiser_id in advertiser_ids:
        name = advertiser_names.get(advertiser_id, "")
        label = (
            f'<span class="name">{escape(name)}</span> (<code>{escape(advertiser_id)}</code>)'
            if name
            else f"<code>{escape(advertiser_id)}</code>"
        )
        items.append(f'<li data-advertiser-id="{escape(advertiser_id)}">{label}</li>')
    warning_html = "".join(
        f'<p class="warning" role="alert">{escape(text)}</p>\n' for text in warnings
    )
    count = len(advertiser_ids)
    body = (
        f"<p>TikTok is connected. The connector can now reach {count} advertiser "
        f"account{'s' if count != 1 else ''}:</p>\n"
        f'<ul id="advertisers">\n{chr(10).join(items)}\n</ul>\n'
        f"{warning_html}"
        f"<p>Authorization <code>{escape(authorization_id)}</code> is stored in AWS Secrets "
        "Manager. You can close this page.</p>"
    )
    return render("TikTok connected", body)


def error_page(title: str, message: str, hint: str = "", detail: str = "") -> str:
    """An error page: what happened, and what to do about it."""
    body = f'<p role="alert" id="error">{escape(message)}</p>'
    if hint:
        body += f'\n<p id="hint">{escape(hint)}</p>'
    if detail:
        body += f'\n<p id="detail"><small>{escape(detail)}</small></p>'
    return render(title, body)
