"""Lazily built, cached boto3 clients.

Nothing is created at import time, and boto3 (with ``botocore.config``) is imported by the first
client. boto3 honours ``AWS_ENDPOINT_URL`` itself, which is how the local
stack points every client at moto. ``reset_clients`` drops the cache (tests and the local stack call it
when the endpoint changes).
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

_LOCK = threading.Lock()


def client(service: str) -> Any:
    """Return the process-wide boto3 client for ``service`` (one per process, even when the
    first calls overlap: the local stack runs invocations as threads)."""
    with _LOCK:
        return _client(service)


@cache
def _client(service: str) -> Any:
    # Imported at first use: boto3 and botocore.config cost ~100 ms of cold start, which a handler
    # module that only names this factory should not pay at import.
    import boto3
    from botocore.config import Config

    # Adaptive retries smooth over AWS throttling; connect/read timeouts keep a stuck call from
    # eating the whole Lambda budget.
    config = Config(
        retries={"max_attempts": 5, "mode": "adaptive"},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=32,
    )
    return boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]


def quick_client(service: str) -> Any:
    """The process-wide boto3 client for ``service`` for best-effort writes that must never hold
    up an invocation (the event delivery record): short timeouts and one retry; the caller counts
    and logs a failure."""
    with _LOCK:
        return _quick_client(service)


@cache
def _quick_client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=3
    )
    return boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]


def s3() -> Any:
    """The S3 client."""
    return client("s3")


def sqs() -> Any:
    """The SQS client."""
    return client("sqs")


def dynamodb() -> Any:
    """The DynamoDB (low-level) client."""
    return client("dynamodb")


def secretsmanager() -> Any:
    """The Secrets Manager client."""
    return client("secretsmanager")


def reset_clients() -> None:
    """Forget every cached client (the endpoint or credentials changed)."""
    _client.cache_clear()
    _quick_client.cache_clear()
