"""What goes wrong on the upload side, and the sentences the job report tells users.

Record outcomes (the handler turns them into SQS partial-batch failures):

* :class:`RetryLaterError` — the record goes back to the queue (throttled past the invocation's
  budget, or another worker holds a claim we need);
* :class:`PoisonMessageError` — the record can never be processed (its job does not exist): SQS
  moves it to the DLQ after ``maxReceiveCount``. Bodies that are not chunk-queue messages never
  get this far (``contract.queues``).

Job failures (:class:`~.job.JobFailure`, the job fails and the record counts as processed) carry
a sentence that says what to do: :func:`audience_exists`, :func:`audience_not_found`,
:func:`audience_in_other_api`, and :func:`explain` for TikTok's own refusals.
"""

from __future__ import annotations

from tiktok_connector.audiences import customer_file, partner
from tiktok_connector.audiences.job import FILE_API, SEGMENT_API, JobFailure, UploadJob
from tiktok_connector.audiences.registry import AudienceEntry, AudienceRegistry, audience_key
from tiktok_connector.tiktok import Code, TikTokError, TokenRejectedError

OBJECT_MISSING = Code.NOT_EXIST  # the object does not exist (contract EN-07)

_API_NAMES = {FILE_API: "customer-file", SEGMENT_API: "partner"}


class PoisonMessageError(ValueError):
    """The record can never be processed; it belongs in the DLQ. The message names no PII."""


class RetryLaterError(Exception):
    """The record should go back to the queue and be tried again later."""


def explain(exc: TikTokError) -> str:
    """TikTok's message plus, for errors with a known cause, a sentence on what to do.

    Decided on code and endpoint only (never message text).
    """
    message = exc.message or f"TikTok code {exc.code}"
    path = exc.path.strip("/")
    if exc.code == Code.PARAM_ERROR and path == customer_file.UPDATE_PATH:
        return (
            f"{message} — TikTok applies APPEND, REMOVE and REPLACE only when the audience keeps "
            "at least 1,000 members: send a file with more matched ids, or fewer removals."
        )
    if exc.code == Code.PARAM_ERROR and path in (customer_file.CREATE_PATH, partner.AUDIENCE_PATH):
        return (
            f"{message} — if the advertiser already has 400 custom audiences (TikTok's cap), "
            "delete unused audiences in TikTok Ads Manager, or use append/replace on an "
            "existing one."
        )
    if exc.code == Code.FILE_CALCULATE_TYPE and path in (
        customer_file.UPDATE_PATH,
        customer_file.CREATE_PATH,
    ):
        return (
            f"{message} — TikTok takes only files of the audience's own calculate type (the id "
            "types it was created with)."
        )
    if exc.code == OBJECT_MISSING and path == customer_file.UPDATE_PATH:
        return (
            f"{message} — the audience this name pointed at no longer exists at TikTok (deleted "
            "in Ads Manager?); the name was released: send the file again with create or replace."
        )
    if isinstance(exc, TokenRejectedError) or exc.code in (
        Code.NO_PERMISSION,
        Code.SCOPE_NOT_AUTHORIZED,
    ):
        return (
            f"{message} — the advertiser's authorization was refused or lacks the audience "
            "scopes: reconnect the advertiser through the Connect TikTok link."
        )
    return message


def audience_exists(job: UploadJob) -> JobFailure:
    """A ``create`` of a name that already holds an audience."""
    return JobFailure(
        "audience_exists",
        f"an audience named {job.name!r} already exists for advertiser "
        f"{job.advertiser_id}: use append or replace to change it",
    )


def other_api_entry(registry: AudienceRegistry, job: UploadJob) -> AudienceEntry | None:
    """The registry entry of the job's audience name under the *other* audience API, if any."""
    other = SEGMENT_API if job.file_api else FILE_API
    return registry.get(job.advertiser_id, audience_key(other, job.name))


def audience_in_other_api(job: UploadJob, entry: AudienceEntry) -> JobFailure:
    """The name is known only under the other audience API: say which metadata to set."""
    this, other = _API_NAMES.get(job.api, "this"), _API_NAMES.get(entry.api, "other")
    return JobFailure(
        "audience_in_other_api",
        f"no {this} audience named {job.name!r} is known for advertiser "
        f"{job.advertiser_id}, but a {other} audience of that name is: to change it, upload "
        f"the file again with metadata audience-api={entry.api}. (A {job.action} under "
        f"audience-api={job.api} would make a second TikTok audience with the same name; "
        "if that is what you want, use create/.)",
    )


def audience_not_found(job: UploadJob, registry: AudienceRegistry) -> JobFailure:
    """An ``append``/``remove`` (or a non-creating ``replace``) of a name nobody created here."""
    other = other_api_entry(registry, job)
    if other is not None:
        return audience_in_other_api(job, other)
    return JobFailure(
        "audience_not_found",
        f"no {_API_NAMES.get(job.api, '')} audience named {job.name!r} is "
        f"known to this connector for advertiser {job.advertiser_id} (under either audience "
        "API): create it first (a file under create/), or send this file to replace/, which "
        "creates a new audience of that name — not if TikTok already holds one made elsewhere "
        "(replace would make a second one: rename the folder instead)",
    )


def refuse_replace_across_apis(registry: AudienceRegistry, job: UploadJob) -> None:
    """A ``replace`` of a name this connector knows only under the other audience API would
    create a second TikTok audience of that name: refuse it, naming the other API."""
    if job.action != "replace" or registry.get(job.advertiser_id, job.main_key) is not None:
        return
    other = other_api_entry(registry, job)
    if other is not None:
        raise audience_in_other_api(job, other)
