"""The jobs-table item both sides share, as a model in its DynamoDB attribute layout.

One job is one S3 object version (``job_id`` = :func:`job_id_for`). Ingest creates the item and
records each byte range; upload marks chunks done, claims the finalization and ends the job (the
writes, all conditional, are :class:`tiktok_connector.segments.jobs.JobStore`'s). Reads go through
:meth:`JobItem.from_ddb`, the one write of a whole item through :meth:`JobItem.creation_attributes`;
every other write sets single attributes whose values come from the sub-models here
(:class:`RangeRecord`, :class:`Waiting`, :class:`Finalizing`, :class:`Shape`).

The layout is what the conditional expressions test, so it stays as it is:

* ``plan`` is a JSON string (ingest's own: column plan, byte ranges, MAID hash);
* ``done_chunks`` is a string set (absent until the first chunk is done);
* ``finalizing``, ``ranges_queued``, ``shape``, ``applied_groups`` and ``waiting`` are absent until
  the write that adds them: conditions test their existence (``attribute_not_exists(finalizing)``,
  ``if_not_exists(shape)``, ``attribute_not_exists(applied_groups)``,
  ``attribute_exists(waiting)``), so creating a job never writes them (:data:`ADDED_LATER`).

Adding attributes (the sync's ``sync{…}`` and ``ranges.<i>.run_parts``, docs/sync.md) is adding
fields here; attributes this model does not know are ignored on read.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

JobStatus = Literal["running", "succeeded", "failed"]
RUNNING: JobStatus = "running"
SUCCEEDED: JobStatus = "succeeded"
FAILED: JobStatus = "failed"

# Attributes a later conditional write adds (see module docs): never part of the created item.
ADDED_LATER = frozenset(
    {"done_chunks", "finalizing", "ranges_queued", "shape", "applied_groups", "waiting", "sync"}
)


def job_id_for(bucket: str, key: str, version: str) -> str:
    """The job id of one S3 object version: 32 hex chars of SHA-256 of ``bucket/key@version``.

    ``key`` is the decoded key; ``version`` is the version id, or the ETag when unversioned.
    """
    return hashlib.sha256(f"{bucket}/{key}@{version}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class JobError:
    """Why a job failed: a machine-readable ``code``, a sentence for people, TikTok's request id."""

    code: str
    message: str
    request_id: str | None = None


class _Part(BaseModel):
    # Built at first use, not at import: the functions' cold start (docs/performance.md). The
    # first use takes pydantic's rebuild lock (2.12+), so threads that start at once are safe.
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)


class JobSource(_Part):
    """The S3 object version the job reads."""

    bucket: str
    key: str
    version_id: str | None = None


class IdentifierCounts(_Part):
    """Identifiers of one type: valid (``accepted``) and refused (``rejected``)."""

    accepted: int = 0
    rejected: int = 0


class RangeRecord(_Part):
    """What one byte range found (``ranges.<i>``; summed over ranges in the report). ``lines``
    turns the range's own line numbers into the file's when reject parts are merged."""

    lines: int = 0
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    blank: int = 0
    duplicates: int = 0
    chunks: int = 0
    run_parts: int = 0  # a sync job's ranges write run parts (docs/sync.md), not chunks
    identifiers: dict[str, IdentifierCounts] = Field(default_factory=dict)
    rejected_by_reason: dict[str, int] = Field(default_factory=dict)
    findings: dict[str, int] = Field(default_factory=dict)  # counted for report warnings


class ReportWarning(_Part):
    """Something a person should look at although the job ran."""

    code: str
    message: str


class Reading(_Part):
    """How the file was read (``reading``; :mod:`tiktok_connector.segments.reading`): encoding
    ``{name, how}``, each column and what it was read as, the options, planning's warnings."""

    encoding: dict[str, Any] | None = None
    columns: list[dict[str, Any]] = Field(default_factory=list)
    options: dict[str, Any] | None = None
    warnings: list[ReportWarning] = Field(default_factory=list)


# The id type of a header-less file's only column when each line is typed by its shape.
AUTO = "auto"


class StoredPlan(_Part):
    """Ingest's plan (``plan``, a JSON string): the column plan (``segments.columns``), the byte
    ranges and how MAIDs are hashed."""

    columns: dict[str, Any] = Field(default_factory=dict)
    ranges: list[tuple[int, int]] = Field(default_factory=list)
    maid_hash: str | None = None

    @property
    def typed_by_shape(self) -> bool:
        """A header-less file whose lines were typed by their shape (DESIGN §3.7): the upload
        side types its audience by the ids the file really holds."""
        sources = self.columns.get("sources") or []
        return bool(sources) and sources[0].get("id_type") == AUTO


class AudienceSize(_Part):
    """The audience as ``/dmp/custom_audience/get/`` described it after the job's calls
    (:mod:`tiktok_connector.audiences.size`): its matched size (``cover_num``), whether TikTok
    has finished computing it (``is_valid``), when it was read (ISO-8601 UTC), and why the size
    is unknown when the read failed."""

    audience_size: int | None = None
    is_valid: bool | None = None
    status_checked_at: str | None = None
    size_unknown_reason: str | None = None


class TikTokRecord(_Part):
    """What TikTok gave the job: the audience's id, the request ids worth keeping, and the
    audience's size once read."""

    audience_id: str | None = None
    request_ids: list[str] = Field(default_factory=list)
    size: AudienceSize | None = None


class Finalizing(_Part):
    """The finalization claim (``finalizing``): its owner and when it was taken (Unix time)."""

    owner: str
    at: int


class Shape(_Part):
    """The calculate type and columns every customer file of the job is written with
    (``shape``, settled once by the upload; ``audiences.file_format.FileShape``)."""

    calculate_type: str
    columns: tuple[str, ...]


class Waiting(_Part):
    """The job waits for TikTok (``waiting``, :mod:`tiktok_connector.audiences.waiting`): why,
    for which audience, since when, how often it looked, when it looks next and gives up (Unix
    times) and the delay of the message that comes back."""

    reason: str
    audience_id: str
    message: str
    since: int
    looks: int = 1
    next_look_at: int
    gives_up_at: int
    delay: int


class SyncChunk(_Part):
    """A change chunk a partner sync sends later (its removes, once every add is mapped)."""

    key: str
    rows: int
    md5: str | None = None


class SyncGroup(_Part):
    """What one diff group of a sync job found (``sync.groups.<g>``)."""

    added: int = 0
    removed: int = 0


class SyncRecord(_Part):
    """A sync job's own state (``sync``; docs/sync.md, "Wiring plan"): the partition bits of its
    runs, the base generation it diffs against and the uncertain ones it reconciles (failed
    syncs that may have sent part of their changes), its groups, and — once the diff is
    finished — the changes per member type, the new membership, the partner remove chunks held
    back until the adds are mapped."""

    bits: int = 0
    base: str | None = None
    uncertain: list[str] = Field(default_factory=list)
    groups_total: int = 0
    groups: dict[str, SyncGroup] = Field(default_factory=dict)
    changes: dict[str, dict[str, int]] | None = None
    members: int | None = None
    remove_chunks: list[SyncChunk] = Field(default_factory=list)
    removes_sent: bool = False


class JobItem(_Part):
    """One jobs-table item (pk ``job_id``); see the module docs for the layout's rules."""

    job_id: str
    status: JobStatus
    source: JobSource
    advertiser_id: str | None = None
    audience_name: str | None = None  # NFC
    action: str | None = None
    api: str | None = None  # file | segment
    retention_days: int | None = None
    phone_region: str | None = None
    columns: list[str] = Field(default_factory=list)
    calculate_type: str | None = None
    plan: StoredPlan = Field(default_factory=StoredPlan)
    reading: Reading | None = None
    ranges_total: int = 1
    ranges_done: int = 0
    ranges: dict[str, RangeRecord] = Field(default_factory=dict)
    ranges_queued: bool = False
    chunks_total: int = 0
    chunks_done: int = 0
    done_chunks: frozenset[str] = frozenset()
    file_paths: dict[str, str] = Field(default_factory=dict)  # chunk key → TikTok file_path
    tiktok: TikTokRecord = Field(default_factory=TikTokRecord)
    error: JobError | None = None
    finalizing: Finalizing | None = None
    started_at: str | None = None
    finished_at: str | None = None
    expires_at: int | None = None
    shape: Shape | None = None
    applied_groups: int = 0
    waiting: Waiting | None = None
    sync: SyncRecord | None = None

    @field_validator("plan", mode="before")
    @classmethod
    def _plan_from_json(cls, value: Any) -> Any:
        if value is None:
            return {}
        return json.loads(value) if isinstance(value, str | bytes) else value

    @field_serializer("plan")
    def _plan_as_json(self, plan: StoredPlan) -> str:
        return plan.model_dump_json()

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    @property
    def uploaded_file_paths(self) -> list[str]:
        """The TikTok file paths in chunk-key order (a rerun sends the same groups); partner
        chunks, which record none, are left out."""
        return [self.file_paths[k] for k in sorted(self.file_paths) if self.file_paths[k]]

    @classmethod
    def from_ddb(cls, attributes: dict[str, Any]) -> JobItem:
        """The item from DynamoDB's attribute values (``GetItem``, ``ALL_NEW``, a scan)."""
        deserialize = _codecs()[1].deserialize
        return cls.model_validate({k: _plain(deserialize(v)) for k, v in attributes.items()})

    def creation_attributes(self) -> dict[str, Any]:
        """The item as ``PutItem`` writes it when the job is created (see :data:`ADDED_LATER`)."""
        return ddb_values(self.model_dump(mode="json", exclude=set(ADDED_LATER)))


def ddb_values(values: dict[str, Any]) -> dict[str, Any]:
    """Plain values (``model_dump(mode="json")`` of the models here) as DynamoDB attribute
    values; a Python ``set`` of strings becomes a string set."""
    serialize = _codecs()[0].serialize
    return {k: serialize(v) for k, v in values.items()}


@functools.cache
def _codecs() -> tuple[Any, Any]:
    # boto3.dynamodb imports all of boto3 (~100 ms): at first use, not at cold-start import
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def _plain(value: Any) -> Any:
    """DynamoDB values back to plain Python (Decimal → int, sets → sorted lists): the free-form
    parts (``reading``) must come out as JSON would have them."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    return value
