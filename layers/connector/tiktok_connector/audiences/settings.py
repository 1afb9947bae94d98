"""The audience-upload function's environment, validated once."""

from __future__ import annotations

from pydantic import Field

from tiktok_connector.settings import ConnectorSettings, settings_getter


class UploadSettings(ConnectorSettings):
    """Environment of the audience-upload function (see docs/architecture.md, "Environment")."""

    segments_bucket: str = Field(min_length=3)
    jobs_table: str = Field(min_length=1)
    audiences_table: str = Field(min_length=1)
    oauth_table: str = Field(min_length=1)
    authorizations_secret_prefix: str = ""
    # Partner (segment) API: rows per /segment/mapping/ request (reference §4.2: 1,000 is the
    # conservative choice, 10,000 the peer-reported ceiling).
    segment_batch_size: int = Field(default=1000, ge=1, le=10_000)
    # `append` to a name the registry does not hold creates the audience instead of failing.
    allow_create_on_append: bool = False
    # Client-side pace per advertiser, endpoint and process for the rate-limited endpoints (DMP
    # and /segment/audience/). Together with the event source's MaximumConcurrency this bounds the
    # per-advertiser rate: MaximumConcurrency × UPLOAD_MAX_QPS ≤ the app tier's QPS (template:
    # MaximumConcurrency 5 × 2 = 10, the Basic tier).
    upload_max_qps: float = Field(default=2.0, gt=0)
    # Seconds a finalize or audience-create claim stays exclusive before another worker may take
    # it over (a claimant that crashed). Must exceed the function timeout (120 s) and should stay
    # under the chunk queue's visibility timeout so the first redelivery can take over.
    claim_lease_seconds: int = Field(default=300, ge=1)
    # Seconds of the invocation kept back from TikTok retries to record the outcome.
    deadline_margin_seconds: float = Field(default=3.0, ge=0)
    # Waiting out TikTok states that pass (audiences/waiting.py, contract TM-*): a waiting job's
    # message goes back on the chunk queue (CHUNK_QUEUE_URL) with a delay that grows from the
    # first to the max delay (SQS allows 900 s); the job fails only after TIKTOK_MAX_WAIT_HOURS
    # (48: the longest processing time TikTok documents). Without a queue URL the record is
    # handed back to SQS instead (a redelivery, which counts towards maxReceiveCount).
    chunk_queue_url: str = ""
    tiktok_max_wait_hours: float = Field(default=48.0, gt=0)
    tiktok_wait_first_delay_seconds: int = Field(default=60, ge=0, le=900)
    tiktok_wait_max_delay_seconds: int = Field(default=900, ge=0, le=900)
    # A partner audience refuses mappings for a while after /segment/audience/ created it (peers
    # saw 1–2 minutes, contract TM-03): a refusal within this window of our own create waits.
    partner_ready_window_seconds: float = Field(default=600.0, ge=0)


upload_settings = settings_getter(UploadSettings)
