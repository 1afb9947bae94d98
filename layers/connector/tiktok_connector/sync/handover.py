"""The end of a sync job's diff: from the finished groups to the upload (docs/sync.md, steps 4–6).

:func:`hand_over` runs once, in the invocation whose group record completed the job: it finishes
the diff, applies TikTok's 1,000-member rule (customer-file audiences, contract CF-10), checks the
audience can hold every member type, moves the lock to ``sending`` (losing means a later sync
superseded this one), writes the change chunks (``sync-add-*``, ``sync-remove-*``), records the
changes, and sends the chunk messages — for a partner audience the add chunks only (its remove
chunks are recorded and sent by upload once every add is mapped); a sync with no change sends
``finalize`` at once.

A sync that stops before sending fails its job with a sentence, releases the lock and deletes its
staged generation: nothing happened at TikTok, the last synced state stays as it was.
"""

from __future__ import annotations

from tiktok_connector.contract.job import FAILED, RUNNING, JobItem, SyncChunk
from tiktok_connector.contract.messages import ChunkMessage, FinalizeMessage
from tiktok_connector.sync.changes import (
    CHUNK_ROWS,
    ChangeColumns,
    rows_per_chunk,
    write_change_chunks,
)
from tiktok_connector.sync.diff import finish_diff
from tiktok_connector.sync.lock import lock_key
from tiktok_connector.sync.planning import read_plan
from tiktok_connector.sync.snapshot import delete_generation, too_few_members
from tiktok_connector.sync.steps import SyncSteps, audience_prefix

SUPERSEDED = (
    "a newer sync file for this audience arrived before this one was sent; the newer one is "
    "applied instead, and nothing of this one was sent"
)


def hand_over(
    steps: SyncSteps, item: JobItem, *, chunk_queue_url: str, chunk_rows: int = CHUNK_ROWS
) -> str:
    """Finish the diff of a job whose every group is recorded; the job's status after it.
    ``chunk_rows``: the deployment's ``CHUNK_ROWS`` (rows per change chunk, at most)."""
    api = item.api or "file"
    plan = read_plan(steps.s3, steps.bucket, item.job_id)
    result = finish_diff(steps.s3, steps.bucket, plan)
    if api == "file":
        refused = too_few_members(result.manifest)
        if refused:
            return _stop(steps, item, "too_few_members", refused)
    columns = ChangeColumns.for_columns(item.columns, api)
    missing = columns.missing(sorted(result.manifest.members))
    if missing:
        return _stop(
            steps, item, "audience_type_mismatch",
            f"the file holds ids of type {', '.join(missing)}, which this audience's columns "
            "cannot carry; nothing was sent",
        )  # fmt: skip
    key = lock_key(api, item.audience_name or "")
    if not steps.lock.start_sending(item.advertiser_id or "", key, item.job_id):
        return _stop(steps, item, "superseded", SUPERSEDED, release=False)
    rows = rows_per_chunk(columns, api=api, chunk_rows=chunk_rows)
    written = {
        action: write_change_chunks(
            steps.s3,
            steps.bucket,
            job_id=item.job_id,
            action=action,
            refs=refs,
            columns=columns,
            rows=rows,
        )
        for action, refs in (("add", result.adds), ("remove", result.removes))
    }
    adds, removes = written["add"], written["remove"]
    held = removes if api == "segment" and adds else []
    steps.sync_jobs.record_changes(
        item.job_id,
        changes=result.changes_report(),
        members=result.manifest.records,
        chunks_total=len(adds) + len(removes),
        remove_chunks=[SyncChunk(key=c.key, rows=c.rows, md5=c.md5) for c in held],
    )
    now = [c for c in adds + removes if c not in held]
    if not now:
        steps.send(steps.sqs, chunk_queue_url, [FinalizeMessage(job_id=item.job_id)])
    else:
        steps.send(
            steps.sqs, chunk_queue_url,
            [ChunkMessage(job_id=item.job_id, chunk_key=c.key, rows=c.rows, md5=c.md5) for c in now],
        )  # fmt: skip
    return RUNNING


def _stop(steps: SyncSteps, item: JobItem, code: str, message: str, *, release: bool = True) -> str:
    """Fail a sync before anything was sent: the lock released, the staged generation gone."""
    steps.jobs.fail(item.job_id, code, message)
    if release:
        key = lock_key(item.api or "file", item.audience_name or "")
        steps.lock.release(item.advertiser_id or "", key, item.job_id, uncertain=False)
    delete_generation(steps.s3, steps.bucket, audience_prefix(item), item.job_id)
    return FAILED
