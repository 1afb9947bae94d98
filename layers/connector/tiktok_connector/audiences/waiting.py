"""TikTok states that pass, waited out instead of failing the job (DESIGN §3.4).

Two states are known (docs/tiktok-contract.md, section TM):

* **audience processing** — after a create or an update TikTok processes a customer-file audience
  (24–48 h by its help centre) and refuses further updates with 40002 meanwhile; its own status
  (``/dmp/custom_audience/get/``: ``is_valid`` false, not expired) says so (TM-01, TM-02). The
  same code also means the permanent 1,000-member rule, which is why the status decides and never
  the message text.
* **partner audience not ready** — a partner audience refuses mappings for a short while after
  ``/segment/audience/`` created it (peers: 1–2 minutes, TM-03). A refusal within
  ``PARTNER_READY_WINDOW_SECONDS`` of our own create is this state.

The uploader then records a ``waiting`` record on the job item (the report shows
``waiting_for_tiktok``; the item's ``status`` stays ``running`` so every conditional write
still holds), and puts the message back on the chunk queue with a delay that grows with the time
already waited (:meth:`WaitPolicy.delay`). A new message, not a redelivery: waiting does not use
up the queue's ``maxReceiveCount``. Only a wait longer than ``TIKTOK_MAX_WAIT_HOURS`` (default 48,
the longest processing time TikTok documents) fails the job, with a sentence that says so.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from tiktok_connector.contract.job import Waiting

AUDIENCE_PROCESSING = "audience_processing"
PARTNER_NOT_READY = "partner_audience_not_ready"

# SQS DelaySeconds is at most 15 minutes.
MAX_SQS_DELAY_SECONDS = 900


class TikTokNotReady(Exception):
    """TikTok is in a state that passes; come back later.

    ``reason`` is :data:`AUDIENCE_PROCESSING` (resume with the job's finalize) or
    :data:`PARTNER_NOT_READY` (resume with the same chunk). ``gives_up_at`` (Unix time), when
    set, ends the wait sooner than the general bound. The message names no PII."""

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        audience_id: str,
        request_id: str = "",
        code: int = 0,
        gives_up_at: float | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.audience_id = audience_id
        self.request_id = request_id
        self.code = code
        self.gives_up_at = gives_up_at

    @property
    def resume_with_finalize(self) -> bool:
        return self.reason == AUDIENCE_PROCESSING


class WaitPolicy(NamedTuple):
    """How long to wait between looks, and for how long at most.

    The delay before the next look equals the time already waited (so the waits double), at
    least ``first_delay`` and at most ``max_delay`` (an SQS message delay is at most 900 s)."""

    first_delay: int = 60
    max_delay: int = MAX_SQS_DELAY_SECONDS
    max_wait: float = 48 * 3600.0

    def delay(self, waited: float) -> int:
        """Seconds until the next look, after ``waited`` seconds of waiting."""
        wanted = max(float(self.first_delay), waited)
        return int(min(self.max_delay, MAX_SQS_DELAY_SECONDS, math.ceil(wanted)))


def waiting_record(
    previous: Waiting | None,
    exc: TikTokNotReady,
    *,
    now: float,
    policy: WaitPolicy,
) -> tuple[Waiting, bool]:
    """The job's new ``waiting`` record, and whether the wait is over (give up).

    A wait for the same reason and audience continues (``since`` kept); anything else starts a
    new one. It goes into DynamoDB and, rendered, into the report."""
    same = (
        previous
        if previous is not None
        and previous.reason == exc.reason
        and previous.audience_id == exc.audience_id
        else None
    )
    since = float(same.since) if same is not None else now
    gives_up_at = since + policy.max_wait
    if exc.gives_up_at is not None:
        gives_up_at = min(gives_up_at, exc.gives_up_at)
    delay = policy.delay(now - since)
    record = Waiting(
        reason=exc.reason,
        audience_id=exc.audience_id,
        message=exc.message,
        since=int(since),
        looks=same.looks + 1 if same is not None else 1,
        next_look_at=int(now + delay),
        gives_up_at=int(gives_up_at),
        delay=delay,
    )
    return record, now >= gives_up_at


def gave_up_message(record: Waiting, *, hours: float) -> str:
    """The failed job's sentence after a bounded wait."""
    if record.reason == PARTNER_NOT_READY:
        return (
            f"TikTok kept refusing mappings into partner audience {record.audience_id} "
            "for longer than a new audience needs to become ready; the refusal is treated as "
            "permanent. Check the audience in TikTok Ads Manager and send the file again."
        )
    return (
        f"TikTok still reported audience {record.audience_id} as processing after "
        f"waiting {hours:g} hours, and refused to update it; nothing more was applied. Send the "
        "file again once the audience shows as available in TikTok Ads Manager."
    )
