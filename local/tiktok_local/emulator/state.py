"""The emulator's data model: tokens, auth codes, files, audiences, events and a request log.

All mutation goes through :class:`EmulatorState` under one re-entrant lock (``state.lock``), so
the threaded HTTP server and test code can read and write concurrently. Read helpers return
plain data (copies), never live internals.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tiktok_local.emulator.config import EmulatorConfig

Member = tuple[str, str]  # (id type, lower-case hex hash), e.g. ("EMAIL_SHA256", "ab12...")

AUDIENCE_CUSTOMER_FILE = "customer_file"
AUDIENCE_PARTNER = "partner"


def token_fingerprint(token: str) -> str:
    """A short, non-reversible label for a token (what the HTTP state view shows)."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:12]


@dataclass
class TokenRecord:
    app_id: str
    advertiser_ids: list[str]
    scope: list[int]
    revoked: bool = False
    # Event sources an Events Manager token was generated for (None: an OAuth token, which reaches
    # the event sources its advertisers own).
    event_sources: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "advertiser_ids": list(self.advertiser_ids),
            "scope": list(self.scope),
            "revoked": self.revoked,
            "event_sources": None if self.event_sources is None else list(self.event_sources),
        }


@dataclass
class AuthCodeRecord:
    advertiser_ids: list[str]
    scope: list[int]
    issued_at: float
    redirect_uri: str
    used: bool = False


@dataclass
class UploadedFile:
    file_path: str
    advertiser_id: str
    calculate_type: str
    members: list[Member]
    rows: int
    size: int
    uploaded_at: float


@dataclass
class Audience:
    audience_id: str
    advertiser_id: str
    name: str
    kind: str  # AUDIENCE_CUSTOMER_FILE or AUDIENCE_PARTNER
    calculate_type: str | None
    create_time: float
    retention_in_days: int | None = None
    members: set[Member] = field(default_factory=set)
    history: list[dict[str, Any]] = field(default_factory=list)
    modified_time: float = 0.0  # last create/update (the expiry clock without retention)
    processing_until: float = 0.0  # customer file: updates refused before this (TM-01)
    ready_at: float = 0.0  # partner: mappings refused before this (TM-03)

    def summary(self, *, with_members: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "audience_id": self.audience_id,
            "advertiser_id": self.advertiser_id,
            "name": self.name,
            "kind": self.kind,
            "calculate_type": self.calculate_type,
            "retention_in_days": self.retention_in_days,
            "create_time": self.create_time,
            "processing_until": self.processing_until,
            "ready_at": self.ready_at,
            "member_count": len(self.members),
            "history": [dict(h) for h in self.history],
        }
        if with_members:
            out["members"] = sorted([t, h] for t, h in self.members)
        return out


@dataclass
class ReceivedEvent:
    endpoint: str  # "event/track", "pixel/batch" or "pixel/track"
    event_source: str
    event_source_id: str
    test_event_code: str | None
    partner_name: str | None
    event: dict[str, Any]
    received_at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "event_source": self.event_source,
            "event_source_id": self.event_source_id,
            "test_event_code": self.test_event_code,
            "partner_name": self.partner_name,
            "event": self.event,
            "received_at": self.received_at,
        }

    def dedup_key(self) -> tuple[str, str, str] | None:
        """TikTok dedups on event_source_id + event + event_id (reference §5.2, §5.6)."""
        event_id = self.event.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            return None
        return (self.event_source_id, str(self.event.get("event")), event_id)


@dataclass
class RequestRecord:
    method: str
    path: str
    http_status: int
    code: int | None
    request_id: str
    at: float
    fault: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "http_status": self.http_status,
            "code": self.code,
            "request_id": self.request_id,
            "at": self.at,
            "fault": self.fault,
        }


class EmulatorState:
    """Thread-safe state of the emulated TikTok account(s)."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self._base_clock: Callable[[], float] = config.clock or time.time
        self._offset = 0.0
        self._reset_locked()

    # ----------------------------------------------------------------- clock and ids
    def now(self) -> float:
        """Emulator wall-clock time in seconds (real or configured clock plus any advance)."""
        return self._base_clock() + self._offset

    def advance_time(self, seconds: float) -> None:
        """Move the emulator clock forward (auth-code expiry, QPS windows)."""
        with self.lock:
            self._offset += seconds

    def new_request_id(self) -> str:
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(self.now()))
        return f"{stamp}{next(self._request_seq):06d}{secrets.token_hex(5).upper()}"

    # ----------------------------------------------------------------- reset
    def reset(self) -> None:
        """Forget everything: tokens, codes, files, audiences, events, request log."""
        with self.lock:
            self._reset_locked()

    def _reset_locked(self) -> None:
        self._tokens: dict[str, TokenRecord] = {}
        self._auth_codes: dict[str, AuthCodeRecord] = {}
        self._files: dict[str, UploadedFile] = {}
        self._audiences: dict[str, Audience] = {}
        self._events: list[ReceivedEvent] = []
        self._requests: list[RequestRecord] = []
        self._audience_seq = itertools.count(1)
        self._request_seq = itertools.count(1)

    # ----------------------------------------------------------------- tokens
    def issue_token(
        self,
        advertiser_ids: Iterable[str] | None = None,
        scope: Iterable[int] | None = None,
        *,
        app_id: str | None = None,
        event_sources: Iterable[str] | None = None,
    ) -> str:
        """Create a long-term access token.

        ``event_sources`` makes it an Events Manager token for those sources (it reaches them
        whatever its advertisers); without it the token reaches the event sources its advertisers
        own.
        """
        ids = list(self.config.advertisers) if advertiser_ids is None else list(advertiser_ids)
        scopes = list(self.config.granted_scopes) if scope is None else list(scope)
        sources = None if event_sources is None else list(event_sources)
        token = secrets.token_hex(20)
        with self.lock:
            self._tokens[token] = TokenRecord(
                app_id or self.config.app_id, ids, scopes, event_sources=sources
            )
        return token

    def revoke_token(self, token: str) -> TokenRecord | None:
        """Revoke a token; later calls with it get 40105. Returns its record, if known."""
        with self.lock:
            record = self._tokens.get(token)
            if record is not None:
                record.revoked = True
            return record

    def token_record(self, token: str) -> TokenRecord | None:
        with self.lock:
            return self._tokens.get(token)

    @property
    def tokens(self) -> dict[str, dict[str, Any]]:
        """token -> {app_id, advertiser_ids, scope, revoked} (a copy)."""
        with self.lock:
            return {tok: rec.as_dict() for tok, rec in self._tokens.items()}

    # ----------------------------------------------------------------- auth codes
    def create_auth_code(self, advertiser_ids: list[str], redirect_uri: str) -> str:
        code = secrets.token_hex(20)
        with self.lock:
            self._auth_codes[code] = AuthCodeRecord(
                advertiser_ids=list(advertiser_ids),
                scope=list(self.config.granted_scopes),
                issued_at=self.now(),
                redirect_uri=redirect_uri,
            )
        return code

    def consume_auth_code(self, code: str) -> AuthCodeRecord | None:
        """Spend a code: None if unknown, already used or older than the TTL (all 40110)."""
        with self.lock:
            record = self._auth_codes.get(code)
            if record is None or record.used:
                return None
            # contract: OA-03 (1 h, single use)
            if self.now() - record.issued_at > self.config.auth_code_ttl_seconds:
                return None
            record.used = True
            return record

    # ----------------------------------------------------------------- files
    def add_file(
        self, advertiser_id: str, calculate_type: str, members: list[Member], rows: int, size: int
    ) -> str:
        with self.lock:
            # contract: CF-04 — file paths are 16 characters (create's file_paths items)
            file_path = secrets.token_hex(8)
            while file_path in self._files:
                file_path = secrets.token_hex(8)
            self._files[file_path] = UploadedFile(
                file_path, advertiser_id, calculate_type, members, rows, size, self.now()
            )
            return file_path

    def file(self, file_path: str) -> UploadedFile | None:
        with self.lock:
            return self._files.get(file_path)

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        """file_path -> {advertiser_id, calculate_type, rows, members (count), size}."""
        with self.lock:
            return {
                p: {
                    "advertiser_id": f.advertiser_id,
                    "calculate_type": f.calculate_type,
                    "rows": f.rows,
                    "members": len(f.members),
                    "size": f.size,
                }
                for p, f in self._files.items()
            }

    # ----------------------------------------------------------------- audiences
    def add_audience(
        self,
        advertiser_id: str,
        name: str,
        kind: str,
        calculate_type: str | None,
        *,
        retention_in_days: int | None = None,
        members: Iterable[Member] = (),
        action_detail: str = "",
    ) -> Audience:
        with self.lock:
            audience_id = f"{8_000_000_000_000_000_000 + next(self._audience_seq)}"
            now = self.now()
            audience = Audience(
                audience_id=audience_id,
                advertiser_id=advertiser_id,
                name=name,
                kind=kind,
                calculate_type=calculate_type,
                create_time=now,
                retention_in_days=retention_in_days,
                members=set(members),
                modified_time=now,
            )
            if kind == AUDIENCE_CUSTOMER_FILE:
                audience.processing_until = now + self.config.audience_processing_seconds
            else:
                audience.ready_at = now + self.config.partner_ready_seconds
            self._audiences[audience_id] = audience
            self.record_history(audience, "CREATE", action_detail)
            return audience

    def record_history(self, audience: Audience, action: str, detail: str) -> None:
        audience.history.append(
            {
                "action": action,
                "action_detail": detail,
                "opt_time": self.now(),
                "member_count": len(audience.members),
            }
        )

    def audience(self, audience_id: str) -> Audience | None:
        """The live audience object (callers must hold ``state.lock`` while mutating it)."""
        with self.lock:
            return self._audiences.get(audience_id)

    def remove_audience(self, audience_id: str) -> None:
        with self.lock:
            self._audiences.pop(audience_id, None)

    def advertiser_audiences(self, advertiser_id: str) -> list[Audience]:
        with self.lock:
            return [a for a in self._audiences.values() if a.advertiser_id == advertiser_id]

    def audiences_for(self, advertiser_id: str) -> list[dict[str, Any]]:
        """Summaries (id, name, kind, calculate_type, member_count, history) of one advertiser."""
        with self.lock:
            return [a.summary() for a in self.advertiser_audiences(advertiser_id)]

    def find_audience(self, advertiser_id: str, name: str) -> dict[str, Any] | None:
        """The most recently created audience with that exact name, or None."""
        with self.lock:
            found = [a for a in self.advertiser_audiences(advertiser_id) if a.name == name]
            return found[-1].summary() if found else None

    def find_audiences(self, advertiser_id: str, name: str) -> list[dict[str, Any]]:
        """All audiences with that exact name (partner audiences allow duplicates)."""
        with self.lock:
            return [a.summary() for a in self.advertiser_audiences(advertiser_id) if a.name == name]

    def audience_members(self, audience_id: str) -> set[Member]:
        """``{(id_type, hash), ...}`` of an audience (empty set if unknown).

        ``id_type`` is the file's ``calculate_type`` (or its header column name for
        ``MULTIPLE_TYPES`` files) for customer-file audiences, and the ``id_schema`` entry
        (upper-cased) for partner audiences.
        """
        with self.lock:
            audience = self._audiences.get(audience_id)
            return set(audience.members) if audience else set()

    def audience_hashes(self, audience_id: str) -> set[str]:
        """Just the hashes of an audience's members, whatever their type."""
        return {h for _, h in self.audience_members(audience_id)}

    def audience_history(self, audience_id: str) -> list[dict[str, Any]]:
        with self.lock:
            audience = self._audiences.get(audience_id)
            return [dict(h) for h in audience.history] if audience else []

    # ----------------------------------------------------------------- events
    def record_events(self, received: list[ReceivedEvent]) -> None:
        with self.lock:
            self._events.extend(received)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every accepted event as received (raw receipts, duplicates kept)."""
        with self.lock:
            return [e.as_dict() for e in self._events]

    def event_count(self) -> int:
        with self.lock:
            return len(self._events)

    def unique_event_ids(self) -> set[tuple[str, str, str]]:
        """Distinct ``(event_source_id, event, event_id)`` keys: TikTok's dedup view."""
        with self.lock:
            keys = (e.dedup_key() for e in self._events)
            return {k for k in keys if k is not None}

    def unique_event_count(self) -> int:
        """Events after dedup: distinct dedup keys plus events that carry no event_id."""
        with self.lock:
            without_id = sum(1 for e in self._events if e.dedup_key() is None)
            return len(self.unique_event_ids()) + without_id

    # ----------------------------------------------------------------- request log
    def log_request(self, record: RequestRecord) -> None:
        with self.lock:
            self._requests.append(record)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """method, path, http_status, code, request_id, at, fault — never the token."""
        with self.lock:
            return [r.as_dict() for r in self._requests]

    # ----------------------------------------------------------------- snapshot
    def snapshot(self, *, with_members: bool = True, with_events: bool = True) -> dict[str, Any]:
        """Everything as JSON-ready data; tokens appear only as fingerprints."""
        with self.lock:
            return {
                "app_id": self.config.app_id,
                "advertisers": dict(self.config.advertisers),
                "event_sources": dict(self.config.event_sources),
                "now": self.now(),
                "tokens": [
                    {"token": token_fingerprint(tok), **rec.as_dict()}
                    for tok, rec in self._tokens.items()
                ],
                "files": self.files,
                "audiences": [
                    a.summary(with_members=with_members) for a in self._audiences.values()
                ],
                "events": [e.as_dict() for e in self._events] if with_events else [],
                "event_count": len(self._events),
                "unique_event_count": self.unique_event_count(),
                "requests": [r.as_dict() for r in self._requests],
            }
