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

TikTok processes an audience after each create or update and refuses updates meanwhile (40002,
contract TM-01). :func:`apply_files` tells that from a permanent refusal by the audience's own
status (:func:`audience_status`) and raises :class:`~.waiting.TikTokNotReady`; the caller records
how many groups went through (``on_applied``) and resumes from there (``start``), so a sequence
of several calls survives any number of waits.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import NamedTuple

from tiktok_connector.audiences.api import AudienceApi
from tiktok_connector.audiences.waiting import AUDIENCE_PROCESSING, TikTokNotReady
from tiktok_connector.tiktok import Code, PermanentTikTokError

# docs/tiktok-contract.md: CF-01 (upload), CF-08 (create), CF-10 (update), CF-11 (list), CF-12
UPLOAD_PATH = "dmp/custom_audience/file/upload"
CREATE_PATH = "dmp/custom_audience/create"
UPDATE_PATH = "dmp/custom_audience/update"
LIST_PATH = "dmp/custom_audience/list"
GET_PATH = "dmp/custom_audience/get"

# TikTok recommends fewer than 50 file_paths per create/update request (contract CF-04).
MAX_FILE_PATHS_PER_CALL = 50

# Our job actions → the update API's action (contract CF-10).
UPDATE_ACTIONS = {"append": "APPEND", "remove": "REMOVE", "replace": "REPLACE"}


def file_signature(content: bytes) -> str:
    """MD5 hex of the file bytes, as TikTok checks it (40900 on mismatch)."""
    return hashlib.md5(content, usedforsecurity=False).hexdigest()


def groups(file_paths: Sequence[str], size: int = MAX_FILE_PATHS_PER_CALL) -> Iterator[list[str]]:
    """``file_paths`` in order, cut into lists of at most ``size``."""
    for start in range(0, len(file_paths), size):
        yield list(file_paths[start : start + size])


class UploadedFile(NamedTuple):
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


class AudienceStatus(NamedTuple):
    """What ``/dmp/custom_audience/get/`` says about an audience (contract CF-12, TM-02)."""

    is_valid: bool
    expired: bool
    msg: str
    cover_num: int
    calculate_type: str
    found: bool = True  # False: TikTok's answer did not describe the audience

    @property
    def processing(self) -> bool:
        """Not usable and not expired: TikTok is still computing it (TM-02)."""
        return not self.is_valid and not self.expired


def audience_status(
    api: AudienceApi,
    advertiser_id: str,
    audience_id: str,
    *,
    now: float | None = None,
    retry: bool = True,
) -> AudienceStatus:
    """The audience's status from ``/dmp/custom_audience/get/`` (``retry=False``: one attempt)."""
    response = api.call(
        "GET",
        GET_PATH,
        advertiser_id,
        params={
            "advertiser_id": advertiser_id,
            "custom_audience_ids": json.dumps([audience_id]),
            "history_size": 1,
        },
        retry=retry,
    )
    found = [
        entry.get("audience_details") or {}
        for entry in response.data.get("list") or []
        if isinstance(entry, Mapping)
    ]
    details = next((d for d in found if str(d.get("audience_id")) == audience_id), None)
    if details is None:
        details = found[0] if found else {}
    expires = tiktok_time(details.get("expired_time"))
    current = time.time() if now is None else now
    return AudienceStatus(
        is_valid=details.get("is_valid") is True,
        expired=expires is not None and expires <= current,
        msg=str(details.get("msg") or "")[:200],
        cover_num=int(details.get("cover_num") or 0),
        calculate_type=str(details.get("calculate_type") or ""),
        found=bool(details),
    )


def tiktok_time(raw: object) -> float | None:
    """TikTok's ``YYYY-MM-DD HH:MM:SS`` (UTC) as a Unix time; None when absent or unreadable."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(calendar.timegm(time.strptime(raw, "%Y-%m-%d %H:%M:%S")))
        except ValueError:
            return None
    return None


def update_or_wait(
    api: AudienceApi,
    advertiser_id: str,
    *,
    audience_id: str,
    file_paths: Sequence[str],
    action: str,
) -> str:
    """:func:`update_audience`, where a 40002 that TikTok's own status explains as processing
    raises :class:`~.waiting.TikTokNotReady` instead (contract TM-01, TM-02).

    A 40002 on a usable audience is permanent (the 1,000-member rule, or another parameter
    error) — but processing may have ended between the refusal and our look, so the call is
    made once more before it counts as permanent."""
    for attempt in (1, 2):
        try:
            return update_audience(
                api, advertiser_id, audience_id=audience_id, file_paths=file_paths, action=action
            )
        except PermanentTikTokError as exc:
            if exc.code != Code.PARAM_ERROR:  # on update also "still processing" (TM-01)
                raise
            status = audience_status(api, advertiser_id, audience_id)
            if status.processing:
                raise TikTokNotReady(
                    AUDIENCE_PROCESSING,
                    f"TikTok is still processing audience {audience_id} (is_valid false"
                    f"{': ' + status.msg if status.msg else ''}) and refused the {action}; "
                    "the job tries again later.",
                    audience_id=audience_id,
                    request_id=exc.request_id,
                    code=exc.code,
                ) from None
            if attempt == 2 or status.expired:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def apply_files(
    api: AudienceApi,
    advertiser_id: str,
    *,
    audience_id: str,
    action: str,
    file_paths: Sequence[str],
    start: int = 0,
    on_applied: Callable[[int, str], None] | None = None,
) -> list[str]:
    """Apply ``file_paths`` to an existing audience with the update ``action`` (``APPEND``,
    ``REMOVE``, ``REPLACE``) in groups of ≤ 50, from group ``start`` on.

    A ``REPLACE`` of more than one group replaces with the first group and appends the others.
    ``start`` skips groups already applied (group one of a just-created audience went with its
    create call; a resumed job skips what went through before it waited). ``on_applied(n,
    request_id)`` runs after each call, ``n`` being the groups applied so far. Returns the
    request ids. Raises :class:`~.waiting.TikTokNotReady` while TikTok processes the audience.
    """
    request_ids: list[str] = []
    for index, group in enumerate(groups(file_paths)):
        if index < start:
            continue
        step = action if index == 0 or action != "REPLACE" else "APPEND"
        request_id = update_or_wait(
            api, advertiser_id, audience_id=audience_id, file_paths=group, action=step
        )
        request_ids.append(request_id)
        if on_applied is not None:
            on_applied(index + 1, request_id)
    return request_ids


def group_count(file_paths: Sequence[str]) -> int:
    """How many create/update groups ``file_paths`` make."""
    return -(-len(file_paths) // MAX_FILE_PATHS_PER_CALL)
