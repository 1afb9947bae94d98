"""The jobs table: every write to a job item, each one conditional (:class:`JobStore`).

Ingest creates the job and records each byte range it finishes; upload marks chunks done, and
the worker that sees the job complete claims finalization once and finishes the job. Either side
renders and writes the report.

Every write is conditional, so each step is safe to run twice:

* :meth:`JobStore.create` — ``attribute_not_exists(job_id)``: a redelivered notification finds
  the existing job instead of making a second one.
* :meth:`JobStore.record_range` — ``attribute_not_exists(ranges.<i>)``: a range counts once.
* :meth:`JobStore.mark_chunk_done` — ``NOT contains(done_chunks, key)``: a chunk counts once.
* :meth:`JobStore.claim_finalization` — one claimant (with a lease, so a crashed claimant's
  successor can take over after ``lease_seconds``).
* :meth:`JobStore.finish` — only a running job finishes; the first outcome wins.

The item itself — its attributes, their layout, the sub-records each write sets — is the
contract's :class:`~tiktok_connector.contract.job.JobItem`; every read returns one. Counters are
kept per range (``ranges.<i>``) and summed when the report is rendered (:mod:`.report`), which
makes a redelivered range harmless. Upload adds ``shape``, ``applied_groups``, ``waiting`` (the
report says ``waiting_for_tiktok``; ``status`` stays ``running``) and ``tiktok.size``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from tiktok_connector.contract.job import (
    FAILED,
    RUNNING,
    SUCCEEDED,
    AudienceSize,
    Finalizing,
    JobError,
    JobItem,
    JobSource,
    JobStatus,
    Reading,
    Shape,
    StoredPlan,
    Waiting,
    ddb_values,
)
from tiktok_connector.contract.report import JobReport
from tiktok_connector.segments.report import render_report, report_key
from tiktok_connector.segments.stats import RangeStats

_RUNNING_TTL_DAYS = 90


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string (the report's timestamp format)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
    plan: StoredPlan | None = None
    reading: Reading | None = None  # encoding, columns, options, warnings (segments.reading)


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _json(model: Any) -> dict[str, Any]:
    """A sub-record's attribute value (plain JSON data)."""
    return dict(model.model_dump(mode="json"))


class JobStore:
    """The jobs table (pk ``job_id``), shared by ingest and upload.

    ``dynamodb`` is a low-level boto3 DynamoDB client. Items are returned as
    :class:`~tiktok_connector.contract.job.JobItem`.
    """

    def __init__(self, table_name: str, *, dynamodb: Any, ttl_days: int = 30) -> None:
        self._table = table_name
        self._ddb = dynamodb
        self._ttl_seconds = ttl_days * 86400

    # -- both sides ------------------------------------------------------------------------

    def get(self, job_id: str) -> JobItem | None:
        """The job item (strongly consistent read), or None."""
        resp = self._ddb.get_item(
            TableName=self._table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
        )
        item = resp.get("Item")
        return JobItem.from_ddb(item) if item else None

    def _update(
        self,
        job_id: str,
        expression: str,
        *,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        condition: str | None = None,
    ) -> JobItem | None:
        """One UpdateItem returning the new item, or None when ``condition`` does not hold."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"job_id": {"S": job_id}},
            "UpdateExpression": expression,
            "ReturnValues": "ALL_NEW",
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = ddb_values(values)
        if condition:
            kwargs["ConditionExpression"] = condition
        try:
            resp = self._ddb.update_item(**kwargs)
        except ClientError as exc:
            if _condition_failed(exc):
                return None
            raise
        return JobItem.from_ddb(resp["Attributes"])

    # -- ingest side ---------------------------------------------------------------------

    def create(
        self, spec: JobSpec, *, error: JobError | None = None, now: float | None = None
    ) -> tuple[bool, JobItem]:
        """Create the job unless it exists. Returns ``(created, item)``.

        With ``error`` the job is created already ``failed`` (an invalid key or options: there is
        nothing to process, but the user still gets a report).
        """
        started = utc_now()
        epoch = int(now if now is not None else datetime.now(UTC).timestamp())
        status: JobStatus = FAILED if error else RUNNING
        item = JobItem(
            job_id=spec.job_id,
            status=status,
            source=JobSource(bucket=spec.bucket, key=spec.key, version_id=spec.version_id),
            advertiser_id=spec.advertiser_id,
            audience_name=spec.audience_name,
            action=spec.action,
            api=spec.api,
            retention_days=spec.retention_days,
            phone_region=spec.phone_region,
            columns=list(spec.columns),
            calculate_type=spec.calculate_type,
            plan=spec.plan or StoredPlan(),
            reading=spec.reading,
            ranges_total=spec.ranges_total,
            error=error,
            started_at=started,
            finished_at=started if error else None,
            expires_at=epoch + (self._ttl_seconds if error else _RUNNING_TTL_DAYS * 86400),
        )
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=item.creation_attributes(),
                ConditionExpression="attribute_not_exists(job_id)",
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            existing = self.get(spec.job_id)
            if existing is None:  # pragma: no cover - deleted between the two calls
                raise
            return False, existing
        return True, item

    def record_range(self, job_id: str, range_index: int, stats: RangeStats) -> JobItem | None:
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
                ":stats": _json(stats.as_record()),
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

    def mark_chunk_done(self, job_id: str, chunk_key: str, file_path: str) -> JobItem | None:
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
    def ready_to_finalize(item: JobItem) -> bool:
        """True when every range is recorded, every chunk is done and there is at least one."""
        return (
            item.running
            and item.ranges_done >= item.ranges_total
            and item.chunks_total > 0
            and item.chunks_done >= item.chunks_total
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
                ":claim": _json(Finalizing(owner=owner, at=int(now))),
                ":stale": int(now) - lease_seconds,
                ":running": RUNNING,
            },
            condition="#status = :running AND "
            "(attribute_not_exists(finalizing) OR finalizing.#at < :stale)",
        )
        return item is not None

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
        self,
        job_id: str,
        *,
        audience_id: str | None = None,
        request_ids: Iterable[str] = (),
        size: AudienceSize | None = None,
    ) -> JobItem | None:
        """Remember TikTok's audience id, request ids and/or the audience's size (report)."""
        sets: list[str] = []
        values: dict[str, Any] = {}
        if size is not None:
            sets.append("#tt.#size = :size")
            values[":size"] = _json(size)
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
            names={"#tt": "tiktok", **({"#size": "size"} if size is not None else {})},
            values=values,
            condition="attribute_exists(job_id)",
        )

    def settle_shape(self, job_id: str, shape: Shape) -> JobItem | None:
        """Record the job's customer-file ``shape`` unless one is recorded already, and return
        the item: every chunk of the job is written with the first shape decided."""
        return self._update(
            job_id,
            "SET #shape = if_not_exists(#shape, :shape)",
            names={"#shape": "shape"},
            values={":shape": _json(shape)},
            condition="attribute_exists(job_id)",
        )

    def record_applied(self, job_id: str, applied: int, *, request_id: str = "") -> JobItem | None:
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

    def record_waiting(self, job_id: str, waiting: Waiting) -> JobItem | None:
        """The job waits for TikTok (``waiting`` record): only a running job; returns the item."""
        return self._update(
            job_id,
            "SET waiting = :w",
            names={"#status": "status"},
            values={":w": _json(waiting), ":running": RUNNING},
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
        status: JobStatus,
        error: JobError | None = None,
        audience_id: str | None = None,
        request_ids: Iterable[str] = (),
        now: float | None = None,
    ) -> JobItem | None:
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
            ":err": asdict(error) if error else None,
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
    ) -> JobItem | None:
        """Shorthand for ``finish(status="failed", error=JobError(code, message, request_id))``."""
        return self.finish(job_id, status=FAILED, error=JobError(code, message, request_id))

    def write_report(self, job: str | JobItem, *, s3: Any, bucket: str) -> JobReport:
        """Render the report of ``job`` (an id — read fresh — or an item) and write it to
        ``reports/<job_id>.json``. Returns the report."""
        item = self.get(job) if isinstance(job, str) else job
        if item is None:
            raise LookupError(f"no job {job}")
        report = self._put_report(item, s3=s3, bucket=bucket)
        if item.running:
            # Ingest and upload both write this report. If the job ended while this "running"
            # copy was in flight, the final report may have landed first and been overwritten:
            # the ending writer sets the status before it writes, so re-reading here and writing
            # again whenever the job has ended leaves the final report last.
            fresh = self.get(item.job_id)
            if fresh is not None and not fresh.running:
                report = self._put_report(fresh, s3=s3, bucket=bucket)
        return report

    @staticmethod
    def _put_report(item: JobItem, *, s3: Any, bucket: str) -> JobReport:
        report = render_report(item)
        s3.put_object(
            Bucket=bucket,
            Key=report_key(item.job_id),
            Body=json.dumps(report.as_json(), indent=2).encode(),
            ContentType="application/json",
        )
        return report
