"""The template's ``Schedule`` events (EventBridge rules), run by the local dispatcher on request.

Only ``rate(N minute|minutes|hour|hours|day|days)`` expressions are read (the template uses
nothing else; a ``cron(...)`` expression is refused rather than guessed). The period is scaled by
the stack's time scale like every other duration of the local stack, so ``rate(1 hour)`` at the
tests' 0.002 runs every 7.2 s. The event is the rule's ``Input`` (EventBridge passes it as is),
or EventBridge's own "Scheduled Event" when there is none. Schedules run only when a test (or
``LocalStack.start(run_schedules=True)``) asks: an hourly job firing in the middle of every other
test would only add noise.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class ScheduleEventSource:
    """One ``Schedule`` event of a function: its expression and the event it sends."""

    expression: str
    input: str | None = None

    @property
    def period_seconds(self) -> float:
        return rate_seconds(self.expression)

    def event(self, *, region: str, rule_arn: str = "") -> dict[str, Any]:
        """What the function receives: the ``Input`` JSON, else EventBridge's scheduled event."""
        if self.input is not None:
            value: dict[str, Any] = json.loads(self.input)
            return value
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region,
            "resources": [rule_arn] if rule_arn else [],
            "detail": {},
        }


def rate_seconds(expression: str) -> float:
    """``rate(1 hour)`` → 3600.0. EventBridge wants the singular unit for 1 and the plural
    otherwise; both are accepted here, the template is checked by cfn-lint."""
    match = _RATE.fullmatch(expression.strip())
    if match is None:
        raise ValueError(
            f"only rate(N minutes|hours|days) schedules run locally, not {expression!r}"
        )
    count, unit = int(match.group(1)), match.group(2).rstrip("s")
    if count < 1:
        raise ValueError(f"a rate must be at least 1: {expression!r}")
    return float(count * _SECONDS[unit])
