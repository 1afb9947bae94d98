"""``tiktok-connector``: operate a TikTok Connector stack from a terminal.

Every command talks to the local stack (``.local/stack.json``, written by ``make up``) or, with
``--stack-name``, to a deployed stack (credentials and region the usual boto3 way). See README
"Operating it" for each command with an example of its output.

Exit codes: 0 done; 1 the thing looked at is not well (a failed job, an invalid connection, a
redrive that did not complete, an audience TikTok could not describe) or the stack could not be
read; 2 bad usage, or ``watch`` gave up waiting.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from tiktok_connector_cli import views
from tiktok_connector_cli.render import console
from tiktok_connector_cli.since import Since
from tiktok_connector_cli.stack import Stack, StackError, resolve_stack

F = TypeVar("F", bound=Callable[..., Any])


class CliError(click.ClickException):
    """An error for the user, printed wrapped to the terminal (exit 1)."""

    def show(self, file: Any = None) -> None:
        console(stderr=True).print(Text(f"Error: {self.format_message()}", style="red"))


# ---------------------------------------------------------------------------- the target


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and param.name:
        target = ctx.ensure_object(dict).setdefault("target", {})
        target[param.name] = value
    return value


def target_options(f: F) -> F:
    """``--stack-name``, ``--stack-json``, ``--region``, ``--profile`` on a command (and the
    group: ``tiktok-connector --stack-name prod jobs`` works too)."""
    options = [
        click.option(
            "--stack-name",
            envvar="TIKTOK_CONNECTOR_STACK_NAME",
            help="A deployed stack (CloudFormation name). Default: the local stack.",
            expose_value=False,
            callback=_remember,
        ),
        click.option(
            "--stack-json",
            type=click.Path(path_type=Path, dir_okay=False),
            help="The local stack's description (default: .local/stack.json of `make up`).",
            expose_value=False,
            callback=_remember,
        ),
        click.option(
            "--region",
            help="AWS region of a deployed stack.",
            expose_value=False,
            callback=_remember,
        ),
        click.option(
            "--profile",
            help="AWS profile for a deployed stack.",
            expose_value=False,
            callback=_remember,
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def stack_of(ctx: click.Context) -> Stack:
    """The stack this invocation targets (built once; tests put one in ``obj["stack"]``)."""
    obj = ctx.ensure_object(dict)
    if "stack" not in obj:
        try:
            obj["stack"] = resolve_stack(**obj.get("target", {}))
        except StackError as exc:
            raise CliError(str(exc)) from None
    stack: Stack = obj["stack"]
    return stack


def out(ctx: click.Context) -> Console:
    obj = ctx.ensure_object(dict)
    if "console" not in obj:
        obj["console"] = console()
    result: Console = obj["console"]
    return result


def now(ctx: click.Context) -> datetime:
    """The current time (tests fix it in ``obj["now"]``)."""
    fixed = ctx.ensure_object(dict).get("now")
    return fixed if isinstance(fixed, datetime) else datetime.now(UTC)


def name_of(stack: Stack, key: str) -> str:
    try:
        return stack.name(key)
    except StackError as exc:
        raise CliError(str(exc)) from None


class CliGroup(click.Group):
    """Turns AWS errors into one readable line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise CliError(
                f"AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}"
            ) from None
        except BotoCoreError as exc:
            raise CliError(f"AWS call failed: {exc}") from None
        except StackError as exc:
            raise CliError(str(exc)) from None


@click.group(cls=CliGroup, context_settings={"help_option_names": ["-h", "--help"]})
@target_options
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Operate a TikTok Connector stack: jobs, audiences with TikTok's sizes, event delivery,
    dead letters and their redrive, event connections, connect links.

    Talks to the local stack (`make up`) unless --stack-name names a deployed one.
    """
    ctx.ensure_object(dict)


# ---------------------------------------------------------------------------------- jobs


@cli.group(cls=CliGroup, invoke_without_command=True)
@click.option("--advertiser", help="Only this advertiser's jobs.")
@click.option("--audience", help="Only jobs of this audience name.")
@click.option(
    "--since", type=Since(), default="1d", show_default=True, help="30m, 1h, 1d, 2w or a date."
)
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@target_options
@click.pass_context
def jobs(
    ctx: click.Context, advertiser: str | None, audience: str | None, since: datetime, limit: int
) -> None:
    """Segment jobs, newest first (`jobs show JOB|S3-KEY` for one)."""
    if ctx.invoked_subcommand:
        return
    from tiktok_connector_cli.jobs import list_jobs

    stack = stack_of(ctx)
    rows = list_jobs(
        stack.client("dynamodb"),
        name_of(stack, "jobs_table"),
        since=since,
        advertiser=advertiser,
        audience=audience,
    )
    console_ = out(ctx)
    if not rows:
        console_.print(f"no jobs since {since:%Y-%m-%d %H:%M} UTC")
        return
    for renderable in views.jobs_by_advertiser(rows[:limit], now=now(ctx)):
        console_.print(renderable)
    if len(rows) > limit:
        console_.print(f"{len(rows) - limit} older job(s) not shown (--limit)", style="dim")


def _job_ref(stack: Stack, ref: str, version_id: str | None = None) -> tuple[str, str]:
    """(job id, what it was found from) for a job id or an S3 key."""
    from tiktok_connector_cli.jobs import (
        ObjectNotFound,
        job_for_object,
        looks_like_job_id,
        split_s3_ref,
    )

    if looks_like_job_id(ref) and not version_id:
        return ref, ref
    bucket, key = split_s3_ref(ref, name_of(stack, "segments_bucket"))
    try:
        found = job_for_object(stack.client("s3"), bucket, key, version_id)
    except ObjectNotFound as exc:
        raise CliError(str(exc)) from None
    return found.job_id, f"s3://{bucket}/{key}"


@jobs.command("show")
@click.argument("ref", metavar="JOB|S3-KEY")
@click.option("--version-id", help="The object version (default: the newest).")
@click.option("--rejects", "rejects_wanted", type=click.IntRange(0), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--refresh",
    is_flag=True,
    help="Ask TikTok for the audience's size again and rewrite the report first.",
)
@target_options
@click.pass_context
def jobs_show(
    ctx: click.Context,
    ref: str,
    version_id: str | None,
    rejects_wanted: int,
    as_json: bool,
    refresh: bool,
) -> None:
    """One job's whole report and its first rejected lines."""
    from tiktok_connector_cli.jobs import first_rejects, get_job

    stack = stack_of(ctx)
    job_id, found_from = _job_ref(stack, ref, version_id)
    bucket = name_of(stack, "segments_bucket")

    def read() -> Any:
        return get_job(
            stack.client("dynamodb"),
            stack.client("s3"),
            table=name_of(stack, "jobs_table"),
            bucket=bucket,
            job_id=job_id,
        )

    view = read()
    if view is None:
        raise CliError(
            f"no job {job_id} ({found_from}): ingest has not started it (is the key under "
            "segments/? see `tiktok-connector dlq --queue ingest-failures`)"
        )
    if refresh:
        _refresh_size(ctx, stack, job_id, bucket)
        view = read() or view
    if as_json:
        click.echo(json.dumps(view.report, indent=2))
    else:
        rejects = (
            first_rejects(stack.client("s3"), bucket=bucket, job_id=job_id, limit=rejects_wanted)
            if rejects_wanted
            else None
        )
        for renderable in views.job_details(view, rejects, rejects_wanted=rejects_wanted):
            out(ctx).print(renderable)
    if view.status == "failed":
        ctx.exit(1)


def _refresh_size(ctx: click.Context, stack: Any, job_id: str, bucket: str) -> None:
    """Read the job's audience size from TikTok again (``tiktok.audience_size`` …)."""
    from tiktok_connector.audiences.api import AudienceApi
    from tiktok_connector.audiences.size import refresh_size
    from tiktok_connector.segments.jobs import JobStore

    client, tokens = _tiktok(stack)
    jobs_store = JobStore(name_of(stack, "jobs_table"), dynamodb=stack.client("dynamodb"))
    size = refresh_size(
        jobs_store, job_id, AudienceApi(client, tokens), s3=stack.client("s3"), bucket=bucket
    )
    if size is None:
        out(ctx).print("no audience size to refresh: the job has not succeeded with an audience")
    elif size.size_unknown_reason:
        out(ctx).print(f"audience size unknown: {size.size_unknown_reason}", style="yellow")


# --------------------------------------------------------------------------------- watch


@cli.command()
@click.argument("s3_key", metavar="S3-KEY")
@click.option("--version-id", help="The object version (default: the newest).")
@click.option(
    "--timeout",
    type=click.FloatRange(0),
    default=3600,
    show_default=True,
    help="Seconds to wait for the file, its job and its end.",
)
@click.option("--interval", type=click.FloatRange(0.05), default=1.0, show_default=True)
@target_options
@click.pass_context
def watch(
    ctx: click.Context, s3_key: str, version_id: str | None, timeout: float, interval: float
) -> None:
    """Follow one file's job to its end (exit 1 when it failed, 2 on timeout).

    Waits for the file and for its job to appear: run it right after `aws s3 cp`.
    """
    from tiktok_connector_cli.jobs import (
        JobRef,
        JobView,
        ObjectNotFound,
        get_job,
        job_for_object,
        progress_of,
        split_s3_ref,
    )

    stack = stack_of(ctx)
    bucket, key = split_s3_ref(s3_key, name_of(stack, "segments_bucket"))
    table_name = name_of(stack, "jobs_table")
    s3, dynamodb = stack.client("s3"), stack.client("dynamodb")
    console_ = out(ctx)
    deadline = time.monotonic() + timeout
    phase = ""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console_,
        transient=False,
    ) as bar:
        task = bar.add_task("waiting for the file", total=None)

        def say(new_phase: str) -> None:
            nonlocal phase
            if new_phase != phase:
                phase = new_phase
                bar.console.print(new_phase)

        view: JobView | None = None
        while True:
            ref: JobRef | None = None
            try:
                ref = job_for_object(s3, bucket, key, version_id)
            except ObjectNotFound:
                say(f"waiting for s3://{bucket}/{key}")
            else:
                # Follow this version even if the key is uploaded again meanwhile.
                version_id = version_id or ref.version_id
            if ref is not None:
                view = get_job(dynamodb, s3, table=table_name, bucket=bucket, job_id=ref.job_id)
                if view is None:
                    say(f"job {ref.job_id}: waiting for ingest to start it")
            if view is not None:
                progress = progress_of(view)
                say(progress.phase if not view.ended else f"job {view.status}")
                bar.update(
                    task,
                    description=progress.phase,
                    completed=progress.completed,
                    total=progress.total or None,
                )
                if view.ended:
                    break
            if time.monotonic() >= deadline:
                bar.stop()
                what = f"job {ref.job_id}" if ref is not None else f"s3://{bucket}/{key}"
                console_.print(f"gave up after {timeout:g}s waiting for {what}", style="red")
                ctx.exit(2)
            time.sleep(interval)
    assert view is not None  # the loop only ends on an ended job
    console_.print(views.job_outcome_line(view))
    if view.status != "succeeded":
        ctx.exit(1)


# ----------------------------------------------------------------------------- audiences


def _tiktok(stack: Any) -> tuple[Any, Any]:
    """A TikTok client and the stored advertiser tokens of ``stack`` (never printed)."""
    from tiktok_connector.tiktok import RetryPolicy, TikTokClient
    from tiktok_connector.tokens import TokenStore

    tokens = TokenStore(
        oauth_table=name_of(stack, "oauth_table"),
        secrets_client=stack.client("secretsmanager"),
        dynamodb_resource=stack.resource("dynamodb"),
    )
    client = TikTokClient(name_of(stack, "tiktok_api_base_url"), retry=RetryPolicy(max_attempts=3))
    return client, tokens


@cli.command()
@click.option("--advertiser", help="Only this advertiser's audiences.")
@click.option(
    "--refresh",
    is_flag=True,
    help="First read again the sizes of recent jobs TikTok had not settled (their reports).",
)
@target_options
@click.pass_context
def audiences(ctx: click.Context, advertiser: str | None, refresh: bool) -> None:
    """Every audience we manage, with TikTok's size (cover_num), validity and expiry."""
    from tiktok_connector_cli.audiences import list_audiences

    stack = stack_of(ctx)
    if refresh:
        _refresh_sizes(ctx, stack)
    dynamodb = stack.client("dynamodb")
    client, tokens = _tiktok(stack)
    listing = list_audiences(
        dynamodb=dynamodb,
        table=name_of(stack, "audiences_table"),
        tokens=tokens,
        client=client,
        advertiser=advertiser,
    )
    if not listing.rows:
        out(ctx).print("no audiences" + (f" for advertiser {advertiser}" if advertiser else ""))
    for renderable in views.audiences_tables(listing, now=now(ctx)):
        out(ctx).print(renderable)
    if listing.problems or listing.audience_problems:
        ctx.exit(1)


def _refresh_sizes(ctx: click.Context, stack: Any) -> None:
    """What the hourly schedule does, now: the unsettled sizes of the last 7 days' jobs."""
    from tiktok_connector.audiences.api import AudienceApi
    from tiktok_connector.audiences.refresh import refresh_sizes
    from tiktok_connector.segments.jobs import JobStore

    client, tokens = _tiktok(stack)
    dynamodb = stack.client("dynamodb")
    table = name_of(stack, "jobs_table")
    result = refresh_sizes(
        JobStore(table, dynamodb=dynamodb),
        AudienceApi(client, tokens),
        dynamodb=dynamodb,
        table=table,
        s3=stack.client("s3"),
        bucket=name_of(stack, "segments_bucket"),
    )
    out(ctx).print(
        f"job reports refreshed: {result.checked} read, {result.settled} settled, "
        f"{result.unknown} unknown"
    )


# -------------------------------------------------------------------------------- events


@cli.command()
@click.option("--connection", help="Only this connection.")
@click.option(
    "--since", type=Since(), default="1h", show_default=True, help="30m, 1h, 1d or a date."
)
@target_options
@click.pass_context
def events(ctx: click.Context, connection: str | None, since: datetime) -> None:
    """Per connection and event name: sent, failed, refused, dropped (by reason)."""
    from tiktok_connector.events.delivery import DeliveryRecord

    stack = stack_of(ctx)
    record = DeliveryRecord(name_of(stack, "event_stats_table"), stack.client("dynamodb"))
    report = record.read(since=since, connection=connection, until=now(ctx))
    for renderable in views.events_tables(report):
        out(ctx).print(renderable)


# ----------------------------------------------------------------------------------- dlq

QUEUE_CHOICE = click.Choice(["events", "chunks", "ranges", "ingest-failures"])


@cli.group(cls=CliGroup, invoke_without_command=True)
@click.option("--queue", type=QUEUE_CHOICE, help="One queue (default: all four).")
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
@target_options
@click.pass_context
def dlq(ctx: click.Context, queue: str | None, limit: int) -> None:
    """Dead letters: how many, and a sample with their reason (`dlq redrive` moves them back)."""
    if ctx.invoked_subcommand:
        return
    from tiktok_connector_cli.dlq import QUEUES, Depth, depth, scan

    stack = stack_of(ctx)
    sqs = stack.client("sqs")
    chosen = [queue] if queue else list(QUEUES)
    counts: list[tuple[str, str, Depth | None, str]] = []
    samples = []
    for name in chosen:
        key, _ = QUEUES[name]
        try:
            url = stack.name(key)
        except StackError as exc:
            counts.append((name, "-", None, str(exc)))
            continue
        count = depth(sqs, url)
        counts.append((name, url.rsplit("/", 1)[-1], count, ""))
        if count.visible:
            samples.append((name, scan(sqs, url, name, limit=limit)))
    console_ = out(ctx)
    console_.print(views.dlq_summary(counts))
    for name, seen in samples:
        console_.print(views.dead_letters_table(name, seen.letters, now=now(ctx)))
        if seen.copies:
            console_.print(
                f"{seen.copies} extra cop{'y' if seen.copies == 1 else 'ies'} of the same "
                "message(s) folded in (a redrive moves each message once)",
                style="dim",
            )


@dlq.command("redrive")
@click.option("--queue", type=QUEUE_CHOICE, help="One queue (default: every non-empty one).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Say what would move; move nothing.")
@click.option("--timeout", type=click.FloatRange(1), default=300, show_default=True)
@target_options
@click.pass_context
def dlq_redrive(
    ctx: click.Context, queue: str | None, yes: bool, dry_run: bool, timeout: float
) -> None:
    """Move dead letters back to the queue they came from (SQS's redrive API).

    Copies of one events message are deleted first, so each message goes back once.
    """
    from tiktok_connector_cli.dlq import QUEUES, is_unsupported, plan_redrive, redrive

    stack = stack_of(ctx)
    sqs = stack.client("sqs")
    console_ = out(ctx)
    if queue == "ingest-failures":
        raise CliError(
            "ingest-failures cannot be redriven: it holds Lambda's failure records of S3 "
            "notifications, not messages of a queue. Fix the cause, then upload the file again "
            "(the `dlq --queue ingest-failures` listing names each file)."
        )
    chosen = [queue] if queue else [q for q, (_, target) in QUEUES.items() if target]
    plans = []
    for name in chosen:
        dlq_key, target_key = QUEUES[name]
        assert target_key is not None
        plan = plan_redrive(sqs, name, name_of(stack, dlq_key), name_of(stack, target_key))
        if plan.messages:
            plans.append(plan)
    if not plans:
        console_.print("nothing to redrive: " + ", ".join(chosen) + " empty")
        return
    for plan in plans:
        copies = len(plan.copies_to_delete)
        note = (
            f" ({plan.distinct} distinct: {copies} extra cop{'y' if copies == 1 else 'ies'} "
            "will be deleted)"
            if copies
            else ""
        )
        more = "" if plan.complete else f" (read the first {plan.messages:,} only)"
        console_.print(
            f"{plan.queue}: {plan.messages:,} message(s){note}{more} → "
            f"{plan.target_url.rsplit('/', 1)[-1]}"
        )
    if dry_run:
        console_.print("dry run: nothing moved")
        return
    if not yes:
        click.confirm("Move them back?", abort=True)
    failed = False
    for plan in plans:
        try:
            result = redrive(sqs, plan, timeout=timeout)
        except ClientError as exc:
            if is_unsupported(exc):
                raise CliError(
                    "this endpoint does not support SQS message move tasks (a local stack from "
                    "before they were added: restart `make up`)"
                ) from None
            raise
        console_.print(
            f"{plan.queue}: {result.status.lower()}, {result.moved:,} moved"
            + (f", {result.copies_deleted:,} extra copies deleted" if result.copies_deleted else "")
            + (f" ({result.failure_reason})" if result.failure_reason else "")
        )
        failed = failed or result.status != "COMPLETED"
    if failed:
        ctx.exit(1)


# --------------------------------------------------------------------------- connections


@cli.group(cls=CliGroup, invoke_without_command=True)
@target_options
@click.pass_context
def connections(ctx: click.Context) -> None:
    """Event connections, each validated like the forwarder does (`connections check NAME`)."""
    if ctx.invoked_subcommand:
        return
    from tiktok_connector_cli.connections import check_connection, connection_names

    stack = stack_of(ctx)
    secrets = stack.client("secretsmanager")
    prefix = name_of(stack, "connections_secret_prefix")
    checks = [check_connection(secrets, prefix, n) for n in connection_names(secrets, prefix)]
    for renderable in views.connections_table(checks):
        out(ctx).print(renderable)
    if any(not c.ok for c in checks):
        ctx.exit(1)


@connections.command("check")
@click.argument("name")
@target_options
@click.pass_context
def connections_check(ctx: click.Context, name: str) -> None:
    """One connection's settings, or exactly what is wrong with them (exit 1)."""
    from tiktok_connector_cli.connections import check_connection

    stack = stack_of(ctx)
    check = check_connection(
        stack.client("secretsmanager"), name_of(stack, "connections_secret_prefix"), name
    )
    for renderable in views.connection_details(check):
        out(ctx).print(renderable)
    if not check.ok:
        ctx.exit(1)


# -------------------------------------------------------------------------- connect-link


@cli.command("connect-link")
@click.option("--label", default="", help="Name of the authorization it creates.")
@click.option("--ttl", type=click.IntRange(60), default=None, help="Link lifetime in seconds.")
@click.option("--api-url", help="Base URL serving /connect (a custom domain).")
@target_options
@click.pass_context
def connect_link(ctx: click.Context, label: str, ttl: int | None, api_url: str | None) -> None:
    """Print a signed, single-use link that starts a TikTok authorization."""
    from tiktok_connector.oauth.tickets import DEFAULT_TICKET_TTL_SECONDS
    from tiktok_local.connect_link import make_connect_link

    stack = stack_of(ctx)
    link = make_connect_link(
        secretsmanager=stack.client("secretsmanager"),
        dynamodb=stack.client("dynamodb"),
        oauth_table=name_of(stack, "oauth_table"),
        state_key_secret_name=name_of(stack, "state_key_secret_name"),
        api_url=api_url or name_of(stack, "http_api_url"),
        label=label,
        ttl_seconds=ttl or DEFAULT_TICKET_TTL_SECONDS,
    )
    click.echo(link)


# -------------------------------------------------------------------------------- status


@cli.command()
@target_options
@click.pass_context
def status(ctx: click.Context) -> None:
    """One screen: the last day's jobs, dead letters, the last hour's events."""
    from datetime import timedelta

    from tiktok_connector.events.delivery import DeliveryRecord
    from tiktok_connector_cli.dlq import QUEUES, Depth, depth
    from tiktok_connector_cli.jobs import list_jobs

    stack = stack_of(ctx)
    console_ = out(ctx)
    moment = now(ctx)
    console_.print(f"{stack.description}", style="bold")
    rows = list_jobs(
        stack.client("dynamodb"), name_of(stack, "jobs_table"), since=moment - timedelta(days=1)
    )
    if rows:
        console_.print(views.jobs_table(rows[:10], now=moment, title="jobs, last 24 h"))
    else:
        console_.print("no jobs in the last 24 h")
    counts: list[tuple[str, str, Depth | None, str]] = []
    sqs = stack.client("sqs")
    for name, (key, _) in QUEUES.items():
        url = stack.names.get(key)
        counts.append(
            (name, url.rsplit("/", 1)[-1] if url else "-", depth(sqs, url) if url else None, "")
        )
    console_.print(views.dlq_summary(counts))
    if stack.names.get("event_stats_table"):
        report = DeliveryRecord(stack.names["event_stats_table"], stack.client("dynamodb")).read(
            since=moment - timedelta(hours=1), until=moment
        )
        for renderable in views.events_tables(report)[:1]:
            console_.print(renderable)


def main() -> None:
    """The console script's entry point."""
    cli(obj={})
