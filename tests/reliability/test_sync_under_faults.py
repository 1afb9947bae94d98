"""Issue 15's three syncs under ~20 % TikTok faults: TikTok still ends up exactly equal to each file.

The pipeline of :mod:`tests.reliability.pipeline` (local stack, real handlers, small chunks and
byte ranges so a 2,000-row file is several ranges and run parts, log capture, SQS body
recording) runs the scenario of :mod:`tests.e2e.audiences.sync_scenario` for a customer-file and
a partner audience at once: create; 3 % dropped and 5 % new; the identical file again. Every
TikTok call meets a fault with ~20 % probability (every transient kind: HTTP 5xx, 50002,
throttling, slow answers, dropped connections, applied-but-answer-lost), and the first calls of
each round on the upload, update and mapping paths meet one fault of each kind, so the
difference of the second sync is surely sent through faults.

After each round: every job succeeded, TikTok's membership equals the file exactly, the report's
``changes`` are the true difference (faults change what is retried, never what is sent), the
unchanged sync made no TikTok call at all; at the end nothing is left running or queued, no DLQ
holds anything, one audience per name, and no raw identifier or token is in a log line, report,
reject file, chunk or snapshot object, or SQS body.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.audiences.sync_scenario import (
    SyncScenario,
    Traffic,
    TrafficMark,
    drop,
    raw_email,
    raw_phone,
    wait_reports,
)
from tests.reliability.pipeline import ADV, FAULT_KINDS, Pipeline, Workload, pipeline_fixture

pytestmark = pytest.mark.slow
ROUND_TIMEOUT = 150.0
SEED = 15
# Short enough for a modest runtime, long enough that a sync's REMOVE meets its APPEND's
# processing (contract TM-01) and waits for it.
PROCESSING_SECONDS = 3.0
FAULT_PATHS = (
    "/dmp/custom_audience/file/upload/",
    "/dmp/custom_audience/update/",
    "/segment/mapping/",
)


@pytest.fixture
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    yield from pipeline_fixture(tmp_path_factory.mktemp("sync-faults"))


def arm_faults(pipeline: Pipeline, *, rates: bool) -> list[Any]:
    """Each kind once on each path that carries membership (the next calls there); with
    ``rates``, also every kind at ~3.4 % on every call (~20 % of calls meet a fault)."""
    faults = pipeline.emulator.faults
    armed = []
    if rates:
        for kind in FAULT_KINDS:
            extra = {"delay": 0.3} if kind == "slow" else {}
            armed.append(faults.add(kind, rate=0.034, **extra))
    for path in FAULT_PATHS:
        for kind in FAULT_KINDS:
            extra = {"delay": 0.3} if kind == "slow" else {}
            armed.append(faults.add(kind, path=path, count=1, **extra))
    return armed


def scan_for_leaks(pipeline: Pipeline) -> list[str]:
    """Logs, reports, rejects, every object under ``chunks/`` and ``sync/`` (text and binary
    alike) and every SQS body the system wrote: no token, secret or raw identifier."""
    scanner = pipeline.scanner
    findings = scanner.findings(pipeline.logs.text(), "logs", "log text")
    for prefix in ("reports/", "rejects/", "chunks/", "sync/"):
        for key in pipeline.keys(prefix):
            text = pipeline.read(key).decode("latin-1")  # binary record files scanned as bytes
            findings += scanner.findings(text, key, prefix)
    for function, body in pipeline.recorder.all():
        if function != "EventForwarderFunction":
            findings += scanner.findings(body, f"SQS body to {function}", "sqs body")
    return sorted(set(findings))


def test_three_syncs_under_20_percent_faults_leave_tiktok_equal_to_each_file(
    pipeline: Pipeline,
) -> None:
    emulator = pipeline.emulator
    emulator.config.audience_processing_seconds = PROCESSING_SECONDS
    emulator.faults.reseed(SEED)
    scenarios = [
        SyncScenario(ADV, "Chaos Sync File", "file", tag="chaosfile", n=2000),
        SyncScenario(ADV, "Chaos Sync Partner", "segment", tag="chaospartner", n=2000),
    ]
    for scenario in scenarios:
        for i in range(scenario.n * 106 // 100):
            pipeline.scanner.add_email(raw_email(scenario.tag, i))
            pipeline.scanner.add_phone(*raw_phone(i))

    armed: list[Any] = []
    seen: set[str] = set()
    audience_ids: dict[str, str] = {}
    for round_index, label in enumerate(("create", "churn", "unchanged")):
        armed += arm_faults(pipeline, rates=round_index == 0)
        mark = len(emulator.state.requests)
        marks = {
            s.name: TrafficMark.take(emulator.state, audience_ids.get(s.name)) for s in scenarios
        }
        for scenario in scenarios:
            sync = scenario.files[round_index]
            drop(pipeline.stack, sync.key, sync.body, sync.metadata)
        keys = [s.files[round_index].key for s in scenarios]
        reports = wait_reports(pipeline.stack, keys, seen_jobs=seen, timeout=ROUND_TIMEOUT)
        assert set(reports) == set(keys), f"{label}: unfinished {set(keys) - set(reports)}"
        seen.update(r["job_id"] for r in reports.values())

        for scenario in scenarios:
            sync = scenario.files[round_index]
            report = reports[sync.key]
            where = f"{scenario.name} {label}"
            assert report["status"] == "succeeded", (where, report.get("error"))
            audience_id = str(report["tiktok"]["audience_id"])
            assert audience_ids.setdefault(scenario.name, audience_id) == audience_id, where
            held = scenario.tiktok_members(emulator.state, audience_id)
            expected = scenario.expected(sync)
            assert held == expected, (
                f"{where}: TikTok holds {len(held)} ids, the file {len(expected)} "
                f"({len(held - expected)} extra, {len(expected - held)} missing)"
            )
            assert report.get("changes") == sync.changes, where
            traffic = Traffic.since(emulator.state, marks[scenario.name], audience_id)
            if label == "unchanged":
                assert traffic.all_calls == {}, (where, traffic.all_calls)
                assert traffic.history == [], where
        faulted = [r for r in emulator.state.requests[mark:] if r["fault"]]
        if label != "unchanged":  # the sends of this round went through faults
            assert faulted, label

    assert pipeline.stack.wait_idle(60)
    problems = pipeline.check_jobs_settled() + pipeline.check_dlqs(Workload("sync"))
    problems += pipeline.check_invocations()
    for scenario in scenarios:
        found = len(emulator.state.find_audiences(ADV, scenario.name))
        if found != 1:
            problems.append(f"{scenario.name}: {found} audiences by that name")
    assert not problems, "\n".join(problems)
    fired: dict[str, int] = {}
    for fault in armed:
        fired[fault.kind] = fired.get(fault.kind, 0) + fault.fired
    assert all(fired[kind] >= 1 for kind in FAULT_KINDS), fired
    leaks = scan_for_leaks(pipeline)
    assert not leaks, "\n".join(leaks)
    assert pipeline.scanner.scanned.get("sync/", 0) > 0  # the snapshot was scanned
