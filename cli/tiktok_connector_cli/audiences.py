"""The audiences we manage, with what TikTok says about each.

Our side is the audience registry (the audiences table: advertiser, ``<api>#<name>`` → TikTok
audience id). TikTok's side is ``GET /dmp/custom_audience/get/`` (up to 100 ids a call, with the
advertiser's stored token): per audience ``audience_details`` — ``cover_num`` (the matched size),
``is_valid`` (false while TikTok computes it, or once expired), ``is_expiring``, ``expired_time`` —
and ``audience_history[]`` (``action``, ``opt_time``). Partner (segment API) audiences are read
the same way: they are custom audiences of type Partner. Source of the response shape:
``tiktok/tiktok-business-api-sdk:yml_files/dmp_custom_audience_get.yml`` (the response rule);
``../shared/tiktok-api-reference.md`` §3.5.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tiktok_connector.tiktok import PermanentTikTokError, TikTokClient, TikTokError
from tiktok_connector.tokens import TokenNotFoundError, TokenStore

GET_PATH = "dmp/custom_audience/get"
MAX_IDS_PER_CALL = 100  # custom_audience_ids: 1–100. contract: CF-12
HISTORY_SIZE = 1  # the newest change is all the listing shows


@dataclass(frozen=True, slots=True)
class TikTokAudience:
    """What ``/dmp/custom_audience/get/`` says about one audience."""

    audience_id: str
    cover_num: int | None
    is_valid: bool | None
    is_expiring: bool | None
    expired_time: str
    last_action: str
    last_change: str
    message: str


@dataclass
class AudienceRow:
    """One audience we manage, with TikTok's view of it (``tiktok`` None when unknown)."""

    advertiser_id: str
    name: str
    api: str
    state: str
    audience_id: str | None
    updated_at: float
    tiktok: TikTokAudience | None = None
    sync: str | None = None  # syncing | synced | sync failed (None or "": never synced)


@dataclass
class AudienceListing:
    rows: list[AudienceRow] = field(default_factory=list)
    # advertiser id -> why TikTok could not be asked (not connected, a TikTok error)
    problems: dict[str, str] = field(default_factory=dict)
    # audience id -> why TikTok did not describe it (e.g. deleted in Ads Manager)
    audience_problems: dict[str, str] = field(default_factory=dict)
    # registry entries of partner `replace` jobs still building their audience
    staging: int = 0


def _s(item: Mapping[str, Any], name: str) -> str:
    return str((item.get(name) or {}).get("S", ""))


def registry_rows(
    dynamodb: Any, table: str, advertiser: str | None = None
) -> tuple[list[AudienceRow], int]:
    """The registry's audiences (and how many staging entries were left out)."""
    if advertiser:
        pages = dynamodb.get_paginator("query").paginate(
            TableName=table,
            KeyConditionExpression="advertiser_id = :a",
            ExpressionAttributeValues={":a": {"S": advertiser}},
        )
    else:
        pages = dynamodb.get_paginator("scan").paginate(TableName=table)
    rows: list[AudienceRow] = []
    staging = 0
    syncs: dict[tuple[str, str, str], str] = {}
    for page in pages:
        for item in page.get("Items", []):
            key = _s(item, "audience_key")
            if key.startswith("sync#"):  # an audience's sync lock item (docs/sync.md)
                api, _, name = key.removeprefix("sync#").partition("#")
                syncs[(_s(item, "advertiser_id"), api, name)] = sync_state(item)
                continue
            if "#job#" in key:
                staging += 1
                continue
            rows.append(
                AudienceRow(
                    advertiser_id=_s(item, "advertiser_id"),
                    name=_s(item, "name") or key.partition("#")[2],
                    api=_s(item, "api") or key.partition("#")[0],
                    state=_s(item, "state") or "?",
                    audience_id=_s(item, "audience_id") or None,
                    updated_at=float((item.get("updated_at") or {}).get("N", "0")),
                )
            )
    for row in rows:
        row.sync = syncs.get((row.advertiser_id, row.api, row.name))
    rows.sort(key=lambda r: (r.advertiser_id, r.name.lower(), r.api))
    return rows, staging


def sync_state(item: Mapping[str, Any]) -> str:
    """A sync lock item in a word: a sync holds it, a file is synced, or the last sync failed
    while sending (the next sync reconciles it)."""
    if (item.get("lock") or {}).get("M", {}).get("job_id"):
        return "syncing"
    if _s(item, "generation"):
        return "synced"
    return "sync failed" if (item.get("uncertain") or {}).get("L") else ""


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def parse_get_response(data: Mapping[str, Any]) -> dict[str, TikTokAudience]:
    """``data`` of ``/dmp/custom_audience/get/`` → details by audience id."""
    out: dict[str, TikTokAudience] = {}
    for entry in data.get("list") or []:
        if not isinstance(entry, dict):
            continue
        details = entry.get("audience_details") or {}
        audience_id = str(details.get("audience_id") or "")
        if not audience_id:
            continue
        history = [h for h in entry.get("audience_history") or [] if isinstance(h, dict)]
        newest = max(history, key=lambda h: str(h.get("opt_time") or ""), default={})
        out[audience_id] = TikTokAudience(
            audience_id=audience_id,
            cover_num=_int(details.get("cover_num")),
            is_valid=_bool(details.get("is_valid")),
            is_expiring=_bool(details.get("is_expiring")),
            expired_time=str(details.get("expired_time") or ""),
            last_action=str(newest.get("action") or ""),
            last_change=str(newest.get("opt_time") or ""),
            # TikTok's note on the audience (its processing state or an error), if any.
            message=str(details.get("msg") or details.get("error_msg") or ""),
        )
    return out


def _get(
    client: TikTokClient, token: str, advertiser_id: str, ids: list[str]
) -> dict[str, TikTokAudience]:
    response = client.call(
        "GET",
        GET_PATH,
        access_token=token,
        params={
            "advertiser_id": advertiser_id,
            "custom_audience_ids": json.dumps(ids),
            "history_size": HISTORY_SIZE,
        },
    )
    return parse_get_response(response.data)


def describe_error(exc: TikTokError) -> str:
    """TikTok's code, message and request id (never the token)."""
    return f"TikTok answered {exc.code}: {exc.message} (request {exc.request_id or '-'})"


def tiktok_audiences(
    client: TikTokClient, token: str, advertiser_id: str, audience_ids: list[str]
) -> tuple[dict[str, TikTokAudience], dict[str, str]]:
    """TikTok's details of ``audience_ids`` (100 per call), and why any could not be read.

    TikTok refuses a whole call for one audience it does not know (deleted in Ads Manager), so a
    refused call is asked again one audience at a time: the others still get their sizes.
    """
    details: dict[str, TikTokAudience] = {}
    errors: dict[str, str] = {}
    for start in range(0, len(audience_ids), MAX_IDS_PER_CALL):
        ids = audience_ids[start : start + MAX_IDS_PER_CALL]
        try:
            details.update(_get(client, token, advertiser_id, ids))
            continue
        except PermanentTikTokError:
            if len(ids) == 1:
                raise
        for audience_id in ids:
            try:
                details.update(_get(client, token, advertiser_id, [audience_id]))
            except PermanentTikTokError as exc:
                errors[audience_id] = describe_error(exc)
    for audience_id in audience_ids:
        if audience_id not in details and audience_id not in errors:
            errors[audience_id] = "TikTok did not return it"
    return details, errors


def list_audiences(
    *,
    dynamodb: Any,
    table: str,
    tokens: TokenStore,
    client: TikTokClient,
    advertiser: str | None = None,
) -> AudienceListing:
    """Every audience in the registry (one advertiser's with ``advertiser``), with TikTok's
    details. An advertiser TikTok cannot be asked about is named in ``problems``."""
    rows, staging = registry_rows(dynamodb, table, advertiser)
    listing = AudienceListing(rows=rows, staging=staging)
    by_advertiser: dict[str, list[AudienceRow]] = {}
    for row in rows:
        if row.audience_id:
            by_advertiser.setdefault(row.advertiser_id, []).append(row)
    for advertiser_id, group in by_advertiser.items():
        ids = sorted({r.audience_id for r in group if r.audience_id})
        try:
            token = tokens.token_for(advertiser_id)
            details, errors = tiktok_audiences(client, token, advertiser_id, ids)
        except TokenNotFoundError as exc:
            listing.problems[advertiser_id] = str(exc)
            continue
        except TikTokError as exc:
            listing.problems[advertiser_id] = describe_error(exc)
            continue
        for row in group:
            row.tiktok = details.get(row.audience_id or "")
        listing.audience_problems.update(errors)
    return listing
