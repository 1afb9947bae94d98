"""A sync job's steps on the ranges queue (docs/sync.md, "Wiring plan"): ``sync_plan`` and
``sync_group``, run by the segment ingest function.

* :meth:`SyncSteps.plan` — take the audience's sync lock (supersede a sync still diffing; wait,
  with a delayed ``sync_plan``, for one that is sending; give up after ``give_up_seconds``), drop
  generations that are neither current, uncertain nor this job's, plan the diff against the
  current generation and the uncertain ones, send one ``sync_group`` per group.
* :meth:`SyncSteps.group` — diff one group; the invocation whose record completes the job
  finishes the diff and hands the changes to :mod:`.handover` (change chunks, the move to
  ``sending``, the chunk messages).

Only infrastructure errors propagate (retried by SQS); a sync that cannot go on fails its job
with a sentence, releases the lock and deletes its staged generation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from tiktok_connector.contract.job import FAILED, RUNNING, JobItem
from tiktok_connector.contract.messages import SyncGroupMessage, SyncPlanMessage
from tiktok_connector.segments.jobs import JobStore
from tiktok_connector.sync.diff import diff_group
from tiktok_connector.sync.jobstate import SyncJobs
from tiktok_connector.sync.lock import SyncLock, Wait, lock_key
from tiktok_connector.sync.planning import plan_diff, read_plan
from tiktok_connector.sync.runs import run_key
from tiktok_connector.sync.snapshot import delete_generation, list_generations, snapshot_prefix

GIVE_UP_SECONDS: Final = 7 * 86400
MAX_DELAY_SECONDS: Final = 900  # SQS DelaySeconds


def audience_prefix(item: JobItem) -> str:
    """The job's audience snapshot prefix (``sync/<advertiser>/<api>/<digest>``)."""
    api = item.api or "file"
    key = lock_key(api, item.audience_name or "").removeprefix("sync#")
    return snapshot_prefix(item.advertiser_id or "", api, key)


def run_keys(item: JobItem) -> list[str]:
    """Every run part the job's ranges recorded, in range order."""
    return [
        run_key(item.job_id, int(i), part)
        for i, record in sorted(item.ranges.items(), key=lambda kv: int(kv[0]))
        for part in range(record.run_parts)
    ]


@dataclass(frozen=True, slots=True)
class SyncSteps:
    """The sync steps with their collaborators (clients, stores, queue URLs)."""

    s3: Any
    sqs: Any
    jobs: JobStore
    sync_jobs: SyncJobs
    lock: SyncLock
    bucket: str
    ranges_queue_url: str
    send: Callable[[Any, str, list[Any]], None]
    wait_seconds: int = 60
    give_up_seconds: int = GIVE_UP_SECONDS
    clock: Callable[[], float] = time.time

    def plan(self, message: SyncPlanMessage) -> str:
        """Take the lock (or wait for it) and plan the diff; the job's status after it."""
        item = self._running(message.job_id)
        if item is None:
            return "skipped"
        key = lock_key(item.api or "file", item.audience_name or "")
        taken = self.lock.take(item.advertiser_id or "", key, item.job_id, running=self._is_running)
        if isinstance(taken, Wait):
            return self._wait(item)
        state = taken.state
        prefix = audience_prefix(item)
        keep = {state.generation, *state.uncertain, item.job_id}
        for generation in list_generations(self.s3, self.bucket, prefix):
            if generation not in keep:
                delete_generation(self.s3, self.bucket, prefix, generation)
        plan = plan_diff(
            self.s3,
            self.bucket,
            job_id=item.job_id,
            prefix=prefix,
            base_generation=state.generation,
            run_keys=run_keys(item),
            uncertain_generations=state.uncertain,
        )
        self.sync_jobs.planned(
            item.job_id,
            bits=plan.bits,
            base=state.generation,
            groups_total=len(plan.groups),
            uncertain=state.uncertain,
        )
        groups = [SyncGroupMessage(job_id=item.job_id, group=g) for g in range(len(plan.groups))]
        self.send(self.sqs, self.ranges_queue_url, groups)
        return RUNNING

    def group(self, message: SyncGroupMessage) -> JobItem | None:
        """Diff one group; the job item when this record completed every group (the caller
        then finishes the diff), else None."""
        if self._running(message.job_id) is None:
            return None
        plan = read_plan(self.s3, self.bucket, message.job_id)
        if message.group >= len(plan.groups):
            raise ValueError("sync_group message for a group the job's plan does not have")
        result = diff_group(self.s3, self.bucket, plan, message.group)
        recorded = self.sync_jobs.record_group(
            message.job_id,
            message.group,
            added=sum(result.added.values()),
            removed=sum(result.removed.values()),
        )
        if recorded is None or recorded.sync is None:
            return None  # a redelivery: the first run recorded it (and finished, if last)
        if len(recorded.sync.groups) < recorded.sync.groups_total:
            return None
        return recorded

    def _wait(self, item: JobItem) -> str:
        started = _epoch(item.started_at) or self.clock()
        if self.clock() - started >= self.give_up_seconds:
            days = self.give_up_seconds // 86400
            self.jobs.fail(
                item.job_id,
                "sync_in_progress",
                f"another sync of this audience was still sending its changes to TikTok after "
                f"{days} days, so this one gave up without sending anything; send the file "
                "again once that sync has ended",
            )
            return FAILED
        delay = min(max(self.wait_seconds, 0), MAX_DELAY_SECONDS)
        self.sqs.send_message(
            QueueUrl=self.ranges_queue_url,
            MessageBody=SyncPlanMessage(job_id=item.job_id).body(),
            DelaySeconds=delay,
        )
        return "waiting"

    def _running(self, job_id: str) -> JobItem | None:
        item = self.jobs.get(job_id)
        if item is None:
            raise ValueError("sync message for an unknown job")
        return item if item.running else None

    def _is_running(self, job_id: str) -> bool:
        other = self.jobs.get(job_id)
        return other is not None and other.running


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
