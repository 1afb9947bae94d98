"""Fixtures for audience-upload integration tests: moto (in-process) + the TikTok emulator.

``world`` gives an :class:`~tiktok_connector.audiences.upload.AudienceUploader` wired to the
template's resources in moto (the root ``template_aws`` fixture) and a live emulator on 127.0.0.1 (ephemeral port), plus helpers to
lay down a job the way ingest does (job item, recorded range, chunk files) and to deliver its
chunk messages (the contract's models) in any order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from pydantic import TypeAdapter

from tests.conftest import TemplateAws
from tiktok_connector.audiences.api import Pacer
from tiktok_connector.audiences.file_format import id_type_of
from tiktok_connector.audiences.outcome import Outcome
from tiktok_connector.audiences.registry import AudienceRegistry
from tiktok_connector.audiences.settings import UploadSettings
from tiktok_connector.audiences.upload import AudienceUploader
from tiktok_connector.contract.job import StoredPlan
from tiktok_connector.contract.messages import ChunkMessage, ChunkQueueMessage
from tiktok_connector.segments.jobs import JobSpec, JobStore
from tiktok_connector.segments.stats import RangeStats
from tiktok_connector.tiktok import RetryPolicy, TikTokClient
from tiktok_connector.tokens import TokenStore
from tiktok_local.emulator import EmulatorConfig, EmulatorServer

REGION = "us-east-1"
CHUNK_QUEUE: TypeAdapter[ChunkQueueMessage] = TypeAdapter(ChunkQueueMessage)
BUCKET = "tiktok-connector-segments-123456789012"
JOBS = "tiktok-connector-jobs"
AUDIENCES = "tiktok-connector-audiences"
OAUTH = "tiktok-connector-oauth"
SECRET = "tiktok-connector/authorizations/auth-1"
ADV = "7100000000000000001"


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def emails(start: int, stop: int, prefix: str = "user") -> list[str]:
    """SHA-256 hashes of ``user<i>@example.com`` for ``start <= i < stop``."""
    return [sha256(f"{prefix}{i}@example.com") for i in range(start, stop)]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    # No QPS limits by default (tests that need throttling inject it); real clock.
    config = EmulatorConfig(qps={})
    with EmulatorServer(config).start(port=0) as emu:
        yield emu


@dataclass
class World:
    emu: EmulatorServer
    s3: Any
    ddb: Any
    sm: Any
    jobs: JobStore
    registry: AudienceRegistry
    settings: UploadSettings
    token: str
    make_uploader: Callable[..., AudienceUploader]
    uploader: AudienceUploader
    requeued: list[tuple[str, int]]  # (body, delay) put back on the chunk queue after a wait
    seq: list[int] = field(default_factory=lambda: [0])

    def new_job(
        self,
        *,
        name: str,
        action: str,
        chunks: Sequence[Sequence[Sequence[str]]],
        columns: Sequence[str] = ("EMAIL_SHA256",),
        api: str = "file",
        calculate_type: str | None = None,
        advertiser_id: str = ADV,
        retention_days: int | None = None,
        headerless: bool = False,
    ) -> tuple[str, list[ChunkMessage]]:
        """Lay down a job as ingest does; ``chunks`` are lists of rows (one hash per column,
        ``""`` where missing). Returns ``(job_id, chunk messages)`` in chunk order.
        ``headerless``: a file without a header, typed line by line (ingest's "auto" plan)."""
        self.seq[0] += 1
        job_id = f"{self.seq[0]:032x}"
        if calculate_type is None:
            calculate_type = columns[0] if len(columns) == 1 else "MULTIPLE_TYPES"
        spec = JobSpec(
            job_id=job_id,
            bucket=BUCKET,
            key=f"segments/{advertiser_id}/{name}/{action}/file.csv",
            version_id="v1",
            advertiser_id=advertiser_id,
            audience_name=name,
            action=action,
            api=api,
            retention_days=retention_days,
            columns=tuple(columns),
            calculate_type=calculate_type,
            plan=StoredPlan(columns={"sources": [{"id_type": "auto" if headerless else "email"}]}),
        )
        self.jobs.create(spec)
        rows = sum(len(c) for c in chunks)
        identifiers: dict[str, list[int]] = {}
        for chunk in chunks:
            for row in chunk:
                for column, value in zip(columns, row, strict=True):
                    counts = identifiers.setdefault(id_type_of(column), [0, 0])
                    counts[0] += bool(value)
        stats = RangeStats(read=rows, accepted=rows, chunks=len(chunks), identifiers=identifiers)
        self.jobs.record_range(job_id, 0, stats)
        bodies = []
        for seq, chunk in enumerate(chunks):
            key = f"chunks/{job_id}/0000-{seq:05d}.csv"
            content = (
                ",".join(columns) + "\n" + "".join(",".join(r) + "\n" for r in chunk)
            ).encode()
            self.s3.put_object(Bucket=BUCKET, Key=key, Body=content)
            bodies.append(
                ChunkMessage(
                    job_id=job_id,
                    chunk_key=key,
                    rows=len(chunk),
                    md5=hashlib.md5(content).hexdigest(),  # noqa: S324
                )
            )
        return job_id, bodies

    def deliver(self, message: ChunkQueueMessage, *, remaining: float = 60.0) -> Outcome:
        return self.uploader.handle(message, remaining_seconds=remaining)

    def deliver_body(self, body: str, *, remaining: float = 60.0) -> Outcome:
        """Deliver an SQS body, parsed into a chunk-queue message as the handler parses it."""
        return self.deliver(CHUNK_QUEUE.validate_json(body), remaining=remaining)

    def deliver_requeued(self) -> list[Outcome]:
        """Deliver what waiting jobs put back on the queue (once each, in order)."""
        pending, self.requeued[:] = list(self.requeued), []
        return [self.deliver_body(body) for body, _ in pending]

    def report(self, job_id: str) -> dict[str, Any]:
        obj = self.s3.get_object(Bucket=BUCKET, Key=f"reports/{job_id}.json")
        return json.loads(obj["Body"].read())

    def members(self, audience_id: str) -> set[str]:
        return self.emu.state.audience_hashes(audience_id)

    def calls(self, path: str) -> int:
        return sum(1 for r in self.emu.state.requests if r.get("path", "").endswith(path))


def one_column(hashes: Sequence[str], size: int) -> list[list[list[str]]]:
    """Split single-column hashes into chunks of ``size`` rows."""
    return [[[h] for h in hashes[i : i + size]] for i in range(0, len(hashes), size)]


@pytest.fixture
def world(emulator: EmulatorServer, template_aws: TemplateAws) -> World:
    """The template's tables, bucket and secrets (moto, in-process), an advertiser connected
    to the emulator, and an uploader over them."""
    emulator.reset()
    # TikTok in time is off unless a test switches it on (contract TM-01, TM-03)
    emulator.config.audience_processing_seconds = 0.0
    emulator.config.partner_ready_seconds = 0.0
    assert (template_aws.bucket, template_aws.table("JobsTable")) == (BUCKET, JOBS)
    assert template_aws.table("AudiencesTable") == AUDIENCES
    assert template_aws.table("OAuthTable") == OAUTH
    s3 = template_aws.client("s3")
    ddb = template_aws.client("dynamodb")
    sm = template_aws.client("secretsmanager")
    token = emulator.state.issue_token()
    ddb.put_item(
        TableName=OAUTH,
        Item={"pk": {"S": f"advertiser#{ADV}"}, "secret_name": {"S": SECRET}},
    )
    template_aws.put_secret(SECRET, {"access_token": token, "advertiser_ids": [ADV]})
    settings = UploadSettings(
        segments_bucket=BUCKET,
        jobs_table=JOBS,
        audiences_table=AUDIENCES,
        oauth_table=OAUTH,
        tiktok_api_base_url=emulator.api_base_url,
    )
    jobs = JobStore(JOBS, dynamodb=ddb)
    registry = AudienceRegistry(table=AUDIENCES, dynamodb=ddb)
    ddb_resource = boto3.resource("dynamodb", region_name=REGION)
    requeued: list[tuple[str, int]] = []

    def requeue(body: str, delay: int) -> None:
        requeued.append((body, delay))

    def make_uploader(**overrides: Any) -> AudienceUploader:
        use = settings.model_copy(update=overrides.pop("settings", {}))
        kwargs: dict[str, Any] = {
            "settings": use,
            "jobs": jobs,
            "registry": registry,
            "client": TikTokClient(
                emulator.api_base_url,
                retry=RetryPolicy(base_delay=0.01, max_delay=0.05, deadline_margin=0.1),
            ),
            "tokens": TokenStore(
                oauth_table=OAUTH, secrets_client=sm, dynamodb_resource=ddb_resource
            ),
            "s3": s3,
            "pacer": Pacer(1000.0),
            "requeue": requeue,
        }
        kwargs.update(overrides)
        return AudienceUploader(**kwargs)

    return World(
        emu=emulator,
        s3=s3,
        ddb=ddb,
        sm=sm,
        jobs=jobs,
        registry=registry,
        settings=settings,
        token=token,
        make_uploader=make_uploader,
        uploader=make_uploader(),
        requeued=requeued,
    )
