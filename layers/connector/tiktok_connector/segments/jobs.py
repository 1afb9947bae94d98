"""Segment jobs: the DynamoDB job item both sides share, and the job report.

One job is one S3 object version (``job_id`` = :func:`job_id_for`). Ingest (issue 4) creates the
job, records each byte range it finishes (its chunk count and counters) and sends one chunk
message per chunk. Upload (issue 5) marks chunks done as TikTok accepts them, and the worker that
sees the job complete (:meth:`JobStore.ready_to_finalize`) claims finalization once, issues the
single create/update call and finishes the job. Either side renders and writes the report.

Every write is conditional, so each step is safe to run twice:

* :meth:`JobStore.create` — ``attribute_not_exists(job_id)``: a redelivered notification finds
  the existing job instead of making a second one.
* :meth:`JobStore.record_range` — ``attribute_not_exists(ranges.<i>)``: a range counts once.
* :meth:`JobStore.mark_chunk_done` — ``NOT contains(done_chunks, key)``: a chunk counts once.
* :meth:`JobStore.claim_finalization` — one claimant (with a lease, so a crashed claimant's
  successor can take over after ``lease_seconds``).
* :meth:`JobStore.finish` — only a running job finishes; the first outcome wins.

Item attributes (see docs/architecture.md): ``job_id, status, source{bucket,key,version_id},
advertiser_id, audience_name, action, api, retention_days, phone_region, columns, calculate_type,
plan, reading, ranges_total, ranges_done, ranges{<i>: stats}, chunks_total, chunks_done, done_chunks (SS),
file_paths{chunk_key: file_path}, tiktok{audience_id, request_ids}, error, finalizing,
started_at, finished_at, expires_at``. Counters are kept per range (``ranges.<i>``) and summed when
the report is rendered, which makes a redelivered range harmless.

The upload side adds: ``shape`` (the calculate type and columns every customer file of the job is
written with, decided once), ``applied_groups`` (create/update groups of ≤ 50 file_paths that
TikTok took, so a finalize resumed after a wait goes on from there) and ``waiting`` (TikTok is in
a state that passes, see ``tiktok_connector.audiences.waiting``; the report then says
``waiting_for_tiktok`` while ``status`` stays ``running``, so every condition above still holds).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from tiktok_connector.segments.reading import report_sections, report_status

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"

_RUNNING_TTL_DAYS = 90


@functools.cache
def _codecs() -> tuple[Any, Any]:
    # boto3.dynamodb imports all of boto3 (~100 ms): at first use, not at cold-start import
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def job_id_for(bucket: str, key: str, version: str) -> str:
    """The job id of one S3 object version: 32 hex chars of SHA-256 of ``bucket/key@version``.

    ``key`` is the decoded key; ``version`` is the version id, or the ETag when unversioned.
    """
    return hashlib.sha256(f"{bucket}/{key}@{version}".encode()).hexdigest()[:32]


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string (the report's timestamp format)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class JobError:
    """Why a job failed: a machine-readable ``code``, a sentence for people, TikTok's request id."""

    code: str
    message: str
    request_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "request_id": self.request_id}


@dataclass(slots=True)
class RangeStats:
    """Counters of one byte range (summed over ranges in the report).

    ``lines`` is the number of physical lines the range consumed (used to turn a range's local
    line numbers into file line numbers when reject files are merged).
    """

    lines: int = 0
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    blank: int = 0
    duplicates: int = 0
    chunks: int = 0
    identifiers: dict[str, list[int]] = field(default_factory=dict)  # type -> [accepted, rejected]
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    findings: dict[str, int] = field(default_factory=dict)  # counts for report warnings (reading)

    def as_item(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "read": self.read,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "blank": self.blank,
            "duplicates": self.duplicates,
            "chunks": self.chunks,
            "identifiers": {
                t: {"accepted": a, "rejected": r} for t, (a, r) in self.identifiers.items()
            },
            "rejected_by_reason": dict(self.rejected_by_reason),
            "findings": dict(self.findings),
        }


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What ingest knows when it creates a job. Fields it could not parse (bad key) are None."""

    job_id: str
    bucket: str
    key: str
    version_id: str | None
    advertiser_id: str | None = None
    audience_name: str | None = None
    action: str | None = None
    api: str | None = None
    retention_days: int | None = None
    phone_region: str | None = None
    columns: tuple[str, ...] = ()
    calculate_type: str | None = None
    ranges_total: int = 1
    plan: Mapping[str, Any] | None = None
    reading: Mapping[str, Any] | None = None  # encoding, columns, options, warnings (reading.py)


def _plain(value: Any) -> Any:
    """DynamoDB values back to plain Python (Decimal → int, sets → sorted lists)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    return value


def _to_ddb(item: Mapping[str, Any]) -> dict[str, Any]:
    serialize = _codecs()[0].serialize
    return {k: serialize(v) for k, v in item.items()}


def _from_ddb(item: Mapping[str, Any]) -> dict[str, Any]:
    deserialize = _codecs()[1].deserialize
    return {k: _plain(deserialize(v)) for k, v in item.items()}


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class JobStore:
    """The jobs table (pk ``job_id``), shared by ingest and upload.

    ``dynamodb`` is a low-level boto3 DynamoDB client. Items are returned as plain dicts
    (numbers as ``int``, the ``done_chunks`` set as a sorted list).
    """

    def __init__(self, table_name: str, *, dynamodb: Any, ttl_days: int = 30) -> None:
        self._table = table_name
        self._ddb = dynamodb
        self._ttl_seconds = ttl_days * 86400

    # -- both sides ------------------------------------------------------------------------

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job item (strongly consistent read), or None."""
        resp = self._ddb.get_item(
            TableName=self._table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
        )
        item = resp.get("Item")
        return _from_ddb(item) if item else None

    def _update(
        self,
        job_id: str,
        expression: str,
        *,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        condition: str | None = None,
    ) -> dict[str, Any] | None:
        """One UpdateItem returning the new item, or None when ``condition`` does not hold."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"job_id": {"S": job_id}},
            "UpdateExpression": expression,
            "ReturnValues": "ALL_NEW",
        }
        if names:
            kwargs["ExpressionAttributeNames"] = dict(names)
        if values:
            kwargs["ExpressionAttributeValues"] = _to_ddb(values)
        if condition:
            kwargs["ConditionExpression"] = condition
        try:
            resp = self._ddb.update_item(**kwargs)
        except ClientError as exc:
            if _condition_failed(exc):
                return None
            raise
        return _from_ddb(resp["Attributes"])

    # -- ingest side ---------------------------------------------------------------------

    def create(
        self, spec: JobSpec, *, error: JobError | None = None, now: float | None = None
    ) -> tuple[bool, dict[str, Any]]:
        """Create the job unless it exists. Returns ``(created, item)``.

        With ``error`` the job is created already ``failed`` (an invalid key or options: there is
        nothing to process, but the user still gets a report).
        """
        started = utc_now()
        epoch = int(now if now is not None else datetime.now(UTC).timestamp())
        item: dict[str, Any] = {
            "job_id": spec.job_id,
            "status": FAILED if error else RUNNING,
            "source": {"bucket": spec.bucket, "key": spec.key, "version_id": spec.version_id},
            "advertiser_id": spec.advertiser_id,
            "audience_name": spec.audience_name,
            "action": spec.action,
            "api": spec.api,
            "retention_days": spec.retention_days,
            "phone_region": spec.phone_region,
            "columns": list(spec.columns),
            "calculate_type": spec.calculate_type,
            "plan": json.dumps(spec.plan or {}, separators=(",", ":")),
            "reading": dict(spec.reading) if spec.reading else None,
            "ranges_total": spec.ranges_total,
            "ranges_done": 0,
            "ranges": {},
            "chunks_total": 0,
            "chunks_done": 0,
            "file_paths": {},
            "tiktok": {"audience_id": None, "request_ids": []},
            "error": error.as_dict() if error else None,
            "started_at": started,
            "finished_at": started if error else None,
            "expires_at": epoch + (self._ttl_seconds if error else _RUNNING_TTL_DAYS * 86400),
        }
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=_to_ddb(item),
                ConditionExpression="attribute_not_exists(job_id)",
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            existing = self.get(spec.job_id)
            if existing is None:  # pragma: no cover - deleted between the two calls
                raise
            return False, existing
        return True, _plain(item)

    def record_range(
        self, job_id: str, range_index: int, stats: RangeStats
    ) -> dict[str, Any] | None:
        """Record that ``range_index`` is fully chunked (before its chunk messages are sent).

        Adds its chunk count to ``chunks_total`` and increments ``ranges_done``. Returns the new
        item, or None when the range was already recorded (a redelivery) or the job is no longer
        running.
        """
        return self._update(
            job_id,
            "SET #ranges.#i = :stats ADD ranges_done :one, chunks_total :chunks",
            names={"#ranges": "ranges", "#i": str(range_index), "#status": "status"},
            values={
                ":stats": stats.as_item(),
                ":one": 1,
                ":chunks": stats.chunks,
                ":running": RUNNING,
            },
            condition="attribute_exists(job_id) AND attribute_not_exists(#ranges.#i) "
            "AND #status = :running",
        )

    def mark_ranges_queued(self, job_id: str) -> None:
        """Note that the range messages of a multi-range job were sent (so a redelivered
        notification does not send them again, while one that follows a crash before the
        send still does)."""
        self._update(
            job_id, "SET ranges_queued = :yes", values={":yes": True},
            condition="attribute_exists(job_id)",
        )  # fmt: skip

    # -- upload side ---------------------------------------------------------------------

    def mark_chunk_done(self, job_id: str, chunk_key: str, file_path: str) -> dict[str, Any] | None:
        """Record that TikTok holds ``chunk_key`` as ``file_path`` (customer file) or that its rows
        are mapped (partner API; pass ``""`` as ``file_path``).

        Returns the new item, or None when the chunk was already done (a redelivered message:
        do nothing more) or the job is no longer running. Check :meth:`ready_to_finalize` on the
        returned item.
        """
        return self._update(
            job_id,
            "SET #fp.#k = :fp ADD chunks_done :one, done_chunks :keyset",
            names={"#fp": "file_paths", "#k": chunk_key, "#status": "status"},
            values={
                ":fp": file_path,
                ":one": 1,
                ":keyset": {chunk_key},
                ":key": chunk_key,
                ":running": RUNNING,
            },
            condition="attribute_exists(job_id) AND NOT contains(done_chunks, :key) "
            "AND #status = :running",
        )

    @staticmethod
    def ready_to_finalize(item: Mapping[str, Any]) -> bool:
        """True when every range is recorded, every chunk is done and there is at least one."""
        return (
            item.get("status") == RUNNING
            and item.get("ranges_done", 0) >= item.get("ranges_total", 1)
            and item.get("chunks_total", 0) > 0
            and item.get("chunks_done", 0) >= item.get("chunks_total", 0)
        )

    def claim_finalization(
        self, job_id: str, *, owner: str, now: float, lease_seconds: int = 900
    ) -> bool:
        """Claim the single create/update call. True for exactly one claimant at a time.

        A claim older than ``lease_seconds`` (its holder crashed) can be taken over. ``now`` is a
        Unix timestamp.
        """
        item = self._update(
            job_id,
            "SET finalizing = :claim",
            names={"#status": "status", "#at": "at"},
            values={
                ":claim": {"owner": owner, "at": int(now)},
                ":stale": int(now) - lease_seconds,
                ":running": RUNNING,
            },
            condition="#status = :running AND "
            "(attribute_not_exists(finalizing) OR finalizing.#at < :stale)",
        )
        return item is not None

    # -- added by the audience-upload side (issue 5) --------------------------------------

    def release_finalization(self, job_id: str, *, owner: str) -> bool:
        """Give up our finalization claim (a retryable failure: the record goes back to the
        queue and its redelivery must be able to claim again at once). No-op unless ``owner``
        holds the claim. True when released."""
        item = self._update(
            job_id,
            "REMOVE finalizing",
            names={"#owner": "owner"},
            values={":owner": owner},
            condition="finalizing.#owner = :owner",
        )
        return item is not None

    def record_tiktok(
        self, job_id: str, *, audience_id: str | None = None, request_ids: Iterable[str] = ()
    ) -> dict[str, Any] | None:
        """Remember TikTok's audience id and/or append request ids (for the report)."""
        sets: list[str] = []
        values: dict[str, Any] = {}
        if audience_id is not None:
            sets.append("#tt.audience_id = :aid")
            values[":aid"] = audience_id
        ids = [r for r in request_ids if r]
        if ids:
            sets.append("#tt.request_ids = list_append(#tt.request_ids, :rids)")
            values[":rids"] = ids
        if not sets:
            return self.get(job_id)
        return self._update(
            job_id,
            "SET " + ", ".join(sets),
            names={"#tt": "tiktok"},
            values=values,
            condition="attribute_exists(job_id)",
        )

    def settle_shape(self, job_id: str, shape: Mapping[str, Any]) -> dict[str, Any] | None:
        """Record the job's customer-file ``shape`` unless one is recorded already, and return
        the item: every chunk of the job is written with the first shape decided."""
        return self._update(
            job_id,
            "SET #shape = if_not_exists(#shape, :shape)",
            names={"#shape": "shape"},
            values={":shape": dict(shape)},
            condition="attribute_exists(job_id)",
        )

    def record_applied(
        self, job_id: str, applied: int, *, request_id: str = ""
    ) -> dict[str, Any] | None:
        """TikTok took the job's first ``applied`` create/update groups: remember it (a finalize
        resumed after a wait starts after them) and end any wait. Never moves backwards."""
        expression = "SET applied_groups = :n REMOVE waiting"
        values: dict[str, Any] = {":n": applied, ":running": RUNNING}
        if request_id:
            expression = (
                "SET applied_groups = :n, #tt.request_ids = list_append(#tt.request_ids, :rids) "
                "REMOVE waiting"
            )
            values[":rids"] = [request_id]
        return self._update(
            job_id,
            expression,
            names={"#status": "status", **({"#tt": "tiktok"} if request_id else {})},
            values=values,
            condition="#status = :running AND "
            "(attribute_not_exists(applied_groups) OR applied_groups < :n)",
        )

    def record_waiting(self, job_id: str, waiting: Mapping[str, Any]) -> dict[str, Any] | None:
        """The job waits for TikTok (``waiting`` record): only a running job; returns the item."""
        return self._update(
            job_id,
            "SET waiting = :w",
            names={"#status": "status"},
            values={":w": dict(waiting), ":running": RUNNING},
            condition="#status = :running",
        )

    def clear_waiting(self, job_id: str) -> None:
        """TikTok took the call it was waiting for: the job no longer waits."""
        self._update(
            job_id,
            "REMOVE waiting",
            names={"#status": "status"},
            values={":running": RUNNING},
            condition="#status = :running AND attribute_exists(waiting)",
        )

    # -- either side ---------------------------------------------------------------------

    def finish(
        self,
        job_id: str,
        *,
        status: str,
        error: JobError | None = None,
        audience_id: str | None = None,
        request_ids: Iterable[str] = (),
        now: float | None = None,
    ) -> dict[str, Any] | None:
        """End a running job as ``succeeded`` or ``failed``. Returns the final item, or None when
        the job had already ended (the first outcome wins). Sets the TTL (``ttl_days``)."""
        if status not in (SUCCEEDED, FAILED):
            raise ValueError(f"a job finishes as {SUCCEEDED!r} or {FAILED!r}, not {status!r}")
        epoch = int(now if now is not None else datetime.now(UTC).timestamp())
        expression = "SET #status = :status, finished_at = :fin, expires_at = :exp, #error = :err"
        values: dict[str, Any] = {
            ":status": status,
            ":fin": utc_now(),
            ":exp": epoch + self._ttl_seconds,
            ":err": error.as_dict() if error else None,
            ":running": RUNNING,
        }
        if audience_id is not None:
            expression += ", #tt.audience_id = :aid"
            values[":aid"] = audience_id
        ids = [r for r in request_ids if r]
        if ids:
            expression += ", #tt.request_ids = list_append(#tt.request_ids, :rids)"
            values[":rids"] = ids
        return self._update(
            job_id,
            expression,
            names={
                "#status": "status",
                "#error": "error",
                **({"#tt": "tiktok"} if "#tt" in expression else {}),
            },
            values=values,
            condition="#status = :running",
        )

    def fail(
        self, job_id: str, code: str, message: str, request_id: str | None = None
    ) -> dict[str, Any] | None:
        """Shorthand for ``finish(status="failed", error=JobError(code, message, request_id))``."""
        return self.finish(job_id, status=FAILED, error=JobError(code, message, request_id))

    def write_report(self, job: str | Mapping[str, Any], *, s3: Any, bucket: str) -> dict[str, Any]:
        """Render the report of ``job`` (an id — read fresh — or an item) and write it to
        ``reports/<job_id>.json``. Returns the report."""
        item = self.get(job) if isinstance(job, str) else job
        if item is None:
            raise LookupError(f"no job {job}")
        report = self._put_report(item, s3=s3, bucket=bucket)
        if item.get("status") == RUNNING:
            # Ingest and upload both write this report. If the job ended while this "running"
            # copy was in flight, the final report may have landed first and been overwritten:
            # the ending writer sets the status before it writes, so re-reading here and writing
            # again whenever the job has ended leaves the final report last.
            fresh = self.get(report["job_id"])
            if fresh is not None and fresh.get("status") != RUNNING:
                report = self._put_report(fresh, s3=s3, bucket=bucket)
        return report

    @staticmethod
    def _put_report(item: Mapping[str, Any], *, s3: Any, bucket: str) -> dict[str, Any]:
        report = render_report(item)
        s3.put_object(
            Bucket=bucket,
            Key=report_key(report["job_id"]),
            Body=json.dumps(report, indent=2, sort_keys=False).encode(),
            ContentType="application/json",
        )
        return report


def report_key(job_id: str) -> str:
    """``reports/<job_id>.json``."""
    return f"reports/{job_id}.json"


def rejects_key(job_id: str) -> str:
    """``rejects/<job_id>.csv``."""
    return f"rejects/{job_id}.csv"


def job_totals(item: Mapping[str, Any]) -> dict[str, Any]:
    """Sum the per-range counters of a job item."""
    rows = {"read": 0, "accepted": 0, "rejected": 0, "blank": 0, "duplicates": 0}
    identifiers: dict[str, dict[str, int]] = {}
    reasons: dict[str, int] = {}
    findings: dict[str, int] = {}
    for stats in (item.get("ranges") or {}).values():
        for k in rows:
            rows[k] += int(stats.get(k, 0))
        for id_type, counts in (stats.get("identifiers") or {}).items():
            slot = identifiers.setdefault(id_type, {"accepted": 0, "rejected": 0})
            slot["accepted"] += int(counts.get("accepted", 0))
            slot["rejected"] += int(counts.get("rejected", 0))
        for reason, n in (stats.get("rejected_by_reason") or {}).items():
            reasons[reason] = reasons.get(reason, 0) + int(n)
        for name, n in (stats.get("findings") or {}).items():
            findings[name] = findings.get(name, 0) + int(n)
    return {
        "rows": rows,
        "identifiers": identifiers,
        "rejected_by_reason": reasons,
        "findings": findings,
    }


# The report's status while a running job waits for TikTok (the item's status stays running).
WAITING_FOR_TIKTOK = "waiting_for_tiktok"


def _waiting_report(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The report's ``waiting`` section: why and since when the job waits, when it looks again
    and when it gives up (ISO-8601 UTC); None unless a running job waits."""
    waiting = item.get("waiting")
    if item.get("status") != RUNNING or not isinstance(waiting, Mapping):
        return None

    def at(key: str) -> str | None:
        value = waiting.get(key)
        if not isinstance(value, int | float):
            return None
        stamp = datetime.fromtimestamp(float(value), UTC)
        return stamp.isoformat(timespec="seconds").replace("+00:00", "Z")

    return {
        "reason": waiting.get("reason"),
        "audience_id": waiting.get("audience_id"),
        "message": waiting.get("message"),
        "since": at("since"),
        "next_look_at": at("next_look_at"),
        "gives_up_at": at("gives_up_at"),
    }


def render_report(item: Mapping[str, Any]) -> dict[str, Any]:
    """The report of a job item: DESIGN §3.7's fixed keys, then §6b's (:mod:`.reading`). A
    running job that waits for TikTok reports ``waiting_for_tiktok`` with a ``waiting`` section
    (null otherwise)."""
    totals = job_totals(item)
    additions = report_sections(item, totals)
    file_paths = item.get("file_paths") or {}
    tiktok = item.get("tiktok") or {}
    source = item.get("source") or {}
    waiting = _waiting_report(item)
    return {
        "job_id": item["job_id"],
        "source": {
            "bucket": source.get("bucket"),
            "key": source.get("key"),
            "version_id": source.get("version_id"),
        },
        "advertiser_id": item.get("advertiser_id"),
        "audience_name": item.get("audience_name"),
        "action": item.get("action"),
        "api": item.get("api"),
        "status": (
            WAITING_FOR_TIKTOK
            if waiting
            else report_status(item.get("status"), additions["warnings"])
        ),
        "rows": totals["rows"],
        "identifiers": dict(sorted(totals["identifiers"].items())),
        "rejected_by_reason": dict(sorted(totals["rejected_by_reason"].items())),
        "chunks": {
            "total": int(item.get("chunks_total", 0)),
            "done": int(item.get("chunks_done", 0)),
        },
        "tiktok": {
            "audience_id": tiktok.get("audience_id"),
            "file_paths": [file_paths[k] for k in sorted(file_paths) if file_paths[k]],
            "request_ids": list(tiktok.get("request_ids") or []),
        },
        "error": item.get("error"),
        "waiting": waiting,
        "started_at": item.get("started_at"),
        "finished_at": item.get("finished_at"),
        **additions,
    }


def job_plan(item: Mapping[str, Any]) -> dict[str, Any]:
    """The ingest plan stored on the job (how to read the file; see ``ingest``)."""
    raw = item.get("plan") or "{}"
    plan = json.loads(raw) if isinstance(raw, str) else dict(raw)
    return plan if isinstance(plan, dict) else {}
