"""Customer File (DMP) audiences: upload chunk files, then one create or update (reference §3).

Flow: each chunk file is uploaded (``/dmp/custom_audience/file/upload/``, MD5 ``file_signature``)
and its ``file_path`` recorded; when every chunk is in, :func:`apply_files` issues the audience
call with the job's ``file_paths`` in groups of at most :data:`MAX_FILE_PATHS_PER_CALL`.

Why re-running :func:`apply_files` after a crash is safe (exactly-once reasoning):

* ``APPEND`` adds only ids not already present and ``REMOVE`` removes ids that match, so sending
  the same files again leaves the audience as it was.
* ``REPLACE`` with the first group followed by ``APPEND`` of the rest is a sequence whose result
  depends only on the files, so running it again from the start gives the same membership.
* ``create`` is the one call that is not idempotent; the caller guards it with the audience
  registry (a claim owned by the job, completed with the new id) and, on a later run, turns it
  into ``APPEND`` of every group against the id it recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tiktok_connector.audiences.api import AudienceApi

UPLOAD_PATH = "dmp/custom_audience/file/upload"
CREATE_PATH = "dmp/custom_audience/create"
UPDATE_PATH = "dmp/custom_audience/update"
LIST_PATH = "dmp/custom_audience/list"

# TikTok recommends fewer than 50 file_paths per create/update request (reference §3.3/§3.4).
MAX_FILE_PATHS_PER_CALL = 50

# Our job actions → the update API's action (reference §3.4).
UPDATE_ACTIONS = {"append": "APPEND", "remove": "REMOVE", "replace": "REPLACE"}


def file_signature(content: bytes) -> str:
    """MD5 hex of the file bytes, as TikTok checks it (40900 on mismatch)."""
    return hashlib.md5(content, usedforsecurity=False).hexdigest()


def groups(file_paths: Sequence[str], size: int = MAX_FILE_PATHS_PER_CALL) -> Iterator[list[str]]:
    """``file_paths`` in order, cut into lists of at most ``size``."""
    for start in range(0, len(file_paths), size):
        yield list(file_paths[start : start + size])


@dataclass(frozen=True, slots=True)
class UploadedFile:
    file_path: str
    request_id: str


def upload_file(
    api: AudienceApi, advertiser_id: str, *, calculate_type: str, file_name: str, content: bytes
) -> UploadedFile:
    """Upload one chunk file (``.csv``) and return TikTok's ``file_path``."""
    response = api.call(
        "POST",
        UPLOAD_PATH,
        advertiser_id,
        data={
            "advertiser_id": advertiser_id,
            "calculate_type": calculate_type,
            "file_signature": file_signature(content),
        },
        files={"file": (file_name, content, "text/csv")},
    )
    file_path = response.data.get("file_path")
    if not isinstance(file_path, str) or not file_path:
        raise ValueError("TikTok's upload answer has no data.file_path")
    return UploadedFile(file_path, response.request_id)


def create_audience(
    api: AudienceApi,
    advertiser_id: str,
    *,
    name: str,
    calculate_type: str,
    file_paths: Sequence[str],
    retention_days: int | None,
    retry: bool = True,
) -> tuple[str, str]:
    """Create the audience from up to 50 files. Returns ``(audience_id, request_id)``.

    Not idempotent at TikTok: callers that cannot tell whether a lost answer applied pass
    ``retry=False`` and check before trying again.
    """
    body: dict[str, object] = {
        "advertiser_id": advertiser_id,
        "custom_audience_name": name,
        "calculate_type": calculate_type,
        "file_paths": list(file_paths),
    }
    if retention_days is not None:
        body["retention_in_days"] = int(retention_days)
    response = api.call("POST", CREATE_PATH, advertiser_id, json=body, retry=retry)
    # The spec names it custom_audience_id; one peer reads audience_id (reference §3.3).
    audience_id = response.data.get("custom_audience_id") or response.data.get("audience_id")
    if not audience_id:
        raise ValueError("TikTok's create answer has no data.custom_audience_id")
    return str(audience_id), response.request_id


def update_audience(
    api: AudienceApi,
    advertiser_id: str,
    *,
    audience_id: str,
    file_paths: Sequence[str],
    action: str,
) -> str:
    """``APPEND`` / ``REMOVE`` / ``REPLACE`` up to 50 files. Returns the request id."""
    response = api.call(
        "POST",
        UPDATE_PATH,
        advertiser_id,
        json={
            "advertiser_id": advertiser_id,
            "custom_audience_id": audience_id,
            "file_paths": list(file_paths),
            "action": action,
        },
    )
    return response.request_id


def apply_files(
    api: AudienceApi,
    advertiser_id: str,
    *,
    audience_id: str,
    action: str,
    file_paths: Sequence[str],
    skip_first_group: bool = False,
) -> list[str]:
    """Apply ``file_paths`` to an existing audience with the update ``action`` (``APPEND``,
    ``REMOVE``, ``REPLACE``) in groups of ≤ 50.

    A ``REPLACE`` of more than one group replaces with the first group and appends the others.
    ``skip_first_group`` is for a just-created audience (its create call carried group one).
    Returns the request ids.
    """
    request_ids: list[str] = []
    for index, group in enumerate(groups(file_paths)):
        if index == 0 and skip_first_group:
            continue
        step = action if index == 0 or action != "REPLACE" else "APPEND"
        request_ids.append(
            update_audience(
                api, advertiser_id, audience_id=audience_id, file_paths=group, action=step
            )
        )
    return request_ids
