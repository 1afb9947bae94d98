"""The whole pipeline on the local stack, driven with a fixed workload, then checked and scanned.

:class:`Pipeline` owns one :class:`~tiktok_local.stack.LocalStack` with log capture, SQS body
recording and a leak scanner. A :class:`Workload` is several segment files per audience (every
action, both audience APIs, CSV / TSV.gz / JSONL / TXT) and thousands of events (mParticle
batches and TikTok-shaped messages), plus the poison inputs it plants on purpose. After a run,
:meth:`Pipeline.verify` checks every guarantee of issue 8 and returns the list of broken ones.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.reliability.support import (
    BodyRecorder,
    LeakScanner,
    LogCapture,
    email,
    email_hash,
    gz,
    is_hash,
    lines,
    maid,
    phone,
    sha256,
)
from tiktok_connector.contract.pointer import is_pointer_key
from tiktok_local.stack import LocalStack

ADV = "7100000000000000001"
SQS_FUNCTIONS = {
    "AudienceUploadFunction": "audience_upload_function.app.handler",
    "EventForwarderFunction": "event_forwarder_function.app.handler",
    "SegmentIngestFunction": "segment_ingest_function.app.handler",
}
# Small chunks and byte ranges so modest files still fan out over several chunks and ranges;
# pacing raised so uploads are not the bottleneck of a test (the emulator still enforces QPS).
ENV = {
    "CHUNK_ROWS": "200",
    "INGEST_RANGE_BYTES": "16384",
    "UPLOAD_MAX_QPS": "8",
    "SEGMENT_BATCH_SIZE": "50",
    "POWERTOOLS_LOG_LEVEL": "DEBUG",
}
FAULT_KINDS = ("http_500", "code_50002", "throttle", "slow", "drop", "drop_after_apply")
# Report statuses of a job that has not ended (a job waiting for TikTok is still running).
UNFINISHED = ("running", "waiting_for_tiktok")
# Long enough that a follow-up file of the workload meets its audience still processing even on
# a busy machine (the rounds run back to back; a shorter window could close before the update).
PROCESSING_SECONDS = 15.0
PARTNER_READY_SECONDS = 1.0


# ----------------------------------------------------------------------------- workload


@dataclass
class Step:
    """One segment file: where it goes, its bytes, and what must follow from it."""

    audience: str
    action: str
    key: str
    body: bytes
    metadata: dict[str, str]
    rows: int  # non-blank data rows (what the report must count as read)
    rejected: int  # rows planted invalid
    members_after: set[str]  # the audience's exact hashes once this step succeeded


@dataclass
class Workload:
    tag: str
    steps: list[list[Step]] = field(default_factory=list)  # rounds; a round runs in parallel
    event_messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    expected_event_ids: set[str] = field(default_factory=set)
    dropped_event_ids: set[str] = field(default_factory=set)
    poison: dict[str, list[str]] = field(default_factory=dict)  # dlq key -> bodies


def build_workload(tag: str, scanner: LeakScanner, *, events: int = 3000) -> Workload:
    """Three audiences through every action, thousands of events and the planted poison."""
    work = Workload(tag)
    t = tag.lower()
    now_ms = int(time.time() * 1000) - 60_000

    def e(i: int) -> str:
        raw = email(i, t)
        scanner.add_email(raw)
        return raw

    def ph(i: int) -> tuple[str, str]:
        raw, e164 = phone(i)
        scanner.add_phone(raw, e164)
        return raw, e164

    def md(i: int, kind: str) -> str:
        raw = maid(i, kind)
        scanner.add_maid(raw)
        return raw

    base = f"segments/{ADV}"
    # 1. customer file, one id type, every action and every format
    name = f"{tag} Emails"
    create_rows = [e(i) for i in range(1400)]
    bad = [f"not-an-email-{i}" for i in range(20)]
    body = [
        "Email Address",
        *create_rows[:700],
        *bad,
        "",
        *create_rows[700:],
        "",
        *create_rows[:15],
    ]
    members = {email_hash(i, t) for i in range(1400)}
    emails_steps = [
        Step(name, "create", f"{base}/{name}/create/{t}-emails.csv", lines(body).encode(), {},
             1400 + 20 + 15, 20, set(members)),
    ]  # fmt: skip
    append_rows = [f"{e(i)}\tx" for i in range(1400, 1700)] + ["bad@\tx"] * 5
    members |= {email_hash(i, t) for i in range(1400, 1700)}
    emails_steps.append(
        Step(name, "append", f"{base}/{name}/append/{t}-more.tsv.gz",
             gz(lines(["email\tnote", *append_rows])), {}, 305, 5, set(members))
    )  # fmt: skip
    remove_rows = [json.dumps({"email": e(i), "n": i}) for i in range(300)]
    remove_rows += [json.dumps({"email": "nobody"})] * 3
    members -= {email_hash(i, t) for i in range(300)}
    emails_steps.append(
        Step(name, "remove", f"{base}/{name}/remove/{t}-gone.jsonl",
             lines(remove_rows).encode(), {}, 303, 3, set(members))
    )  # fmt: skip
    replace_rows = [e(i) for i in range(5000, 6200)] + ["still@not", "x@y"]
    emails_steps.append(
        Step(name, "replace", f"{base}/{name}/replace/{t}-all.txt",
             ("\r\n".join(replace_rows) + "\r\n").encode(), {"id-type": "email"}, 1202, 2,
             {email_hash(i, t) for i in range(5000, 6200)})
    )  # fmt: skip

    # 2. customer file, several id types in one audience (MULTIPLE_TYPES)
    mixed = f"{tag} Mixed"

    def mixed_rows(start: int, stop: int) -> tuple[list[str], set[str]]:
        rows, hashes = [], set()
        for i in range(start, stop):
            raw_phone, e164 = ph(i)
            idfa = md(i, "idfa")
            rows.append(f'{e(i)},"{raw_phone}",{idfa}')
            hashes |= {email_hash(i, t), sha256(e164.lstrip("+")), sha256(idfa.lower())}
        return rows, hashes

    rows, mixed_members = mixed_rows(0, 1100)
    mixed_steps = [
        Step(mixed, "create", f"{base}/{mixed}/create/{t}-mixed.csv",
             lines(["email,phone_number,idfa", *rows, "nope,12,zzz"]).encode(), {}, 1101, 1,
             set(mixed_members)),
    ]  # fmt: skip
    rows, more = mixed_rows(1100, 1300)
    mixed_members |= more
    mixed_steps.append(
        Step(mixed, "append", f"{base}/{mixed}/append/{t}-mixed-more.csv.gz",
             gz(lines(["Email,Mobile,IDFA", *rows])), {}, 200, 0, set(mixed_members))
    )  # fmt: skip

    # 3. partner (segment) audience: every action, email + phone + IDFA + GAID
    partner = f"{tag} Partner"
    seg = {"audience-api": "segment"}

    def partner_rows(start: int, stop: int) -> tuple[list[str], set[str]]:
        rows, hashes = [], set()
        for i in range(start, stop):
            raw_phone, e164 = ph(i + 50_000)
            idfa, gaid = md(i + 50_000, "idfa"), md(i + 50_000, "gaid")
            rows.append(f"{e(i + 50_000)},{raw_phone},{idfa},{gaid}")
            hashes |= {
                email_hash(i + 50_000, t),
                sha256(e164),
                sha256(idfa.lower()),
                sha256(gaid.lower()),
            }
        return rows, hashes

    header = "email,phone,idfa,gaid"
    rows, p_members = partner_rows(0, 600)
    partner_steps = [
        Step(partner, "create", f"{base}/{partner}/create/{t}-p.csv",
             lines([header, *rows, "a,b,c,d"]).encode(), seg, 601, 1, set(p_members)),
    ]  # fmt: skip
    rows, more = partner_rows(600, 800)
    p_members |= more
    partner_steps.append(
        Step(partner, "append", f"{base}/{partner}/append/{t}-p2.csv",
             lines([header, *rows]).encode(), seg, 200, 0, set(p_members))
    )  # fmt: skip
    rows, gone = partner_rows(0, 100)
    p_members -= gone
    partner_steps.append(
        Step(partner, "remove", f"{base}/{partner}/remove/{t}-p3.csv",
             lines([header, *rows]).encode(), seg, 100, 0, set(p_members))
    )  # fmt: skip
    rows, p_members = partner_rows(2000, 2400)
    partner_steps.append(
        Step(partner, "replace", f"{base}/{partner}/replace/{t}-p4.csv.gz",
             gz(lines([header, *rows])), seg, 400, 0, set(p_members))
    )  # fmt: skip

    for round_index in range(4):
        work.steps.append(
            [
                s[round_index]
                for s in (emails_steps, mixed_steps, partner_steps)
                if len(s) > round_index
            ]
        )

    # 4. events: mParticle batches (raw identities) and TikTok-shaped messages, 50 a message
    per_message = 50
    for m in range(events // per_message):
        ids = [f"{t}-ev-{m}-{i}" for i in range(per_message)]
        work.expected_event_ids.update(ids)
        user_email = e(90_000 + m)
        raw_phone, _ = ph(90_000 + m)
        if m % 3:
            body_obj: dict[str, Any] = {
                "events": [
                    {
                        "event_type": "commerce_event",
                        "data": {
                            "source_message_id": event_id,
                            "timestamp_unixtime_ms": now_ms + i,
                            "custom_flags": {"TikTok.URL": f"https://shop.example.com/p/{i}"},
                            "product_action": {
                                "action": "add_to_cart",
                                "products": [{"id": i, "price": 5, "quantity": 1}],
                            },
                        },
                    }
                    for i, event_id in enumerate(ids)
                ],
                "user_identities": {"email": user_email, "mobile_number": raw_phone},
                "ip": "203.0.113.7",
            }
        else:
            body_obj = {
                "data": [
                    {
                        "event": "ViewContent",
                        "event_time": now_ms // 1000 + i,
                        "event_id": event_id,
                        "page": {"url": f"https://shop.example.com/v/{i}"},
                        "user": {"email": user_email, "phone": raw_phone},
                    }
                    for i, event_id in enumerate(ids)
                ]
            }
        work.event_messages.append((f"m{m}", body_obj))
    # neighbours of events that must be dropped (web events without a page URL)
    ids = [f"{t}-mixed-{i}" for i in range(10)]
    work.dropped_event_ids = {ids[i] for i in (2, 5, 8)}
    work.expected_event_ids.update(set(ids) - work.dropped_event_ids)
    work.event_messages.append(
        (
            "drops",
            {
                "events": [
                    {
                        "event_type": "commerce_event",
                        "data": {
                            "source_message_id": event_id,
                            "timestamp_unixtime_ms": now_ms,
                            "custom_flags": {}
                            if event_id in work.dropped_event_ids
                            else {"TikTok.URL": "https://shop.example.com/x"},
                            "product_action": {"action": "purchase", "total_amount": 3},
                        },
                    }
                    for event_id in ids
                ],
                "user_identities": {"email": e(99_999)},
            },
        )
    )
    # the poison, planted on purpose: the only things any DLQ may hold afterwards
    work.poison = {
        "events_dlq_url": [f"{tag} poison: not JSON at all"],
        "chunk_dlq_url": [
            json.dumps({"type": "chunk", "job_id": "0" * 32, "chunk_key": "chunks/x", "rows": 1}),
        ],
        "ranges_dlq_url": [f"{tag} poison range"],
    }
    return work


# ----------------------------------------------------------------------------- the pipeline


@dataclass
class Pipeline:
    stack: LocalStack
    scanner: LeakScanner
    logs: LogCapture
    recorder: BodyRecorder
    dropped_keys: list[str] = field(default_factory=list)
    members_seen: dict[str, set[str]] = field(default_factory=dict)
    event_repeats: int = 0

    @classmethod
    def start(
        cls, workdir: Path, *, time_scale: float = 0.01, env: dict[str, str] | None = None
    ) -> Pipeline:
        """``env``: settings of the functions beyond (or instead of) :data:`ENV`."""
        recorder = BodyRecorder()
        overrides = {fn: recorder.wrap(fn, path) for fn, path in SQS_FUNCTIONS.items()}
        logs = LogCapture()
        logs.attach()
        stack = LocalStack.start(
            workdir=workdir,
            time_scale=time_scale,
            write_stack_json=False,
            handler_overrides=overrides,
            env_overrides={**ENV, **(env or {})},
        )
        assert stack.emulator is not None
        # TikTok in time, as the local stack has it (EmulatorConfig.local_stack) but with a
        # processing window long enough that every follow-up file of the workload meets its
        # audience still processing (contract TM-01); new partner audiences refuse their first
        # mappings (TM-03).
        stack.emulator.config.audience_processing_seconds = PROCESSING_SECONDS
        stack.emulator.config.partner_ready_seconds = PARTNER_READY_SECONDS
        # import every handler now (their loggers appear), then capture them as well
        for sqs_source in stack.dispatcher.sqs_sources:
            sqs_source.function.resolve()
        for s3_source in stack.dispatcher.s3_sources:
            s3_source.function.resolve()
        # import each handler module under its own service name, as the dispatcher would
        for spec in stack.model.functions():
            if spec.logical_id in SQS_FUNCTIONS:
                service = stack.model.function_environment(spec).get("POWERTOOLS_SERVICE_NAME")
                previous = os.environ.get("POWERTOOLS_SERVICE_NAME")
                os.environ["POWERTOOLS_SERVICE_NAME"] = service or spec.function_name
                try:
                    importlib.import_module(SQS_FUNCTIONS[spec.logical_id].rsplit(".", 1)[0])
                finally:
                    if previous is not None:
                        os.environ["POWERTOOLS_SERVICE_NAME"] = previous
        logs.attach()
        scanner = LeakScanner()
        emulator = stack.emulator
        scanner.add_secret(emulator.config.app_secret, "app secret")
        pipeline = cls(stack, scanner, logs, recorder)
        pipeline.connect_advertiser()
        for token in emulator.state.tokens:
            scanner.add_secret(token, "access token")
        return pipeline

    def stop(self) -> None:
        try:
            self.stack.stop()
        finally:
            self.logs.detach()

    @property
    def emulator(self) -> Any:
        return self.stack.emulator

    @property
    def authorization_secret(self) -> str:
        return f"{self.stack.names['authorizations_secret_prefix']}reliability"

    def rotate_tokens(self) -> tuple[str, str]:
        """Reconnect: new tokens in the authorization and event connection secrets, the way
        the OAuth function (and an operator) re-store them. Returns the old tokens."""
        secrets = self.stack.client("secretsmanager")
        names = (self.authorization_secret, self.stack.names["default_connection_secret"])
        old = []
        for name in names:
            value = json.loads(secrets.get_secret_value(SecretId=name)["SecretString"])
            old.append(value["access_token"])
            scope = [ADV] if name == self.authorization_secret else None
            value["access_token"] = self.emulator.state.issue_token(advertiser_ids=scope)
            self.scanner.add_secret(value["access_token"], "access token")
            secrets.put_secret_value(SecretId=name, SecretString=json.dumps(value))
        return old[0], old[1]

    def connect_advertiser(self) -> None:
        """Store an authorization the way the OAuth function leaves it (secret + index item)."""
        token = self.emulator.state.issue_token(advertiser_ids=[ADV])
        secret = self.authorization_secret
        self.stack.client("secretsmanager").create_secret(
            Name=secret, SecretString=json.dumps({"access_token": token, "advertiser_ids": [ADV]})
        )
        self.stack.client("dynamodb").put_item(
            TableName=self.stack.names["oauth_table"],
            Item={"pk": {"S": f"advertiser#{ADV}"}, "secret_name": {"S": secret}},
        )

    # -- driving -----------------------------------------------------------------------------
    def drop(self, step: Step) -> None:
        self.stack.client("s3").put_object(
            Bucket=self.stack.names["segments_bucket"],
            Key=step.key,
            Body=step.body,
            Metadata=step.metadata,
        )
        self.dropped_keys.append(step.key)

    def send_events(self, work: Workload, *, wave: int = 4, pause: float = 0.15) -> None:
        """Send in small waves so the forwarder makes many requests (each can meet a fault)."""
        sqs = self.stack.client("sqs")
        url = self.stack.names["events_queue_url"]
        messages = list(work.event_messages)
        for start in range(0, len(messages), wave):
            sqs.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": label, "MessageBody": json.dumps(body)} for label, body in messages[start : start + wave]],
            )  # fmt: skip
            time.sleep(pause)

    def plant_poison(self, work: Workload) -> None:
        sqs = self.stack.client("sqs")
        targets = {
            "events_dlq_url": "events_queue_url",
            "chunk_dlq_url": "chunk_queue_url",
            "ranges_dlq_url": "ranges_queue_url",
        }
        for dlq, bodies in work.poison.items():
            for body in bodies:
                sqs.send_message(QueueUrl=self.stack.names[targets[dlq]], MessageBody=body)

    def reports(self) -> dict[str, dict[str, Any]]:
        """Reports by source key."""
        s3 = self.stack.client("s3")
        bucket = self.stack.names["segments_bucket"]
        found: dict[str, dict[str, Any]] = {}
        for key in self.keys("reports/"):
            if is_pointer_key(key):  # a file's report pointer, not a report
                continue
            report = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            found[report["source"]["key"]] = report
        return found

    def keys(self, prefix: str) -> list[str]:
        s3 = self.stack.client("s3")
        bucket = self.stack.names["segments_bucket"]
        out: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out.extend(obj["Key"] for obj in page.get("Contents", []))
        return out

    def read(self, key: str) -> bytes:
        s3 = self.stack.client("s3")
        return bytes(
            s3.get_object(Bucket=self.stack.names["segments_bucket"], Key=key)["Body"].read()
        )

    def wait_reports(self, keys: list[str], timeout: float) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            reports = self.reports()
            done = {
                k: reports[k]
                for k in keys
                if k in reports and reports[k]["status"] not in UNFINISHED
            }
            if len(done) == len(keys) or time.monotonic() > deadline:
                return done
            self.stack.wait_idle(2.0)

    def run_rounds(self, work: Workload, *, timeout: float) -> dict[str, dict[str, Any]]:
        """Drop each round's files together; the next round starts when all have reports."""
        finished: dict[str, dict[str, Any]] = {}
        for steps in work.steps:
            for step in steps:
                self.drop(step)
            got = self.wait_reports([s.key for s in steps], timeout)
            finished.update(got)
            self.snapshot_members(got)
            failed = {k: r.get("error") for k, r in got.items() if r["status"] != "succeeded"}
            if len(got) < len(steps) or failed:
                break  # verify() reports what is missing
        return finished

    def snapshot_members(self, reports: dict[str, dict[str, Any]]) -> None:
        """Remember each finished step's audience as it is now (the next round changes it)."""
        for key, report in reports.items():
            audience_id = (report.get("tiktok") or {}).get("audience_id")
            if audience_id:
                self.members_seen[key] = self.emulator.state.audience_hashes(audience_id)

    # -- checking ----------------------------------------------------------------------------
    def queue_bodies(self, name: str, *, by_original: bool = False) -> list[str]:
        """Every message on a queue, read without consuming (visibility 0).

        ``by_original``: copies of one source message count once. The event forwarder moves an
        undeliverable message to the events DLQ itself; an invocation that dies after the move is
        retried and moves it again, so a DLQ may hold copies, all with the source message's id in
        ``original_message_id`` (a redrive de-duplicates on it).
        """
        sqs = self.stack.client("sqs")
        url = self.stack.names[name]
        bodies: dict[str, str] = {}
        for _ in range(20):
            got = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=30,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                break
            for message in got:
                original = message.get("MessageAttributes", {}).get("original_message_id")
                key = message["MessageId"]
                if by_original and original is not None:
                    key = original["StringValue"]
                bodies[key] = message["Body"]
        return list(bodies.values())

    def depth(self, name: str) -> int:
        attrs = self.stack.client("sqs").get_queue_attributes(
            QueueUrl=self.stack.names[name],
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(v) for v in attrs.values())

    def verify(self, work: Workload, reports: dict[str, dict[str, Any]]) -> list[str]:
        """Every guarantee of issue 8; returns the broken ones (empty = all hold)."""
        problems: list[str] = []
        problems += self.check_audiences(work, reports)
        problems += self.check_events(work)
        problems += self.check_jobs_settled()
        problems += self.check_dlqs(work)
        problems += self.check_invocations()
        return problems

    def check_waited_for_tiktok(self) -> list[str]:
        """TikTok's passing states did happen (else this run proves nothing about them): an
        update refused while its audience was processing, mappings refused into a partner
        audience just created — and no job failed for them (check_audiences)."""
        requests = self.emulator.state.requests
        problems = []
        for path, label in (
            ("/dmp/custom_audience/update/", "update refused while processing"),
            ("/segment/mapping/", "mapping refused by a partner audience not ready yet"),
        ):
            if not any(r["path"].endswith(path) and r["code"] == 40002 for r in requests):
                problems.append(f"no {label} happened")
        if "waiting for TikTok" not in self.logs.text():
            problems.append("no job waited for TikTok")
        return problems

    def check_invocations(self) -> list[str]:
        """Every batch response named only its own records (else Lambda redelivers it all)."""
        bad = [i for i in self.stack.dispatcher.invocations if i.outcome == "invalid_response"]
        return [f"{len(bad)} invocations answered with malformed batchItemFailures"] if bad else []

    def check_audiences(self, work: Workload, reports: dict[str, dict[str, Any]]) -> list[str]:
        problems = []
        for steps in work.steps:
            for step in steps:
                report = reports.get(step.key)
                label = f"{step.audience} {step.action}"
                if report is None:
                    problems.append(f"{label}: no finished report")
                    continue
                if report["status"] != "succeeded":
                    problems.append(f"{label}: {report['status']} {report.get('error')}")
                    continue
                rows = report["rows"]
                if rows["read"] != step.rows or rows["rejected"] != step.rejected:
                    problems.append(
                        f"{label}: rows {rows} != read {step.rows}, rejected {step.rejected}"
                    )
                chunks = report["chunks"]
                if chunks["done"] != chunks["total"]:
                    problems.append(f"{label}: chunks {chunks}")
                if rows["read"] != rows["accepted"] + rows["rejected"]:
                    problems.append(f"{label}: read != accepted + rejected: {rows}")
                reject_lines = self.read(f"rejects/{report['job_id']}.csv").decode().splitlines()
                rejected_lines = {line.split(",")[0] for line in reject_lines[1:]}
                if len(rejected_lines) != step.rejected:
                    problems.append(
                        f"{label}: rejects file names {len(rejected_lines)} rows, not {step.rejected}"
                    )
                members = self.members_seen.get(step.key, set())
                if members != step.members_after:
                    problems.append(
                        f"{label}: audience holds {len(members)} hashes, expected "
                        f"{len(step.members_after)} ({len(members - step.members_after)} extra, "
                        f"{len(step.members_after - members)} missing)"
                    )
        # One TikTok audience per name (no creation race); a partner replace builds a new one
        # and leaves the previous in place (the segment API cannot replace members).
        expected_count: dict[str, int] = {}
        for step in (s for steps in work.steps for s in steps if s.key in reports):
            partner_replace = (
                step.action == "replace" and step.metadata.get("audience-api") == "segment"
            )
            expected_count[step.audience] = expected_count.get(step.audience, 0) + (
                step.action == "create" or partner_replace
            )
        for name, count in expected_count.items():
            found = len(self.emulator.state.find_audiences(ADV, name))
            if found != count:
                problems.append(f"{name}: {found} audiences by that name, expected {count}")
        return problems  # fmt: skip

    def check_events(self, work: Workload) -> list[str]:
        """Every expected event reached TikTok once per event_id; dropped ones never did.

        TikTok de-duplicates on (event source, event, event_id) for 48 hours, so a repeat of the
        same event (an answer lost after TikTok applied it, or SQS delivering a message twice,
        which it may) is counted once; the same event_id as two different events would not be.
        """
        prefix = f"{work.tag.lower()}-"
        received = [
            r for r in self.emulator.state.events if str(r["event"].get("event_id", "")).startswith(prefix)
        ]  # fmt: skip
        keys = {
            (r["event_source_id"], r["event"].get("event"), r["event"]["event_id"])
            for r in received
        }
        ids = [key[2] for key in keys]
        problems = []
        if len(ids) != len(set(ids)):
            problems.append("events: one event_id delivered as different events")
        missing = work.expected_event_ids - set(ids)
        extra = set(ids) - work.expected_event_ids
        if missing:
            problems.append(f"events: {len(missing)} never delivered")
        if extra:
            problems.append(f"events: {len(extra)} delivered that should have been dropped")
        self.event_repeats = len(received) - len(keys)
        return problems  # fmt: skip

    def check_jobs_settled(self) -> list[str]:
        problems = []
        table = self.stack.names["jobs_table"]
        ddb = self.stack.client("dynamodb")
        items = ddb.scan(TableName=table)["Items"]
        for item in items:
            if item.get("status", {}).get("S") != "running":
                continue
            progress = {
                k: item[k].get("N", item[k].get("S", "?"))
                for k in (
                    "ranges_done",
                    "ranges_total",
                    "chunks_done",
                    "chunks_total",
                    "action",
                    "api",
                )
                if k in item
            }
            progress["finalizing"] = "finalizing" in item
            progress["ranges"] = sorted((item.get("ranges") or {}).get("M", {}))
            progress["range_messages"] = [
                b for fn, b in self.recorder.all() if item["job_id"]["S"] in b and '"range"' in b
            ]
            problems.append(f"job {item['job_id']['S']} still running: {progress}")
        for name in ("chunk_queue_url", "events_queue_url", "ranges_queue_url"):
            if self.depth(name):
                problems.append(f"{name}: {self.depth(name)} messages left")
        return problems

    def check_dlqs(self, work: Workload) -> list[str]:
        problems = []
        for dlq in (
            "events_dlq_url",
            "chunk_dlq_url",
            "ranges_dlq_url",
            "ingest_failures_queue_url",
        ):
            bodies = sorted(self.queue_bodies(dlq, by_original=True))
            planted = sorted(work.poison.get(dlq, []))
            if bodies != planted:
                problems.append(f"{dlq}: holds {len(bodies)} messages, planted {len(planted)}")
        return problems

    # -- leak scan ---------------------------------------------------------------------------
    def scan_for_leaks(self, extra_text: str = "") -> list[str]:
        """Logs, reports, rejects, chunk files, every SQS body: no token, secret or raw PII."""
        findings: list[str] = []
        s = self.scanner
        findings += s.findings(self.logs.text() + extra_text, "logs", "log text")
        for key in self.keys("reports/") + self.keys("rejects/"):
            findings += s.findings(self.read(key).decode("utf-8", "replace"), key, "report/reject")
        for key in self.keys("chunks/"):
            text = self.read(key).decode("utf-8")
            findings += s.findings(text, key, "chunk file")
            rows = text.splitlines()
            cells = [c for row in rows[1:] for c in row.split(",") if c]
            if not all(is_hash(c) for c in cells):
                findings.append(f"{key}: a cell that is not a hash")
        # Queues the system writes (chunk and range messages, failure records); the events
        # queue holds the customer's own input, raw identities included, by design.
        for function, body in self.recorder.all():
            if function == "EventForwarderFunction":
                continue
            findings += s.findings(body, f"SQS body to {function}", "sqs body")
            if function == "AudienceUploadFunction":
                findings += [f"SQS chunk body: {problem}" for problem in _chunk_body_problems(body)]
        for dlq in ("chunk_dlq_url", "ranges_dlq_url", "ingest_failures_queue_url"):
            for body in self.queue_bodies(dlq):
                findings += s.findings(body, dlq, "sqs body")
        return findings  # fmt: skip


def _chunk_body_problems(body: str) -> list[str]:
    """A chunk message holds ids, keys, counts and hashes only: no free text beyond its fields."""
    try:
        message = json.loads(body)
    except ValueError:
        return []  # planted poison
    if not isinstance(message, dict):
        return []
    allowed = {"type", "job_id", "chunk_key", "rows", "md5"}
    unknown = set(message) - allowed
    return [f"unexpected fields {sorted(unknown)}"] if unknown else []


def pipeline_fixture(workdir: Path, **kwargs: Any) -> Iterator[Pipeline]:
    pipeline = Pipeline.start(workdir, **kwargs)
    try:
        yield pipeline
    finally:
        pipeline.stop()


Check = Callable[[Pipeline, Workload], list[str]]
