"""One chunk-queue message in: chunk upload, fan-in and the single finalize call (issue 5).

The messages are the contract's (:mod:`tiktok_connector.contract.messages`): ``chunk`` names a
chunk file of hashes in S3, ``finalize`` asks for the fan-in; the job item
(:class:`~tiktok_connector.contract.job.JobItem`) counts finished chunks. The handler's batch
processor has parsed the body; :meth:`AudienceUploader.handle` takes it from there, top-down:

1. this module — the job read and checked (:mod:`.job`), the outcome of every path, waiting for
   TikTok (:mod:`.waiting`), the wiring (:func:`default_uploader`);
2. :mod:`.chunk_upload` — one chunk to TikTok and marked done;
3. :mod:`.finalize` — the fan-in's single create/update, by the worker that claims it;
4. :mod:`.creating` — an audience created exactly once (registry claim, lost answers checked);
5. :mod:`.failures` — record outcomes and the sentences job failures carry.

What a record can end as (the handler maps these to SQS partial-batch results):

* processed — the chunk is done (or was already done: a redelivery), the job finished, the job
  started waiting for TikTok (its message comes back later, with a delay), or the job failed
  permanently (auth, permission, parameters, ``audience_exists`` …: retrying cannot help, so the
  job's report says why and the message is not retried);
* :class:`~.failures.RetryLaterError` — throttled or TikTok/network trouble past the invocation's
  budget, or another worker holds a claim we need: the record goes back to the queue;
* :class:`~.failures.PoisonMessageError` — the message names a job that does not exist: SQS moves
  it to the DLQ after ``maxReceiveCount``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from tiktok_connector import aws
from tiktok_connector.audiences import partner
from tiktok_connector.audiences.api import AudienceApi, DeadlineExceeded, Pacer, TokenSource
from tiktok_connector.audiences.chunk_upload import ChunkUpload
from tiktok_connector.audiences.creating import AudienceCreator
from tiktok_connector.audiences.failures import PoisonMessageError, RetryLaterError, explain
from tiktok_connector.audiences.file_format import DoesNotFit
from tiktok_connector.audiences.finalize import Finalizer
from tiktok_connector.audiences.job import JobFailure, upload_job
from tiktok_connector.audiences.outcome import Outcome, call_counts, counted_since
from tiktok_connector.audiences.registry import AudienceRegistry
from tiktok_connector.audiences.settings import UploadSettings, upload_settings
from tiktok_connector.audiences.sync_upload import SyncUpload, sync_ready
from tiktok_connector.audiences.waiting import (
    AUDIENCE_PROCESSING,
    TikTokNotReady,
    WaitPolicy,
    gave_up_message,
    waiting_record,
)
from tiktok_connector.contract.job import FAILED, SUCCEEDED, JobError, JobItem
from tiktok_connector.contract.messages import ChunkMessage, ChunkQueueMessage, FinalizeMessage
from tiktok_connector.contract.report import WAITING_FOR_TIKTOK
from tiktok_connector.observability import logger
from tiktok_connector.segments.jobs import JobStore
from tiktok_connector.tiktok import (
    PermanentTikTokError,
    RetryableTikTokError,
    TikTokClient,
    TokenRejectedError,
)
from tiktok_connector.tokens import TokenNotFoundError


class AudienceUploader:
    """Processes chunk-queue messages. Collaborators are passed in (moto, emulator, fakes)."""

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
        sync: SyncUpload | None = None,
    ) -> None:
        """``requeue(body, delay_seconds)`` puts a message on the chunk queue after a delay (a
        job waiting for TikTok, a partner sync's removes); without it a waiting record is handed
        back to SQS. ``sync``: the sync lock and records (default: over the registry's table and
        the jobs table, with ``requeue``)."""
        self.settings = settings
        self.jobs = jobs
        self.client = client
        self.tokens = tokens
        self.s3 = s3
        self.pacer = pacer
        self.clock = clock
        self.monotonic = monotonic
        self.requeue = requeue
        self.wait_policy = WaitPolicy(
            first_delay=settings.tiktok_wait_first_delay_seconds,
            max_delay=settings.tiktok_wait_max_delay_seconds,
            max_wait=settings.tiktok_max_wait_hours * 3600.0,
        )
        creator = AudienceCreator(
            jobs=jobs,
            registry=registry,
            retry=client.retry,
            rng=client.rng,
            clock=clock,
            monotonic=monotonic,
            sleep=sleep,
        )
        self.sync = sync or _sync_upload(settings, registry, requeue)
        parts = {"settings": settings, "jobs": jobs, "registry": registry, "s3": s3}
        self.chunk_upload = ChunkUpload(**parts, creator=creator, sync=self.sync, clock=clock)
        self.finalizer = Finalizer(**parts, creator=creator, sync=self.sync, clock=clock)

    def handle(
        self, message: ChunkQueueMessage, *, remaining_seconds: float, metrics: Any = None
    ) -> Outcome:
        """Process one message within ``remaining_seconds`` of invocation time; publish its
        counts to ``metrics`` (``observability.metrics``, or None).

        Returns an :class:`~.outcome.Outcome` when the record is done with; raises
        :class:`~.failures.RetryLaterError` or :class:`~.failures.PoisonMessageError` otherwise.
        """
        item = self.jobs.get(message.job_id)
        if item is None:
            raise PoisonMessageError("chunk message names a job that does not exist")
        before = call_counts(self.client)
        outcome = Outcome(message.job_id, "deferred")
        try:
            outcome = self._handle(message, item, remaining_seconds)
        finally:
            delta = counted_since(before, call_counts(self.client))
            outcome.tiktok_codes, outcome.tiktok_retries, outcome.tiktok_throttled = delta
            if metrics is not None:
                outcome.publish(metrics)
        return outcome

    def _handle(self, message: ChunkQueueMessage, item: JobItem, remaining: float) -> Outcome:
        job_id = message.job_id
        if not item.running:
            return Outcome(job_id, "job_ended", job_status=item.status)
        deadline = self.monotonic() + max(0.0, remaining - self.settings.deadline_margin_seconds)
        api = AudienceApi(
            self.client, self.tokens, pacer=self.pacer, deadline=deadline, clock=self.monotonic
        )
        lease = math.ceil(remaining) + 5
        outcome = Outcome(job_id, "waiting")
        try:
            job = upload_job(item)
            current: JobItem | None = item
            if isinstance(message, ChunkMessage):
                current = self.chunk_upload.run(api, job, message, outcome, lease)
            if current is not None and job.syncing:
                self.sync.send_held_removes(current)  # a partner sync's, once its adds are in
            if current is not None and (
                JobStore.ready_to_finalize(current) or (job.syncing and sync_ready(current))
            ):
                finished = self.finalizer.run(api, job.refreshed(current), lease)
                if finished is not None:
                    outcome.result = "finalized"
                    outcome.job_status = SUCCEEDED
                    outcome.finished = finished
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

    def _wait(self, message: ChunkQueueMessage, exc: TikTokNotReady, outcome: Outcome) -> None:
        """TikTok is in a state that passes: record the wait, put the message back with a
        delay, or fail the job once the wait is over (see :mod:`.waiting`)."""
        job_id = message.job_id
        fresh = self.jobs.get(job_id)
        if fresh is None or not fresh.running:
            outcome.result, outcome.job_status = "job_ended", fresh.status if fresh else None
            return
        record, give_up = waiting_record(
            fresh.waiting, exc, now=self.clock(), policy=self.wait_policy
        )
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
        again = FinalizeMessage(job_id=job_id) if exc.resume_with_finalize else message
        self.requeue(again.body(), record.delay)
        logger.warning(
            "waiting for TikTok; the message comes back later",
            extra={
                "job_id": job_id,
                "reason": exc.reason,
                "audience_id": exc.audience_id,
                "delay_seconds": record.delay,
                "waiting_since": record.since,
            },
        )
        outcome.result = WAITING_FOR_TIKTOK
        outcome.job_status = WAITING_FOR_TIKTOK

    def _fail(self, job_id: str, error: JobError, outcome: Outcome) -> None:
        logger.warning(
            "audience job failed",
            extra={"job_id": job_id, "code": error.code, "request_id": error.request_id},
        )
        item = self.jobs.finish(job_id, status=FAILED, error=error)
        if item is not None:
            if item.action == "sync":  # it had started sending: its changes are uncertain now
                self.sync.release(item)
            self.jobs.write_report(item, s3=self.s3, bucket=self.settings.segments_bucket)
        outcome.result = FAILED
        outcome.job_status = FAILED
        outcome.error = error


# ---------------------------------------------------------------------- wiring
def _sync_upload(
    settings: UploadSettings,
    registry: AudienceRegistry,
    requeue: Callable[[str, int], None] | None,
) -> SyncUpload:
    """The sync lock (in the audiences table) and the jobs' sync records, sending on the chunk
    queue through ``requeue``."""
    from tiktok_connector.sync.jobstate import SyncJobs
    from tiktok_connector.sync.lock import SyncLock

    send = None if requeue is None else (lambda body: requeue(body, 0))
    return SyncUpload(
        lock=SyncLock(table=registry.table, dynamodb=registry.dynamodb),
        sync_jobs=SyncJobs(settings.jobs_table, dynamodb=registry.dynamodb),
        send=send,
    )


_BUILD_LOCK = threading.Lock()


def default_uploader() -> AudienceUploader:
    """The process-wide :class:`AudienceUploader` from the environment and the layer's cached
    clients (the handler's entry point).

    Built on first use and kept while the settings (by value) and the clients are the same; after
    ``reset_settings()`` with a changed environment, or ``aws.reset_clients()``, the next call
    builds a new one (docs/architecture.md, "Service factories")."""
    with _BUILD_LOCK:  # overlapping first invocations (local stack threads) build one
        return _build_uploader(
            upload_settings(), aws.dynamodb(), aws.s3(), aws.sqs(), aws.secretsmanager()
        )


@lru_cache(maxsize=1)
def _build_uploader(
    settings: UploadSettings, dynamodb: Any, s3: Any, sqs: Any, secretsmanager: Any
) -> AudienceUploader:
    import boto3  # the token store's table reads (a resource); boto3 is loaded by the clients

    from tiktok_connector.tokens import TokenStore

    requeue = None
    if settings.chunk_queue_url:
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
            secrets_client=secretsmanager,
            dynamodb_resource=boto3.session.Session().resource("dynamodb"),
        ),
        s3=s3,
        pacer=Pacer(settings.upload_max_qps),
    )
