"""Shared tools of the reliability tier: leak scanning, log capture, SQS body recording, inputs.

Expected results are computed here from first principles (``hashlib`` on values normalized by
hand), never with the connector's own identity module, so a bug there cannot hide itself.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import io
import json
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

SHA256_HEX = frozenset("0123456789abcdef")


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# ----------------------------------------------------------------------------- leak scanning


@dataclass
class LeakScanner:
    """Knows every secret and raw identifier of a run; finds them in any text.

    ``secrets`` are matched as given; ``pii`` values are matched as given and in their common
    normalized forms (lower-case, stripped, digits-only phones), because a leak of the
    normalized value is still a leak. Findings name the place and the kind, never the value.
    """

    secrets: dict[str, str] = field(default_factory=dict)  # value -> label ("token", ...)
    pii: set[str] = field(default_factory=set)
    scanned: dict[str, int] = field(default_factory=dict)  # kind of place -> texts scanned

    def add_secret(self, value: str, label: str) -> None:
        if value:
            self.secrets[value] = label

    def add_email(self, raw: str) -> None:
        for form in (raw, raw.strip(), raw.strip().lower()):
            if form:
                self.pii.add(form)

    def add_phone(self, raw: str, e164: str) -> None:
        """A raw phone and its E.164 / digits-only forms (the hashed inputs; never in clear)."""
        for form in (raw.strip(), e164, e164.lstrip("+")):
            if form:
                self.pii.add(form)

    def add_maid(self, raw: str) -> None:
        for form in (raw.strip(), raw.strip().lower()):
            self.pii.add(form)

    def findings(self, text: str, where: str, kind: str) -> list[str]:
        self.scanned[kind] = self.scanned.get(kind, 0) + 1
        found = [f"{where}: {label}" for value, label in self.secrets.items() if value in text]
        lowered = text.lower()
        found += [f"{where}: raw identifier" for value in self.pii if value.lower() in lowered]
        return sorted(set(found))


# ----------------------------------------------------------------------------- log capture


class _RecordDump(logging.Handler):
    """Keeps every record in full: message, arguments, exception text and every extra field."""

    def __init__(self, sink: list[str], lock: threading.Lock) -> None:
        super().__init__(logging.DEBUG)
        self._sink = sink
        self._lock = lock

    def emit(self, record: logging.LogRecord) -> None:
        try:
            rendered = {key: repr(value) for key, value in vars(record).items()}
            rendered["message"] = record.getMessage()
            if record.exc_info:
                rendered["exc_text"] = logging.Formatter().formatException(record.exc_info)
            text = json.dumps(rendered, sort_keys=True)
        except Exception as exc:  # a record that cannot render is itself worth seeing
            text = f"<unrenderable record {record.name}: {type(exc).__name__}>"
        with self._lock:
            self._sink.append(text)


class _Tee(io.TextIOBase):
    def __init__(self, sink: list[str], lock: threading.Lock) -> None:
        self._sink = sink
        self._lock = lock

    def write(self, text: str) -> int:
        with self._lock:
            self._sink.append(text)
        return len(text)


class LogCapture:
    """Capture every log line of the process while active (at the loggers' own levels).

    A handler that dumps each record whole goes on the root logger and on every logger that
    does not propagate (Powertools loggers); Powertools' own JSON stream handlers are pointed at
    an in-memory stream as well, so what they would print is scanned too. Call
    :meth:`attach` again after new loggers appear (handler modules imported lazily).
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._dump = _RecordDump(self.lines, self._lock)
        self._tee = _Tee(self.lines, self._lock)
        self._undo: list[Any] = []
        self._seen: set[int] = set()

    # Our own code logs at every level it likes; the scan must see all of it (DEBUG included).
    # Libraries (botocore, urllib3) keep their levels: at DEBUG they print whole requests.
    OWN_LOGGERS = ("tiktok_connector", "tiktok_local")

    def attach(self) -> None:
        for name in self.OWN_LOGGERS:
            own = logging.getLogger(name)
            if id(own) not in self._seen:
                self._seen.add(id(own))
                previous = own.level
                own.setLevel(logging.DEBUG)
                self._undo.append(lambda own=own, previous=previous: own.setLevel(previous))
        loggers: list[logging.Logger] = [logging.getLogger()]
        loggers += [
            lg
            for lg in logging.Logger.manager.loggerDict.values()
            if isinstance(lg, logging.Logger)
        ]
        for lg in loggers:
            if id(lg) in self._seen:
                continue
            if lg is logging.getLogger() or not lg.propagate:
                self._seen.add(id(lg))
                lg.addHandler(self._dump)
                self._undo.append(lambda lg=lg: lg.removeHandler(self._dump))
            if lg is logging.getLogger():
                continue  # pytest's own capture handlers live there
            for handler in list(lg.handlers):
                if type(handler) is logging.StreamHandler:
                    stream = handler.setStream(self._tee)
                    if stream is not None:
                        self._undo.append(lambda h=handler, s=stream: h.setStream(s))

    def detach(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        self._seen.clear()

    def text(self) -> str:
        with self._lock:
            return "\n".join(self.lines)


# ----------------------------------------------------------------------------- SQS bodies


class SimulatedCrash(Exception):
    """The function died mid-batch (Lambda timeout or crash): its response never arrives."""


@dataclass
class BodyRecorder:
    """Wraps the handlers: keeps every SQS body they are given (scanned later) and can kill an
    invocation mid-batch (``crashes[function] = n``: after ``crash_after[function]`` calls, the
    next ``n`` invocations process the first half of their records, then die; a single-record
    invocation dies after its work)."""

    bodies: dict[str, list[str]] = field(default_factory=dict)
    crashes: dict[str, int] = field(default_factory=dict)
    crashed: dict[str, int] = field(default_factory=dict)
    crash_after: dict[str, int] = field(default_factory=dict)  # calls let through first
    calls: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, function: str, handler_path: str) -> Any:
        module_name, attr = handler_path.rsplit(".", 1)
        resolved: list[Any] = []

        def handler(event: dict[str, Any], context: Any) -> Any:
            if not resolved:
                resolved.append(getattr(importlib.import_module(module_name), attr))
            records = event.get("Records") or []
            with self.lock:
                for record in records:
                    if "body" in record:
                        self.bodies.setdefault(function, []).append(record["body"])
                self.calls[function] = self.calls.get(function, 0) + 1
                crash = self.crashes.get(function, 0) > 0
                crash = crash and self.calls[function] > self.crash_after.get(function, 0)
                if crash:
                    self.crashes[function] -= 1
                    self.crashed[function] = self.crashed.get(function, 0) + 1
            if not crash:
                return resolved[0](event, context)
            done = records[: max(1, len(records) // 2)]
            resolved[0]({**event, "Records": done}, context)
            raise SimulatedCrash(f"{function} killed after {len(done)} of {len(records)} records")

        return handler

    def all(self) -> Iterator[tuple[str, str]]:
        with self.lock:
            items = [(fn, body) for fn, bodies in self.bodies.items() for body in bodies]
        yield from items


# ----------------------------------------------------------------------------- inputs


def email(i: int, tag: str) -> str:
    """A raw email with messy case and spaces; :func:`email_hash` gives its expected hash."""
    return f"  {tag.title()}.User{i}@Example.COM "


def email_hash(i: int, tag: str) -> str:
    return sha256(f"{tag.lower()}.user{i}@example.com")


def phone(i: int) -> tuple[str, str]:
    """A raw US phone (national format) and its E.164 form."""
    number = f"{i % 10_000:04d}"
    exchange = 200 + (i // 10_000)
    return f"(212) {exchange}-{number}", f"+1212{exchange}{number}"


def maid(i: int, kind: str) -> str:
    prefix = "a1" if kind == "idfa" else "b2"
    return f"{prefix}{i:06d}-1111-4222-8333-{i:012d}".upper()


def gz(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


def lines(rows: Iterable[str]) -> str:
    return "\n".join(rows) + "\n"


def is_hash(value: str) -> bool:
    return len(value) in (32, 64) and set(value) <= SHA256_HEX
