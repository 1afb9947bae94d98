"""``python -m tiktok_local {up,demo,connect-link}``.

* ``up`` — start the local stack (moto, TikTok emulator, dispatcher, OAuth HTTP front), write
  ``.local/stack.json`` once everything is ready, print how to use it, serve until SIGINT/SIGTERM.
  Ports 4566 (moto), 4700 (emulator) and 3000 (HTTP front) when free, ephemeral otherwise.
* ``demo`` — run :mod:`tiktok_local.demo` on a fresh in-process stack (ephemeral ports) and print
  what reached TikTok; non-zero exit on any failure.
* ``connect-link`` — delegated to ``tiktok_local.connect_link.main(argv) -> int`` (owned by the
  OAuth function's issue), imported lazily.
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

from tiktok_local.stack import DEFAULT_TIME_SCALE, REPO_ROOT, LocalStack, Ports


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # moto's and the servers' per-request access lines drown everything else.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("botocore").setLevel(logging.WARNING)


def usage_summary(stack: LocalStack) -> str:
    """What `up` prints: where things are and how to feed the pipeline with the aws CLI."""
    n = stack.names
    aws = f"aws --endpoint-url {n['aws_endpoint_url']} --region {n['region']}"
    segment_key = "segments/7100000000000000001/Demo Audience/create/emails.csv"
    attrs = '{"connection": {"DataType": "String", "StringValue": "default"}}'
    target = shlex.quote(f"s3://{n['segments_bucket']}/{segment_key}")
    lines = [
        "local stack ready",
        f"  stack.json        {stack.stack_json_path}",
        f"  AWS (moto)        {n['aws_endpoint_url']}  region {n['region']}",
        f"  segments bucket   {n['segments_bucket']}",
        f"  events queue      {n['events_queue_url']}",
        f"  chunk queue       {n['chunk_queue_url']}",
        f"  connect URL       {n['connect_url']}  (needs a ticket: make connect-link)",
        f"  TikTok API        {n['tiktok_api_base_url']}",
        f"  TikTok emulator   {n['emulator_url']}  (state: {n['emulator_url']}/_emulator/state)",
        f"  time scale        {n['time_scale']} (visibility timeouts and async retry waits)",
        "",
        "try (fake credentials are fine):",
        "  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing",
        f"  {aws} s3 cp emails.csv {target}",
        f"  {aws} sqs send-message --queue-url {n['events_queue_url']} \\",
        f"      --message-body file://batch.json --message-attributes '{attrs}'",
        "  (emails.csv: a header line `email` and one address a line; batch.json: one mParticle",
        "   JSON batch — the body of a record in events/sqs_events_mparticle.json)",
        "",
        "Ctrl-C to stop.",
    ]
    return "\n".join(lines)


def cmd_up(args: argparse.Namespace) -> int:
    _configure_logging(args.verbose)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stack = LocalStack.start(
        workdir=Path(args.workdir), time_scale=args.time_scale, ports=Ports.preferred()
    )
    try:
        print(usage_summary(stack), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        print("stopping the local stack", flush=True)
        stack.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    _configure_logging(args.verbose)
    if not args.verbose:
        # The demo's own lines are the output; handler logs only when something is wrong.
        logging.getLogger().setLevel(logging.WARNING)
    from tiktok_local.demo import run_demo

    return run_demo(lambda line: print(line, flush=True), verbose=args.verbose)


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
    up = commands.add_parser("up", help="serve the local stack until interrupted")
    up.add_argument("--workdir", default=str(REPO_ROOT), help="where .local/stack.json goes")
    up.add_argument("--time-scale", type=float, default=DEFAULT_TIME_SCALE)
    up.set_defaults(func=cmd_up)
    demo = commands.add_parser("demo", help="run the pipeline and print what reached TikTok")
    demo.set_defaults(func=cmd_demo)
    commands.add_parser("connect-link", help="print a signed, single-use /connect link")
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
