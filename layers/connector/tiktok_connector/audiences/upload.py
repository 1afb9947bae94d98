"""One chunk-queue record in: chunk upload, fan-in and the single finalize call (issue 5).

The contract with ingest is in docs/architecture.md ("Segment jobs"): chunk messages
``{"type": "chunk", "job_id", "chunk_key", "rows", "md5"}`` and ``{"type": "finalize", "job_id"}``
reference chunk files of hashes in S3; the job item (:class:`~tiktok_connector.segments.jobs.
JobStore`) counts finished chunks.

What a record can end as (the handler maps these to SQS partial-batch results):

* processed — the chunk is done (or was already done: a redelivery), the job finished, or the job
  failed permanently (auth, permission, parameters, ``audience_exists`` …: retrying cannot help, so
  the job's report says why and the message is not retried);
* :class:`RetryLaterError` — throttled or TikTok/network trouble past the invocation's budget, or
  another worker holds a claim we need: the record goes back to the queue;
* :class:`PoisonMessageError` — the body is not a chunk message we can act on (not JSON, unknown
  type, unknown job): raised so SQS moves it to the DLQ after ``maxReceiveCount``.

Exactly once:

* Customer file: a chunk's ``file_path`` is recorded with a conditional update keyed on the chunk
  (``NOT contains(done_chunks, key)``), so a redelivered chunk is a no-op; a crash between the
  upload and the record only leaves an unused file at TikTok. Only recorded ``file_paths`` reach
  the audience, in one create/update sequence issued by the single worker that claims
  finalization. That sequence is safe to repeat (see :mod:`.customer_file`), and ``create`` is
  guarded by the audience registry: a creation claim, an ambiguous answer (connection lost, HTTP
  5xx) checked against ``/dmp/custom_audience/list/`` before trying again, and a later run
  that finds its own job's id in the registry appends instead of creating again.
* Partner API: a job's target audience is created once (registry claim) before its chunks map
  rows into it; ``add``/``delete`` mappings are set operations, so a redelivered chunk changes
  nothing. A ``replace`` builds a fresh partner audience under a per-job staging key and moves the
  name onto it when the last chunk is in (the segment API has no replace), so the name never
  points at a half-built audience.

Follow-up files fit their audience (:mod:`.file_format`): every customer file of a job is written
with one shape — the audience's recorded calculate type and columns when it exists, the job's own
otherwise — and a file whose ids the audience cannot hold fails before anything is uploaded.

TikTok states that pass (an audience still processing, a partner audience not yet ready) are
waited out (:mod:`.waiting`): the job records ``waiting``, its report says
``waiting_for_tiktok``, and the message comes back later with a growing delay; a finalize of
several update calls resumes after the groups TikTok already took (``applied_groups``).
"""

from __future__ import annotations

import calendar
import hashlib
import json
import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aws_lambda_powertools import Logger, single_metric
from aws_lambda_powertools.metrics import MetricUnit

from tiktok_connector.audiences import customer_file, partner
from tiktok_connector.audiences.api import AudienceApi, DeadlineExceeded, Pacer, TokenSource
from tiktok_connector.audiences.file_format import (
    DoesNotFit,
    FileShape,
    conform,
    is_headerless_auto,
    job_shape,
    misfits,
    present_columns,
    settled_shape,
)
from tiktok_connector.audiences.registry import (
    AudienceEntry,
    AudienceRegistry,
    audience_key,
    staging_key,
)
from tiktok_connector.audiences.settings import UploadSettings
from tiktok_connector.audiences.waiting import (
    AUDIENCE_PROCESSING,
    WAITING_FOR_TIKTOK,
    TikTokNotReady,
    WaitPolicy,
    gave_up_message,
    waiting_record,
)
from tiktok_connector.segments.jobs import RUNNING, SUCCEEDED, JobError, JobStore
from tiktok_connector.tiktok import (
    HTTP_ERROR_CODE,
    NETWORK_ERROR_CODE,
    PermanentTikTokError,
    RetryableTikTokError,
    TikTokClient,
    TikTokError,
    TokenRejectedError,
)
from tiktok_connector.tokens import TokenNotFoundError

logger = Logger(child=True)

OBJECT_MISSING = 40007  # TikTok: the object does not exist

FILE_API = "file"
SEGMENT_API = "segment"
ACTIONS = ("create", "append", "remove", "replace")
MULTIPLE_TYPES = "MULTIPLE_TYPES"

# How long a worker waits in-process for another worker of the same job to finish creating the
# job's partner audience before handing the record back to the queue.
_CLAIM_POLL_SECONDS = 0.25


class PoisonMessageError(ValueError):
    """The record can never be processed; it belongs in the DLQ. The message names no PII."""


class RetryLaterError(Exception):
    """The record should go back to the queue and be tried again later."""


class JobFailure(Exception):
    """A permanent, job-level failure with our own code (``audience_exists``, …)."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        self.error = JobError(code, message, request_id)
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True, slots=True)
class ChunkMessage:
    job_id: str
    chunk_key: str
    rows: int = 0
    md5: str | None = None

    def body(self) -> str:
        """The message as the chunk queue carries it (to put it back after a wait)."""
        message: dict[str, Any] = {"type": "chunk", "job_id": self.job_id}
        message.update(chunk_key=self.chunk_key, rows=self.rows)
        if self.md5:
            message["md5"] = self.md5
        return json.dumps(message, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class FinalizeMessage:
    job_id: str

    def body(self) -> str:
        return json.dumps({"type": "finalize", "job_id": self.job_id}, separators=(",", ":"))


def parse_message(body: str) -> ChunkMessage | FinalizeMessage:
    """Parse a chunk-queue body; :class:`PoisonMessageError` when it is not one we know."""
    try:
        message = json.loads(body)
    except (TypeError, ValueError):
        raise PoisonMessageError("chunk message body is not JSON") from None
    if not isinstance(message, dict):
        raise PoisonMessageError("chunk message body is not a JSON object")
    kind = message.get("type")
    job_id = message.get("job_id")
    if not isinstance(job_id, str) or not job_id:
        raise PoisonMessageError(f"chunk message of type {kind!r} has no job_id")
    if kind == "finalize":
        return FinalizeMessage(job_id)
    if kind == "chunk":
        chunk_key = message.get("chunk_key")
        if not isinstance(chunk_key, str) or not chunk_key.startswith(f"chunks/{job_id}/"):
            raise PoisonMessageError("chunk message has no chunk_key under chunks/<job_id>/")
        rows = message.get("rows")
        md5 = message.get("md5")
        return ChunkMessage(
            job_id,
            chunk_key,
            rows if isinstance(rows, int) else 0,
            md5 if isinstance(md5, str) and md5 else None,
        )
    raise PoisonMessageError(f"unknown chunk message type {str(kind)[:40]!r}")


@dataclass(slots=True)
class Outcome:
    """What happened to one record (for logs and metrics)."""

    job_id: str
    # uploaded | duplicate | finalized | failed | job_ended | waiting (for other chunks) |
    # waiting_for_tiktok (a TikTok state that passes; the message comes back later)
    result: str
    chunks_uploaded: int = 0
    rows_sent: int = 0
    job_status: str | None = None
    error: JobError | None = None
    tiktok_codes: dict[int, int] = field(default_factory=dict)
    tiktok_retries: int = 0
    tiktok_throttled: int = 0


class MetricsSink(Protocol):
    """The slice of Powertools ``Metrics`` the uploader uses."""

    namespace: Any
    service: Any

    def add_metric(self, name: str, unit: Any, value: float) -> None: ...


def explain(exc: TikTokError) -> str:
    """TikTok's message plus, for errors with a known cause, a sentence on what to do.

    Decided on code and endpoint only (never message text).
    """
    message = exc.message or f"TikTok code {exc.code}"
    path = exc.path.strip("/")
    if exc.code == 40002 and path == customer_file.UPDATE_PATH:
        return (
            f"{message} — TikTok applies APPEND, REMOVE and REPLACE only when the audience keeps "
            "at least 1,000 members: send a file with more matched ids, or fewer removals."
        )
    if exc.code == 40002 and path in (customer_file.CREATE_PATH, partner.AUDIENCE_PATH):
        return (
            f"{message} — if the advertiser already has 400 custom audiences (TikTok's cap), "
            "delete unused audiences in TikTok Ads Manager, or use append/replace on an "
            "existing one."
        )
    if exc.code == 40909 and path in (customer_file.UPDATE_PATH, customer_file.CREATE_PATH):
        return (
            f"{message} — TikTok takes only files of the audience's own calculate type (the id "
            "types it was created with)."
        )
    if exc.code == OBJECT_MISSING and path == customer_file.UPDATE_PATH:
        return (
            f"{message} — the audience this name pointed at no longer exists at TikTok (deleted "
            "in Ads Manager?); the name was released: send the file again with create or replace."
        )
    if isinstance(exc, TokenRejectedError) or exc.code in (40001, 40130):
        return (
            f"{message} — the advertiser's authorization was refused or lacks the audience "
            "scopes: reconnect the advertiser through the Connect TikTok link."
        )
    return message


class AudienceUploader:
    """Processes chunk-queue bodies. Collaborators are passed in (moto, emulator, fakes)."""

    def __init__(
        self,
        *,
        settings: UploadSettings,
        jobs: JobStore,
        registry: AudienceRegistry,
        client: TikTokClient,
        tokens: TokenSource,
        s3: Any,
        pacer: Pacer | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        requeue: Callable[[str, int], None] | None = None,
    ) -> None:
        """``requeue(body, delay_seconds)`` puts a message back on the chunk queue after a
        delay (a job waiting for TikTok); without it such a record is handed back to SQS."""
        self.settings = settings
        self.jobs = jobs
        self.registry = registry
        self.client = client
        self.tokens = tokens
        self.s3 = s3
        self.pacer = pacer
        self.clock = clock
        self.monotonic = monotonic
        self.sleep = sleep
        self.requeue = requeue
        self.wait_policy = WaitPolicy(
            first_delay=settings.tiktok_wait_first_delay_seconds,
            max_delay=settings.tiktok_wait_max_delay_seconds,
            max_wait=settings.tiktok_max_wait_hours * 3600.0,
        )

    # ------------------------------------------------------------------ entry point
    def handle(
        self, body: str, *, remaining_seconds: float, metrics: MetricsSink | None = None
    ) -> Outcome:
        """Process one record body within ``remaining_seconds`` of invocation time.

        Returns an :class:`Outcome` when the record is done with; raises
        :class:`RetryLaterError` or :class:`PoisonMessageError` otherwise.
        """
        message = parse_message(body)
        job = self.jobs.get(message.job_id)
        if job is None:
            raise PoisonMessageError("chunk message names a job that does not exist")
        before = _stats_snapshot(self.client)
        outcome = Outcome(message.job_id, "deferred")
        try:
            outcome = self._handle(message, job, remaining_seconds)
        finally:
            delta = _stats_delta(before, _stats_snapshot(self.client))
            outcome.tiktok_codes, outcome.tiktok_retries, outcome.tiktok_throttled = delta
            if metrics is not None:
                emit_metrics(metrics, outcome)
        return outcome

    def _handle(
        self, message: ChunkMessage | FinalizeMessage, job: dict[str, Any], remaining: float
    ) -> Outcome:
        job_id = message.job_id
        if job.get("status") != RUNNING:
            return Outcome(job_id, "job_ended", job_status=job.get("status"))
        deadline = self.monotonic() + max(0.0, remaining - self.settings.deadline_margin_seconds)
        api = AudienceApi(
            self.client, self.tokens, pacer=self.pacer, deadline=deadline, clock=self.monotonic
        )
        lease = math.ceil(remaining) + 5
        outcome = Outcome(job_id, "waiting")
        try:
            self._validate(job)
            item: dict[str, Any] | None = job
            if isinstance(message, ChunkMessage):
                item = self._chunk(api, job, message, outcome, lease)
            if (
                item is not None
                and JobStore.ready_to_finalize(item)
                and self._finalize(api, item, lease)
            ):
                outcome.result = "finalized"
                outcome.job_status = SUCCEEDED
        except (RetryableTikTokError, DeadlineExceeded) as exc:
            logger.warning(
                "TikTok call deferred; record goes back to the queue",
                extra={"job_id": job_id, "reason": str(exc)},
            )
            raise RetryLaterError(str(exc)) from None
        except (PermanentTikTokError, TokenRejectedError) as exc:
            error = JobError(str(exc.code), explain(exc), exc.request_id or None)
            self._fail(job_id, error, outcome)
        except TokenNotFoundError as exc:
            self._fail(job_id, JobError("not_connected", str(exc)), outcome)
        except JobFailure as exc:
            self._fail(job_id, exc.error, outcome)
        except partner.UnsupportedColumnError as exc:  # a chunk header the job did not declare
            self._fail(job_id, JobError("unsupported_id_type", str(exc)), outcome)
        except DoesNotFit as exc:
            self._fail(job_id, JobError("audience_type_mismatch", str(exc)), outcome)
        except TikTokNotReady as exc:
            self._wait(message, exc, outcome)
        return outcome

    def _wait(
        self, message: ChunkMessage | FinalizeMessage, exc: TikTokNotReady, outcome: Outcome
    ) -> None:
        """TikTok is in a state that passes: record the wait, put the message back with a
        delay, or fail the job once the wait is over (see :mod:`.waiting`)."""
        job_id = message.job_id
        fresh = self.jobs.get(job_id)
        if fresh is None or fresh.get("status") != RUNNING:
            outcome.result, outcome.job_status = "job_ended", (fresh or {}).get("status")
            return
        previous = fresh.get("waiting") if isinstance(fresh.get("waiting"), dict) else None
        record, give_up = waiting_record(previous, exc, now=self.clock(), policy=self.wait_policy)
        if give_up:
            code = "tiktok_still_processing" if exc.reason == AUDIENCE_PROCESSING else str(exc.code)
            message_text = gave_up_message(record, hours=self.settings.tiktok_max_wait_hours)
            self._fail(job_id, JobError(code, message_text, exc.request_id or None), outcome)
            return
        if self.requeue is None:
            raise RetryLaterError(exc.message)
        item = self.jobs.record_waiting(job_id, record)
        if item is None:
            outcome.result = "job_ended"
            return
        self.jobs.write_report(item, s3=self.s3, bucket=self.settings.segments_bucket)
        body = FinalizeMessage(job_id).body() if exc.resume_with_finalize else message.body()
        self.requeue(body, int(record["delay"]))
        logger.warning(
            "waiting for TikTok; the message comes back later",
            extra={
                "job_id": job_id,
                "reason": exc.reason,
                "audience_id": exc.audience_id,
                "delay_seconds": record["delay"],
                "waiting_since": record["since"],
            },
        )
        outcome.result = WAITING_FOR_TIKTOK
        outcome.job_status = WAITING_FOR_TIKTOK

    def _fail(self, job_id: str, error: JobError, outcome: Outcome) -> None:
        logger.warning(
            "audience job failed",
            extra={"job_id": job_id, "code": error.code, "request_id": error.request_id},
        )
        item = self.jobs.finish(job_id, status="failed", error=error)
        if item is not None:
            self.jobs.write_report(item, s3=self.s3, bucket=self.settings.segments_bucket)
        outcome.result = "failed"
        outcome.job_status = "failed"
        outcome.error = error

    @staticmethod
    def _validate(job: Mapping[str, Any]) -> None:
        if job.get("action") not in ACTIONS:
            raise JobFailure("invalid_action", f"unknown action {job.get('action')!r}")
        if job.get("api") not in (FILE_API, SEGMENT_API):
            raise JobFailure("invalid_api", f"unknown audience API {job.get('api')!r}")
        if not job.get("advertiser_id") or not job.get("audience_name"):
            raise JobFailure("invalid_job", "the job has no advertiser id or audience name")
        if job["api"] == SEGMENT_API:
            try:
                partner.id_schema(list(job.get("columns") or []))
            except partner.UnsupportedColumnError as exc:
                raise JobFailure("unsupported_id_type", str(exc)) from None

    # ------------------------------------------------------------------ chunks
    def _chunk(
        self,
        api: AudienceApi,
        job: dict[str, Any],
        message: ChunkMessage,
        outcome: Outcome,
        lease: int,
    ) -> dict[str, Any] | None:
        """Upload/map one chunk and mark it done. Returns the job item to check for fan-in."""
        if message.chunk_key in (job.get("done_chunks") or []):
            # A redelivery: nothing to send, but a crash may have happened before the fan-in
            # check, so look again.
            outcome.result = "duplicate"
            return job
        advertiser_id = str(job["advertiser_id"])
        if job["api"] == FILE_API:
            shape = self._precheck_file(job)
        content = self._read_chunk(message)
        if job["api"] == FILE_API:
            uploaded = customer_file.upload_file(
                api,
                advertiser_id,
                calculate_type=shape.calculate_type,
                file_name=chunk_file_name(message.chunk_key),
                content=conform(content, shape, name=str(job["audience_name"])),
            )
            file_path = uploaded.file_path
        else:
            audience_id = self._partner_target(api, job, lease)
            outcome.rows_sent = self._map_chunk(api, job, audience_id, content)
            file_path = ""
        item = self.jobs.mark_chunk_done(job["job_id"], message.chunk_key, file_path)
        if item is None:
            # Someone else recorded it first (concurrent duplicate), or the job ended meanwhile.
            outcome.result = "duplicate"
            return self.jobs.get(job["job_id"])
        outcome.result = "uploaded"
        outcome.chunks_uploaded = 1
        if item.get("waiting") and job["api"] == SEGMENT_API:
            self.jobs.clear_waiting(job["job_id"])  # TikTok took the mappings it refused before
        return item

    def _read_chunk(self, message: ChunkMessage) -> bytes:
        try:
            body = self.s3.get_object(Bucket=self.settings.segments_bucket, Key=message.chunk_key)
        except self.s3.exceptions.NoSuchKey:
            raise JobFailure(
                "chunk_missing", f"chunk file {message.chunk_key} is missing (expired?)"
            ) from None
        content: bytes = body["Body"].read()
        if message.md5 and hashlib.md5(content, usedforsecurity=False).hexdigest() != message.md5:
            raise JobFailure(
                "chunk_corrupt", f"chunk file {message.chunk_key} does not match its MD5"
            )
        return content

    def _precheck_file(self, job: dict[str, Any]) -> FileShape:
        """Fail early, before uploading anything, when finalize is bound to fail; return the
        shape every file of the job is written with (decided once, see :meth:`_shape`)."""
        refuse_replace_across_apis(self.registry, job)
        entry = self.registry.get(str(job["advertiser_id"]), file_key(job))
        action = job["action"]
        if (
            action == "create"
            and entry is not None
            and entry.ready
            and entry.owner_job_id != job["job_id"]
        ):
            raise _exists(job)
        creatable = action == "append" and self.settings.allow_create_on_append
        if action in ("append", "remove") and entry is None and not creatable:
            raise _not_found(job, self.registry)
        if (
            action != "create"
            and entry is not None
            and not entry.ready
            and entry.owner_job_id != job["job_id"]
            and not job.get("shape")
        ):
            # the audience's id types (its shape) are known once its creator is done
            raise RetryLaterError("the audience this file changes is being created by another job")
        shape = self._shape(job, entry)
        present = present_columns(job)  # None while ranges are still being read
        bad = misfits(shape, present or [])
        if bad:
            raise DoesNotFit(bad, shape, str(job["audience_name"]))
        return shape

    def _shape(self, job: dict[str, Any], entry: AudienceEntry | None) -> FileShape:
        """The calculate type and columns of every customer file of this job: the audience's
        own when it exists and its shape is recorded (follow-up files fit their audience), the
        job's otherwise. Recorded on the job item once, so all its chunks agree."""
        recorded = FileShape.from_item(job.get("shape"))
        if recorded is not None:
            return recorded
        shape = None
        if entry is not None and entry.ready and job["action"] != "create":
            shape = FileShape.from_item(entry.shape)
        if shape is None:
            shape = job_shape(job, headerless_auto=is_headerless_auto(job))
        item = self.jobs.settle_shape(str(job["job_id"]), shape.as_item())
        settled = FileShape.from_item((item or {}).get("shape")) or shape
        job["shape"] = settled.as_item()
        return settled

    def _map_chunk(
        self, api: AudienceApi, job: Mapping[str, Any], audience_id: str, content: bytes
    ) -> int:
        """Map a chunk's rows into a partner audience. A refusal shortly after our own create
        of that audience is TikTok not being ready yet (contract TM-03): wait, don't fail."""
        try:
            sent, _ = partner.send_chunk(
                api,
                str(job["advertiser_id"]),
                audience_id=audience_id,
                content=content,
                action=partner.MAPPING_ACTIONS[str(job["action"])],
                batch_size=self.settings.segment_batch_size,
            )
        except PermanentTikTokError as exc:
            waiting = partner.not_ready(
                exc,
                audience_id=audience_id,
                created_at=self._partner_created_at(job, audience_id),
                window=self.settings.partner_ready_window_seconds,
                now=self.clock(),
            )
            if waiting is None:
                raise
            raise waiting from None
        return sent

    def _partner_created_at(self, job: Mapping[str, Any], audience_id: str) -> float | None:
        """When we created the partner audience ``audience_id`` (registry), None if unknown."""
        name = str(job["audience_name"])
        keys = [audience_key(SEGMENT_API, name)]
        if job["action"] == "replace":
            keys.insert(0, staging_key(SEGMENT_API, name, job["job_id"]))
        for key in keys:
            entry = self.registry.get(str(job["advertiser_id"]), key)
            if entry is not None and entry.audience_id == audience_id:
                return entry.created_at
        return None

    # ------------------------------------------------------------------ partner target
    def _partner_target(self, api: AudienceApi, job: dict[str, Any], lease: int) -> str:
        """The partner audience this job maps rows into (created once per job if needed)."""
        recorded = (job.get("tiktok") or {}).get("audience_id")
        if recorded:
            return str(recorded)
        action = job["action"]
        advertiser_id = str(job["advertiser_id"])
        name = str(job["audience_name"])
        main = audience_key(SEGMENT_API, name)
        request_ids: list[str] = []
        if action == "replace":
            refuse_replace_across_apis(self.registry, job)
            audience_id = self._create_once(
                api,
                job,
                staging_key(SEGMENT_API, name, job["job_id"]),
                lease,
                exists_ok=True,
                request_ids=request_ids,
            )
        elif action == "create":
            audience_id = self._create_once(
                api, job, main, lease, exists_ok=False, request_ids=request_ids
            )
        else:
            entry = self.registry.get(advertiser_id, main)
            if entry is not None and entry.ready and entry.audience_id:
                audience_id = entry.audience_id
            elif entry is None and action == "append" and self.settings.allow_create_on_append:
                audience_id = self._create_once(
                    api, job, main, lease, exists_ok=True, request_ids=request_ids
                )
            elif entry is None:
                raise _not_found(job, self.registry)
            else:
                raise RetryLaterError("the audience is being created by another job")
        # The create call's request id goes into the report (mapping calls are too many to keep).
        self.jobs.record_tiktok(job["job_id"], audience_id=audience_id, request_ids=request_ids)
        job.setdefault("tiktok", {})["audience_id"] = audience_id
        return audience_id

    # ------------------------------------------------------------------ create, once
    def _create_once(
        self,
        api: AudienceApi,
        job: Mapping[str, Any],
        key: str,
        lease: int,
        *,
        exists_ok: bool,
        file_paths: list[str] | None = None,
        request_ids: list[str] | None = None,
    ) -> str:
        """Create the audience under registry ``key`` unless it exists; return its id.

        ``exists_ok`` — an audience another job created under this key is used (else
        ``audience_exists``). ``file_paths`` (customer file) go into the create call (first
        group) and the rest are applied by update, resuming after the groups the job item
        records as applied (``applied_groups``).
        """
        advertiser_id = str(job["advertiser_id"])
        job_id = str(job["job_id"])
        name = str(job["audience_name"])
        while True:
            claim = self.registry.claim(
                advertiser_id,
                key,
                name=name,
                api=str(job["api"]),
                job_id=job_id,
                lease_seconds=lease,
            )
            if claim.won:
                return self._create_claimed(
                    api, job, key, file_paths, request_ids, taken_over=claim.taken_over
                )
            entry = claim.entry
            if entry is None:
                continue  # released between our write and read: try again
            if entry.owner_job_id == job_id and entry.ready and entry.audience_id:
                # Our own earlier create went through (a rerun after a crash or a wait). Our
                # create call carried the first group and recorded it before the registry knew
                # the audience, so `applied_groups` is at least 1 then; 0 means the audience was
                # adopted from another job's claimant and gets every group with our action.
                if file_paths:
                    self._apply(api, job, entry.audience_id, file_paths, action=_sequence(job))
                return entry.audience_id
            if entry.ready and entry.audience_id:
                if not exists_ok:
                    raise _exists(job)
                if file_paths:
                    self._apply(api, job, entry.audience_id, file_paths, action=_sequence(job))
                return entry.audience_id
            # A live creation claim by another worker: wait a little, then hand back.
            if api.deadline is not None and self.monotonic() + _CLAIM_POLL_SECONDS >= api.deadline:
                raise RetryLaterError("the audience is being created by another worker")
            self.sleep(_CLAIM_POLL_SECONDS)

    def _apply(
        self,
        api: AudienceApi,
        job: Mapping[str, Any],
        audience_id: str,
        file_paths: list[str],
        *,
        action: str,
        start: int | None = None,
    ) -> None:
        """Apply the job's file groups to ``audience_id`` from ``start`` (default: after the
        groups the job item records as applied), recording each group TikTok takes."""
        job_id = str(job["job_id"])
        if start is None:
            latest = self.jobs.get(job_id) or job
            start = int(latest.get("applied_groups") or 0)

        def applied(count: int, request_id: str) -> None:
            self.jobs.record_applied(job_id, count, request_id=request_id)

        customer_file.apply_files(
            api,
            str(job["advertiser_id"]),
            audience_id=audience_id,
            action=action,
            file_paths=file_paths,
            start=start,
            on_applied=applied,
        )

    def _create_claimed(
        self,
        api: AudienceApi,
        job: Mapping[str, Any],
        key: str,
        file_paths: list[str] | None,
        request_ids: list[str] | None,
        *,
        taken_over: AudienceEntry | None = None,
    ) -> str:
        advertiser_id = str(job["advertiser_id"])
        name = str(job["audience_name"])
        job_id = str(job["job_id"])
        file_api = job["api"] == FILE_API
        try:
            adopted = None
            if taken_over is not None:
                # The previous claimant died between claim and complete: its create may have
                # gone through. Adopt that audience instead of creating a second one.
                adopted = self._find_created(
                    api, advertiser_id, name, job, since=taken_over.claimed_at
                )
            if adopted is not None:
                audience_id, request_id = adopted, ""
                logger.info(
                    "adopted the audience a crashed claimant created",
                    extra={"job_id": job_id, "audience_id": audience_id},
                )
            else:
                audience_id, request_id = self._create_call(api, job, file_paths)
        except TikTokError:
            self.registry.release(advertiser_id, key, job_id=job_id)
            raise
        # The create call carried the first group. An audience adopted from our own job's dead
        # claimant got that same first group (file_paths are fixed once every chunk is done);
        # one adopted from another job's claimant gets all our files with our own action.
        foreign = (
            adopted is not None and taken_over is not None and taken_over.owner_job_id != job_id
        )
        try:
            if file_api and not foreign:
                # before the registry knows the audience: a rerun that finds our own ready
                # entry then knows the first group is in (see _create_once)
                self.jobs.record_applied(job_id, 1, request_id=request_id)
            self.registry.complete(
                advertiser_id,
                key,
                job_id=job_id,
                audience_id=audience_id,
                shape=settled_shape(job).as_item() if file_api else None,
            )
        except Exception:
            # TikTok holds the audience but the registry does not know it: keep the claim (its
            # creation time tells the next claimant where to look) but let it be taken over now.
            self.registry.expire(advertiser_id, key, job_id=job_id)
            raise
        logger.info(
            "audience created",
            extra={"job_id": job_id, "audience_id": audience_id, "api": job["api"]},
        )
        if request_ids is not None and request_id and not file_api:
            request_ids.append(request_id)
        if file_paths:
            if foreign:
                self._apply(api, job, audience_id, file_paths, action=_sequence(job), start=0)
            elif len(file_paths) > customer_file.MAX_FILE_PATHS_PER_CALL:
                self._apply(api, job, audience_id, file_paths, action="APPEND", start=1)
        return audience_id

    def _create_call(
        self, api: AudienceApi, job: Mapping[str, Any], file_paths: list[str] | None
    ) -> tuple[str, str]:
        """One create call, retried here rather than in the client: when an answer is lost (the
        connection dropped, HTTP 5xx) the create may have applied, so TikTok's audience list is
        checked for it before trying again — a lost answer never creates a second audience."""
        advertiser_id = str(job["advertiser_id"])
        name = str(job["audience_name"])
        started = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                if job["api"] == FILE_API:
                    return customer_file.create_audience(
                        api,
                        advertiser_id,
                        name=name,
                        calculate_type=settled_shape(job).calculate_type,
                        file_paths=next(customer_file.groups(file_paths or [])),
                        retention_days=job.get("retention_days"),
                        retry=False,
                    )
                return partner.create_partner_audience(api, advertiser_id, name, retry=False)
            except RetryableTikTokError as exc:
                if exc.code in (NETWORK_ERROR_CODE, HTTP_ERROR_CODE):
                    found = self._find_created(api, advertiser_id, name, job, since=started)
                    if found is not None:
                        return found, exc.request_id
                policy = self.client.retry
                delay = policy.delay(attempt, self.client.rng)
                if attempt >= policy.max_attempts or (
                    api.deadline is not None
                    and self.monotonic() + delay + policy.deadline_margin >= api.deadline
                ):
                    raise
                self.sleep(delay)

    def _find_created(
        self, api: AudienceApi, advertiser_id: str, name: str, job: Mapping[str, Any], since: float
    ) -> str | None:
        """The id of an audience that TikTok created for this job's create call at or after
        ``since`` (less a minute of clock skew): same name, same calculate type (none for a
        partner audience) — never TikTok's type label, whose wording we do not control
        (contract CF-11). Audiences the registry already holds are never it: a partner
        ``replace`` builds a second audience of the name's own name, often within that minute."""
        since -= 60
        wanted = settled_shape(job).calculate_type if job["api"] == FILE_API else ""
        known = self.registry.audience_ids(advertiser_id)
        page = 1
        while True:
            response = api.call(
                "GET",
                customer_file.LIST_PATH,
                advertiser_id,
                params={"advertiser_id": advertiser_id, "page": page, "page_size": 100},
            )
            for entry in response.data.get("list") or []:
                if (
                    entry.get("name") == name
                    and str(entry.get("calculate_type") or "") == wanted
                    and _created_at(entry) >= since
                    and str(entry.get("audience_id")) not in known
                ):
                    return str(entry.get("audience_id"))
            info = response.data.get("page_info") or {}
            if page >= int(info.get("total_page") or 1):
                return None
            page += 1

    # ------------------------------------------------------------------ finalize
    def _finalize(self, api: AudienceApi, item: dict[str, Any], lease: int) -> bool:
        """Claim and run the job's single create/update; True when this call finished the job."""
        job_id = str(item["job_id"])
        owner = uuid.uuid4().hex
        if not self.jobs.claim_finalization(
            job_id, owner=owner, now=self.clock(), lease_seconds=self.settings.claim_lease_seconds
        ):
            latest = self.jobs.get(job_id)
            if latest is not None and latest.get("status") != RUNNING:
                return False
            raise RetryLaterError("another worker is finalizing this job")
        try:
            if item["api"] == FILE_API:
                audience_id = self._finalize_file(api, item, lease)
            else:
                audience_id = self._finalize_partner(item)
        except Exception:
            # We stop working on it (a retry, a wait, a permanent failure that fails the job, or
            # an unexpected error): let the next message claim at once. Only a dead process
            # leaves the claim to its lease.
            self.jobs.release_finalization(job_id, owner=owner)
            raise
        final = self.jobs.finish(job_id, status=SUCCEEDED, audience_id=audience_id)
        if final is not None:
            self.jobs.write_report(final, s3=self.s3, bucket=self.settings.segments_bucket)
            logger.info(
                "audience job succeeded",
                extra={
                    "job_id": job_id,
                    "audience_id": audience_id,
                    "chunks": item.get("chunks_done"),
                },
            )
        return final is not None

    def _finalize_file(self, api: AudienceApi, item: dict[str, Any], lease: int) -> str:
        """The create/update sequence with every recorded file_path (groups of ≤ 50), from
        where an earlier run of this job stopped (a wait for TikTok, a crash)."""
        file_paths = ordered_file_paths(item)
        advertiser_id = str(item["advertiser_id"])
        action = str(item["action"])
        key = file_key(item)
        if action == "create":
            return self._create_once(api, item, key, lease, exists_ok=False, file_paths=file_paths)
        entry = self.registry.get(advertiser_id, key)
        if entry is None or not entry.ready or not entry.audience_id:
            creatable = action == "replace" or (
                action == "append" and self.settings.allow_create_on_append
            )
            if not creatable:
                if entry is None:
                    raise _not_found(item, self.registry)
                raise RetryLaterError("the audience is being created by another job")
            return self._create_once(api, item, key, lease, exists_ok=True, file_paths=file_paths)
        try:
            self._apply(
                api,
                item,
                entry.audience_id,
                file_paths,
                action=customer_file.UPDATE_ACTIONS[action],
            )
        except PermanentTikTokError as exc:
            if exc.code == OBJECT_MISSING:  # deleted at TikTok: free the name for a new create
                self.registry.delete(advertiser_id, key)
            raise
        return entry.audience_id

    def _finalize_partner(self, item: dict[str, Any]) -> str:
        """Every chunk is mapped; a ``replace`` now moves the name onto its new audience."""
        audience_id = (item.get("tiktok") or {}).get("audience_id")
        if not audience_id:
            raise JobFailure("no_audience", "no partner audience was prepared for this job")
        if item["action"] == "replace":
            advertiser_id = str(item["advertiser_id"])
            name = str(item["audience_name"])
            previous = self.registry.get(advertiser_id, audience_key(SEGMENT_API, name))
            staged = self.registry.get(
                advertiser_id, staging_key(SEGMENT_API, name, item["job_id"])
            )
            self.registry.point(
                advertiser_id,
                audience_key(SEGMENT_API, name),
                name=name,
                api=SEGMENT_API,
                job_id=str(item["job_id"]),
                audience_id=str(audience_id),
                created_at=staged.created_at if staged is not None else None,
            )
            self.registry.delete(advertiser_id, staging_key(SEGMENT_API, name, item["job_id"]))
            if previous is not None and previous.audience_id not in (None, audience_id):
                logger.info(
                    "partner audience replaced; the previous audience is left in place",
                    extra={"job_id": item["job_id"], "previous_audience_id": previous.audience_id},
                )
        return str(audience_id)


# ---------------------------------------------------------------------- helpers
def file_key(job: Mapping[str, Any]) -> str:
    """Registry key of a job's customer-file audience."""
    return audience_key(FILE_API, str(job["audience_name"]))


def _sequence(job: Mapping[str, Any]) -> str:
    """The update action of the job's first group on an audience it did not create itself:
    a replace replaces (the later groups append), everything else appends."""
    return "REPLACE" if job["action"] == "replace" else "APPEND"


def chunk_file_name(chunk_key: str) -> str:
    """The upload's file name: TikTok wants a ``.csv`` suffix exactly."""
    parts = chunk_key.split("/")
    stem = "-".join(parts[1:]) if len(parts) > 1 else chunk_key
    return stem if stem.endswith(".csv") else f"{stem}.csv"


def ordered_file_paths(item: Mapping[str, Any]) -> list[str]:
    """The job's file_paths in chunk-key order (so a rerun sends the same groups)."""
    paths = item.get("file_paths") or {}
    return [str(paths[k]) for k in sorted(paths) if paths[k]]


def _exists(job: Mapping[str, Any]) -> JobFailure:
    return JobFailure(
        "audience_exists",
        f"an audience named {job['audience_name']!r} already exists for advertiser "
        f"{job['advertiser_id']}: use append or replace to change it",
    )


_API_NAMES = {FILE_API: "customer-file", SEGMENT_API: "partner"}


def other_api_entry(registry: AudienceRegistry, job: Mapping[str, Any]) -> AudienceEntry | None:
    """The registry entry of the job's audience name under the *other* audience API, if any."""
    other = SEGMENT_API if job["api"] == FILE_API else FILE_API
    return registry.get(str(job["advertiser_id"]), audience_key(other, str(job["audience_name"])))


def _other_api(job: Mapping[str, Any], entry: AudienceEntry) -> JobFailure:
    this, other = _API_NAMES.get(str(job["api"]), "this"), _API_NAMES.get(entry.api, "other")
    return JobFailure(
        "audience_in_other_api",
        f"no {this} audience named {job['audience_name']!r} is known for advertiser "
        f"{job['advertiser_id']}, but a {other} audience of that name is: to change it, upload "
        f"the file again with metadata audience-api={entry.api}. (A {job['action']} under "
        f"audience-api={job['api']} would make a second TikTok audience with the same name; "
        "if that is what you want, use create/.)",
    )


def _not_found(job: Mapping[str, Any], registry: AudienceRegistry) -> JobFailure:
    other = other_api_entry(registry, job)
    if other is not None:
        return _other_api(job, other)
    return JobFailure(
        "audience_not_found",
        f"no {_API_NAMES.get(str(job['api']), '')} audience named {job['audience_name']!r} is "
        f"known to this connector for advertiser {job['advertiser_id']} (under either audience "
        "API): create it first (a file under create/), or send this file to replace/, which "
        "creates a new audience of that name — not if TikTok already holds one made elsewhere "
        "(replace would make a second one: rename the folder instead)",
    )


def refuse_replace_across_apis(registry: AudienceRegistry, job: Mapping[str, Any]) -> None:
    """A ``replace`` of a name this connector knows only under the other audience API would
    create a second TikTok audience of that name: refuse it, naming the other API."""
    if job.get("action") != "replace":
        return
    this = registry.get(
        str(job["advertiser_id"]), audience_key(str(job["api"]), str(job["audience_name"]))
    )
    if this is None:
        other = other_api_entry(registry, job)
        if other is not None:
            raise _other_api(job, other)


def _created_at(entry: Mapping[str, Any]) -> float:
    """An audience's ``create_time`` (``YYYY-MM-DD HH:MM:SS`` UTC) as a Unix time; unknown
    formats count as "just now" so they are not ruled out."""
    raw = entry.get("create_time")
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(calendar.timegm(time.strptime(raw, "%Y-%m-%d %H:%M:%S")))
        except ValueError:
            pass
    return math.inf


def _stats_snapshot(client: TikTokClient) -> tuple[dict[int, int], int, int]:
    stats = client.stats
    return dict(stats.codes), stats.retries, stats.throttled


def _stats_delta(
    before: tuple[dict[int, int], int, int], after: tuple[dict[int, int], int, int]
) -> tuple[dict[int, int], int, int]:
    codes = {c: n - before[0].get(c, 0) for c, n in after[0].items() if n > before[0].get(c, 0)}
    return codes, after[1] - before[1], after[2] - before[2]


def emit_metrics(metrics: MetricsSink, outcome: Outcome) -> None:
    """EMF metrics of one record: chunks, rows, TikTok calls by code (dimension ``code``),
    retries, throttles, job outcomes and ``TikTokPermanentErrors`` (the template's alarm)."""
    if outcome.chunks_uploaded:
        metrics.add_metric(name="ChunksUploaded", unit="Count", value=outcome.chunks_uploaded)
    if outcome.result == "duplicate":
        metrics.add_metric(name="DuplicateChunks", unit="Count", value=1)
    if outcome.rows_sent:
        metrics.add_metric(name="RowsMapped", unit="Count", value=outcome.rows_sent)
    calls = sum(outcome.tiktok_codes.values())
    if calls:
        metrics.add_metric(name="TikTokCalls", unit="Count", value=calls)
    for code, n in sorted(outcome.tiktok_codes.items()):
        with single_metric(
            name="TikTokCallsByCode",
            unit=MetricUnit.Count,
            value=n,
            namespace=metrics.namespace,
            default_dimensions={"service": str(metrics.service)} if metrics.service else None,
        ) as metric:
            metric.add_dimension(name="code", value=str(code))
    if outcome.tiktok_retries:
        metrics.add_metric(name="TikTokRetries", unit="Count", value=outcome.tiktok_retries)
    if outcome.tiktok_throttled:
        metrics.add_metric(name="TikTokThrottled", unit="Count", value=outcome.tiktok_throttled)
    if outcome.result == "finalized":
        metrics.add_metric(name="AudienceJobsSucceeded", unit="Count", value=1)
    if outcome.result == WAITING_FOR_TIKTOK:
        metrics.add_metric(name="AudienceJobsWaitingForTikTok", unit="Count", value=1)
    if outcome.result == "failed":
        metrics.add_metric(name="AudienceJobsFailed", unit="Count", value=1)
        if outcome.error is not None and outcome.error.code.isdigit():  # TikTok's own code
            metrics.add_metric(name="TikTokPermanentErrors", unit="Count", value=1)


# ---------------------------------------------------------------------- wiring
_default: tuple[object, object, AudienceUploader] | None = None


def default_uploader() -> AudienceUploader:
    """The process-wide uploader built from the environment (the handler's entry point).

    Rebuilt when the settings or the cached AWS clients were reset (``reset_settings`` /
    ``aws.reset_clients``: the environment changed, e.g. a new local stack in the same process).
    """
    global _default
    from tiktok_connector import aws
    from tiktok_connector.audiences.settings import upload_settings

    settings = upload_settings()
    dynamodb = aws.dynamodb()
    if _default is not None and _default[0] is settings and _default[1] is dynamodb:
        return _default[2]
    uploader = _build_uploader(settings, dynamodb)
    _default = (settings, dynamodb, uploader)
    return uploader


def _build_uploader(settings: UploadSettings, dynamodb: Any) -> AudienceUploader:
    import boto3

    from tiktok_connector import aws
    from tiktok_connector.tokens import TokenStore

    requeue = None
    if settings.chunk_queue_url:
        sqs = aws.sqs()
        queue_url = settings.chunk_queue_url

        def requeue(body: str, delay_seconds: int) -> None:
            sqs.send_message(QueueUrl=queue_url, MessageBody=body, DelaySeconds=delay_seconds)

    return AudienceUploader(
        settings=settings,
        requeue=requeue,
        jobs=JobStore(settings.jobs_table, dynamodb=dynamodb),
        registry=AudienceRegistry(table=settings.audiences_table, dynamodb=dynamodb),
        client=TikTokClient(settings.tiktok_api_base_url),
        tokens=TokenStore(
            oauth_table=settings.oauth_table,
            secrets_client=aws.secretsmanager(),
            dynamodb_resource=boto3.session.Session().resource("dynamodb"),
        ),
        s3=aws.s3(),
        pacer=Pacer(settings.upload_max_qps),
    )


def reset_uploader() -> None:
    """Forget the process-wide uploader (the environment changed)."""
    global _default
    _default = None
