"""Settings of the segment-ingest function (read once from the environment)."""

from __future__ import annotations

from pydantic import Field

from tiktok_connector.settings import ConnectorSettings, settings_getter

# TikTok accepts customer files up to 50 MB (reference §3.1); stay a little under it.
MAX_CHUNK_BYTES = 48 * 1024 * 1024


class IngestSettings(ConnectorSettings):
    """Environment of the segment-ingest function.

    ``INGEST_RANGE_BYTES`` is the size of one byte range: a file larger than that fans out over
    several invocations. ``CHUNK_ROWS`` caps the rows of one chunk file; at the default, a
    100M-row file needs 200 chunks, well under the 500 ``file_paths`` TikTok takes per audience.
    ``DEDUPE_MAX_HASHES`` bounds the duplicate filter of one range.
    """

    segments_bucket: str
    chunk_queue_url: str
    jobs_table: str
    ranges_queue_url: str = ""
    ingest_range_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    chunk_rows: int = Field(default=500_000, ge=1)
    chunk_max_bytes: int = Field(default=MAX_CHUNK_BYTES, ge=1024, le=MAX_CHUNK_BYTES)
    default_phone_region: str = Field(default="US", min_length=2, max_length=2)
    job_ttl_days: int = Field(default=30, ge=1)
    # distinct hashes remembered per range for dedupe (16 bytes each: 4M ≈ 64 MiB), see chunks.py
    dedupe_max_hashes: int = Field(default=4_000_000, ge=1)
    # the sync lock lives in the audiences table; a sync waiting for another one looks again
    # every SYNC_WAIT_SECONDS (docs/sync.md, "Two syncs of one audience")
    audiences_table: str = ""
    sync_wait_seconds: int = Field(default=60, ge=0, le=900)


ingest_settings = settings_getter(IngestSettings)
