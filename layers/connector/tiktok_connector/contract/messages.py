"""The work queues' messages (SQS bodies, JSON), one model each, discriminated on ``type``.

=============  ==================  ==============================================================
queue          type                fields
=============  ==================  ==============================================================
ranges         ``range``           ``job_id``, ``range`` (index), ``start``, ``end`` (byte offsets)
chunks         ``chunk``           ``job_id``, ``chunk_key`` (under ``chunks/<job_id>/``),
                                   ``rows``, ``md5`` (hex of the file, TikTok's signature)
chunks         ``finalize``        ``job_id`` — the fan-in when no chunk is left to trigger it
ranges         ``sync_plan``       ``job_id`` — a sync job's ranges are in: take the lock, plan the
                                   diff (sent again with a delay while another sync is sending)
ranges         ``sync_group``      ``job_id``, ``group`` (index) — diff one group of a sync job
=============  ==================  ==============================================================

Ingest sends all three (:mod:`tiktok_connector.segments.fanout`); the upload puts a ``chunk`` or
``finalize`` back on the chunk queue with ``DelaySeconds`` while it waits for TikTok
(:mod:`tiktok_connector.audiences.waiting`) — the same models, sent again.

A queue carries the union of its messages (:data:`RangesQueueMessage`,
:data:`ChunkQueueMessage`); adding a message type (the sync's ``sync_plan`` and ``sync_group`` on
the ranges queue, docs/sync.md) is a model here and its place in the union. Unknown fields are
ignored (a newer sender, an older reader); a missing or mistyped field fails the message.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# A job id: 32 hex characters of SHA-256 (contract.job.job_id_for).
JobId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class _Message(BaseModel):
    # Built at first use, not at import: the functions' cold start (docs/performance.md).
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    def body(self) -> str:
        """The message as its queue carries it (compact JSON; absent optional fields left out)."""
        return self.model_dump_json(exclude_none=True)


class RangeMessage(_Message):
    """Ranges queue: read byte range ``range`` of the job's file — the lines whose first byte
    lies in ``[start, end)``."""

    type: Literal["range"] = "range"
    job_id: JobId
    range: int = Field(ge=0)
    start: int = Field(ge=0)
    end: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> RangeMessage:
        if self.end < self.start:
            raise ValueError("end lies before start")
        return self


class ChunkMessage(_Message):
    """Chunk queue: upload (or map) one chunk file of the job."""

    type: Literal["chunk"] = "chunk"
    job_id: JobId
    chunk_key: str
    rows: int = Field(default=0, ge=0)
    md5: str | None = None

    @model_validator(mode="after")
    def _inside_the_job(self) -> ChunkMessage:
        # A chunk key outside the job's prefix is never read.
        if not self.chunk_key.startswith(f"chunks/{self.job_id}/"):
            raise ValueError("chunk_key is not under chunks/<job_id>/")
        return self


class FinalizeMessage(_Message):
    """Chunk queue: every chunk is in — run the job's single create/update (the fan-in)."""

    type: Literal["finalize"] = "finalize"
    job_id: JobId


class SyncPlanMessage(_Message):
    """Ranges queue: every byte range of a sync job is in — take the audience's sync lock (or
    wait for it) and plan the diff (docs/sync.md)."""

    type: Literal["sync_plan"] = "sync_plan"
    job_id: JobId


class SyncGroupMessage(_Message):
    """Ranges queue: diff group ``group`` of a sync job's plan."""

    type: Literal["sync_group"] = "sync_group"
    job_id: JobId
    group: int = Field(ge=0)


# What each queue carries, discriminated on ``type`` (a body's unknown ``type`` is named as such).
RangesQueueMessage = Annotated[
    RangeMessage | SyncPlanMessage | SyncGroupMessage, Field(discriminator="type")
]
ChunkQueueMessage = Annotated[ChunkMessage | FinalizeMessage, Field(discriminator="type")]
