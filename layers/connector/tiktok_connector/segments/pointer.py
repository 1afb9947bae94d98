"""Writing and reading a file's pointer (:mod:`tiktok_connector.contract.pointer`).

Writes are compare-and-swap with S3's conditional writes: the first pointer of a key is put with
``If-None-Match: *``, a newer one replaces the pointer it read with ``If-Match: <ETag>``. A write
that loses the race reads again and decides again, so of two uploads processed at the same time,
or an older one processed late, the newer upload's job is the one the pointer names.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from tiktok_connector.contract.job import JobItem
from tiktok_connector.contract.pointer import ReportPointer, pointer_key
from tiktok_connector.observability import logger

# How often a write that lost a race reads again before giving up (and logging it).
CAS_ATTEMPTS = 5
_NOT_FOUND = ("404", "NoSuchKey")
_LOST_RACE = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return str(value) if value else None


def pointer_for(
    item: JobItem, *, version: str, sequencer: str | None, last_modified: Any
) -> ReportPointer:
    """The pointer to ``item``'s report for its upload (``version`` as hashed in the job id)."""
    return ReportPointer(
        bucket=item.source.bucket,
        key=item.source.key,
        job_id=item.job_id,
        report_key=f"reports/{item.job_id}.json",
        version=version,
        version_id=item.source.version_id,
        sequencer=sequencer or None,
        last_modified=_iso(last_modified),
        written_at=_iso(datetime.now(UTC)),
    )


def read_pointer(s3: Any, bucket: str, key: str) -> tuple[ReportPointer, str] | None:
    """The pointer of S3 key ``key`` and its ETag, or None when there is none (or it is not a
    pointer: then the writer replaces it and the reader falls back)."""
    try:
        response = s3.get_object(Bucket=bucket, Key=pointer_key(key))
    except ClientError as exc:
        if _code(exc) in _NOT_FOUND:
            return None
        raise
    etag = str(response.get("ETag", ""))
    try:
        return ReportPointer.model_validate_json(response["Body"].read()), etag
    except ValueError:
        logger.warning("unreadable report pointer", extra={"pointer": pointer_key(key)})
        return ReportPointer(bucket=bucket, key=key, job_id="", report_key="", version=""), etag


def write_pointer(s3: Any, bucket: str, pointer: ReportPointer) -> bool:
    """Point ``pointer.key`` at ``pointer``'s job unless a newer upload's job is named already.
    True when this call wrote it."""
    body = json.dumps(pointer.model_dump(mode="json"), indent=2).encode()
    for _ in range(CAS_ATTEMPTS):
        current = read_pointer(s3, bucket, pointer.key)
        condition: dict[str, str] = {"IfNoneMatch": "*"}
        if current is not None:
            existing, etag = current
            if existing.job_id and not pointer.newer_than(existing):
                return False
            condition = {"IfMatch": etag}
        try:
            s3.put_object(
                Bucket=bucket,
                Key=pointer_key(pointer.key),
                Body=body,
                ContentType="application/json",
                **condition,
            )
        except ClientError as exc:
            if _code(exc) in _LOST_RACE:
                continue  # another writer moved it: read and decide again
            raise
        return True
    logger.warning(
        "report pointer not written: kept losing races", extra={"job_id": pointer.job_id}
    )
    return False
