"""A job as the upload side acts on it: its item, and what its key named, checked once.

:func:`upload_job` reads a :class:`~tiktok_connector.contract.job.JobItem` into an
:class:`UploadJob`: the advertiser, the audience name, the action and the audience API are
present and known (else the job fails with :class:`JobFailure`: ``invalid_action``,
``invalid_api``, ``invalid_job``, ``unsupported_id_type``). Those four never change over a job's
life; the item's progress does, so :meth:`UploadJob.refreshed` pairs them with a newer item.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, cast

from tiktok_connector.audiences import partner
from tiktok_connector.audiences.registry import audience_key, staging_key
from tiktok_connector.contract.job import JobError, JobItem

FILE_API = "file"
SEGMENT_API = "segment"
ACTIONS = ("create", "append", "remove", "replace", "sync")

Action = Literal["create", "append", "remove", "replace", "sync"]
Api = Literal["file", "segment"]


class JobFailure(Exception):
    """A permanent, job-level failure with our own code (``audience_exists``, …): the job fails
    with this error in its report and the record counts as processed."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        self.error = JobError(code, message, request_id)
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True, slots=True)
class UploadJob:
    """A job item with the fields its key gave, checked (see module docs)."""

    item: JobItem
    advertiser_id: str
    name: str  # the audience name (NFC)
    action: Action
    api: Api

    @property
    def job_id(self) -> str:
        return self.item.job_id

    @property
    def file_api(self) -> bool:
        """A customer-file (DMP) audience; else a partner (segment) audience."""
        return self.api == FILE_API

    @property
    def syncing(self) -> bool:
        """A ``sync`` job: its chunks are the difference to the last synced state
        (:mod:`.sync_upload`)."""
        return self.action == "sync"

    @property
    def main_key(self) -> str:
        """The registry key of the job's audience."""
        return audience_key(self.api, self.name)

    @property
    def staging_key(self) -> str:
        """The registry key of the audience a partner ``replace`` builds before it takes over
        the name."""
        return staging_key(self.api, self.name, self.job_id)

    def refreshed(self, item: JobItem) -> UploadJob:
        """The same job with a newer item (after a write returned it)."""
        return replace(self, item=item)


def upload_job(item: JobItem) -> UploadJob:
    """The job the upload side can act on; :class:`JobFailure` when its item names none."""
    if item.action not in ACTIONS:
        raise JobFailure("invalid_action", f"unknown action {item.action!r}")
    if item.api not in (FILE_API, SEGMENT_API):
        raise JobFailure("invalid_api", f"unknown audience API {item.api!r}")
    if not item.advertiser_id or not item.audience_name:
        raise JobFailure("invalid_job", "the job has no advertiser id or audience name")
    if item.api == SEGMENT_API:
        try:
            partner.id_schema(item.columns)
        except partner.UnsupportedColumnError as exc:
            raise JobFailure("unsupported_id_type", str(exc)) from None
    return UploadJob(
        item=item,
        advertiser_id=item.advertiser_id,
        name=item.audience_name,
        action=cast(Action, item.action),
        api=cast(Api, item.api),
    )
