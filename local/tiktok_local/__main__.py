"""``python -m tiktok_local {up,demo,connect-link,env,reports}``.

* ``up`` — start the local stack (moto, TikTok emulator, dispatcher, OAuth HTTP front), write
  ``.local/stack.json`` once everything is ready, print how to use it, serve until SIGINT/SIGTERM.
  Ports 4566 (moto), 4700 (emulator) and 3000 (HTTP front) when free, ephemeral otherwise.
  The terminal gets readable lines (one per invocation, OAuth request and job change, and
  warnings); what the functions write to stdout — on AWS, CloudWatch Logs: Powertools JSON logs,
  EMF metrics — and every log record go to ``.local/logs/functions.log`` (truncated at start).
  Refuses to start (exit 1) when a live stack already owns ``.local/stack.json``.
* ``demo`` — run :mod:`tiktok_local.demo` on a fresh in-process stack (ephemeral ports) and print
  what reached TikTok; non-zero exit on any failure. It writes no stack.json, so it runs beside
  ``up`` without touching that stack's file; the functions' output goes to
  ``.local/logs/demo.log``.
* ``connect-link`` — delegated to ``tiktok_local.connect_link.main(argv) -> int``.
* ``env`` — ``export`` lines for a shell beside ``up`` (``eval "$(make -s env)"``).
* ``reports [JOB_ID ...]`` — download job reports and rejects into ``.local/reports/``.

``env`` and ``reports`` exit 2 with "start `make up` first" when no stack runs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

from tiktok_local.stack_file import (
    NoLocalStack,
    StackAlreadyRunning,
    default_workdir,
    refuse_if_running,
    running_stack_names,
    stack_json_path,
)

if TYPE_CHECKING:  # tiktok_local.stack imports moto: only `up` and `demo` need it at run time
    from tiktok_local.stack import LocalStack


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # moto's and the servers' per-request access lines drown everything else.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("botocore").setLevel(logging.WARNING)


def function_log_path(workdir: Path) -> Path:
    """Where ``up`` writes the functions' output and every log record."""
    return workdir / ".local" / "logs" / "functions.log"


def usage_summary(stack: LocalStack, log_path: Path | None = None) -> str:
    """What `up` prints: where things are and the walkthrough's commands."""
    n = stack.names
    segment_key = "segments/7100000000000000001/Spring Buyers/create/buyers.csv"
    attrs = '{"connection": {"DataType": "String", "StringValue": "default"}}'
    target = f'"s3://$SEGMENTS_BUCKET/{segment_key}"'
    lines = [
        f"local stack ready (pid {n.get('pid', '?')})",
        f"  stack.json        {stack.stack_json_path}",
        f"  AWS (moto)        {n['aws_endpoint_url']}  region {n['region']}",
        f"  segments bucket   {n['segments_bucket']}",
        f"  events queue      {n['events_queue_url']}",
        f"  chunk queue       {n['chunk_queue_url']}",
        f"  connect URL       {n['connect_url']}  (needs a ticket: make connect-link)",
        f"  TikTok API        {n['tiktok_api_base_url']}",
        f"  TikTok emulator   {n['emulator_url']}  (state: {n['emulator_url']}/_emulator/state)",
        f"  time scale        {n['time_scale']} (visibility timeouts and async retry waits)",
    ]
    if log_path is not None:
        lines.append(f"  function logs     {log_path}  (Powertools JSON, EMF metrics)")
    lines += [
        "",
        "in another shell, from the repository (README: The local stack):",
        "  make connect-link     # open the link, click Confirm: advertisers authorized",
        '  eval "$(make -s env)" # aws CLI, moto endpoint, fake credentials, $SEGMENTS_BUCKET, ...',
        f"  aws s3 cp events/samples/buyers.csv {target}",
        '  aws --endpoint-url "$AWS_ENDPOINT_URL" sqs send-message --queue-url "$EVENTS_QUEUE_URL" \\',
        "      --message-body file://events/samples/mparticle-batch.json \\",
        f"      --message-attributes {shlex.quote(attrs)}",
        "  make reports          # job reports and rejects into .local/reports/",
        '  curl -s "$EMULATOR_URL/_emulator/state?members=0&events=0"   # what reached TikTok',
        "",
        "Ctrl-C to stop. One line per invocation, OAuth request and job follows.",
    ]
    return "\n".join(lines)


def _configure_up_logging(terminal: IO[str], log_file: IO[str], verbose: bool) -> None:
    """Every record to the log file; warnings and errors to the terminal too."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    to_file = logging.StreamHandler(log_file)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    to_terminal = logging.StreamHandler(terminal)
    to_terminal.setLevel(logging.WARNING)
    to_terminal.setFormatter(
        logging.Formatter("%(asctime)s  %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    )
    root.handlers[:] = [to_file, to_terminal]
    # moto's and the servers' per-request access lines drown everything else.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("botocore").setLevel(logging.WARNING)


def cmd_up(args: argparse.Namespace) -> int:
    from tiktok_local.progress import Progress, ReportWatcher
    from tiktok_local.stack import LocalStack, Ports

    workdir = Path(args.workdir)
    try:
        refuse_if_running(stack_json_path(workdir))  # before truncating its log file
    except StackAlreadyRunning as exc:
        print(f"up: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    terminal = sys.stdout
    log_path = function_log_path(workdir)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w", encoding="utf-8", buffering=1) as log_file:
        _configure_up_logging(terminal, log_file, args.verbose)

        def say(line: str) -> None:
            print(line, file=terminal, flush=True)

        # The handlers print to stdout (Powertools captures sys.stdout when a handler module is
        # imported, on its first invocation): on AWS that is CloudWatch Logs, here the log file.
        sys.stdout = log_file
        try:
            try:
                options: dict[str, Any] = {"workdir": workdir, "ports": Ports.preferred()}
                if args.time_scale is not None:
                    options["time_scale"] = args.time_scale
                stack = LocalStack.start(**options)
            except StackAlreadyRunning as exc:
                print(f"up: {exc}", file=sys.stderr)
                return 1
            progress = Progress(say, stack_name=str(stack.names.get("stack_name", "")))
            stack.dispatcher.on_invocation = progress.invocation
            if stack.http_front is not None:
                stack.http_front.on_request = progress.http_request
            watcher = ReportWatcher(
                stack.client("s3"), stack.names["segments_bucket"], progress.job
            ).start()
            try:
                say(usage_summary(stack, log_path))
                while not stop.wait(0.5):
                    pass
            finally:
                say("stopping the local stack")
                watcher.stop()
                stack.stop()
        finally:
            sys.stdout = terminal
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    terminal = sys.stdout
    log_path = Path(args.workdir) / ".local" / "logs" / "demo.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w", encoding="utf-8", buffering=1) as log_file:
        # As for `up`: the demo's own lines go to the terminal, what the functions print (their
        # Powertools JSON and EMF metrics, CloudWatch Logs on AWS) and log records to the file.
        _configure_up_logging(terminal, log_file, args.verbose)
        sys.stdout = log_file
        try:
            from tiktok_local.demo import run_demo

            def say(line: str) -> None:
                print(line, file=terminal, flush=True)

            code = run_demo(say, verbose=args.verbose)
        finally:
            sys.stdout = terminal
    print(f"function logs: {log_path}", flush=True)
    return code


def cmd_env(args: argparse.Namespace) -> int:
    from tiktok_local.shell import env_lines

    try:
        names = running_stack_names(stack_json_path(args.workdir))
    except NoLocalStack as exc:
        print(f"env: {exc}", file=sys.stderr)
        return 2
    print("\n".join(env_lines(names)))
    return 0


def cmd_reports(args: argparse.Namespace) -> int:
    import boto3

    from tiktok_local.shell import ReportsError, download_reports

    workdir = Path(args.workdir)
    try:
        names = running_stack_names(stack_json_path(workdir))
    except NoLocalStack as exc:
        print(f"reports: {exc}", file=sys.stderr)
        return 2
    s3 = boto3.session.Session().client(
        "s3",
        endpoint_url=names["aws_endpoint_url"],
        region_name=names["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
    )
    bucket = names["segments_bucket"]
    dest = workdir / ".local" / "reports"
    try:
        fetched = download_reports(s3, bucket, dest, args.job_ids)
    except ReportsError as exc:
        print(f"reports: {exc}", file=sys.stderr)
        return 2
    if not fetched:
        print(f"no job reports yet in s3://{bucket}/reports/ (drop a file under segments/ first)")
    for item in fetched:
        print(item.describe())
    return 0


def cmd_connect_link(argv: list[str]) -> int:
    try:
        module = importlib.import_module("tiktok_local.connect_link")
    except ModuleNotFoundError as exc:
        if exc.name != "tiktok_local.connect_link":
            raise
        print(
            "connect-link is not yet available: it arrives with the OAuth function "
            "(tiktok_local/connect_link.py).",
            file=sys.stderr,
        )
        return 2
    return int(module.main(argv))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "connect-link":
        return cmd_connect_link(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m tiktok_local")
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)
    workdir_help = "the directory whose .local/ holds stack.json, logs and reports"
    workdir = str(default_workdir())
    up = commands.add_parser("up", help="serve the local stack until interrupted")
    up.add_argument("--workdir", default=workdir, help=workdir_help)
    up.add_argument(
        "--time-scale", type=float, default=None, help="default: tiktok_local.stack's (0.005)"
    )
    up.set_defaults(func=cmd_up)
    demo = commands.add_parser("demo", help="run the pipeline and print what reached TikTok")
    demo.add_argument("--workdir", default=workdir, help=workdir_help)
    demo.set_defaults(func=cmd_demo)
    commands.add_parser("connect-link", help="print a signed, single-use /connect link")
    env = commands.add_parser("env", help="export lines for a shell beside `up`")
    env.add_argument("--workdir", default=workdir, help=workdir_help)
    env.set_defaults(func=cmd_env)
    reports = commands.add_parser(
        "reports", help="download job reports and rejects into .local/reports/"
    )
    reports.add_argument("job_ids", nargs="*", metavar="JOB_ID", help="a job id or its prefix")
    reports.add_argument("--workdir", default=workdir, help=workdir_help)
    reports.set_defaults(func=cmd_reports)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
