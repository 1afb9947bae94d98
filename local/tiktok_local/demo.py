"""``python -m tiktok_local demo``: run the pipeline on a fresh local stack, print what reached TikTok.

The demo is a list of steps, :data:`DEMO_STEPS`, each ``step(stack, say)``: it drives the stack
(authorize, drop a file, send events, ...) and reports with ``say(line)``; it raises to fail the
demo. To add a step when your function lands, write ``tiktok_local/demo_<topic>.py`` with a step
function and append it to :data:`DEMO_STEPS` below (order matters: authorize before uploading).

After the steps the demo waits for the dispatcher to go idle, fails if any DLQ or the ingest
failure queue holds a message, and prints the emulator's state: audiences with member counts and
the events received. Exit status 0 only if all of that went well. Secrets and tokens are never
printed.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import requests

from tiktok_local.demo_audiences import check_audiences
from tiktok_local.demo_events import send_sample_events
from tiktok_local.demo_oauth import authorize_advertisers
from tiktok_local.demo_segments import drop_sample_segment_file
from tiktok_local.stack import LocalStack, Ports

Say = Callable[[str], None]
DemoStep = Callable[[LocalStack, Say], None]

IDLE_TIMEOUT_S = 40.0


class DemoFailure(RuntimeError):
    """A demo step found the pipeline misbehaving."""


def show_resources(stack: LocalStack, say: Say) -> None:
    """List what the stack created in moto from template.yaml."""
    s3, sqs = stack.client("s3"), stack.client("sqs")
    dynamodb, secrets = stack.client("dynamodb"), stack.client("secretsmanager")
    say(f"moto at {stack.aws_endpoint_url} ({stack.region})")
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    say(f"  buckets: {', '.join(buckets)}")
    queues = sorted(u.rsplit("/", 1)[-1] for u in sqs.list_queues().get("QueueUrls", []))
    say(f"  queues:  {', '.join(q for q in queues if '-local-' not in q)}")
    say(f"  tables:  {', '.join(dynamodb.list_tables()['TableNames'])}")
    names = sorted(s["Name"] for s in secrets.list_secrets()["SecretList"])
    say(f"  secrets: {', '.join(names)}")
    if stack.names["segments_bucket"] not in buckets:
        raise DemoFailure("the segments bucket was not created")
    active = [s.function.function_name for s in stack.dispatcher.sqs_sources]
    active += [s.function.function_name for s in stack.dispatcher.s3_sources]
    say(f"  dispatcher: {', '.join(sorted(set(active))) or 'no function handlers yet'}")
    if stack.dispatcher.skipped:
        say(f"  not yet built: {', '.join(sorted(set(stack.dispatcher.skipped)))}")


def check_emulator(stack: LocalStack, say: Say) -> None:
    """Reach the TikTok emulator with the app credentials the stack put in Secrets Manager."""
    if stack.emulator is None:
        say("TikTok emulator: not running")
        return
    app = json.loads(
        stack.client("secretsmanager").get_secret_value(SecretId=stack.names["app_secret_name"])[
            "SecretString"
        ]
    )
    token = stack.emulator.state.issue_token()
    response = requests.get(
        f"{stack.emulator.api_base_url}/oauth2/advertiser/get/",
        params={"app_id": app["app_id"], "secret": app["secret"]},
        headers={"Access-Token": token},
        timeout=10,
    )
    body = response.json()
    if body.get("code") != 0:
        raise DemoFailure(f"emulator answered code {body.get('code')}: {body.get('message')}")
    advertisers = [a["advertiser_id"] for a in body["data"]["list"]]
    say(f"TikTok emulator at {stack.emulator.base_url}: app {app['app_id']} reaches")
    say(f"  advertisers {', '.join(advertisers)} (/oauth2/advertiser/get/)")


DEMO_STEPS: list[DemoStep] = [
    authorize_advertisers,
    show_resources,
    check_emulator,
    drop_sample_segment_file,
    send_sample_events,
]
DEMO_STEPS.append(check_audiences)  # after the sample segment file is dropped: waits for its job


def _queue_depth(stack: LocalStack, url: str) -> int:
    attrs = stack.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attrs.values())


def check_failure_queues(stack: LocalStack, say: Say) -> None:
    """Fail if anything ended in a DLQ or the ingest failure destination."""
    keys = [k for k in stack.names if k.endswith("_dlq_url") or k == "ingest_failures_queue_url"]
    stuck = {k: n for k in keys if (n := _queue_depth(stack, stack.names[k]))}
    if stuck:
        raise DemoFailure(f"messages in failure queues: {stuck}")
    say("failure queues: all empty")


def report_tiktok(stack: LocalStack, say: Say) -> dict[str, Any]:
    """Print what reached TikTok (the emulator's state); returns the snapshot."""
    if stack.emulator is None:
        say("what reached TikTok: (emulator not running)")
        return {}
    snapshot: dict[str, Any] = stack.emulator.state.snapshot(with_members=False, with_events=True)
    say("what reached TikTok:")
    audiences = snapshot.get("audiences") or []
    say(f"  audiences: {len(audiences)}")
    for audience in audiences:
        say(
            f"    {audience['advertiser_id']} / {audience['name']!r}"
            f" (id {audience['audience_id']}, {audience['calculate_type']}):"
            f" {audience['member_count']} members"
        )
    events = snapshot.get("events") or []
    say(f"  events: {len(events)}")
    by_kind = Counter(
        (e.get("event_source_id"), (e.get("event") or {}).get("event", "?")) for e in events
    )
    for (source_id, name), count in sorted(by_kind.items(), key=str):
        say(f"    {source_id} {name}: {count}")
    return snapshot


# The handlers' own INFO logs and EMF metric lines would bury the demo's report.
QUIET_HANDLERS = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}


def demo_stack_options(
    *, time_scale: float | None = None, ports: Ports | None = None, verbose: bool = False
) -> dict[str, Any]:
    """The demo's ``LocalStack.start`` options: ephemeral ports and no ``stack.json``, so that
    ``make run`` works beside a running ``make up`` and leaves its file alone."""
    options: dict[str, Any] = {
        "write_stack_json": False,
        "ports": ports or Ports(),
        "env_overrides": {} if verbose else dict(QUIET_HANDLERS),
    }
    if time_scale is not None:
        options["time_scale"] = time_scale
    return options


def run_demo(
    say: Say = print,
    *,
    time_scale: float | None = None,
    ports: Ports | None = None,
    verbose: bool = False,
) -> int:
    """Run every step on a fresh stack; 0 when everything went well."""
    started = time.monotonic()
    kwargs = demo_stack_options(time_scale=time_scale, ports=ports, verbose=verbose)
    try:
        with LocalStack.start(**kwargs) as stack:
            for step in DEMO_STEPS:
                say(f"== {step.__name__.replace('_', ' ')}")
                step(stack, say)
            say("== waiting for the pipeline to go idle")
            if not stack.wait_idle(IDLE_TIMEOUT_S):
                raise DemoFailure(f"the pipeline did not go idle within {IDLE_TIMEOUT_S:.0f} s")
            check_failure_queues(stack, say)
            failed = [i for i in stack.dispatcher.invocations if i.outcome != "ok"]
            if failed:
                say(f"note: {len(failed)} invocation(s) failed and were retried")
            report_tiktok(stack, say)
    except Exception as exc:
        say(f"DEMO FAILED: {type(exc).__name__}: {exc}")
        return 1
    say(f"demo finished in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_demo())
