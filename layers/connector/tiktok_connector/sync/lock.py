"""One sync of an audience at a time: the lock item in the audiences table (docs/sync.md).

The item (pk ``advertiser_id``, sk ``sync#<api>#<NFC name>``, apart from the audience entry so it
never interferes with the create claim) holds the synced state's pointer and the lock::

    {generation, committed_at, source_modified, uncertain[], lock{job_id, phase, at}}

``phase`` is ``diffing`` (nothing sent yet) or ``sending``. Every change is one conditional
``UpdateItem``, so two jobs racing on one audience see exactly one winner:

* :meth:`SyncLock.take` — a sync being planned takes a free lock, **supersedes** a holder still
  ``diffing`` (the older file's changes would only be undone by the newer one), or is told to
  **wait** for a holder that is ``sending`` and still running. A ``sending`` holder whose job
  ended without releasing (a crash between failing and releasing) leaves its generation
  uncertain.
* :meth:`SyncLock.start_sending` — the holder moves to ``sending``; losing means it was superseded.
* :meth:`SyncLock.commit` — after TikTok took every change: the job's generation becomes current,
  ``uncertain`` is emptied, the lock removed; conditional on the base still being current.
* :meth:`SyncLock.release` — a job that fails gives the lock up; one that fails while sending
  adds its generation to ``uncertain`` (TikTok may hold some of its changes).
* :meth:`SyncLock.forget` — the synced audience is gone at TikTok: the state is cleared, so the
  next sync creates the audience again from its whole file.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from botocore.exceptions import ClientError

from tiktok_connector.contract.job import ddb_values

DIFFING: Final = "diffing"
SENDING: Final = "sending"

_NAMES: Final = {"#lock": "lock", "#job": "job_id", "#phase": "phase", "#at": "at"}


def lock_key(api: str, name: str) -> str:
    """The lock item's sort key (the name NFC-normalised, as the registry's audience key)."""
    return f"sync#{api}#{unicodedata.normalize('NFC', name)}"


@dataclass(frozen=True, slots=True)
class SyncState:
    """The lock item as read: the current generation, the uncertain ones, the holder."""

    generation: str | None = None
    committed_at: float | None = None
    source_modified: str | None = None
    uncertain: tuple[str, ...] = ()
    holder: str | None = None
    phase: str | None = None
    at: float | None = None


@dataclass(frozen=True, slots=True)
class Taken:
    """The lock is this job's; ``superseded`` names the job it was taken from (or None)."""

    state: SyncState
    superseded: str | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    """Another sync of the audience is sending: plan again later."""

    holder: str
    state: SyncState = field(default_factory=SyncState)


class SyncLock:
    """The lock items of one audiences table (``dynamodb``: a low-level boto3 client)."""

    def __init__(
        self, *, table: str, dynamodb: Any, clock: Callable[[], float] = time.time
    ) -> None:
        self._table = table
        self._ddb = dynamodb
        self._clock = clock

    def get(self, advertiser_id: str, key: str) -> SyncState | None:
        """The lock item (strongly consistent), or None for an audience never synced."""
        item = self._ddb.get_item(
            TableName=self._table, Key=_key(advertiser_id, key), ConsistentRead=True
        ).get("Item")
        return _state(item) if item else None

    def take(
        self, advertiser_id: str, key: str, job_id: str, *, running: Callable[[str], bool]
    ) -> Taken | Wait:
        """Take the lock for ``job_id`` (see module docs). ``running(job_id)`` tells whether a
        holder's job is still running: a lock whose job ended is free."""
        for _attempt in range(5):
            state = self.get(advertiser_id, key) or SyncState()
            if state.holder == job_id:
                return Taken(state)  # a redelivered plan message: the lock is ours already
            values: dict[str, Any] = {
                ":lock": {"job_id": job_id, "phase": DIFFING, "at": self._now()}
            }
            expression = "SET #lock = :lock"
            if state.holder is None:
                condition = "attribute_not_exists(#lock.#job)"
            elif state.phase == SENDING and running(state.holder):
                return Wait(state.holder, state)
            else:  # a holder still diffing is superseded; one whose job ended left it free
                condition = "#lock.#job = :other"
                values[":other"] = state.holder
                if state.phase == SENDING:  # it ended without releasing: it may have sent some
                    expression += (
                        ", uncertain = list_append(if_not_exists(uncertain, :none), :dead)"
                    )
                    values.update({":none": [], ":dead": [state.holder]})
            if self._update(advertiser_id, key, expression, values, condition):
                return Taken(self.get(advertiser_id, key) or state, superseded=state.holder)
        raise RuntimeError("the sync lock changed hands five times in a row")

    def start_sending(self, advertiser_id: str, key: str, job_id: str) -> bool:
        """Move this job's lock to ``sending``; False when a later sync superseded it."""
        return self._update(
            advertiser_id, key, "SET #lock.#phase = :sending, #lock.#at = :now",
            {":me": job_id, ":diffing": DIFFING, ":sending": SENDING, ":now": self._now()},
            "#lock.#job = :me AND #lock.#phase IN (:diffing, :sending)",
        )  # fmt: skip

    def commit(
        self, advertiser_id: str, key: str, job_id: str, *, base: str | None, source_modified: str
    ) -> bool:
        """Make ``job_id``'s generation current (after TikTok took every change). True when it
        is current now (a second call finds it done); False when the lock or the base moved."""
        values: dict[str, Any] = {
            ":me": job_id,
            ":now": self._now(),
            ":modified": source_modified,
            ":none": [],
        }
        condition = "#lock.#job = :me AND "
        if base is None:
            condition += "attribute_not_exists(generation)"
        else:
            condition += "generation = :base"
            values[":base"] = base
        if self._update(
            advertiser_id, key,
            "SET generation = :me, committed_at = :now, source_modified = :modified, "
            "uncertain = :none REMOVE #lock",
            values, condition,
        ):  # fmt: skip
            return True
        state = self.get(advertiser_id, key)
        return state is not None and state.generation == job_id

    def release(self, advertiser_id: str, key: str, job_id: str, *, uncertain: bool) -> None:
        """Give the lock up after a failure; ``uncertain`` when the job had started sending
        (its generation is then kept and reconciled by the next sync). Safe to run twice."""
        expression = "REMOVE #lock"
        values: dict[str, Any] = {":me": job_id}
        if uncertain:
            expression = (
                "SET uncertain = list_append(if_not_exists(uncertain, :none), :mine) REMOVE #lock"
            )
            values.update({":none": [], ":mine": [job_id]})
        self._update(advertiser_id, key, expression, values, "#lock.#job = :me")

    def forget(self, advertiser_id: str, key: str, job_id: str) -> bool:
        """Clear the synced state (the synced audience is gone at TikTok): the next sync of the
        name starts from nothing and creates the audience anew. Only by the lock's holder."""
        return self._update(
            advertiser_id, key, "REMOVE generation, committed_at, source_modified, uncertain, #lock",
            {":me": job_id}, "#lock.#job = :me",
        )  # fmt: skip

    def _now(self) -> int:
        return int(self._clock())

    def _update(
        self, advertiser_id: str, key: str, expression: str, values: dict[str, Any], cond: str
    ) -> bool:
        names = {k: v for k, v in _NAMES.items() if k in expression or k in cond}
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=_key(advertiser_id, key),
                UpdateExpression=expression,
                ConditionExpression=cond,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=ddb_values(values),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True


def _key(advertiser_id: str, key: str) -> dict[str, dict[str, str]]:
    return {"advertiser_id": {"S": advertiser_id}, "audience_key": {"S": key}}


def _num(attr: dict[str, Any] | None) -> float | None:
    return float(attr["N"]) if attr and "N" in attr else None


def _state(item: dict[str, Any]) -> SyncState:
    lock = item.get("lock", {}).get("M", {})
    return SyncState(
        generation=item.get("generation", {}).get("S"),
        committed_at=_num(item.get("committed_at")),
        source_modified=item.get("source_modified", {}).get("S"),
        uncertain=tuple(v.get("S", "") for v in item.get("uncertain", {}).get("L", [])),
        holder=lock.get("job_id", {}).get("S"),
        phase=lock.get("phase", {}).get("S"),
        at=_num(lock.get("at")),
    )
