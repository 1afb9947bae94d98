"""The whole pipeline under injected faults: nothing lost, nothing doubled, nothing leaked.

Two runs on the local stack (real template, moto, dispatcher, the four real handlers, the strict
emulator), each with the workload of :mod:`tests.reliability.pipeline`: three audiences through
every action on both audience APIs, 3,000 events, and planted poison messages.

* ~20 % of TikTok calls fail, every transient kind at once (HTTP 5xx, 50002, throttling, slow
  answers, dropped connections, applied-but-answer-lost).
* A full TikTok outage (every call fails) while work is queued, then recovery.

TikTok in time is on in every run (``Pipeline.start``): audiences process after each create and
update (follow-up files meet 40002 and wait), new partner audiences refuse their first mappings;
no job may fail for that.

Afterwards every guarantee is checked (see ``Pipeline.verify``) and every log line, report,
reject file, chunk file and SQS body is scanned for tokens, the app secret and raw identifiers.
(Per-capability fault tests live beside their code: ``tests/integration/audiences/
test_crash_and_chaos.py``, ``tests/integration/events/test_event_forwarder.py``; this tier
drives all of it together through the queues.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.reliability.pipeline import (
    FAULT_KINDS,
    Pipeline,
    Workload,
    build_workload,
    pipeline_fixture,
)

pytestmark = pytest.mark.slow
ROUND_TIMEOUT = 90.0


@pytest.fixture
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    yield from pipeline_fixture(tmp_path_factory.mktemp("reliability"))


def arm_faults(pipeline: Pipeline) -> list[Any]:
    """~20 % of calls fail, every transient kind; and each kind surely once per API used."""
    armed = []
    for kind in FAULT_KINDS:
        extra = {"delay": 0.3} if kind == "slow" else {}
        # six kinds, about 3.4 % each: ~20 % of calls meet a fault (slow ones still succeed)
        armed.append(pipeline.emulator.faults.add(kind, rate=0.034, **extra))
    for path in ("/event/track/", "/segment/mapping/", "/dmp/custom_audience/file/upload/"):
        for kind in FAULT_KINDS:
            extra = {"delay": 0.3} if kind == "slow" else {}
            armed.append(pipeline.emulator.faults.add(kind, path=path, count=1, **extra))
    return armed


def fired_by_kind(armed: list[Any]) -> dict[str, int]:
    fired: dict[str, int] = {}
    for fault in armed:
        fired[fault.kind] = fired.get(fault.kind, 0) + fault.fired
    return fired


def assert_no_leaks(pipeline: Pipeline, work: Workload, capsys: pytest.CaptureFixture[str]) -> None:
    out = capsys.readouterr()
    leaks = pipeline.scan_for_leaks(out.out + out.err)
    assert not leaks, "\n".join(leaks)
    # the scan has teeth: it sees the raw identities in the customer's own event messages,
    # and it read the handlers' logs and every kind of artifact
    assert pipeline.scanner.findings(json.dumps(work.event_messages[0][1]), "input", "control")
    assert "chunk record processed" in pipeline.logs.text()
    assert "segment ingest" in pipeline.logs.text()
    for kind in ("log text", "report/reject", "chunk file", "sqs body"):
        assert pipeline.scanner.scanned.get(kind, 0) > 0, kind


def test_under_20_percent_faults_of_every_kind_nothing_is_lost_doubled_or_leaked(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    work = build_workload("Chaos", pipeline.scanner)
    armed = arm_faults(pipeline)

    pipeline.plant_poison(work)
    pipeline.send_events(work)
    reports = pipeline.run_rounds(work, timeout=ROUND_TIMEOUT)
    assert pipeline.stack.wait_idle(120)

    problems = pipeline.verify(work, reports) + pipeline.check_waited_for_tiktok()
    assert not problems, "\n".join(problems)
    fired = fired_by_kind(armed)
    calls = len(pipeline.emulator.state.requests)
    assert all(fired[kind] >= 3 for kind in FAULT_KINDS), fired  # every kind did fire
    assert sum(fired.values()) >= 0.15 * calls, (fired, calls)
    assert_no_leaks(pipeline, work, capsys)


def test_full_outage_then_recovery_completes_everything_exactly_once(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    work = build_workload("Outage", pipeline.scanner, events=2000)
    pipeline.plant_poison(work)
    # First round succeeds normally, then TikTok goes away with work in every queue.
    first, *rest = work.steps
    for step in first:
        pipeline.drop(step)
    reports = pipeline.wait_reports([s.key for s in first], ROUND_TIMEOUT)
    pipeline.snapshot_members(reports)
    assert all(r["status"] == "succeeded" for r in reports.values()), reports

    pipeline.emulator.faults.add("http_500", rate=1.0, status=503)
    for step in rest[0]:
        pipeline.drop(step)
    pipeline.send_events(work)
    time.sleep(6.0)  # the outage: every call fails; work is retried, nothing may be given up
    assert any(r.get("fault") == "http_500" for r in pipeline.emulator.state.requests)
    assert not pipeline.emulator.state.events or all(
        not str(r["event"].get("event_id", "")).startswith("outage-")
        for r in pipeline.emulator.state.events
    )
    pipeline.emulator.faults.clear()  # recovery

    for index, steps in enumerate(rest):
        if index:
            for step in steps:
                pipeline.drop(step)
        got = pipeline.wait_reports([s.key for s in steps], ROUND_TIMEOUT)
        pipeline.snapshot_members(got)
        reports.update(got)
    assert pipeline.stack.wait_idle(120)

    problems = pipeline.verify(work, reports)
    assert not problems, "\n".join(problems)
    assert_no_leaks(pipeline, work, capsys)


def test_tokens_revoked_after_a_reconnect_are_replaced_and_nothing_is_lost(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ``revoke_token`` fault: an admin reconnects (new tokens stored), TikTok revokes the
    old ones while work is in flight; each caller is refused once (40105), refetches the token
    from Secrets Manager and carries on."""
    work = build_workload("Revoked", pipeline.scanner, events=1000)
    pipeline.plant_poison(work)
    later_events = work.event_messages[10:]
    work.event_messages = work.event_messages[:10]
    first, *rest = work.steps
    for step in first:
        pipeline.drop(step)
    pipeline.send_events(work)  # the callers now hold the old tokens in their caches
    reports = pipeline.wait_reports([s.key for s in first], ROUND_TIMEOUT)
    pipeline.snapshot_members(reports)
    assert pipeline.stack.wait_idle(60)

    old_advertiser_token, old_connection_token = pipeline.rotate_tokens()
    for token in (old_advertiser_token, old_connection_token):
        pipeline.emulator.faults.add("revoke_token", token=token)  # at the next call
    work.event_messages = later_events
    pipeline.send_events(work)
    for steps in rest:
        for step in steps:
            pipeline.drop(step)
        got = pipeline.wait_reports([s.key for s in steps], ROUND_TIMEOUT)
        pipeline.snapshot_members(got)
        reports.update(got)
    assert pipeline.stack.wait_idle(120)

    problems = pipeline.verify(work, reports)
    assert not problems, "\n".join(problems)
    for token in (old_advertiser_token, old_connection_token):
        record = pipeline.emulator.state.token_record(token)
        assert record is not None
        assert record.revoked
    refused = [r for r in pipeline.emulator.state.requests if r["code"] == 40105]
    assert refused  # the old tokens were used and refused, then replaced
    assert_no_leaks(pipeline, work, capsys)
