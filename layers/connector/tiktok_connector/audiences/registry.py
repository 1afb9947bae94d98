"""The audience registry: (advertiser, api, audience name) → TikTok audience id, race-free.

One DynamoDB item per audience in the audiences table (pk ``advertiser_id``, sk ``audience_key`` =
``<api>#<name>``, where api is ``file`` or ``segment``: a customer-file audience and a partner
audience are different TikTok objects even when they share a name).

Creating an audience is a two-step protocol so that two jobs racing on one name create it once:

1. :meth:`AudienceRegistry.claim` writes ``state = creating`` with the job id and a lease, under the
   condition that no item exists (or only an expired ``creating`` claim: its owner crashed).
   Exactly one caller wins; everyone else gets the existing entry back.
2. The winner calls TikTok and :meth:`AudienceRegistry.complete` stores ``state = ready`` and the
   audience id (conditional on still owning the claim). On a failure it :meth:`release`\\s the claim.

A worker that finds its *own* job's ``ready`` entry knows the create call already went through
(e.g. it crashed after recording it) and must not create again.

A ready entry also remembers what later jobs need to know about the audience: ``created_at``
(partner audiences refuse mappings for a while after creation, contract TM-03) and, for
customer-file audiences, ``shape`` — the calculate type and columns of its files, which every
follow-up file is conformed to (TikTok refuses files of another type, contract CF-09).
"""

from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from tiktok_connector.contract.job import Shape

State = Literal["creating", "ready"]


def audience_key(api: str, name: str) -> str:
    """The sort key of an audience in the registry (the name NFC-normalised: a macOS folder
    name arrives decomposed, and must find the same audience)."""
    return f"{api}#{unicodedata.normalize('NFC', name)}"


def staging_key(api: str, name: str, job_id: str) -> str:
    """Sort key of the audience a ``replace`` job builds before it takes the name over."""
    return f"{api}#{name}#job#{job_id}"


@dataclass(frozen=True, slots=True)
class AudienceEntry:
    """One registry item."""

    advertiser_id: str
    key: str
    name: str
    api: str
    state: State
    owner_job_id: str
    lease_until: float
    audience_id: str | None = None
    claimed_at: float = 0.0
    created_at: float | None = None  # when our create call returned (ready entries)
    shape: Shape | None = None  # customer file: the calculate type and columns of its files

    @property
    def ready(self) -> bool:
        return self.state == "ready" and bool(self.audience_id)


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """Outcome of :meth:`AudienceRegistry.claim`.

    ``won`` — this job owns the creation (call TikTok, then ``complete``). Otherwise ``entry`` is the
    item that stopped us: ready (the audience exists) or a live ``creating`` claim. ``taken_over``
    is the expired claim a win replaced: its holder died somewhere between claim and
    ``complete``, so TikTok may already hold the audience it was creating.
    """

    won: bool
    entry: AudienceEntry | None
    taken_over: AudienceEntry | None = None


class AudienceRegistry:
    """Reads and conditionally writes the audiences table (low-level DynamoDB client)."""

    def __init__(self, *, table: str, dynamodb: Any, clock: Any = time.time) -> None:
        self.table = table
        self.dynamodb = dynamodb
        self.clock = clock

    def get(self, advertiser_id: str, key: str) -> AudienceEntry | None:
        """The entry under ``key`` (strongly consistent), or None."""
        item = self.dynamodb.get_item(
            TableName=self.table,
            Key=_key(advertiser_id, key),
            ConsistentRead=True,
        ).get("Item")
        return _entry(item) if item else None

    def claim(
        self,
        advertiser_id: str,
        key: str,
        *,
        name: str,
        api: str,
        job_id: str,
        lease_seconds: float,
    ) -> ClaimResult:
        """Try to become the one job that creates the audience under ``key``."""
        now = self.clock()
        try:
            response = self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "advertiser_id": {"S": advertiser_id},
                    "audience_key": {"S": key},
                    "name": {"S": name},
                    "api": {"S": api},
                    "state": {"S": "creating"},
                    "owner_job_id": {"S": job_id},
                    "lease_until": {"N": _num(now + lease_seconds)},
                    "updated_at": {"N": _num(now)},
                },
                ConditionExpression=(
                    "attribute_not_exists(audience_key) OR "
                    "(#state = :creating AND lease_until < :now)"
                ),
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":creating": {"S": "creating"},
                    ":now": {"N": _num(now)},
                },
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            return ClaimResult(won=False, entry=self.get(advertiser_id, key))
        old = response.get("Attributes")
        return ClaimResult(won=True, entry=None, taken_over=_entry(old) if old else None)

    def complete(
        self,
        advertiser_id: str,
        key: str,
        *,
        job_id: str,
        audience_id: str,
        shape: Shape | None = None,
    ) -> None:
        """Record the created audience (only the claim's owner may), its creation time and, for
        a customer-file audience, the ``shape`` of its files."""
        now = _num(self.clock())
        expression = "SET #state = :ready, audience_id = :aid, updated_at = :now, created_at = :now"
        values: dict[str, Any] = {
            ":ready": {"S": "ready"},
            ":aid": {"S": audience_id},
            ":job": {"S": job_id},
            ":now": {"N": now},
        }
        if shape is not None:
            expression += ", shape = :shape"
            values[":shape"] = _shape_attr(shape)
        self.dynamodb.update_item(
            TableName=self.table,
            Key=_key(advertiser_id, key),
            UpdateExpression=expression,
            ConditionExpression="owner_job_id = :job",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues=values,
        )

    def release(self, advertiser_id: str, key: str, *, job_id: str) -> None:
        """Drop this job's unfinished claim (the create call failed); no-op if not ours."""
        try:
            self.dynamodb.delete_item(
                TableName=self.table,
                Key=_key(advertiser_id, key),
                ConditionExpression="owner_job_id = :job AND #state = :creating",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":job": {"S": job_id}, ":creating": {"S": "creating"}},
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    def expire(self, advertiser_id: str, key: str, *, job_id: str) -> None:
        """End this job's ``creating`` lease now, keeping the item: the create may have applied,
        and the next claimant takes over (and looks for it) instead of starting fresh."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=_key(advertiser_id, key),
                UpdateExpression="SET lease_until = :zero",
                ConditionExpression="owner_job_id = :job AND #state = :creating",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":zero": {"N": "0"},
                    ":job": {"S": job_id},
                    ":creating": {"S": "creating"},
                },
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    def audience_ids(self, advertiser_id: str) -> set[str]:
        """Every TikTok audience id the registry holds for ``advertiser_id`` (names and partner
        ``replace`` staging entries alike): audiences whose create answers we did receive."""
        ids: set[str] = set()
        pages = self.dynamodb.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression="advertiser_id = :a",
            ExpressionAttributeValues={":a": {"S": advertiser_id}},
            ProjectionExpression="audience_id",
            ConsistentRead=True,
        )
        for page in pages:
            ids.update(item["audience_id"]["S"] for item in page["Items"] if "audience_id" in item)
        return ids

    def delete(self, advertiser_id: str, key: str) -> None:
        """Remove an entry unconditionally (a staging entry after its audience took the name)."""
        self.dynamodb.delete_item(
            TableName=self.table,
            Key=_key(advertiser_id, key),
        )

    def point(
        self,
        advertiser_id: str,
        key: str,
        *,
        name: str,
        api: str,
        job_id: str,
        audience_id: str,
        created_at: float | None = None,
    ) -> None:
        """Make ``key`` name ``audience_id`` (a partner ``replace`` taking the name over)."""
        now = self.clock()
        self.dynamodb.put_item(
            TableName=self.table,
            Item={
                "advertiser_id": {"S": advertiser_id},
                "audience_key": {"S": key},
                "name": {"S": name},
                "api": {"S": api},
                "state": {"S": "ready"},
                "owner_job_id": {"S": job_id},
                "lease_until": {"N": _num(now)},
                "audience_id": {"S": audience_id},
                "updated_at": {"N": _num(now)},
                "created_at": {"N": _num(now if created_at is None else created_at)},
            },
        )


def _entry(item: dict[str, Any]) -> AudienceEntry:
    def s(name: str) -> str:
        return str(item.get(name, {}).get("S", ""))

    state = s("state")
    return AudienceEntry(
        advertiser_id=s("advertiser_id"),
        key=s("audience_key"),
        name=s("name"),
        api=s("api"),
        state="ready" if state == "ready" else "creating",
        owner_job_id=s("owner_job_id"),
        lease_until=float(item.get("lease_until", {}).get("N", "0")),
        audience_id=s("audience_id") or None,
        claimed_at=float(item.get("updated_at", {}).get("N", "0")),
        created_at=float(item["created_at"]["N"]) if "N" in item.get("created_at", {}) else None,
        shape=_shape_value(item.get("shape")),
    )


def _shape_attr(shape: Shape) -> dict[str, Any]:
    return {
        "M": {
            "calculate_type": {"S": shape.calculate_type},
            "columns": {"L": [{"S": c} for c in shape.columns]},
        }
    }


def _shape_value(attr: dict[str, Any] | None) -> Shape | None:
    if not attr or "M" not in attr:
        return None
    m = attr["M"]
    return Shape(
        calculate_type=m.get("calculate_type", {}).get("S", ""),
        columns=tuple(c.get("S", "") for c in m.get("columns", {}).get("L", [])),
    )


def _key(advertiser_id: str, key: str) -> dict[str, dict[str, str]]:
    """The registry item's primary key."""
    return {"advertiser_id": {"S": advertiser_id}, "audience_key": {"S": key}}


def _num(value: float) -> str:
    return f"{value:.3f}"


def _conditional_failed(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")
