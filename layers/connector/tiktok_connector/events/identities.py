"""The user side of an event: identities normalized and hashed through
:mod:`tiktok_connector.identity`, and the per-process IP profile Enrich-IP falls back to."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from tiktok_connector.events.values import MappingNotes
from tiktok_connector.identity import Hasher, IdType, Reason, Rejected, Surface


class IpProfile:
    """The last IP seen per user (MPID): the "user's profile" IP that Enrich-IP falls back to.

    Bounded (least recently seen users are forgotten) and process-local: a warm Lambda remembers the
    users it has seen, which is the profile this connector can know without a database.
    """

    def __init__(self, max_users: int = 100_000) -> None:
        self._ips: OrderedDict[str, str] = OrderedDict()
        self._max = max_users

    def remember(self, user: str, ip: str) -> None:
        self._ips[user] = ip
        self._ips.move_to_end(user)
        if len(self._ips) > self._max:
            self._ips.popitem(last=False)

    def recall(self, user: str) -> str | None:
        return self._ips.get(user)


class IdentityHashers:
    """Identity normalization and hashing through :mod:`tiktok_connector.identity`.

    One :class:`~tiktok_connector.identity.Hasher` per id type, built once (Events API surface:
    ``+E.164`` phones; city, state and country normalized but not hashed); phone hashers one per
    region, built when a batch first needs that region.
    """

    def __init__(self, phone_region: str) -> None:
        self.phone_region = phone_region
        self._by_type = {
            id_type: Hasher(id_type, surface=Surface.EVENTS, phone_region=phone_region)
            for id_type in IdType
        }
        self._phones: dict[str, Hasher] = {phone_region: self._by_type[IdType.PHONE]}

    def hashed(
        self,
        id_type: IdType,
        value: Any,
        *,
        notes: MappingNotes | None = None,
        field_name: str = "",
    ) -> str | None:
        """The normalized (and, except for locations, hashed) value; ``None`` if absent or rejected.

        A rejected non-blank value is counted in ``notes`` as ``field_name:reason``.
        """
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # numeric ids (customer ids, MPIDs) as exact decimal strings
        elif not isinstance(value, str):
            return None
        result = self._by_type[id_type](value)
        if isinstance(result, Rejected):
            if notes is not None and result.reason != Reason.EMPTY:
                notes.add(field_name or id_type.value, result.reason)
            return None
        return result

    def phone(self, value: Any, region: str, notes: MappingNotes | None = None) -> str | None:
        """The hashed ``+E.164`` of ``value`` read with ``region``; None if absent or unreadable."""
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        elif not isinstance(value, str):
            return None
        hasher = self._phones.get(region)
        if hasher is None:
            hasher = self._phones[region] = Hasher(
                IdType.PHONE, surface=Surface.EVENTS, phone_region=region
            )
        result = hasher(value)
        if isinstance(result, Rejected):
            if notes is not None and result.reason != Reason.EMPTY:
                notes.add("phone", result.reason)
                notes.phone_region = region
            return None
        return result

    def location(self, value: Any) -> str | None:
        return self.hashed(IdType.CITY, value) if isinstance(value, str) else None
