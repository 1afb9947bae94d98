"""Creating an audience exactly once, and applying a job's customer files to it.

TikTok's create calls are the only ones that are not idempotent (every partner create makes a new
audience; a customer-file create of a taken name fails), so :meth:`AudienceCreator.create_once`
guards them with the audience registry (:mod:`.registry`):

1. claim the registry key (one winner; a claim whose lease ran out can be taken over);
2. the winner calls TikTok (:meth:`AudienceCreator._create_call`). An answer that is lost (the
   connection dropped, HTTP 5xx) may hide a create that went through, so TikTok's audience list
   is checked (:meth:`AudienceCreator._find_created`) before trying again;
3. the winner records the audience (``complete``), or releases the claim when TikTok refused.

A claim taken over from a claimant that died after TikTok created the audience adopts that
audience instead of creating a second one; a rerun that finds its own job's ready entry applies
its files to it instead of creating again. Customer files go into the create call (the first
group of ≤ 50) and then by update, resuming after the groups the job item records as applied
(``applied_groups``), so the sequence survives crashes and waits for TikTok.
"""

from __future__ import annotations

import calendar
import math
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from tiktok_connector.audiences import customer_file, partner
from tiktok_connector.audiences.api import AudienceApi
from tiktok_connector.audiences.failures import RetryLaterError, audience_exists
from tiktok_connector.audiences.file_format import settled_shape
from tiktok_connector.audiences.job import UploadJob
from tiktok_connector.audiences.registry import AudienceEntry, AudienceRegistry
from tiktok_connector.observability import logger
from tiktok_connector.segments.jobs import JobStore
from tiktok_connector.tiktok import (
    RetryableTikTokError,
    RetryPolicy,
    TikTokError,
    retry_step,
)

# How long a worker waits in-process for another worker of the same job to finish creating the
# job's audience before handing the record back to the queue.
CLAIM_POLL_SECONDS = 0.25


def first_action(job: UploadJob) -> str:
    """The update action of the job's first group on an audience it did not create itself:
    a replace replaces (the later groups append), and so does a sync's, whose files then hold
    the whole membership (:mod:`.sync_upload`); everything else appends."""
    return "REPLACE" if job.action in ("replace", "sync") else "APPEND"


class AudienceCreator:
    """The create-once protocol (module docs). ``retry`` and ``rng`` are the TikTok client's, so
    the create call backs off like every other call."""

    def __init__(
        self,
        *,
        jobs: JobStore,
        registry: AudienceRegistry,
        retry: RetryPolicy,
        rng: random.Random,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.jobs = jobs
        self.registry = registry
        self.retry = retry
        self.rng = rng
        self.clock = clock
        self.monotonic = monotonic
        self.sleep = sleep

    def create_once(
        self,
        api: AudienceApi,
        job: UploadJob,
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
        records as applied (``applied_groups``). ``request_ids`` collects a partner create's
        request id (for the report).
        """
        while True:
            claim = self.registry.claim(
                job.advertiser_id,
                key,
                name=job.name,
                api=job.api,
                job_id=job.job_id,
                lease_seconds=lease,
            )
            if claim.won:
                return self._create_claimed(
                    api, job, key, file_paths, request_ids, taken_over=claim.taken_over
                )
            entry = claim.entry
            if entry is None:
                continue  # released between our write and read: try again
            if entry.ready and entry.audience_id:
                # Our own earlier create went through (a rerun after a crash or a wait): our
                # create call carried the first group and recorded it before the registry knew
                # the audience, so `applied_groups` is at least 1 then; 0 means the audience was
                # adopted from another job's claimant and gets every group with our action.
                # Another job's audience is used only when that is allowed.
                if entry.owner_job_id != job.job_id and not exists_ok:
                    raise audience_exists(job)
                if file_paths:
                    self.apply(api, job, entry.audience_id, file_paths, action=first_action(job))
                return entry.audience_id
            # A live creation claim by another worker: wait a little, then hand back.
            if api.deadline is not None and self.monotonic() + CLAIM_POLL_SECONDS >= api.deadline:
                raise RetryLaterError("the audience is being created by another worker")
            self.sleep(CLAIM_POLL_SECONDS)

    def apply(
        self,
        api: AudienceApi,
        job: UploadJob,
        audience_id: str,
        file_paths: list[str],
        *,
        action: str,
        start: int | None = None,
    ) -> None:
        """Apply the job's file groups to ``audience_id`` from ``start`` (default: after the
        groups the job item records as applied), recording each group TikTok takes."""
        if start is None:
            latest = self.jobs.get(job.job_id) or job.item
            start = latest.applied_groups

        def applied(count: int, request_id: str) -> None:
            self.jobs.record_applied(job.job_id, count, request_id=request_id)

        customer_file.apply_files(
            api,
            job.advertiser_id,
            audience_id=audience_id,
            action=action,
            file_paths=file_paths,
            start=start,
            on_applied=applied,
        )

    def _create_claimed(
        self,
        api: AudienceApi,
        job: UploadJob,
        key: str,
        file_paths: list[str] | None,
        request_ids: list[str] | None,
        *,
        taken_over: AudienceEntry | None = None,
    ) -> str:
        try:
            adopted = None
            if taken_over is not None:
                # The previous claimant died between claim and complete: its create may have
                # gone through. Adopt that audience instead of creating a second one.
                adopted = self._find_created(api, job, since=taken_over.claimed_at)
            if adopted is not None:
                audience_id, request_id = adopted, ""
                logger.info(
                    "adopted the audience a crashed claimant created",
                    extra={"job_id": job.job_id, "audience_id": audience_id},
                )
            else:
                audience_id, request_id = self._create_call(api, job, file_paths)
        except TikTokError:
            self.registry.release(job.advertiser_id, key, job_id=job.job_id)
            raise
        # The create call carried the first group. An audience adopted from our own job's dead
        # claimant got that same first group (file_paths are fixed once every chunk is done);
        # one adopted from another job's claimant gets all our files with our own action.
        foreign = (
            adopted is not None and taken_over is not None and taken_over.owner_job_id != job.job_id
        )
        try:
            if job.file_api and not foreign:
                # before the registry knows the audience: a rerun that finds our own ready
                # entry then knows the first group is in (see create_once)
                self.jobs.record_applied(job.job_id, 1, request_id=request_id)
            self.registry.complete(
                job.advertiser_id,
                key,
                job_id=job.job_id,
                audience_id=audience_id,
                shape=settled_shape(job.item).as_record() if job.file_api else None,
            )
        except Exception:
            # TikTok holds the audience but the registry does not know it: keep the claim (its
            # creation time tells the next claimant where to look) but let it be taken over now.
            self.registry.expire(job.advertiser_id, key, job_id=job.job_id)
            raise
        logger.info(
            "audience created",
            extra={"job_id": job.job_id, "audience_id": audience_id, "api": job.api},
        )
        if request_ids is not None and request_id and not job.file_api:
            request_ids.append(request_id)
        if file_paths:
            if foreign:
                self.apply(api, job, audience_id, file_paths, action=first_action(job), start=0)
            elif len(file_paths) > customer_file.MAX_FILE_PATHS_PER_CALL:
                self.apply(api, job, audience_id, file_paths, action="APPEND", start=1)
        return audience_id

    def _create_call(
        self, api: AudienceApi, job: UploadJob, file_paths: list[str] | None
    ) -> tuple[str, str]:
        """One create call, retried here rather than in the client: when an answer is lost (the
        connection dropped, HTTP 5xx) the create may have applied, so TikTok's audience list is
        checked for it before trying again — a lost answer never creates a second audience.
        Returns ``(audience_id, request_id)``."""
        started = self.clock()

        def went_through(exc: RetryableTikTokError) -> tuple[str, str] | None:
            if not exc.answer_lost:
                return None
            found = self._find_created(api, job, since=started)
            return None if found is None else (found, exc.request_id)

        return retry_step(
            lambda: self._create(api, job, file_paths),
            policy=self.retry,
            rng=self.rng,
            deadline=api.deadline,
            clock=self.monotonic,
            sleep=self.sleep,
            went_through=went_through,
        )

    def _create(
        self, api: AudienceApi, job: UploadJob, file_paths: list[str] | None
    ) -> tuple[str, str]:
        """The create call itself, once (no retry in the client)."""
        if job.file_api:
            return customer_file.create_audience(
                api,
                job.advertiser_id,
                name=job.name,
                calculate_type=settled_shape(job.item).calculate_type,
                file_paths=next(customer_file.groups(file_paths or [])),
                retention_days=job.item.retention_days,
                retry=False,
            )
        return partner.create_partner_audience(api, job.advertiser_id, job.name, retry=False)

    def _find_created(self, api: AudienceApi, job: UploadJob, since: float) -> str | None:
        """The id of an audience that TikTok created for this job's create call at or after
        ``since`` (less a minute of clock skew): same name, same calculate type (none for a
        partner audience) — never TikTok's type label, whose wording we do not control
        (contract CF-11). Audiences the registry already holds are never it: a partner
        ``replace`` builds a second audience of the name's own name, often within that minute."""
        since -= 60
        wanted = settled_shape(job.item).calculate_type if job.file_api else ""
        known = self.registry.audience_ids(job.advertiser_id)
        page = 1
        while True:
            response = api.call(
                "GET",
                customer_file.LIST_PATH,
                job.advertiser_id,
                params={"advertiser_id": job.advertiser_id, "page": page, "page_size": 100},
            )
            for entry in response.data.get("list") or []:
                if (
                    entry.get("name") == job.name
                    and str(entry.get("calculate_type") or "") == wanted
                    and created_at(entry) >= since
                    and str(entry.get("audience_id")) not in known
                ):
                    return str(entry.get("audience_id"))
            info = response.data.get("page_info") or {}
            if page >= int(info.get("total_page") or 1):
                return None
            page += 1


def created_at(entry: Mapping[str, Any]) -> float:
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
