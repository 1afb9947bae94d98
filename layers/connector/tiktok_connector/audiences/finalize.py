"""The fan-in: when every chunk of a job is done, one worker claims the job's single
create/update and finishes the job.

The claim (``JobStore.claim_finalization``) has a lease longer than the function's timeout, so a
worker that dies holding it is succeeded after the lease; a worker that stops for any other reason
(a retry, a wait for TikTok, a failure) releases it at once. A record that finds the job complete
but the claim held elsewhere goes back to the queue (deferred, not dropped).

* Customer file: every recorded ``file_path`` (chunk-key order) goes to the audience in groups of
  ≤ 50 — create (:mod:`.creating`) then ``APPEND``, or ``APPEND``/``REMOVE``/``REPLACE`` (a
  ``REPLACE`` of more than 50 files: ``REPLACE`` the first group, ``APPEND`` the rest), resuming
  after ``applied_groups``. An audience deleted at TikTok frees its name (40007).
* Partner API: every chunk is mapped already; a ``replace`` moves the name onto the audience it
  built under its staging key.
* Sync: the customer-file calls are :func:`.sync_upload.file_steps` (adds, then removes; or a
  ``REPLACE`` when there is no synced state yet), resumable over one ``applied_groups`` count;
  the job's generation is committed as the synced state before the job succeeds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

from tiktok_connector.audiences import customer_file
from tiktok_connector.audiences.api import AudienceApi
from tiktok_connector.audiences.creating import AudienceCreator
from tiktok_connector.audiences.failures import (
    OBJECT_MISSING,
    RetryLaterError,
    audience_not_found,
)
from tiktok_connector.audiences.job import SEGMENT_API, JobFailure, UploadJob
from tiktok_connector.audiences.registry import AudienceRegistry
from tiktok_connector.audiences.settings import UploadSettings
from tiktok_connector.audiences.size import record_size
from tiktok_connector.audiences.sync_upload import SyncUpload, file_steps, split_paths
from tiktok_connector.contract.job import SUCCEEDED, AudienceSize
from tiktok_connector.observability import logger
from tiktok_connector.segments.jobs import JobStore
from tiktok_connector.tiktok import PermanentTikTokError


class Finished(NamedTuple):
    """A job this worker finished: its audience and the size TikTok gave (None: not read)."""

    advertiser_id: str
    audience_id: str
    size: AudienceSize | None


class Finalizer:
    """Claims and runs a complete job's single create/update (module docs)."""

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

    def run(self, api: AudienceApi, job: UploadJob, lease: int) -> Finished | None:
        """Claim and run the job's single create/update; what this call finished, or None when
        it did not finish the job. A finished job's audience size is read (:mod:`.size`) before
        its final report is written."""
        owner = uuid.uuid4().hex
        if not self.jobs.claim_finalization(
            job.job_id,
            owner=owner,
            now=self.clock(),
            lease_seconds=self.settings.claim_lease_seconds,
        ):
            latest = self.jobs.get(job.job_id)
            if latest is not None and not latest.running:
                return None
            raise RetryLaterError("another worker is finalizing this job")
        try:
            audience_id = self._file(api, job, lease) if job.file_api else self._partner(job)
            if job.syncing:
                self.sync.commit(job)  # TikTok took every change: this is the synced state now
        except Exception:
            # We stop working on it (a retry, a wait, a permanent failure that fails the job, or
            # an unexpected error): let the next message claim at once. Only a dead process
            # leaves the claim to its lease.
            self.jobs.release_finalization(job.job_id, owner=owner)
            raise
        final = self.jobs.finish(job.job_id, status=SUCCEEDED, audience_id=audience_id)
        if final is None:
            return None
        final, size = record_size(self.jobs, final, api, now=self.clock())
        self.jobs.write_report(final, s3=self.s3, bucket=self.settings.segments_bucket)
        logger.info(
            "audience job succeeded",
            extra={"job_id": job.job_id, "audience_id": audience_id, "chunks": final.chunks_done},
        )
        return Finished(job.advertiser_id, audience_id, size)

    def _file(self, api: AudienceApi, job: UploadJob, lease: int) -> str:
        """The create/update sequence with every recorded file_path (groups of ≤ 50), from
        where an earlier run of this job stopped (a wait for TikTok, a crash)."""
        if job.syncing:
            return self._sync_file(api, job, lease)
        file_paths = job.item.uploaded_file_paths
        if job.action == "create":
            return self.creator.create_once(
                api, job, job.main_key, lease, exists_ok=False, file_paths=file_paths
            )
        entry = self.registry.get(job.advertiser_id, job.main_key)
        if entry is None or not entry.ready or not entry.audience_id:
            creatable = job.action == "replace" or (
                job.action == "append" and self.settings.allow_create_on_append
            )
            if not creatable:
                if entry is None:
                    raise audience_not_found(job, self.registry)
                raise RetryLaterError("the audience is being created by another job")
            return self.creator.create_once(
                api, job, job.main_key, lease, exists_ok=True, file_paths=file_paths
            )
        try:
            self.creator.apply(
                api,
                job,
                entry.audience_id,
                file_paths,
                action=customer_file.UPDATE_ACTIONS[job.action],
            )
        except PermanentTikTokError as exc:
            if exc.code == OBJECT_MISSING:  # deleted at TikTok: free the name for a new create
                self.registry.delete(job.advertiser_id, job.main_key)
            raise
        return entry.audience_id

    def _sync_file(self, api: AudienceApi, job: UploadJob, lease: int) -> str:
        """A sync's customer-file calls (module docs): the first creates the audience with its
        adds; later ones update it, resuming after the groups TikTok took."""
        entry = self.registry.get(job.advertiser_id, job.main_key)
        if entry is None or not entry.ready or not entry.audience_id:
            if job.item.sync is not None and job.item.sync.base is not None:
                raise self.sync.audience_missing(job)
            # the first sync creates it (an audience another job is creating meanwhile is
            # waited for, then replaced with this file: creating.first_action)
            adds, _ = split_paths(job.item)
            return self.creator.create_once(
                api, job, job.main_key, lease, exists_ok=True, file_paths=adds
            )
        done = (self.jobs.get(job.job_id) or job.item).applied_groups
        offset = 0
        for action, paths in file_steps(job.item):
            count = customer_file.group_count(paths)
            if done < offset + count:

                def applied(n: int, request_id: str, before: int = offset) -> None:
                    self.jobs.record_applied(job.job_id, before + n, request_id=request_id)

                try:
                    customer_file.apply_files(
                        api,
                        job.advertiser_id,
                        audience_id=entry.audience_id,
                        action=action,
                        file_paths=paths,
                        start=max(0, done - offset),
                        on_applied=applied,
                    )
                except PermanentTikTokError as exc:
                    if exc.code != OBJECT_MISSING:
                        raise
                    self.registry.delete(job.advertiser_id, job.main_key)  # deleted at TikTok
                    raise self.sync.audience_missing(job) from None
            offset += count
        return entry.audience_id

    def _partner(self, job: UploadJob) -> str:
        """Every chunk is mapped; a ``replace`` (or a sync that took the name over from an
        audience made without sync) now moves the name onto its new audience."""
        audience_id = job.item.tiktok.audience_id
        if not audience_id and job.syncing:  # nothing changed: no chunk looked the audience up
            entry = self.registry.get(job.advertiser_id, job.main_key)
            if entry is None or not entry.ready:
                raise self.sync.audience_missing(job)
            audience_id = entry.audience_id
        if not audience_id:
            raise JobFailure("no_audience", "no partner audience was prepared for this job")
        staged = None
        if job.action in ("replace", "sync"):
            staged = self.registry.get(job.advertiser_id, job.staging_key)
        if job.action == "replace" or staged is not None:
            previous = self.registry.get(job.advertiser_id, job.main_key)
            self.registry.point(
                job.advertiser_id,
                job.main_key,
                name=job.name,
                api=SEGMENT_API,
                job_id=job.job_id,
                audience_id=audience_id,
                created_at=staged.created_at if staged is not None else None,
            )
            self.registry.delete(job.advertiser_id, job.staging_key)
            if previous is not None and previous.audience_id not in (None, audience_id):
                logger.info(
                    "partner audience replaced; the previous audience is left in place",
                    extra={"job_id": job.job_id, "previous_audience_id": previous.audience_id},
                )
        return audience_id
