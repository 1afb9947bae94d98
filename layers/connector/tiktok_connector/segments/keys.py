"""Segment file keys: the S3 key convention, audience names and the typed file error.

Key convention (README, DESIGN §3.3): ``segments/<advertiser_id>/<audience name>/<action>/<file>``.
Keys reach us URL-encoded in S3 notifications; the handler decodes them (``unquote_plus``) before
they get here. Audience names are NFC-normalised (a folder made on macOS arrives decomposed, NFD:
without this, ``Café`` from a Mac and from Windows would be two audiences). Options are S3 object
metadata only (DESIGN §3.7, no sidecar manifests; see :mod:`.options`).

Problems are raised as :class:`InvalidSegmentFile` with a machine-readable ``code`` and a sentence
that tells the user what to change; ingest turns them into a failed job report.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import NamedTuple

PREFIX = "segments/"
ACTIONS = ("create", "append", "remove", "replace", "sync")
# TikTok limits (reference §3.3, §4.1): customer-file names 1–128 chars; the partner API cuts names
# over 70 chars to 67 + "...", so we refuse those instead of letting the name change silently.
MAX_NAME_FILE = 128
MAX_NAME_SEGMENT = 70
_ADVERTISER_ID = re.compile(r"[0-9]{1,32}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class AudienceApi(StrEnum):
    """Which TikTok audience API a file goes to."""

    FILE = "file"  # customer-file (DMP) audience
    SEGMENT = "segment"  # partner audience (segment/streaming API)


class InvalidSegmentFile(ValueError):
    """The file cannot be processed as given (bad key, bad options, unreadable content)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SegmentKey(NamedTuple):
    """A parsed segment file key."""

    advertiser_id: str
    audience_name: str
    action: str
    filename: str


def is_folder_marker(key: str) -> bool:
    """True for the zero-byte ``.../`` objects consoles create as folders (not files)."""
    return key.endswith("/")


def parse_segment_key(key: str) -> SegmentKey:
    """Parse a decoded key ``segments/<advertiser_id>/<audience name>/<action>/<file>``."""
    expected = "segments/<advertiser_id>/<audience name>/<action>/<file>"
    if not key.startswith(PREFIX):
        raise InvalidSegmentFile("invalid_key", f"segment files go under {expected}")
    parts = key[len(PREFIX) :].split("/")
    if len(parts) != 4:
        raise InvalidSegmentFile(
            "invalid_key",
            f"the key has {len(parts) + 1} parts; segment files go under {expected} "
            "(an audience name cannot contain '/')",
        )
    advertiser_id, name, action, filename = parts
    if not _ADVERTISER_ID.fullmatch(advertiser_id):
        raise InvalidSegmentFile(
            "invalid_advertiser_id",
            "the advertiser id (the part after segments/) must be TikTok's numeric advertiser id",
        )
    if action not in ACTIONS:
        raise InvalidSegmentFile(
            "invalid_action",
            f"the action folder must be one of {', '.join(ACTIONS)} (lower case)",
        )
    if not filename:
        raise InvalidSegmentFile("invalid_key", f"no file name; segment files go under {expected}")
    return SegmentKey(advertiser_id, validate_audience_name(name), action, filename)


def validate_audience_name(name: str, api: AudienceApi = AudienceApi.FILE) -> str:
    """Return the trimmed, NFC-normalised audience name, or raise if TikTok would refuse or
    change it."""
    trimmed = unicodedata.normalize("NFC", name).strip()
    if not trimmed:
        raise InvalidSegmentFile("invalid_audience_name", "the audience name is empty")
    if _CONTROL.search(trimmed):
        raise InvalidSegmentFile(
            "invalid_audience_name", "the audience name contains control characters"
        )
    limit = MAX_NAME_SEGMENT if api is AudienceApi.SEGMENT else MAX_NAME_FILE
    if len(trimmed) > limit:
        api_name = "partner (segment) audience" if api is AudienceApi.SEGMENT else "audience"
        raise InvalidSegmentFile(
            "invalid_audience_name",
            f"the audience name has {len(trimmed)} characters; a TikTok {api_name} name "
            f"takes at most {limit}",
        )
    return trimmed
