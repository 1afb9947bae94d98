"""Snapshots: our own copy of a synced audience's membership, as hashes, in S3.

Layout (``<audience>`` = the first 32 hex characters of SHA-256 of the registry's audience key
``<api>#<name>``, so names need no escaping and never appear in keys)::

    sync/<advertiser_id>/<api>/<audience>/<generation>/manifest.json
    sync/<advertiser_id>/<api>/<audience>/<generation>/s<prefix:05d>.bin   (one per diff group)

A *generation* is named after the sync job that wrote it. Its segments are record files
(:mod:`.recordfile`, kind snapshot): sorted records, each segment a contiguous prefix range, the
segments together covering the whole hash space. The manifest is written last and lists every
segment with its record count, so a reader can tell a missing or short segment from an empty
one. Which generation is *current* is not decided here: the audience registry names it, and
moves to a new one only after TikTok took every change (docs/sync.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from botocore.exceptions import ClientError

from tiktok_connector.sync.recordfile import KIND_SNAPSHOT, FileRef
from tiktok_connector.sync.records import (
    BY_NAME,
    PREFIXES,
    CorruptSyncObject,
    MissingSyncObject,
)

MANIFEST_FORMAT: Final = 1
# TikTok applies APPEND, REMOVE and REPLACE only when the audience keeps at least 1,000
# members (contract CF-10).
MIN_MEMBERS: Final = 1_000


def snapshot_prefix(advertiser_id: str, api: str, audience_key: str) -> str:
    """``sync/<advertiser_id>/<api>/<sha256(audience_key)[:32]>``."""
    digest = hashlib.sha256(audience_key.encode("utf-8")).hexdigest()[:32]
    return f"sync/{advertiser_id}/{api}/{digest}"


def generation_prefix(prefix: str, generation: str) -> str:
    return f"{prefix}/{generation}"


def manifest_key(prefix: str, generation: str) -> str:
    return f"{prefix}/{generation}/manifest.json"


def segment_key(prefix: str, generation: str, lo: int) -> str:
    return f"{prefix}/{generation}/s{lo:05d}.bin"


@dataclass(frozen=True, slots=True)
class Changes:
    """What one sync changed for one member type."""

    added: int = 0
    removed: int = 0
    unchanged: int = 0

    def as_json(self) -> dict[str, int]:
        return {"added": self.added, "removed": self.removed, "unchanged": self.unchanged}


@dataclass(frozen=True, slots=True)
class Manifest:
    """One generation of a snapshot: its segments, its members per type, what it changed."""

    generation: str
    previous: str | None
    bits: int
    segments: tuple[FileRef, ...]
    members: Mapping[str, int]
    changes: Mapping[str, Changes] = field(default_factory=dict)
    # generations of failed syncs this one reconciled (their changes may have been partly sent)
    uncertain: tuple[str, ...] = ()

    @property
    def records(self) -> int:
        return sum(segment.records for segment in self.segments)

    @property
    def added(self) -> int:
        return sum(c.added for c in self.changes.values())

    @property
    def removed(self) -> int:
        return sum(c.removed for c in self.changes.values())

    def overlapping(self, lo: int, hi: int) -> list[FileRef]:
        """The segments holding prefixes in ``[lo, hi)``, in prefix order."""
        out = []
        for segment in self.segments:
            a, b = segment.prefix_range()
            if a < hi and lo < b:
                out.append(segment)
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "generation": self.generation,
            "previous": self.previous,
            "bits": self.bits,
            "records": self.records,
            "members": dict(sorted(self.members.items())),
            "changes": {t: c.as_json() for t, c in sorted(self.changes.items())},
            "uncertain": list(self.uncertain),
            "segments": [s.as_json() for s in self.segments],
        }

    def dumps(self) -> bytes:
        return (json.dumps(self.as_json(), indent=1, sort_keys=False) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, key: str = "manifest") -> Manifest:
        """Read and check a manifest: every segment a snapshot file, in order, covering the
        hash space without gaps, counts that add up."""
        try:
            if data.get("format") != MANIFEST_FORMAT:
                raise CorruptSyncObject(f"{key}: manifest format {data.get('format')!r} unknown")
            segments = tuple(FileRef.from_json(s) for s in data["segments"])
            members = {str(t): int(n) for t, n in data["members"].items()}
            changes = {
                str(t): Changes(int(c["added"]), int(c["removed"]), int(c["unchanged"]))
                for t, c in (data.get("changes") or {}).items()
            }
            manifest = cls(
                generation=str(data["generation"]),
                previous=None if data.get("previous") is None else str(data["previous"]),
                bits=int(data["bits"]),
                segments=segments,
                members=members,
                changes=changes,
                uncertain=tuple(str(g) for g in data.get("uncertain") or ()),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, CorruptSyncObject):
                raise
            raise CorruptSyncObject(
                f"{key}: not a snapshot manifest ({type(exc).__name__})"
            ) from None
        manifest.check(key)
        return manifest

    def check(self, key: str = "manifest") -> None:
        """Raise :class:`CorruptSyncObject` unless the segments tile the hash space and the
        member counts add up to the records."""
        at = 0
        for segment in self.segments:
            lo, hi = segment.prefix_range()
            if segment.kind != KIND_SNAPSHOT or lo != at or hi <= lo:
                raise CorruptSyncObject(f"{key}: segment {segment.key} does not follow on")
            at = hi
        if at != PREFIXES:
            raise CorruptSyncObject(f"{key}: the segments stop at prefix {at}")
        unknown = [t for t in self.members if t not in BY_NAME]
        if unknown:
            raise CorruptSyncObject(f"{key}: unknown member type {unknown[0][:40]!r}")
        if any(n < 0 for n in self.members.values()):
            raise CorruptSyncObject(f"{key}: a member count is negative")
        if sum(self.members.values()) != self.records:
            raise CorruptSyncObject(
                f"{key}: members per type add up to {sum(self.members.values())}, "
                f"the segments hold {self.records}"
            )


def too_few_members(manifest: Manifest, minimum: int = MIN_MEMBERS) -> str | None:
    """The sentence a sync fails with when its new membership is under TikTok's minimum for an
    update (contract CF-10), before anything is sent; None when the rule holds."""
    if manifest.records >= minimum:
        return None
    return (
        f"this sync would leave the audience with {manifest.records:,} ids; TikTok applies "
        f"changes only to audiences that keep at least {minimum:,} members, so nothing was "
        "sent and the last synced state stays as it was. Send a file with at least "
        f"{minimum:,} ids."
    )


def write_manifest(s3: Any, bucket: str, prefix: str, manifest: Manifest) -> str:
    """Write a generation's manifest (after its segments); its key."""
    manifest.check()
    key = manifest_key(prefix, manifest.generation)
    s3.put_object(Bucket=bucket, Key=key, Body=manifest.dumps(), ContentType="application/json")
    return key


def read_manifest(s3: Any, bucket: str, prefix: str, generation: str) -> Manifest:
    """The manifest of a generation; :class:`MissingSyncObject` when it is not there."""
    key = manifest_key(prefix, generation)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) in ("NoSuchKey", "404", "NotFound"):
            raise MissingSyncObject(
                f"the snapshot generation {generation} has no manifest ({key})"
            ) from None
        raise
    try:
        raw = body.read()
    finally:
        body.close()
    try:
        data = json.loads(raw)
    except ValueError:
        raise CorruptSyncObject(f"{key} is not JSON") from None
    if not isinstance(data, dict):
        raise CorruptSyncObject(f"{key} is not a manifest")
    manifest = Manifest.from_json(data, key=key)
    if manifest.generation != generation:
        raise CorruptSyncObject(f"{key} names generation {manifest.generation!r}")
    return manifest


def list_generations(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Every generation with objects under an audience's snapshot prefix (sorted).

    Read from the object keys themselves (a few hundred per generation), not from common
    prefixes: those can still show a deleted generation in a versioned bucket."""
    found: set[str] = set()
    args: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix + "/"}
    while True:
        page = s3.list_objects_v2(**args)
        for item in page.get("Contents") or []:
            found.add(item["Key"][len(prefix) + 1 :].split("/", 1)[0])
        if not page.get("IsTruncated"):
            return sorted(found)
        args["ContinuationToken"] = page["NextContinuationToken"]


def delete_generation(s3: Any, bucket: str, prefix: str, generation: str) -> int:
    """Delete every object of a generation (a superseded one after a commit, or the staged one
    of a failed sync); the number of objects deleted. Safe to run twice. Never call it for the
    generation the registry names as current."""
    base = generation_prefix(prefix, generation) + "/"
    deleted = 0
    args: dict[str, Any] = {"Bucket": bucket, "Prefix": base}
    while True:
        page = s3.list_objects_v2(**args)
        keys = [{"Key": o["Key"]} for o in page.get("Contents") or []]
        for start in range(0, len(keys), 1000):
            s3.delete_objects(
                Bucket=bucket, Delete={"Objects": keys[start : start + 1000], "Quiet": True}
            )
        deleted += len(keys)
        if not page.get("IsTruncated"):
            return deleted
        args["ContinuationToken"] = page["NextContinuationToken"]
