"""Sync files from S3 to TikTok in-process: the real ingest and upload over moto and the emulator.

The pattern of ``tests/integration/segments/test_files_to_audience.py``: moto plays S3, SQS and
DynamoDB (the template's own resources, ``template_aws``), the real :class:`SegmentIngest` (with
its sync steps) reads the file and hands over change chunks, the real uploader (the ``world`` of
``tests/integration/audiences/conftest.py``) sends them to the strict emulator. Here, unlike on
the local stack, the test decides which message is delivered when, and how often:

* issue 15's three syncs (create; 3 % dropped and 5 % new; unchanged), both audience APIs;
* the same with every ranges, chunk and requeued message delivered twice (SQS delivers at least
  once): TikTok's membership and the reported changes are exactly the same;
* a sync that fails while sending (the advertiser's token revoked after its adds reached TikTok)
  leaves its changes *uncertain*; the next sync reconciles them and TikTok is exact again;
* two syncs of one audience: a later file arriving while the earlier one is still diffing
  supersedes it (the earlier fails ``superseded``, nothing of it is sent); one arriving while the
  earlier one is sending waits, then diffs against the earlier one's committed state.

Expected members and changes come from :mod:`tests.e2e.audiences.sync_scenario` (hashlib on
values normalized by hand).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import TypeAdapter

from tests.conftest import TemplateAws
from tests.e2e.audiences.sync_scenario import SyncFile, SyncScenario, Traffic, TrafficMark
from tests.integration.audiences.conftest import (  # noqa: F401 (fixtures)
    ADV,
    AUDIENCES,
    BUCKET,
    CHUNK_QUEUE,
    JOBS,
    SECRET,
    World,
    emulator,
    world,
)
from tiktok_connector.contract.messages import RangesQueueMessage
from tiktok_connector.segments.fanout import send_batches
from tiktok_connector.segments.ingest import SegmentIngest
from tiktok_connector.segments.settings import IngestSettings
from tiktok_connector.sync.jobstate import SyncJobs
from tiktok_connector.sync.lock import SyncLock
from tiktok_connector.sync.steps import SyncSteps

RANGES: TypeAdapter[RangesQueueMessage] = TypeAdapter(RangesQueueMessage)
APIS = ("file", "segment")


@dataclass
class Pending:
    queue: str  # "ranges", "chunks" or "requeued"
    body: str

    @property
    def job_id(self) -> str:
        return str(json.loads(self.body)["job_id"])

    @property
    def type(self) -> str:
        return str(json.loads(self.body).get("type", ""))


@dataclass
class SyncPipe:
    """Drop sync files in S3 and carry their messages through ingest and upload by hand."""

    world: World
    template_aws: TemplateAws
    deliveries: int = 1  # how often each message is delivered
    pending: list[Pending] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sqs = self.template_aws.client("sqs")
        self.chunks = self.template_aws.queue_url("ChunkQueue")
        self.ranges = self.template_aws.queue_url("RangesQueue")
        ddb = self.template_aws.client("dynamodb")
        settings = IngestSettings(
            segments_bucket=BUCKET, chunk_queue_url=self.chunks, ranges_queue_url=self.ranges,
            jobs_table=JOBS, audiences_table=AUDIENCES, ingest_range_bytes=16_384,
        )  # fmt: skip
        steps = SyncSteps(
            s3=self.world.s3, sqs=self.sqs, jobs=self.world.jobs,
            sync_jobs=SyncJobs(JOBS, dynamodb=ddb), lock=SyncLock(table=AUDIENCES, dynamodb=ddb),
            bucket=BUCKET, ranges_queue_url=self.ranges, send=send_batches, wait_seconds=0,
        )  # fmt: skip
        self.ingest = SegmentIngest(
            s3=self.world.s3, sqs=self.sqs, jobs=self.world.jobs, settings=settings, sync=steps
        )

    @property
    def state(self) -> Any:
        return self.world.emu.state

    def put(self, sync: SyncFile) -> str:
        """Put the file and run the S3 notification's ingest; the job id."""
        answer = self.world.s3.put_object(
            Bucket=BUCKET, Key=sync.key, Body=sync.body, Metadata=sync.metadata
        )
        result = self.ingest.object_created(BUCKET, sync.key, answer.get("VersionId"))
        assert result.job_id is not None
        return str(result.job_id)

    def collect(self) -> None:
        """Move every message the queues and the uploader's requeue hold to ``pending``."""
        for name, url in (("ranges", self.ranges), ("chunks", self.chunks)):
            while True:
                got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
                batch = got.get("Messages", [])
                if not batch:
                    break
                for message in batch:
                    self.pending.append(Pending(name, message["Body"]))
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        requeued, self.world.requeued[:] = list(self.world.requeued), []
        self.pending += [Pending("requeued", body) for body, _ in requeued]

    def deliver(self, message: Pending) -> None:
        for _ in range(self.deliveries):
            if message.queue == "ranges":
                self.ingest.queued(RANGES.validate_json(message.body))
            else:
                self.world.deliver(CHUNK_QUEUE.validate_json(message.body))

    def drain(self, allow: Callable[[Pending], bool] = lambda _: True, limit: int = 5000) -> None:
        """Deliver pending messages that ``allow`` lets through, until none is left."""
        for _ in range(limit):
            self.collect()
            message = next((m for m in self.pending if allow(m)), None)
            if message is None:
                return
            self.pending.remove(message)
            self.deliver(message)
        raise AssertionError(f"still delivering after {limit} messages: {self.pending[:3]}")

    def run(self, sync: SyncFile) -> dict[str, Any]:
        job_id = self.put(sync)
        self.drain()
        return self.world.report(job_id)


@pytest.fixture
def pipe(world: World, template_aws: TemplateAws) -> SyncPipe:  # noqa: F811
    return SyncPipe(world, template_aws)


def assert_exact(
    pipe: SyncPipe, scenario: SyncScenario, sync: SyncFile, report: dict[str, Any]
) -> str:
    where = f"{scenario.name} {sync.label}"
    assert report["status"] == "succeeded", (where, report.get("error"))
    audience_id = str(report["tiktok"]["audience_id"])
    held = scenario.tiktok_members(pipe.state, audience_id)
    expected = scenario.expected(sync)
    assert held == expected, (
        f"{where}: TikTok holds {len(held)} ids, the file {len(expected)} "
        f"({len(held - expected)} extra, {len(expected - held)} missing)"
    )
    assert report.get("changes") == sync.changes, where
    return audience_id


def three_syncs(pipe: SyncPipe, scenario: SyncScenario) -> list[Traffic]:
    """Run the three files; each checked exactly; the TikTok traffic of each."""
    traffic = []
    audience_id: str | None = None
    for sync in scenario.files:
        mark = TrafficMark.take(pipe.state, audience_id)
        found = assert_exact(pipe, scenario, sync, pipe.run(sync))
        assert audience_id in (None, found), "the sync moved to another audience"
        audience_id = found
        traffic.append(Traffic.since(pipe.state, mark, audience_id))
    assert len(pipe.state.find_audiences(ADV, scenario.name)) == 1
    return traffic


@pytest.mark.parametrize("api", APIS)
def test_three_syncs_in_process_send_the_difference_then_nothing(pipe: SyncPipe, api: str) -> None:
    scenario = SyncScenario(ADV, f"Int Sync {api}", api, tag=f"int{api}", n=2000)
    _, second, third = three_syncs(pipe, scenario)

    added, removed = scenario.files[1].sent()
    if api == "file":
        assert second.actions() == ["APPEND", "REMOVE"]
        assert second.uploaded_ids == added + removed
    else:
        assert second.history_ids("ADD") == added
        assert second.history_ids("DELETE") == removed
    assert third.all_calls == {}
    assert third.history == []


@pytest.mark.parametrize("api", APIS)
def test_changes_over_several_chunks_send_every_add_before_any_remove(
    pipe: SyncPipe, api: str
) -> None:
    """Change chunks of 40 rows (the deployment's CHUNK_ROWS): the second sync's adds and
    removes are several chunks each (several files for one APPEND and one REMOVE; partner
    removes held until every add chunk is mapped)."""
    settings = pipe.ingest.settings.model_copy(update={"chunk_rows": 40})
    pipe.ingest = dataclasses.replace(pipe.ingest, settings=settings)
    scenario = SyncScenario(ADV, f"Int Chunks {api}", api, tag=f"chunks{api}", n=1100)
    _, second, third = three_syncs(pipe, scenario)

    added, removed = scenario.files[1].sent()
    assert added > 2 * 40  # several chunks of each
    assert removed > 40
    if api == "file":
        assert second.actions() == ["APPEND", "REMOVE"]
        assert second.uploads == -(-added // 40) + -(-removed // 40)
        assert second.uploaded_ids == added + removed
    else:
        actions = second.actions()
        assert max(i for i, a in enumerate(actions) if a == "ADD") < actions.index("DELETE")
        assert second.history_ids("ADD") == added
        assert second.history_ids("DELETE") == removed
    assert third.all_calls == {}


@pytest.mark.parametrize("api", APIS)
def test_every_message_delivered_twice_changes_nothing(pipe: SyncPipe, api: str) -> None:
    pipe.deliveries = 2
    scenario = SyncScenario(ADV, f"Int Twice {api}", api, tag=f"twice{api}", n=1500)
    _, second, third = three_syncs(pipe, scenario)

    added, removed = scenario.files[1].sent()
    if api == "segment":  # a repeated mapping is a set operation: at most twice the change
        assert second.history_ids("ADD") <= 2 * added
        assert second.history_ids("DELETE") <= 2 * removed
    else:
        assert second.uploaded_ids <= 2 * (added + removed)
    assert third.all_calls == {}


def churned(scenario: SyncScenario, label: str, people: range) -> SyncFile:
    """Another full membership for the scenario's audience, diffed against its first file."""
    key = f"segments/{ADV}/{scenario.name}/sync/{label}.csv"
    return scenario.sync_file(
        label, key, scenario.body(list(people)), frozenset(people), scenario.files[0].people
    )


@pytest.mark.parametrize("api", APIS)
def test_a_later_sync_supersedes_one_still_diffing(pipe: SyncPipe, api: str) -> None:
    scenario = SyncScenario(ADV, f"Int Race {api}", api, tag=f"race{api}", n=1200)
    audience_id = assert_exact(pipe, scenario, scenario.files[0], pipe.run(scenario.files[0]))
    earlier = churned(scenario, "earlier", range(100, 1300))
    later = churned(scenario, "later", range(0, 1250))

    earlier_job = pipe.put(earlier)
    # the earlier sync reads its file and plans (takes the lock), but diffs no group yet
    pipe.drain(lambda m: m.job_id == earlier_job and m.type != "sync_group")
    later_job = pipe.put(later)
    pipe.drain(lambda m: m.job_id == later_job and m.type != "sync_group")  # takes over
    pipe.drain()

    lost = pipe.world.jobs.get(earlier_job)
    assert lost is not None
    assert lost.status == "failed"
    assert lost.error is not None
    assert lost.error.code == "superseded"
    report = pipe.world.report(earlier_job)
    assert report["status"] == "failed", "the superseded job's report still says running"
    assert report["error"]["code"] == "superseded"
    assert assert_exact(pipe, scenario, later, pipe.world.report(later_job)) == audience_id


@pytest.mark.parametrize("api", APIS)
def test_a_later_sync_waits_for_one_sending_then_diffs_against_it(pipe: SyncPipe, api: str) -> None:
    scenario = SyncScenario(ADV, f"Int Wait {api}", api, tag=f"wait{api}", n=1200)
    audience_id = assert_exact(pipe, scenario, scenario.files[0], pipe.run(scenario.files[0]))
    earlier = churned(scenario, "earlier", range(100, 1300))
    people = range(50, 1350)
    later = scenario.sync_file(
        "later",
        f"segments/{ADV}/{scenario.name}/sync/later.csv",
        scenario.body(list(people)),
        frozenset(people),
        earlier.people,  # diffed against the earlier sync, which committed first
    )

    earlier_job = pipe.put(earlier)
    # the earlier sync diffs and hands over: the lock is "sending", its chunks are queued
    pipe.drain(lambda m: m.job_id == earlier_job and m.queue == "ranges")
    later_job = pipe.put(later)
    pipe.drain(lambda m: m.job_id == later_job and m.type not in ("sync_plan",))
    # the later one's plan meets the lock held while sending: it waits (a new sync_plan)
    waiting = next(m for m in pipe.pending if m.job_id == later_job and m.type == "sync_plan")
    pipe.pending.remove(waiting)
    pipe.deliver(waiting)
    pipe.collect()
    assert any(m.job_id == later_job and m.type == "sync_plan" for m in pipe.pending)
    assert not any(m.job_id == later_job and m.type == "sync_group" for m in pipe.pending)
    assert pipe.world.jobs.get(later_job).status == "running"  # type: ignore[union-attr]
    pipe.drain(lambda m: m.job_id == earlier_job)  # the earlier one sends and commits
    assert assert_exact(pipe, scenario, earlier, pipe.world.report(earlier_job)) == audience_id
    pipe.drain()

    report = pipe.world.report(later_job)
    assert assert_exact(pipe, scenario, later, report) == audience_id
    assert report["sync"]["previous_generation"] == earlier_job


@pytest.mark.parametrize("api", APIS)
def test_a_sync_failing_while_sending_is_reconciled_by_the_next(pipe: SyncPipe, api: str) -> None:
    scenario = SyncScenario(ADV, f"Int Uncertain {api}", api, tag=f"unc{api}", n=1200)
    first, second, _ = scenario.files
    audience_id = assert_exact(pipe, scenario, first, pipe.run(first))

    # The second sync's adds reach TikTok; then the token is revoked before its removes (a
    # customer file's REMOVE waits for the APPEND's processing; a partner sync's removes are
    # held until its adds are mapped: both come back through the requeue).
    pipe.world.emu.config.audience_processing_seconds = 0.5
    failed_job = pipe.put(second)
    pipe.drain(lambda m: m.queue != "requeued")
    assert any(m.job_id == failed_job for m in pipe.pending)
    pipe.world.emu.state.revoke_token(pipe.world.token)
    time.sleep(0.6)
    pipe.drain()
    report = pipe.world.report(failed_job)
    assert report["status"] == "failed", report
    added = second.members - first.members
    partial = scenario.tiktok_members(pipe.state, audience_id)
    assert partial == scenario.expected(first) | {  # the adds went, the removes did not
        h if api == "file" else (t, h) for t, h in added
    }

    # reconnected, the next sync brings TikTok to exactly its file: it also removes the failed
    # sync's adds that it does not hold (the last committed state never had them)
    pipe.world.emu.config.audience_processing_seconds = 0.0
    pipe.template_aws.put_secret(
        SECRET, {"access_token": pipe.world.emu.state.issue_token(), "advertiser_ids": [ADV]}
    )
    people = range(10, 1230)  # drops 0-9 and the failed sync's adds 1230-1259
    third = scenario.sync_file(
        "after failure",
        f"segments/{ADV}/{scenario.name}/sync/after.csv",
        scenario.body(list(people)),
        frozenset(people),
        first.people,
    )
    report = pipe.run(third)
    assert report["status"] == "succeeded", report.get("error")
    assert scenario.tiktok_members(pipe.state, report["tiktok"]["audience_id"]) == (
        scenario.expected(third)
    )
    assert report["tiktok"]["audience_id"] == audience_id
    assert report["sync"]["reconciled_generations"] == [failed_job]
