"""What ``make up`` prints while it serves: one readable line per thing the stack handled.

* :class:`Progress` turns a dispatcher :class:`~tiktok_local.dispatcher.Invocation`, an OAuth
  request and a segment job's report into one line each (time, function, what, outcome).
* :class:`ReportWatcher` polls ``reports/`` in the segments bucket and hands each new or changed
  report to a callback: a job gets a line when it starts and when it ends.

The functions' own logs (Powertools JSON lines, EMF metrics) go to a file instead (see
``python -m tiktok_local up``). Lines name objects by key and jobs by id; they carry no row values,
tokens, tickets or query strings.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from tiktok_connector.contract.pointer import is_pointer_key
from tiktok_local.dispatcher import Invocation

log = logging.getLogger("tiktok_local.progress")

Write = Callable[[str], None]

_ROW_COUNTS = ("read", "accepted", "rejected", "duplicates", "blank")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _error_type(error: str | None) -> str:
    # Only the exception's type: its message may carry data that has no place on a terminal.
    return (error or "error").split(":", 1)[0].strip() or "error"


def describe_job(report: dict[str, Any]) -> str:
    """``job <id> <status>: <advertiser> / <audience> / <action>, rows: ...`` from a job report."""
    rows = report.get("rows") or {}
    text = (
        f"job {report.get('job_id')} {report.get('status')}: {report.get('advertiser_id')}"
        f" / {report.get('audience_name')} / {report.get('action')}"
    )
    counts = [f"{rows[k]} {k}" for k in _ROW_COUNTS if isinstance(rows.get(k), int) and rows[k]]
    if counts:
        text += f", rows: {', '.join(counts)}"
    reasons = report.get("rejected_by_reason") or {}
    if reasons:
        text += f" ({', '.join(f'{reason} {n}' for reason, n in sorted(reasons.items()))})"
    error = report.get("error")
    if isinstance(error, dict) and error:
        text += f"; {error.get('code')}: {error.get('message')}"
    return text


class Progress:
    """Writes one line per invocation, OAuth request and job change (see the module docstring)."""

    def __init__(self, write: Write, *, stack_name: str = "tiktok-connector") -> None:
        self._write = write
        self._prefix = f"{stack_name}-"
        self._lock = threading.Lock()

    def _short(self, name: str) -> str:
        return name[len(self._prefix) :] if name.startswith(self._prefix) else name

    def line(self, text: str) -> None:
        with self._lock:
            self._write(f"{time.strftime('%H:%M:%S')}  {text}")

    def invocation(self, inv: Invocation) -> None:
        """``audience-upload   2 messages from chunks: ok (0.31 s)``."""
        n = len(inv.message_ids)
        if inv.kind == "s3":
            what = ", ".join(f"s3 {unquote_plus(key)}" for key in inv.message_ids)
            retry = "Lambda retries it, then the failure queue"
        else:
            queue = self._short(inv.queue_url.rsplit("/", 1)[-1]) or "its queue"
            what = f"{_plural(n, 'message')} from {queue}"
            retry = "back on the queue"
        if inv.outcome == "ok":
            outcome = "ok"
        elif inv.outcome == "partial":
            outcome = f"{len(inv.failed_ids)} of {n} failed, {retry}"
        elif inv.outcome == "timeout":
            outcome = f"timed out, {retry}"
        elif inv.outcome == "invalid_response":
            outcome = f"malformed batchItemFailures, all {retry}"
        else:
            outcome = f"raised {_error_type(inv.error)}, {retry}"
        self.line(f"{self._short(inv.function_name):<16} {what}: {outcome} ({inv.seconds:.2f} s)")

    def http_request(
        self, function_name: str, method: str, path: str, status: int, seconds: float
    ) -> None:
        """``oauth            GET /connect -> 302 (0.05 s)`` (the path only, never the query)."""
        self.line(f"{self._short(function_name):<16} {method} {path} -> {status} ({seconds:.2f} s)")

    def job(self, report: dict[str, Any]) -> None:
        """A job's report appeared or changed."""
        text = describe_job(report)
        if report.get("status") != "running":
            text += f" (make reports JOB={report.get('job_id')})"
        self.line(text)


class ReportWatcher:
    """Polls ``reports/`` of ``bucket`` every ``interval`` seconds; calls ``on_report(report)``
    for each report whose status or counts changed since it was last seen."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        on_report: Callable[[dict[str, Any]], None],
        *,
        interval: float = 1.0,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._on_report = on_report
        self._interval = interval
        self._etags: dict[str, str] = {}
        self._seen: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="report-watcher")

    def start(self) -> ReportWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._interval + 5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.poll_once()
            except Exception:
                if not self._stop.is_set():
                    log.debug("polling reports/ failed", exc_info=True)

    def poll_once(self) -> None:
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix="reports/"):
            for obj in page.get("Contents") or []:
                key, etag = obj["Key"], obj.get("ETag", "")
                if (
                    not key.endswith(".json")
                    or is_pointer_key(key)  # a file's report pointer, not a report
                    or self._etags.get(key) == etag
                ):
                    continue
                self._etags[key] = etag
                body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
                try:
                    report = json.loads(body)
                except ValueError:
                    continue
                if not isinstance(report, dict):
                    continue
                fingerprint = json.dumps(
                    [report.get("status"), report.get("rows"), report.get("error")],
                    sort_keys=True,
                    default=str,
                )
                if self._seen.get(key) == fingerprint:
                    continue
                self._seen[key] = fingerprint
                self._on_report(report)
