"""One chunk message: the chunk file to TikTok, then the chunk marked done on the job.

* Customer file: a job's first chunk settles the shape every file of the job is written with
  (:mod:`.file_format`); the job fails before anything is uploaded when finalize is bound to fail
  (``audience_exists``, ``audience_not_found``, ``audience_in_other_api``,
  ``audience_type_mismatch``). The chunk is rewritten into that shape and uploaded; its
  ``file_path`` is recorded with the chunk (``mark_chunk_done``, conditional on the chunk, so a
  redelivered chunk is a no-op and only recorded files reach the audience).
* Partner API: the job's audience is resolved — or created once (:mod:`.creating`) — on its
  first chunk and recorded on the job; the chunk's rows are mapped into it (``add``/``delete``
  are set operations, so a redelivered chunk changes nothing). A refusal shortly after our own
  create is TikTok not being ready (contract TM-03): the job waits (:mod:`.waiting`).
* A sync job's chunk says by its key whether it adds or removes (:mod:`.sync_upload`); an
  ``append``/``remove``/``replace`` of a synced audience is refused before anything is sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from tiktok_connector.audiences import customer_file, partner, sync_upload
from tiktok_connector.audiences.api import AudienceApi
from tiktok_connector.audiences.creating import AudienceCreator
from tiktok_connector.audiences.failures import (
    RetryLaterError,
    audience_exists,
    audience_not_found,
    refuse_replace_across_apis,
)
from tiktok_connector.audiences.file_format import (
    DoesNotFit,
    FileShape,
    conform,
    job_shape,
    misfits,
    present_columns,
)
from tiktok_connector.audiences.job import JobFailure, UploadJob
from tiktok_connector.audiences.outcome import Outcome
from tiktok_connector.audiences.registry import AudienceEntry, AudienceRegistry
from tiktok_connector.audiences.settings import UploadSettings
from tiktok_connector.audiences.sync_upload import SyncUpload, chunk_action, takes_over
from tiktok_connector.contract.job import JobItem
from tiktok_connector.contract.messages import ChunkMessage
from tiktok_connector.segments.jobs import JobStore
from tiktok_connector.tiktok import PermanentTikTokError


def chunk_file_name(chunk_key: str) -> str:
    """The upload's file name: TikTok wants a ``.csv`` suffix exactly."""
    parts = chunk_key.split("/")
    stem = "-".join(parts[1:]) if len(parts) > 1 else chunk_key
    return stem if stem.endswith(".csv") else f"{stem}.csv"


class ChunkUpload:
    """Uploads (customer file) or maps (partner) one chunk and marks it done."""

    def __init__(
        self,
        *,
        settings: UploadSettings,
        jobs: JobStore,
        registry: AudienceRegistry,
        s3: Any,
        creator: AudienceCreator,
        sync: SyncUpload,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.sync = sync
        self.jobs = jobs
        self.registry = registry
        self.s3 = s3
        self.creator = creator
        self.clock = clock

    def run(
        self, api: AudienceApi, job: UploadJob, message: ChunkMessage, outcome: Outcome, lease: int
    ) -> JobItem | None:
        """Upload/map one chunk and mark it done. Returns the job item to check for fan-in."""
        if message.chunk_key in job.item.done_chunks:
            # A redelivery: nothing to send, but a crash may have happened before the fan-in
            # check, so look again.
            outcome.result = "duplicate"
            return job.item
        self.sync.refuse_if_synced(job)
        shape = self._precheck_file(job) if job.file_api else None
        content = self._read_chunk(message)
        if shape is not None:
            uploaded = customer_file.upload_file(
                api,
                job.advertiser_id,
                calculate_type=shape.calculate_type,
                file_name=chunk_file_name(message.chunk_key),
                content=conform(content, shape, name=job.name),
            )
            file_path = uploaded.file_path
        else:
            audience_id = self._partner_target(api, job, lease)
            if job.syncing:
                action = sync_upload.MAPPING_ACTIONS[chunk_action(message.chunk_key)]
            else:
                action = partner.MAPPING_ACTIONS[job.action]
            outcome.rows_sent = self._map_chunk(api, job, audience_id, content, action)
            file_path = ""
        item = self.jobs.mark_chunk_done(job.job_id, message.chunk_key, file_path)
        if item is None:
            # Someone else recorded it first (concurrent duplicate), or the job ended meanwhile.
            outcome.result = "duplicate"
            return self.jobs.get(job.job_id)
        outcome.result = "uploaded"
        outcome.chunks_uploaded = 1
        if item.waiting is not None and not job.file_api:
            self.jobs.clear_waiting(job.job_id)  # TikTok took the mappings it refused before
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

    # ------------------------------------------------------------------ customer file
    def _precheck_file(self, job: UploadJob) -> FileShape:
        """Fail early, before uploading anything, when finalize is bound to fail; return the
        shape every file of the job is written with (decided once, see :meth:`_shape`)."""
        refuse_replace_across_apis(self.registry, job)
        entry = self.registry.get(job.advertiser_id, job.main_key)
        mine = entry is not None and entry.owner_job_id == job.job_id
        if job.action == "create" and entry is not None and entry.ready and not mine:
            raise audience_exists(job)
        creatable = job.action == "append" and self.settings.allow_create_on_append
        if job.action in ("append", "remove") and entry is None and not creatable:
            raise audience_not_found(job, self.registry)
        if (
            job.action != "create"
            and entry is not None
            and not entry.ready
            and not mine
            and job.item.shape is None
        ):
            # the audience's id types (its shape) are known once its creator is done
            raise RetryLaterError("the audience this file changes is being created by another job")
        shape = self._shape(job, entry)
        bad = misfits(shape, present_columns(job.item) or [])  # None while ranges are read
        if bad:
            raise DoesNotFit(bad, shape, job.name)
        return shape

    def _shape(self, job: UploadJob, entry: AudienceEntry | None) -> FileShape:
        """The calculate type and columns of every customer file of this job: the audience's
        own when it exists and its shape is recorded (follow-up files fit their audience), the
        job's otherwise. Recorded on the job item once, so all its chunks agree."""
        recorded = FileShape.from_record(job.item.shape)
        if recorded is not None:
            return recorded
        shape = None
        if entry is not None and entry.ready and job.action != "create":
            shape = FileShape.from_record(entry.shape)
        if shape is None:
            shape = job_shape(job.item, headerless_auto=job.item.plan.typed_by_shape)
        item = self.jobs.settle_shape(job.job_id, shape.as_record())
        return FileShape.from_record(item.shape if item else None) or shape

    # ------------------------------------------------------------------ partner
    def _map_chunk(
        self, api: AudienceApi, job: UploadJob, audience_id: str, content: bytes, action: str
    ) -> int:
        """Map a chunk's rows into a partner audience. A refusal shortly after our own create
        of that audience is TikTok not being ready yet (contract TM-03): wait, don't fail."""
        try:
            sent, _ = partner.send_chunk(
                api,
                job.advertiser_id,
                audience_id=audience_id,
                content=content,
                action=action,
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

    def _partner_created_at(self, job: UploadJob, audience_id: str) -> float | None:
        """When we created the partner audience ``audience_id`` (registry), None if unknown."""
        keys = [job.main_key]
        if job.action in ("replace", "sync"):
            keys.insert(0, job.staging_key)
        for key in keys:
            entry = self.registry.get(job.advertiser_id, key)
            if entry is not None and entry.audience_id == audience_id:
                return entry.created_at
        return None

    def _partner_target(self, api: AudienceApi, job: UploadJob, lease: int) -> str:
        """The partner audience this job maps rows into (created once per job if needed)."""
        if job.item.tiktok.audience_id:
            return job.item.tiktok.audience_id
        request_ids: list[str] = []
        create = self.creator.create_once
        if job.action == "replace":
            refuse_replace_across_apis(self.registry, job)
            audience_id = create(
                api, job, job.staging_key, lease, exists_ok=True, request_ids=request_ids
            )
        elif job.action == "create":
            audience_id = create(
                api, job, job.main_key, lease, exists_ok=False, request_ids=request_ids
            )
        elif job.syncing:
            audience_id = self._sync_target(api, job, lease, request_ids)
        else:
            entry = self.registry.get(job.advertiser_id, job.main_key)
            if entry is not None and entry.ready and entry.audience_id:
                audience_id = entry.audience_id
            elif entry is None and job.action == "append" and self.settings.allow_create_on_append:
                audience_id = create(
                    api, job, job.main_key, lease, exists_ok=True, request_ids=request_ids
                )
            elif entry is None:
                raise audience_not_found(job, self.registry)
            else:
                raise RetryLaterError("the audience is being created by another job")
        # The create call's request id goes into the report (mapping calls are too many to keep).
        self.jobs.record_tiktok(job.job_id, audience_id=audience_id, request_ids=request_ids)
        return audience_id

    def _sync_target(
        self, api: AudienceApi, job: UploadJob, lease: int, request_ids: list[str]
    ) -> str:
        """The partner audience a sync maps its changes into: the synced one; a new one on the
        first sync (or a new one under the staging key that takes the name over from an
        audience made without sync, :func:`.sync_upload.takes_over`)."""
        entry = self.registry.get(job.advertiser_id, job.main_key)
        owner = entry.owner_job_id if entry is not None else None
        if takes_over(job.item, owner):
            return self.creator.create_once(
                api, job, job.staging_key, lease, exists_ok=True, request_ids=request_ids
            )
        if entry is not None and entry.ready and entry.audience_id:
            return entry.audience_id
        if job.item.sync is not None and job.item.sync.base is not None:
            raise self.sync.audience_missing(job)
        return self.creator.create_once(
            api, job, job.main_key, lease, exists_ok=True, request_ids=request_ids
        )
