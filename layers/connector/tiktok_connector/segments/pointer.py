"""Writes the report pointer of a file's job (:mod:`tiktok_connector.contract.pointer`).

Compare-and-swap with S3's conditional writes, so concurrent ingests of two uploads of one key
leave the newer one's pointer whatever their timing: the first write is ``If-None-Match: *``; when
a pointer exists, it is read, kept if it is newer, else replaced with ``If-Match`` on the ETag
read. A lost race (``412 PreconditionFailed``, or ``409 ConditionalRequestConflict`` while another
write is in flight) starts over. Nothing is read before the first write: without
``s3:ListBucket`` a read of a missing key is refused (403) rather than answered 404.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tiktok_connector.contract.pointer import ReportPointer, pointer_key
from tiktok_connector.observability import logger

ATTEMPTS = 5
_LOST_RACE = ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def write_pointer(s3: Any, bucket: str, pointer: ReportPointer) -> bool:
    """Point ``pointer.key`` at ``pointer.job_id`` unless a newer upload's job holds it.
    True when the pointer names this job afterwards."""
    key = pointer_key(pointer.key)
    if key is None:
        return False
    body = pointer.as_json()
    for _ in range(ATTEMPTS):
        try:
            s3.put_object(
                Bucket=bucket, Key=key, Body=body, ContentType="application/json", IfNoneMatch="*"
            )
            return True
        except ClientError as exc:
            if _code(exc) not in _LOST_RACE:
                raise
        try:
            current = s3.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                continue  # deleted in between: try the first write again
            raise
        existing = ReportPointer.model_validate_json(current["Body"].read())
        if not pointer.newer_than(existing):
            logger.info(
                "report pointer kept: it names a newer upload's job",
                extra={"job_id": pointer.job_id, "newer_job_id": existing.job_id},
            )
            return False
        try:
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                IfMatch=current["ETag"],
            )
            return True
        except ClientError as exc:
            if _code(exc) not in _LOST_RACE:
                raise
    raise RuntimeError(f"report pointer {key!r} kept changing: gave up after {ATTEMPTS} tries")


def read_pointer(s3: Any, bucket: str, key: str) -> ReportPointer | None:
    """The pointer of a segment file's key; None when there is none (or it may not be read)."""
    where = pointer_key(key)
    if where is None:
        return None
    try:
        body = s3.get_object(Bucket=bucket, Key=where)["Body"].read()
    except ClientError as exc:
        if _code(exc) in ("NoSuchKey", "404", "AccessDenied", "403"):
            return None
        raise
    return ReportPointer.model_validate_json(body)
