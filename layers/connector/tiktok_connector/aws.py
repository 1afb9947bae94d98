"""Lazily built, cached boto3 clients.

Nothing is created at import time. boto3 honours ``AWS_ENDPOINT_URL`` itself, which is how the local
stack points every client at moto. ``reset_clients`` drops the cache (tests and the local stack call it
when the endpoint changes).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# Adaptive retries smooth over AWS throttling; connect/read timeouts keep a stuck call from eating
# the whole Lambda budget.
_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "adaptive"},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=32,
)


@cache
def client(service: str) -> Any:
    """Return the process-wide boto3 client for ``service``."""
    return boto3.session.Session().client(service, config=_CONFIG)  # type: ignore[call-overload]


# Best-effort writes that must never hold up an invocation (the event delivery record): short
# timeouts and one retry; a failure is counted and logged by the caller.
_QUICK_CONFIG = Config(
    retries={"max_attempts": 2, "mode": "standard"},
    connect_timeout=2,
    read_timeout=3,
)


@cache
def quick_client(service: str) -> Any:
    """The process-wide boto3 client for ``service`` with short timeouts and one retry."""
    return boto3.session.Session().client(service, config=_QUICK_CONFIG)  # type: ignore[call-overload]


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
    client.cache_clear()
    quick_client.cache_clear()
