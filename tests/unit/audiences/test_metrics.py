"""Metrics of one record (EMF through Powertools)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tiktok_connector.audiences.finalize import Finished
from tiktok_connector.audiences.outcome import Outcome
from tiktok_connector.contract.job import AudienceSize, JobError


class Sink:
    namespace = "TikTokConnectorTest"
    service = "audience-upload-test"

    def __init__(self) -> None:
        self.metrics: dict[str, float] = {}

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.metrics[name] = self.metrics.get(name, 0) + value


def test_tiktok_refusals_count_as_permanent_errors_and_calls_carry_their_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sink = Sink()
    outcome = Outcome(
        "j", "failed", error=JobError("40105", "token revoked", "r1"), tiktok_codes={40105: 2}
    )
    outcome.publish(sink)
    assert sink.metrics["TikTokPermanentErrors"] == 1
    assert sink.metrics["AudienceJobsFailed"] == 1
    assert sink.metrics["TikTokCalls"] == 2
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert [(m["code"], m["service"], m["TikTokCallsByCode"]) for m in emf] == [
        ("40105", "audience-upload-test", [2.0])
    ]


def test_our_own_job_failures_are_not_tiktok_permanent_errors() -> None:
    sink = Sink()
    Outcome("j", "failed", error=JobError("audience_exists", "use append")).publish(sink)
    assert "TikTokPermanentErrors" not in sink.metrics
    assert sink.metrics["AudienceJobsFailed"] == 1


def test_chunks_retries_and_throttles_are_counted() -> None:
    sink = Sink()
    Outcome("j", "uploaded", chunks_uploaded=1, tiktok_retries=3, tiktok_throttled=2).publish(sink)
    assert sink.metrics == {"ChunksUploaded": 1, "TikTokRetries": 3, "TikTokThrottled": 2}


def test_a_finished_job_publishes_its_audience_size_per_audience(
    capsys: pytest.CaptureFixture[str],
) -> None:
    finished = Finished("7100", "8000000000000000001", AudienceSize(audience_size=1234))
    Outcome("j", "finalized", finished=finished).publish(Sink())
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert [(m["advertiser"], m["audience_id"], m["service"], m["AudienceSize"]) for m in emf] == [
        ("7100", "8000000000000000001", "audience-upload-test", [1234.0])
    ]


def test_no_size_metric_when_the_size_is_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    unknown = AudienceSize(size_unknown_reason="TikTok answered HTTP 500")
    Outcome("j", "finalized", finished=Finished("7100", "8", unknown)).publish(Sink())
    assert "AudienceSize" not in capsys.readouterr().out
