"""Segment file keys and per-file options (S3 object metadata).

Key convention (README, DESIGN §3.3): ``segments/<advertiser_id>/<audience name>/<action>/<file>``.
Keys reach us URL-encoded in S3 notifications; the handler decodes them (``unquote_plus``) before
they get here. Options are S3 object metadata only (DESIGN §3.7, no sidecar manifests).

Problems are raised as :class:`InvalidSegmentFile` with a machine-readable ``code`` and a sentence
that tells the user what to change; ingest turns them into a failed job report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

PREFIX = "segments/"
ACTIONS = ("create", "append", "remove", "replace")
ID_TYPES = ("email", "phone", "idfa", "gaid", "maid")
HASH_ALGS = ("sha256", "md5")
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


@dataclass(frozen=True, slots=True)
class SegmentKey:
    """A parsed segment file key."""

    advertiser_id: str
    audience_name: str
    action: str
    filename: str


@dataclass(frozen=True, slots=True)
class FileOptions:
    """Per-file options from S3 object metadata (defaults applied)."""

    api: AudienceApi = AudienceApi.FILE
    retention_days: int | None = None
    phone_region: str = "US"
    id_type: str | None = None  # header-less files: email, phone, idfa, gaid, maid
    maid_hash: str = "sha256"


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
    """Return the trimmed audience name, or raise if TikTok would refuse or change it."""
    trimmed = name.strip()
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


def _meta(metadata: Mapping[str, str], name: str) -> str | None:
    """A metadata value by name, tolerant of case, ``_`` for ``-`` and the ``x-amz-meta-`` prefix."""
    wanted = name.lower().replace("_", "-")
    for key, value in metadata.items():
        k = key.lower().replace("_", "-").removeprefix("x-amz-meta-")
        if k == wanted:
            return value.strip()
    return None


def parse_options(metadata: Mapping[str, str], *, default_phone_region: str = "US") -> FileOptions:
    """Validate the file's S3 object metadata into :class:`FileOptions`."""
    api_raw = (_meta(metadata, "audience-api") or "file").lower()
    try:
        api = AudienceApi(api_raw)
    except ValueError:
        raise InvalidSegmentFile(
            "invalid_option", "metadata audience-api must be 'file' or 'segment'"
        ) from None

    retention: int | None = None
    retention_raw = _meta(metadata, "retention-days")
    if retention_raw:
        if not retention_raw.isascii() or not retention_raw.isdigit():
            raise InvalidSegmentFile(
                "invalid_option", "metadata retention-days must be a whole number from 1 to 365"
            )
        retention = int(retention_raw)
        if not 1 <= retention <= 365:
            raise InvalidSegmentFile(
                "invalid_option", "metadata retention-days must be a whole number from 1 to 365"
            )

    region = (_meta(metadata, "phone-region") or default_phone_region).upper()
    if not _is_region(region):
        raise InvalidSegmentFile(
            "invalid_option",
            "metadata phone-region must be a two-letter region code phonenumbers knows (e.g. US)",
        )

    id_type = _meta(metadata, "id-type")
    if id_type is not None:
        id_type = id_type.lower()
        if id_type not in ID_TYPES:
            raise InvalidSegmentFile(
                "invalid_option", f"metadata id-type must be one of {', '.join(ID_TYPES)}"
            )

    maid_hash = (_meta(metadata, "maid-hash") or "sha256").lower()
    if maid_hash not in HASH_ALGS:
        raise InvalidSegmentFile("invalid_option", "metadata maid-hash must be 'sha256' or 'md5'")
    if api is AudienceApi.SEGMENT and id_type == "maid":
        raise InvalidSegmentFile(
            "invalid_option",
            "the partner (segment) API needs the MAID platform: use id-type idfa or gaid",
        )
    return FileOptions(api, retention, region, id_type, maid_hash)


def _is_region(region: str) -> bool:
    import phonenumbers  # imported here: only files that name a region pay for it at cold start

    return region in phonenumbers.SUPPORTED_REGIONS
