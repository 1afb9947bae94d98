"""``.local/stack.json``: who owns it, and how commands in another shell find the running stack.

``make up`` writes the file once its stack is ready and removes it when it stops. Commands run
beside it (``connect-link``, ``env``, ``reports``) read it with :func:`running_stack_names`, which
explains what to do when there is no stack (``start `make up` first``) instead of failing on a
connection error later. The file names the process serving the stack (``pid``), so a second
``make up`` in the same directory refuses to take over a live stack's file
(:func:`refuse_if_running`), and a file left by a stack that was killed is recognised as stale.

The directory holding ``.local/`` is the repository unless ``TIKTOK_LOCAL_WORKDIR`` names another
(:func:`default_workdir`; every command's ``--workdir`` defaults to it). This module imports nothing
heavy (no moto): the commands above start fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
START_HINT = (
    "start `make up` first (it serves the local stack until Ctrl-C; run it in another shell)"
)


def default_workdir() -> Path:
    """``$TIKTOK_LOCAL_WORKDIR`` when set, else the repository: the directory of ``.local/``."""
    return Path(os.environ.get("TIKTOK_LOCAL_WORKDIR") or REPO_ROOT)


class NoLocalStack(RuntimeError):
    """No running local stack could be found; the message says what to do."""


class StackAlreadyRunning(RuntimeError):
    """Another live stack owns the ``stack.json`` this stack would write."""


def stack_json_path(workdir: Path | str) -> Path:
    """``<workdir>/.local/stack.json``."""
    return Path(workdir) / ".local" / "stack.json"


def read_stack_json(path: Path) -> dict[str, Any]:
    """The names in ``path``; :class:`NoLocalStack` when it is missing or unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NoLocalStack(
            f"cannot read {path}: no such file, so no local stack is running there; {START_HINT}"
        ) from None
    except OSError as exc:
        raise NoLocalStack(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        names = json.loads(text)
    except ValueError as exc:
        raise NoLocalStack(f"cannot read {path}: not JSON ({exc})") from None
    if not isinstance(names, dict) or not names.get("aws_endpoint_url"):
        raise NoLocalStack(f"cannot read {path}: it does not describe a local stack")
    return names


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True  # a file without a pid: let the endpoint decide
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        return False
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1):
            return True
    except OSError:
        return False


def is_serving(names: dict[str, Any]) -> bool:
    """True when the stack ``names`` describes is up: its process lives and moto answers."""
    return _pid_alive(names.get("pid")) and _answers(str(names.get("aws_endpoint_url", "")))


def running_stack_names(path: Path) -> dict[str, Any]:
    """The names of the live stack described by ``path``, or :class:`NoLocalStack` saying why not."""
    names = read_stack_json(path)
    if not is_serving(names):
        pid = names.get("pid")
        owner = f"process {pid}" if pid else "its process"
        raise NoLocalStack(
            f"{path} describes a local stack that is not running ({owner} is gone or "
            f"{names['aws_endpoint_url']} does not answer: it was not stopped with Ctrl-C); "
            f"{START_HINT}"
        )
    return names


def refuse_if_running(path: Path) -> None:
    """Raise :class:`StackAlreadyRunning` when a live stack owns ``path``."""
    try:
        names = read_stack_json(path)
    except NoLocalStack:
        return
    if is_serving(names):
        raise StackAlreadyRunning(
            f"a local stack is already running here (pid {names.get('pid', '?')}, "
            f"{names['aws_endpoint_url']}; {path}). Use that one, stop it with Ctrl-C in its "
            f"shell, or start this one in another directory (--workdir)."
        )


def remove_if_unchanged(path: Path, written: str) -> bool:
    """Remove ``path`` only while it still holds ``written`` (what this stack wrote).

    Another stack may have written its own file there since; that file stays.
    """
    try:
        current = path.read_text(encoding="utf-8")
    except OSError:
        return False
    if current != written:
        return False
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return True
