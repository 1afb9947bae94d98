"""Issue 15's done-when scenario: three syncs of one audience, and what TikTok must see after each.

Shared by the end-to-end test (``tests/e2e/audiences/test_sync.py``) and the fault test
(``tests/reliability/test_sync_under_faults.py``). A :class:`SyncScenario` is one audience name on
one audience API and the three files dropped under ``segments/<advertiser>/<name>/sync/``:

1. *create*: ``n`` people (e-mail and, for most of them, a phone), plus a duplicate row and a
   row with no valid id;
2. *churn*: the same list with the first 3 % dropped and 5 % new people added;
3. *unchanged*: the identical bytes again (a new object key, or the same key as a new version).

Expected members and change counts are computed here from first principles (``hashlib`` on
values normalized by hand, never the connector's identity code): e-mails trimmed and lower-cased;
phones as E.164 without ``+`` for customer files (contract ID-03) and with ``+`` for the partner
API (ID-04). A sync knows members, not people: one row with an e-mail and a phone is two members.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tiktok_connector.contract.pointer import is_pointer_key
from tiktok_local.emulator.state import EmulatorState
from tiktok_local.stack import LocalStack

UNFINISHED = ("running", "waiting_for_tiktok")
# TikTok calls that carry audience membership (or make an audience); a sync with nothing to send
# makes none of them.
MEMBERSHIP_PATHS = (
    "/dmp/custom_audience/file/upload/",
    "/dmp/custom_audience/create/",
    "/dmp/custom_audience/update/",
    "/segment/audience/",
    "/segment/mapping/",
)

Member = tuple[str, str]  # (member type, hex hash)


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def raw_email(tag: str, i: int) -> str:
    """Messy case and spaces: trimmed and lower-cased before hashing."""
    return f"  {tag}.Member{i}@Example.COM "


def email_hash(tag: str, i: int) -> str:
    return sha256(f"{tag.lower()}.member{i}@example.com")


def raw_phone(i: int) -> tuple[str, str]:
    """A US phone in national format and its E.164 form."""
    number = f"{i % 10_000:04d}"
    exchange = 300 + i // 10_000
    return f"(415) {exchange}-{number}", f"+1415{exchange}{number}"


def has_phone(i: int) -> bool:
    """Most people have a phone; every seventh has none (the two types' counts then differ)."""
    return i % 7 != 3


@dataclass(frozen=True)
class SyncFile:
    """One sync file and everything that must hold once its job succeeded."""

    label: str
    key: str
    body: bytes
    metadata: dict[str, str]
    people: frozenset[int]
    members: frozenset[Member]  # (member type, hash) of the whole desired membership
    changes: dict[str, dict[str, int]]  # the report's expected ``changes``

    @property
    def hashes(self) -> set[str]:
        return {h for _, h in self.members}

    def sent(self) -> tuple[int, int]:
        """(ids added, ids removed) over every member type."""
        return (
            sum(c["added"] for c in self.changes.values()),
            sum(c["removed"] for c in self.changes.values()),
        )


@dataclass
class SyncScenario:
    """One audience name on one API, synced three times."""

    advertiser_id: str
    name: str
    api: str  # "file" (customer file) or "segment" (partner)
    tag: str
    n: int = 2000
    files: list[SyncFile] = field(default_factory=list)

    def __post_init__(self) -> None:
        drop, add = self.n * 3 // 100, self.n * 5 // 100
        first = frozenset(range(self.n))
        second = frozenset(range(drop, self.n + add))
        base = f"segments/{self.advertiser_id}/{self.name}/sync"
        slug = self.tag.lower()
        body_1 = self.body(sorted(first), extra_rows=True)
        body_2 = self.body(sorted(second))
        self.files = [
            self.sync_file("create", f"{base}/{slug}-day1.csv", body_1, first, frozenset()),
            self.sync_file("churn", f"{base}/{slug}-day2.csv", body_2, second, first),
            # the identical bytes again: customer file under a new key, partner as a new
            # version of the same key
            self.sync_file(
                "unchanged",
                f"{base}/{slug}-day3.csv" if self.api == "file" else f"{base}/{slug}-day2.csv",
                body_2,
                second,
                second,
            ),
        ]

    @property
    def metadata(self) -> dict[str, str]:
        return {"audience-api": "segment"} if self.api == "segment" else {}

    def member_set(self, people: Iterable[int]) -> frozenset[Member]:
        out: set[Member] = set()
        for i in people:
            out.add(("EMAIL_SHA256", email_hash(self.tag, i)))
            if has_phone(i):
                e164 = raw_phone(i)[1]
                hashed = sha256(e164 if self.api == "segment" else e164.lstrip("+"))
                out.add(("PHONE_SHA256", hashed))
        return frozenset(out)

    def body(self, people: list[int], *, extra_rows: bool = False) -> bytes:
        rows = ["email,phone"]
        for i in people:
            phone = f'"{raw_phone(i)[0]}"' if has_phone(i) else ""
            rows.append(f"{raw_email(self.tag, i)},{phone}")
        if extra_rows:
            rows.insert(len(rows) // 2, "not-an-email,")  # no valid id: rejected
            rows.append(rows[1])  # a repeated row: one member, not two
        return ("\n".join(rows) + "\n").encode()

    def sync_file(
        self, label: str, key: str, body: bytes, people: frozenset[int], before: frozenset[int]
    ) -> SyncFile:
        new, old = self.member_set(people), self.member_set(before)
        changes: dict[str, dict[str, int]] = {}
        for member_type in ("EMAIL_SHA256", "PHONE_SHA256"):
            now = {m for m in new if m[0] == member_type}
            was = {m for m in old if m[0] == member_type}
            changes[member_type] = {
                "added": len(now - was),
                "removed": len(was - now),
                "unchanged": len(now & was),
            }
        return SyncFile(label, key, body, self.metadata, people, new, changes)

    def tiktok_members(self, state: EmulatorState, audience_id: str) -> set[Member] | set[str]:
        """What TikTok holds, comparable with :meth:`expected`: (type, hash) pairs for a partner
        audience; hashes for a customer-file audience (its member types are the file's header
        names; an e-mail hash and a phone hash never collide)."""
        if self.api == "segment":
            return state.audience_members(audience_id)
        return state.audience_hashes(audience_id)

    def expected(self, sync: SyncFile) -> set[Member] | set[str]:
        return set(sync.members) if self.api == "segment" else sync.hashes


# ----------------------------------------------------------------------------- the stack


def drop(stack: LocalStack, key: str, body: bytes, metadata: dict[str, str]) -> str | None:
    """Put a segment file; its version id."""
    answer = stack.client("s3").put_object(
        Bucket=stack.names["segments_bucket"], Key=key, Body=body, Metadata=metadata
    )
    return answer.get("VersionId")


def all_reports(stack: LocalStack) -> list[dict[str, Any]]:
    s3 = stack.client("s3")
    bucket = stack.names["segments_bucket"]
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="reports/"):
        for obj in page.get("Contents", []):
            if is_pointer_key(obj["Key"]):  # a file's report pointer, not a report
                continue
            found.append(json.loads(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()))
    return found


def wait_reports(
    stack: LocalStack, keys: list[str], *, seen_jobs: set[str], timeout: float
) -> dict[str, dict[str, Any]]:
    """The finished report of each key's newest job (a job not in ``seen_jobs``), by key; keys
    whose job has not finished within ``timeout`` are missing from the answer."""
    deadline = time.monotonic() + timeout
    while True:
        done: dict[str, dict[str, Any]] = {}
        for report in all_reports(stack):
            key = report["source"]["key"]
            fresh = key in keys and report["job_id"] not in seen_jobs
            if fresh and report["status"] not in UNFINISHED:
                done[key] = report
        if len(done) == len(keys) or time.monotonic() > deadline:
            return done
        stack.wait_idle(2.0)


def run_sync(
    stack: LocalStack, sync: SyncFile, *, seen_jobs: set[str], timeout: float = 120.0
) -> dict[str, Any]:
    """Drop one file and wait for its job's finished report (the job id joins ``seen_jobs``)."""
    drop(stack, sync.key, sync.body, sync.metadata)
    reports = wait_reports(stack, [sync.key], seen_jobs=seen_jobs, timeout=timeout)
    assert sync.key in reports, f"{sync.label}: no finished report for {sync.key}"
    report = reports[sync.key]
    seen_jobs.add(report["job_id"])
    return report


@dataclass(frozen=True)
class TrafficMark:
    """What TikTok had seen at one moment: to count the calls and ids of what came after."""

    requests: int
    files: frozenset[str]
    history: int

    @classmethod
    def take(cls, state: EmulatorState, audience_id: str | None) -> TrafficMark:
        history = len(state.audience_history(audience_id)) if audience_id else 0
        return cls(len(state.requests), frozenset(state.files), history)


@dataclass(frozen=True)
class Traffic:
    """TikTok's side of what happened since a :class:`TrafficMark`."""

    calls: dict[str, int]  # membership path → requests answered code 0 (every request counted)
    all_calls: dict[str, int]  # membership path → requests of any outcome
    uploaded_ids: int  # members in the customer files uploaded since
    uploads: int
    history: list[dict[str, Any]]  # the audience's applied changes since (CREATE, APPEND, ADD…)

    @classmethod
    def since(cls, state: EmulatorState, mark: TrafficMark, audience_id: str) -> Traffic:
        calls: dict[str, int] = {}
        all_calls: dict[str, int] = {}
        for request in state.requests[mark.requests :]:
            for path in MEMBERSHIP_PATHS:
                if request["path"].endswith(path):
                    all_calls[path] = all_calls.get(path, 0) + 1
                    if request["code"] == 0:
                        calls[path] = calls.get(path, 0) + 1
        files = state.files
        new_files = [info for path, info in files.items() if path not in mark.files]
        return cls(
            calls=calls,
            all_calls=all_calls,
            uploaded_ids=sum(int(info["members"]) for info in new_files),
            uploads=len(new_files),
            history=state.audience_history(audience_id)[mark.history :],
        )

    def history_ids(self, action: str) -> int:
        """Ids applied by the partner mappings of one action (``ADD`` or ``DELETE``) since."""
        return sum(
            int(h["action_detail"].split()[0]) for h in self.history if h["action"] == action
        )

    def actions(self) -> list[str]:
        return [h["action"] for h in self.history if h["action"] != "RENAME"]
