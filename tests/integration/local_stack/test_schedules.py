"""The template's Schedule events on the local stack: read from the template, run by the
dispatcher only when asked, every rate() period scaled by the stack's time scale."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tiktok_local.resources import TemplateModel
from tiktok_local.schedules import ScheduleEventSource, rate_seconds
from tiktok_local.stack import LocalStack

from .support import RecordingHandler

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
REFRESH = ScheduleEventSource("rate(1 hour)", '{"type": "RefreshAudienceSizes"}')


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 hour)", 3600.0),
        ("rate(5 minutes)", 300.0),
        ("rate(1 minute)", 60.0),
        ("rate(2 days)", 172800.0),
        (" rate( 3  hours ) ", 10800.0),
    ],
)
def test_rate_expressions_become_periods(expression: str, seconds: float) -> None:
    assert rate_seconds(expression) == seconds


@pytest.mark.parametrize(
    "expression",
    ["cron(0 * * * ? *)", "rate(0 hours)", "rate(1 week)", "rate(-1 hours)", "rate(hour)", ""],
)
def test_other_expressions_are_refused_not_guessed(expression: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        rate_seconds(expression)


def test_an_event_is_the_rules_input_or_eventbridges_scheduled_event() -> None:
    assert REFRESH.event(region="us-east-1") == {"type": "RefreshAudienceSizes"}
    plain = ScheduleEventSource("rate(1 day)").event(region="eu-west-1")
    assert (plain["detail-type"], plain["source"], plain["region"]) == (
        "Scheduled Event",
        "aws.events",
        "eu-west-1",
    )


def test_the_template_schedules_the_size_refresh_on_the_upload_function() -> None:
    model = TemplateModel.from_file(TEMPLATE)
    schedules = {f.logical_id: f.schedules for f in model.functions() if f.schedules}
    assert schedules == {"AudienceUploadFunction": [REFRESH]}


def test_schedules_run_only_when_asked_every_scaled_period(tmp_path: Path) -> None:
    # rate(1 hour) x 0.0005 = 1.8 s
    upload = RecordingHandler(response={"checked": 0})
    overrides = {"AudienceUploadFunction": upload}
    with LocalStack.start(
        workdir=tmp_path / "on",
        time_scale=0.0005,
        handler_overrides=overrides,
        run_schedules=True,
        write_stack_json=False,
    ) as stack:
        deadline = time.monotonic() + 30
        while len(upload.events) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        runs = [i for i in stack.dispatcher.invocations if i.kind == "schedule"]
    assert upload.events[:2] == [{"type": "RefreshAudienceSizes"}] * 2
    assert len(runs) >= 2
    assert {(r.function_name.endswith("audience-upload"), r.outcome) for r in runs} == {
        (True, "ok")
    }

    quiet = RecordingHandler()
    with LocalStack.start(
        workdir=tmp_path / "off",
        time_scale=0.0005,
        handler_overrides={"AudienceUploadFunction": quiet},
        write_stack_json=False,
    ) as stack:
        assert stack.dispatcher.schedules == []
        time.sleep(2.5)
    assert quiet.events == []
