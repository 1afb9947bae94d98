"""Tiny scripted handlers for the local stack tests (never the real functions)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any


class ScriptedBatchHandler:
    """An SQS handler with ReportBatchItemFailures whose behaviour the message bodies script.

    Body keys: ``fail_times`` (report the record failed on its first n deliveries; -1 = always),
    ``raise_times`` (raise on the batch's first n deliveries of this record).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.batches: list[list[dict[str, Any]]] = []
        self.deliveries: Counter[str] = Counter()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event["Records"]
        with self.lock:
            self.batches.append(records)
            for record in records:
                self.deliveries[record["messageId"]] += 1
            counts = {r["messageId"]: self.deliveries[r["messageId"]] for r in records}
        failed = []
        for record in records:
            script = json.loads(record["body"])
            seen = counts[record["messageId"]]
            if script.get("raise_times", 0) >= seen:
                raise RuntimeError("scripted failure")
            fail_times = script.get("fail_times", 0)
            if fail_times == -1 or fail_times >= seen:
                failed.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failed}

    def batch_ids(self) -> list[list[str]]:
        with self.lock:
            return [[r["messageId"] for r in batch] for batch in self.batches]


class RecordingHandler:
    """Records every event; raises when ``should_raise(event)``; returns ``response``."""

    def __init__(self, response: Any = None) -> None:
        self.lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self.response = response
        self.should_raise = lambda event: False

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self.lock:
            self.events.append(event)
            self.contexts.append(context)
        if self.should_raise(event):
            raise RuntimeError("scripted failure")
        return self.response

    def reset(self) -> None:
        with self.lock:
            self.events.clear()
            self.contexts.clear()
        self.should_raise = lambda event: False
