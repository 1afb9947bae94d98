"""A ``sync`` job on the upload side (docs/sync.md, "Wiring plan → Upload").

Ingest hands over a sync job as change chunks (``chunks/<job>/sync-add-*.csv`` and
``sync-remove-*.csv``, :mod:`tiktok_connector.sync.changes`) and the job item's ``sync`` record.
Here:

* :func:`chunk_action` — a change chunk's key says what it does: ``add`` (customer file
  ``APPEND``, partner mapping ``add``) or ``remove`` (``REMOVE``, mapping ``delete``).
* :func:`file_steps` — the customer-file update sequence: the adds, then the removes, so the
  audience never dips under TikTok's 1,000 members on the way (contract CF-10). A sync with no
  base generation (the first, or the first after failed ones) holds the whole membership in its
  adds and ``REPLACE``\\s with them — exact even on an audience made before it was synced.
* :meth:`SyncUpload.send_held_removes` — a partner sync's removes go out once every add is
  mapped; sent before they are marked sent, so a crash in between sends them again (a chunk done
  twice is a no-op, ``delete`` a set operation).
* :meth:`SyncUpload.commit` — the job's generation becomes the synced state only after TikTok
  took every change, and before the job succeeds; :meth:`SyncUpload.release` — a sync that fails
  here had started sending, so its generation is kept as *uncertain* and the next sync
  reconciles it (removes what it may have added).
* :meth:`SyncUpload.refuse_if_synced` — ``append``, ``remove`` and ``replace`` files are refused
  on a synced audience (``audience_synced``), before anything is sent: they would make TikTok's
  membership differ from the synced state, which the next sync's difference would not undo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from tiktok_connector.audiences.job import JobFailure, UploadJob
from tiktok_connector.contract.job import JobItem
from tiktok_connector.contract.messages import ChunkMessage

if TYPE_CHECKING:  # loaded with the first sync job, not at the function's cold start
    from tiktok_connector.sync.jobstate import SyncJobs
    from tiktok_connector.sync.lock import SyncLock

ChangeAction = Literal["add", "remove"]
MAPPING_ACTIONS: dict[ChangeAction, str] = {"add": "add", "remove": "delete"}  # contract PA-03

_REFUSED = ("append", "remove", "replace")


def chunk_action(chunk_key: str) -> ChangeAction:
    """``add`` or ``remove``, from a change chunk's file name (``sync-add-00000.csv``)."""
    name = chunk_key.rsplit("/", 1)[-1]
    if name.startswith("sync-add-"):
        return "add"
    if name.startswith("sync-remove-"):
        return "remove"
    raise JobFailure(
        "invalid_job", f"chunk {name[:60]} of a sync job is neither a sync-add nor a sync-remove"
    )


def split_paths(item: JobItem) -> tuple[list[str], list[str]]:
    """The job's TikTok file paths: those of its add chunks, those of its remove chunks (each in
    chunk-key order, so a rerun sends the same groups)."""
    adds: list[str] = []
    removes: list[str] = []
    for key in sorted(item.file_paths):
        path = item.file_paths[key]
        if path:
            (adds if chunk_action(key) == "add" else removes).append(path)
    return adds, removes


def file_steps(item: JobItem) -> list[tuple[str, list[str]]]:
    """The customer-file update calls of a sync onto an existing audience, in order:
    ``(action, file paths)``. Without a base generation the adds are the whole membership:
    ``REPLACE`` (the removes of uncertain generations are then covered by it)."""
    adds, removes = split_paths(item)
    if item.sync is None or item.sync.base is None:
        return [("REPLACE", adds)] if adds else []  # contract: SY-03
    steps = (("APPEND", adds), ("REMOVE", removes))  # contract: SY-02 (adds first)
    return [(action, paths) for action, paths in steps if paths]


def takes_over(item: JobItem, owner_job_id: str | None) -> bool:
    """A partner sync that finds an audience of its name made by a job that was no sync it
    knows of (no synced state, and not one of the failed syncs it reconciles): TikTok's members
    of that audience are unknown to us and the mapping API has no replace, so the sync builds a
    new audience and moves the name onto it (like ``replace``)."""
    record = item.sync
    return (
        owner_job_id is not None
        and owner_job_id != item.job_id
        and record is not None
        and record.base is None
        and owner_job_id not in record.uncertain
    )


def lock_key(api: str, name: str) -> str:
    """The audience's sync lock key (:func:`tiktok_connector.sync.lock.lock_key`)."""
    from tiktok_connector.sync.lock import lock_key as key_of

    return key_of(api, name)


def synced_refusal(job: UploadJob) -> JobFailure:
    """The sentence an ``append``/``remove``/``replace`` of a synced audience fails with."""
    return JobFailure(
        "audience_synced",
        f"audience {job.name!r} is kept by sync files (segments/{job.advertiser_id}/<name>/sync/),"
        f" so this {job.action} was refused and nothing was sent: it would make TikTok's "
        "members differ from the last synced file, and the next sync would not undo it. Put the "
        "change into the next sync file instead.",
    )


def sync_ready(item: JobItem) -> bool:
    """A sync job whose diff is handed over and every chunk done — also one with no chunk at
    all (nothing changed), which the general fan-in check does not finalize."""
    return (
        item.running
        and item.sync is not None
        and item.sync.changes is not None
        and item.chunks_done >= item.chunks_total
    )


class SyncUpload:
    """The lock and the job's ``sync`` record as the upload side uses them. ``send(body)``
    puts a message on the chunk queue."""

    def __init__(
        self, *, lock: SyncLock, sync_jobs: SyncJobs, send: Callable[[str], None] | None
    ) -> None:
        self.lock = lock
        self.sync_jobs = sync_jobs
        self.send = send

    def refuse_if_synced(self, job: UploadJob) -> None:
        """:func:`synced_refusal` when ``job`` would change a synced audience (module docs)."""
        if job.action not in _REFUSED:
            return
        state = self.lock.get(job.advertiser_id, lock_key(job.api, job.name))
        if state is not None and (state.generation or state.uncertain or state.holder):
            raise synced_refusal(job)

    def send_held_removes(self, item: JobItem) -> None:
        """Send a partner sync's remove chunks once its adds are all mapped (module docs)."""
        record = item.sync
        if record is None or record.removes_sent or not record.remove_chunks:
            return
        if item.chunks_done < item.chunks_total - len(record.remove_chunks):
            return
        if self.send is None:
            raise RuntimeError("a partner sync's removes need the chunk queue (CHUNK_QUEUE_URL)")
        for chunk in record.remove_chunks:
            message = ChunkMessage(
                job_id=item.job_id, chunk_key=chunk.key, rows=chunk.rows, md5=chunk.md5
            )
            self.send(message.body())
        self.sync_jobs.mark_removes_sent(item.job_id)

    def commit(self, job: UploadJob) -> None:
        """Make the job's generation the synced state (TikTok took every change)."""
        item = job.item
        source = item.source
        committed = self.lock.commit(
            job.advertiser_id,
            lock_key(job.api, job.name),
            job.job_id,
            base=item.sync.base if item.sync else None,
            source_modified=f"s3://{source.bucket}/{source.key}"
            + (f"?versionId={source.version_id}" if source.version_id else ""),
        )
        if not committed:
            raise JobFailure(
                "sync_lock_lost",
                "every change of this sync reached TikTok, but the audience's sync state moved "
                "meanwhile, so it was not recorded as synced; the next sync file compares "
                "against the state before this one",
            )

    def audience_missing(self, job: UploadJob) -> JobFailure:
        """The synced audience is gone (deleted at TikTok, its name released): the sync state is
        cleared so that the next sync file creates the audience anew from its whole file."""
        self.lock.forget(job.advertiser_id, lock_key(job.api, job.name), job.job_id)
        return JobFailure(
            "synced_audience_missing",
            f"the audience {job.name!r} this sync kept no longer exists at TikTok (deleted in "
            "Ads Manager?), so this sync's changes could not be applied; its sync state was "
            "cleared: send the file again and the sync creates the audience from all its rows",
        )

    def release(self, item: JobItem) -> None:
        """Give the lock up after the job failed while sending (its generation uncertain)."""
        key = lock_key(item.api or "file", item.audience_name or "")
        self.lock.release(item.advertiser_id or "", key, item.job_id, uncertain=True)
