"""Commands for a shell beside ``make up``: ``env`` (no ``jq`` needed) and ``reports``.

* :func:`env_lines` — ``export`` lines that point the aws CLI and boto3 at the running stack and
  name its bucket and queues (``eval "$(make -s env)"``); with the aws CLI of ``.venv-aws`` first
  on ``PATH`` when ``make awscli`` (a prerequisite of ``make up``) installed it.
* :func:`download_reports` — a job's ``reports/<job_id>.json`` and ``rejects/<job_id>.csv`` from the
  segments bucket into ``.local/reports/`` as ``<job_id>.json`` and ``<job_id>.rejects.csv``.

Both read ``.local/stack.json`` and say ``start `make up` first`` when no stack runs there.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tiktok_local.progress import describe_job
from tiktok_local.stack_file import REPO_ROOT

AWS_CLI_VENV_BIN = REPO_ROOT / ".venv-aws" / "bin"

# Shell variable -> stack.json key. A fixed list: the stack's other names (TikTok URLs, secret
# names) would change how a later `make up` in the same shell behaves.
ENV_KEYS = {
    "AWS_ENDPOINT_URL": "aws_endpoint_url",
    "AWS_DEFAULT_REGION": "region",
    "SEGMENTS_BUCKET": "segments_bucket",
    "EVENTS_QUEUE_URL": "events_queue_url",
    "EVENTS_DLQ_URL": "events_dlq_url",
    "CHUNK_QUEUE_URL": "chunk_queue_url",
    "CHUNK_DLQ_URL": "chunk_dlq_url",
    "JOBS_TABLE": "jobs_table",
    "AUDIENCES_TABLE": "audiences_table",
    "EMULATOR_URL": "emulator_url",
    "CONNECT_URL": "connect_url",
}
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def env_lines(names: dict[str, Any], *, aws_cli_bin: Path | None = AWS_CLI_VENV_BIN) -> list[str]:
    """The ``export`` lines for the stack ``names`` describes (see the module docstring)."""
    lines = [
        f"# the local stack at {names['aws_endpoint_url']}: in this shell the aws CLI and boto3",
        "# now talk to moto (open a new shell for real AWS)",
        "unset AWS_PROFILE AWS_SESSION_TOKEN",
    ]
    lines += [f"export {var}={value}" for var, value in FAKE_CREDENTIALS.items()]
    for var, key in ENV_KEYS.items():
        value = names.get(key)
        if value not in (None, ""):
            lines.append(f"export {var}={shlex.quote(str(value))}")
    if aws_cli_bin is not None and (aws_cli_bin / "aws").exists():
        lines.append(f'export PATH={shlex.quote(str(aws_cli_bin))}:"$PATH"')
    return lines


class ReportsError(RuntimeError):
    """A job id that matches no report, or several."""


@dataclass
class DownloadedReport:
    report: dict[str, Any]
    report_path: Path
    rejects_path: Path | None
    rejects_lines: int

    def describe(self) -> str:
        text = f"{describe_job(self.report)}\n    {self.report_path}"
        if self.rejects_path is not None:
            rows = max(0, self.rejects_lines - 1)  # less the header line
            text += f"\n    {self.rejects_path} ({rows} rejected {'row' if rows == 1 else 'rows'})"
        return text


def _report_ids(s3: Any, bucket: str) -> list[str]:
    ids = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="reports/"):
        for obj in page.get("Contents") or []:
            key = obj["Key"]
            name = key[len("reports/") :]
            if "/" not in name and name.endswith(".json"):
                ids.append(name[: -len(".json")])
    return sorted(ids)


def _select(ids: list[str], wanted: list[str]) -> list[str]:
    if not wanted:
        return ids
    chosen = []
    for prefix in wanted:
        matches = [job_id for job_id in ids if job_id.startswith(prefix)]
        if not matches:
            raise ReportsError(f"no job report whose id starts with {prefix!r}")
        if len(matches) > 1:
            raise ReportsError(
                f"{prefix!r} matches {len(matches)} jobs ({', '.join(matches[:5])}…): "
                "give more of the id"
            )
        chosen.append(matches[0])
    return chosen


def download_reports(
    s3: Any, bucket: str, dest: Path, job_ids: list[str] | None = None
) -> list[DownloadedReport]:
    """Fetch the report and rejects of each job (each id may be a unique prefix; none = all)."""
    selected = _select(_report_ids(s3, bucket), list(job_ids or []))
    dest.mkdir(parents=True, exist_ok=True)
    done = []
    for job_id in selected:
        body = s3.get_object(Bucket=bucket, Key=f"reports/{job_id}.json")["Body"].read()
        report_path = dest / f"{job_id}.json"
        report_path.write_bytes(body)
        rejects_path: Path | None = dest / f"{job_id}.rejects.csv"
        lines = 0
        try:
            rejects = s3.get_object(Bucket=bucket, Key=f"rejects/{job_id}.csv")["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise
            rejects_path = None
        else:
            assert rejects_path is not None
            rejects_path.write_bytes(rejects)
            lines = rejects.count(b"\n") + (0 if rejects.endswith(b"\n") or not rejects else 1)
        done.append(DownloadedReport(json.loads(body), report_path, rejects_path, lines))
    return done
