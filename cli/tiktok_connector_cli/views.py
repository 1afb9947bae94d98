"""What each command prints, built from plain data (no AWS): rich renderables and lines.

Every table comes from :func:`tiktok_connector_cli.render.table`, so all of them fit an 80-column
terminal without cutting a value (tests render them at width 80).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tiktok_connector.events.delivery import DeliveryReport
from tiktok_connector_cli.audiences import AudienceListing, AudienceRow
from tiktok_connector_cli.connections import ConnectionCheck, describe, endpoint
from tiktok_connector_cli.dlq import DeadLetter, Depth
from tiktok_connector_cli.jobs import JobRow, JobView, Rejects
from tiktok_connector_cli.render import age, compact, number, parse_time, table

STATUS_STYLE = {"succeeded": "green", "failed": "red", "running": "yellow"}


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


# ------------------------------------------------------------------------------------ jobs


def jobs_table(rows: Sequence[JobRow], *, now: datetime, title: str | None = None) -> Table:
    """``jobs``: newest first. The first column stacks the audience (and action), the file and
    TikTok's audience id (or the error code), so the counts keep their own narrow columns."""
    out = table(
        "age=",
        "audience / file / id",
        "status=",
        "read#",
        "accepted#",
        "rejected#",
        "chunks=",
        title=title,
    )
    out.columns[1].min_width = 20  # a TikTok audience id (19 digits) stays on one line
    for row in rows:
        cell = Text.assemble(
            (row.audience_name or "?", "bold"), f" ({row.action or '?'})\n", row.filename
        )
        if row.changes is not None:
            added, removed, unchanged = row.changes
            cell.append(f"\n+{compact(added)} −{compact(removed)} ={compact(unchanged)}")
        if row.audience_id:
            cell.append(f"\n{row.audience_id}", style="cyan")
        elif row.error_code:
            cell.append(f"\n{row.error_code}", style="red")
        out.add_row(
            age(parse_time(row.started_at), now),
            cell,
            status_text(row.status),
            compact(row.read),
            compact(row.accepted),
            compact(row.rejected),
            f"{row.chunks_done}/{row.chunks_total}",
        )
    return out


def jobs_by_advertiser(rows: Sequence[JobRow], *, now: datetime) -> list[RenderableType]:
    """One table per advertiser (one table when there is one advertiser)."""
    groups: dict[str, list[JobRow]] = {}
    for row in rows:
        groups.setdefault(row.advertiser_id or "(no advertiser: bad key)", []).append(row)
    return [
        jobs_table(group, now=now, title=f"advertiser {advertiser}")
        for advertiser, group in groups.items()
    ]


def _sync_lines(report: dict[str, Any]) -> str:
    """A sync job: what it changed per member type, and its place in the audience's history."""
    sync = report.get("sync") or {}
    changes = report.get("changes")
    lines = [
        f"{kind}: +{number(int(c.get('added', 0)))} −{number(int(c.get('removed', 0)))} "
        f"={number(int(c.get('unchanged', 0)))}"
        for kind, c in sorted((changes or {}).items())
    ] or ["changes: not known yet (the difference is still being computed)"]
    previous = sync.get("previous_generation") or "none (first sync)"
    lines.append(f"compared with: {previous}")
    if sync.get("reconciled_generations"):
        lines.append(f"reconciled failed: {', '.join(sync['reconciled_generations'])}")
    if sync.get("members") is not None:
        lines.append(f"members after: {number(int(sync['members']))}")
    lines.append("synced state: " + ("this file" if sync.get("committed") else "not yet this file"))
    return "\n".join(lines)


def _duration(start: str | None, end: str | None) -> str:
    a, b = parse_time(start), parse_time(end)
    if a is None or b is None:
        return ""
    seconds = int((b - a).total_seconds())
    return f" ({seconds // 60}m {seconds % 60}s)" if seconds >= 60 else f" ({seconds}s)"


def job_details(view: JobView, rejects: Rejects | None, *, rejects_wanted: int) -> list[Any]:
    """``jobs show``: every field of the report, then the first rejected lines."""
    report = view.report
    source = report.get("source") or {}
    tiktok = report.get("tiktok") or {}
    rows = report.get("rows") or {}
    chunks = report.get("chunks") or {}
    error = report.get("error")
    fields = table("field=", "value")
    fields.show_header = False
    fields.add_row("job", Text.assemble(str(report.get("job_id")), "  ", status_text(view.status)))
    version = source.get("version_id")
    fields.add_row(
        "file",
        f"s3://{source.get('bucket')}/{source.get('key')}"
        + (f" (version {version})" if version else ""),
    )
    fields.add_row("advertiser", str(report.get("advertiser_id") or "-"))
    fields.add_row(
        "audience",
        f"{report.get('audience_name') or '-'}  (api {report.get('api') or '-'}, "
        f"action {report.get('action') or '-'})",
    )
    fields.add_row("started", str(report.get("started_at") or "-"))
    fields.add_row(
        "finished",
        str(report.get("finished_at") or "-")
        + _duration(report.get("started_at"), report.get("finished_at")),
    )
    fields.add_row(
        "rows",
        "  ".join(
            f"{name} {number(int(rows.get(name, 0)))}"
            for name in ("read", "accepted", "rejected", "blank", "duplicates")
        ),
    )
    if not view.ended and view.ranges_total:
        fields.add_row("ranges", f"{view.ranges_done}/{view.ranges_total} read")
    fields.add_row("chunks", f"{chunks.get('done', 0)}/{chunks.get('total', 0)} uploaded")
    if report.get("sync"):
        fields.add_row("sync", _sync_lines(report))
    fields.add_row("TikTok audience", str(tiktok.get("audience_id") or "-"))
    if tiktok.get("status_checked_at"):
        fields.add_row("audience size", _audience_size(tiktok))
    file_paths = list(tiktok.get("file_paths") or [])
    request_ids = list(tiktok.get("request_ids") or [])
    fields.add_row("TikTok file paths", _listing(file_paths))
    fields.add_row("TikTok request ids", _listing(request_ids))
    if isinstance(error, dict):
        request = f" (TikTok request {error['request_id']})" if error.get("request_id") else ""
        fields.add_row(
            "error", Text(f"{error.get('code')}: {error.get('message')}{request}", style="red")
        )
    else:
        fields.add_row("error", "-")
    if not view.from_table:
        fields.add_row("source", "reports/ in S3 (the job's table item has expired)")
    out: list[Any] = [fields]
    identifiers = report.get("identifiers") or {}
    if identifiers:
        ids = table("identifier", "accepted#", "rejected#", title="identifiers")
        for name, counts in identifiers.items():
            ids.add_row(
                name,
                number(int(counts.get("accepted", 0))),
                number(int(counts.get("rejected", 0))),
            )
        out.append(ids)
    by_reason = report.get("rejected_by_reason") or {}
    if by_reason:
        why = table("reason", "rows#", title="rejected rows by reason")
        for reason, n in sorted(by_reason.items(), key=lambda kv: (-int(kv[1]), kv[0])):
            why.add_row(reason, number(int(n)))
        out.append(why)
    if rejects is not None and rejects.rows:
        first = table("line#", "reason", "column", title=f"first {rejects_wanted} rejected lines")
        for line, reason, column in rejects.rows:
            first.add_row(line, reason, column or "-")
        out.append(first)
        if rejects.more:
            where = f"s3://{source.get('bucket')}/rejects/{report.get('job_id')}.csv"
            out.append(Text(f"more rejected lines in {where}", style="dim"))
    elif int(rows.get("rejected", 0)) and view.status == "running":
        out.append(Text("rejected lines are written when the file has been read", style="dim"))
    return out


def _listing(values: Sequence[str], shown: int = 3) -> str:
    if not values:
        return "-"
    head = ", ".join(values[:shown])
    rest = len(values) - shown
    return f"{head} and {rest} more (--json lists all)" if rest > 0 else head


def job_outcome_line(view: JobView) -> Text:
    """The line ``watch`` ends with."""
    report = view.report
    rows = report.get("rows") or {}
    tiktok = report.get("tiktok") or {}
    text = Text.assemble(
        ("job ", ""),
        (str(report.get("job_id")), "bold"),
        " ",
        status_text(view.status),
        f": {number(int(rows.get('accepted', 0)))} of {number(int(rows.get('read', 0)))} rows "
        f"accepted, {number(int(rows.get('rejected', 0)))} rejected",
    )
    if tiktok.get("audience_id"):
        text.append(f"; TikTok audience {tiktok['audience_id']}")
    error = report.get("error")
    if isinstance(error, dict):
        text.append(f"\nerror {error.get('code')}: {error.get('message')}", style="red")
    return text


# ------------------------------------------------------------------------------- audiences


def _valid(row: AudienceRow) -> str:
    if row.tiktok is None or row.tiktok.is_valid is None:
        return "?"
    return "yes" if row.tiktok.is_valid else "no"


def _expires(row: AudienceRow) -> str:
    if row.tiktok is None or not row.tiktok.expired_time:
        return "-"
    day = row.tiktok.expired_time[:10]
    return f"{day} soon" if row.tiktok.is_expiring else day


def _changed(row: AudienceRow, now: datetime) -> str:
    if row.tiktok is not None and row.tiktok.last_change:
        return f"{age(parse_time(row.tiktok.last_change), now)} {row.tiktok.last_action}".strip()
    if row.updated_at:
        return age(datetime.fromtimestamp(row.updated_at, UTC), now)
    return "-"


def audiences_tables(listing: AudienceListing, *, now: datetime) -> list[Any]:
    """``audiences``: per advertiser, each audience with TikTok's size, validity and expiry."""
    out: list[Any] = []
    groups: dict[str, list[AudienceRow]] = {}
    for row in listing.rows:
        groups.setdefault(row.advertiser_id, []).append(row)
    for advertiser, rows in groups.items():
        t = table(
            "name",
            "api=",
            "audience id=",
            "size#",
            "valid=",
            "expires",
            "changed",
            title=f"advertiser {advertiser}",
        )
        for row in rows:
            size = row.tiktok.cover_num if row.tiktok is not None else None
            marks = [m for m in (row.state if row.state != "ready" else "", row.sync) if m]
            t.add_row(
                f"{row.name} ({', '.join(marks)})" if marks else row.name,
                row.api,
                row.audience_id or "-",
                compact(size) if size is not None else "?",
                _valid(row),
                _expires(row),
                _changed(row, now),
            )
        out.append(t)
        if advertiser in listing.problems:
            out.append(Text(f"  sizes unknown: {listing.problems[advertiser]}", style="red"))
        for row in rows:
            problem = listing.audience_problems.get(row.audience_id or "")
            if problem:
                out.append(Text(f"  {row.name}: {problem}", style="red"))
    if listing.staging:
        out.append(
            Text(
                f"{listing.staging} partner replace(s) still building a new audience "
                "(not listed until they take the name over)",
                style="dim",
            )
        )
    return out


# --------------------------------------------------------------------------------- events


def events_tables(report: DeliveryReport) -> list[Any]:
    """``events``: per connection and event name, then drops by reason, dead letters, fields."""
    since = report.since.strftime("%Y-%m-%d %H:%M")
    out: list[Any] = []
    rows = report.event_rows()
    main = table(
        "connection",
        "event",
        "sent#",
        "failed#",
        "refused#",
        "dropped#",
        title=f"events since {since} UTC (by the hour)",
    )
    for connection, event, counts in rows:
        main.add_row(
            connection,
            event,
            compact(counts.sent),
            compact(counts.failed),
            compact(counts.refused),
            compact(counts.dropped_total),
        )
    out.append(main)
    if not rows:
        out.append(Text("no events in this window", style="dim"))
    # Ids can be long (an SQS message id and the event's position): plain lines wrap whole.
    drops = [
        Text.assemble(
            f"  {connection} ",
            (event, "bold"),
            f": {reason} {number(n)} (last: {counts.last_drop.get(reason, '-')})",
        )
        for connection, event, counts in rows
        for reason, n in sorted(counts.dropped.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    if drops:
        out.append(Text("dropped, by reason (and the last such event's id)", style="bold"))
        out.extend(drops)
    messages = report.message_rows()
    dead = [
        Text(
            f"  {connection}: {reason} {number(n)} "
            f"(last message: {counts.last_dead_letter.get(reason, '-')})"
        )
        for connection, counts in messages
        for reason, n in sorted(counts.dead_lettered.items())
    ]
    if dead:
        out.append(
            Text("messages moved to the events DLQ (see `tiktok-connector dlq`)", style="bold")
        )
        out.extend(dead)
    left = table("connection", "field: reason", "events#", title="fields left out of sent events")
    for connection, counts in messages:
        for what, n in sorted(counts.left_out.items()):
            left.add_row(connection, what.replace(":", ": ", 1), compact(n))
    if left.row_count:
        out.append(left)
    if any(counts.failed for _, _, counts in rows):
        out.append(
            Text(
                "failed: TikTok did not take the request for now; SQS redelivers those messages "
                "(a retried event counts again)",
                style="dim",
            )
        )
    return out


# ----------------------------------------------------------------------------------- dlq


def dlq_summary(depths: Iterable[tuple[str, str, Depth | None, str]]) -> Table:
    """(queue, DLQ name, depth or None, problem) rows."""
    t = table("queue=", "dead-letter queue", "messages#", "in flight#", title="dead letters")
    for queue, name, count, problem in depths:
        if count is None:
            t.add_row(queue, name, "?", "?")
            if problem:
                t.add_row("", Text(problem, style="red"), "", "")
            continue
        t.add_row(queue, name, number(count.visible), number(count.in_flight))
    return t


def dead_letters_table(queue: str, letters: Sequence[DeadLetter], *, now: datetime) -> Table:
    """A sample of one queue's dead letters (copies folded), without bodies."""
    title = f"{queue}: {len(letters)} shown"
    if queue == "events":
        t = table("when=", "connection", "reason=", "detail", "copies#", title=title)
        for letter in letters:
            when = parse_time(letter.failed_at) or datetime.fromtimestamp(letter.sent_at, UTC)
            if letter.reason:
                detail = letter.detail or "-"
                if letter.tiktok_code:
                    detail = f"TikTok {letter.tiktok_code}: {detail}"
                    if letter.tiktok_request_id:
                        detail += f" (request {letter.tiktok_request_id})"
                reason = letter.reason
            else:
                reason = f"after {letter.receive_count} receives"
                detail = f"{letter.summary}; moved by SQS (maxReceiveCount), no reason recorded"
            t.add_row(
                age(when, now), letter.connection or "default", reason, detail, str(letter.copies)
            )
        return t
    t = table("when=", "receives#", "message", title=title)
    for letter in letters:
        t.add_row(
            age(datetime.fromtimestamp(letter.sent_at, UTC), now),
            str(letter.receive_count),
            letter.summary,
        )
    return t


# --------------------------------------------------------------------------- connections


def connections_table(checks: Sequence[ConnectionCheck]) -> list[Any]:
    t = table("connection", "status=", "source", "event source id", "test code=")
    notes: list[Any] = []
    for check in checks:
        settings = check.settings
        if settings is not None:
            t.add_row(
                check.name,
                Text("ok", style="green"),
                settings.event_source_type.value,
                settings.event_source_id,
                "yes" if settings.test_event_code else "no",
            )
        else:
            t.add_row(check.name, Text("invalid", style="red"), "-", "-", "-")
            for problem in check.problems:
                notes.append(Text(f"  {check.name}: {problem}", style="red"))
    out: list[Any] = [t, *notes]
    if not checks:
        out.append(Text("no connections (secrets under the connections prefix)", style="dim"))
    return out


def connection_details(check: ConnectionCheck) -> list[Any]:
    verdict = "ok" if check.ok else "missing" if check.missing else "invalid"
    header = Text.assemble(
        ("connection ", ""),
        (check.name, "bold"),
        "  ",
        Text(verdict, style="green" if check.ok else "red"),
        f"  (secret {check.secret_name})",
    )
    out: list[Any] = [header]
    if check.settings is not None:
        t = table("setting=", "value")
        t.add_row("access_token", "set (not shown)")
        for key, value in describe(check.settings):
            t.add_row(key, value)
        out.append(t)
        out.append(Text(f"events go to {endpoint(check.settings)}", style="dim"))
    else:
        if check.keys:
            token = "access_token set (not shown)" if check.has_token else "no access_token"
            out.append(Text(f"keys: {', '.join(check.keys)}; {token}", style="dim"))
        for problem in check.problems:
            out.append(Text(f"  {problem}", style="red"))
    return out


def group(items: Sequence[Any]) -> Group:
    return Group(*items)


def _audience_size(tiktok: dict[str, Any]) -> str:
    """``1,234 matched (valid) at <time>``, or why TikTok's size is unknown."""
    checked = f" at {tiktok['status_checked_at']}"
    if tiktok.get("audience_size") is None:
        return f"unknown: {tiktok.get('size_unknown_reason') or '-'}{checked}"
    state = "valid" if tiktok.get("is_valid") else "TikTok still computing it"
    return f"{number(int(tiktok['audience_size']))} matched ({state}){checked}"
