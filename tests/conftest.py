"""Fakes every tier shares: one Lambda context, and AWS resources built from ``template.yaml``.

* :func:`lambda_context` (also the ``lambda_context`` fixture) — the context object a handler gets:
  the local stack's own :class:`tiktok_local.dispatcher.LambdaContext` (name, memory, ARN, request
  id, log group; ``get_remaining_time_in_millis`` counts down from the function's timeout), so a
  handler sees the same object in-process, on the local stack and in Lambda.
* :func:`sqs_record` — one record of an SQS event as Lambda hands it to a handler (every
  attribute Lambda sets, so Powertools' ``SqsRecordModel`` parses it).
* ``function_logs`` — what the functions log (``tiktok_connector.observability.logger``, the one
  Powertools logger of handlers and layer) during the test, as text: one JSON object per line.
* ``template_aws`` — moto in-process (``mock_aws``, no sockets) holding the template's bucket,
  queues (with their DLQ redrives), tables and secrets, named as ``sam deploy`` names them for the
  stack ``tiktok-connector`` (``tiktok_local.resources`` reads the template, as the local stack
  does); ``environment(logical_id)`` is a function's ``Environment.Variables`` with refs resolved.
  Its DynamoDB runs one action at a time, as the local stack's does
  (``tiktok_local.stack.serialize_moto_dynamodb``), so racing conditional writes have one winner.

Tiers and their rules: STYLE.md habit 6 and docs/architecture.md ("Tests"). ``tests/unit`` refuses
sockets (``tests/unit/conftest.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tiktok_local.dispatcher import LambdaContext
from tiktok_local.resources import (
    ACCOUNT_ID,
    REGION,
    STACK_NAME,
    CreatedResources,
    TemplateModel,
    create_resources,
)
from tiktok_local.stack import serialize_moto_dynamodb

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
APP_CREDENTIALS = {"app_id": "test-app-id", "secret": "test-app-secret"}

__all__ = ["EVENTS", "LambdaContext", "TemplateAws", "lambda_context", "sqs_record"]


def lambda_context(function: str, *, timeout_s: float = 60, memory_mb: int = 512) -> LambdaContext:
    """The context of one invocation of ``function`` (a short name such as ``event-forwarder``
    or a full function name), its remaining time counting down from ``timeout_s``."""
    name = function if function.startswith(f"{STACK_NAME}-") else f"{STACK_NAME}-{function}"
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
    return LambdaContext(name, memory_mb, arn, timeout_s)  # type: ignore[arg-type]


def sqs_record(
    body: str, *, queue: str = "chunks", message_id: str | None = None, receive_count: int = 1
) -> dict[str, Any]:
    """One SQS record as Lambda delivers it from the stack's queue ``queue`` (``chunks``,
    ``ranges``, ``events``)."""
    sent = str(int(time.time() * 1000))
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": f"rh-{uuid.uuid4().hex}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": sent,
            "SenderId": "AROAEXAMPLE:tiktok-connector",
            "ApproximateFirstReceiveTimestamp": sent,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{STACK_NAME}-{queue}",
        "awsRegion": REGION,
    }


@pytest.fixture(name="lambda_context")
def lambda_context_fixture() -> Callable[..., LambdaContext]:
    """:func:`lambda_context` as a fixture: ``lambda_context("segment-ingest", timeout_s=900)``."""
    return lambda_context


@pytest.fixture
def function_logs() -> Iterator[io.StringIO]:
    """The functions' structured log lines written during the test.

    The Powertools handler's stream is bound to whatever ``sys.stdout`` was when the layer was
    first imported (under pytest, some earlier capture), so ``capsys`` does not see it."""
    from tiktok_connector.observability import logger

    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    yield stream
    logger.registered_handler.setStream(previous)


@dataclass
class TemplateAws:
    """The template's resources in moto, with the boto3 clients that reach them."""

    model: TemplateModel
    created: CreatedResources
    clients: dict[str, Any]

    def client(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service] = boto3.client(service, region_name=REGION)
        return self.clients[service]

    @property
    def bucket(self) -> str:
        return self.created.bucket

    def queue_url(self, logical_id: str) -> str:
        return self.created.queue_urls[logical_id]

    def table(self, logical_id: str) -> str:
        return self.created.tables[logical_id]

    def environment(self, function_logical_id: str) -> dict[str, str]:
        """The function's environment as the template gives it (resources resolved)."""
        [spec] = [f for f in self.model.functions() if f.logical_id == function_logical_id]
        return self.model.function_environment(spec)

    def put_secret(self, name: str, value: dict[str, Any]) -> None:
        """Create or overwrite a JSON secret (connections, authorizations)."""
        sm = self.client("secretsmanager")
        try:
            sm.create_secret(Name=name, SecretString=json.dumps(value))
        except sm.exceptions.ResourceExistsException:
            sm.put_secret_value(SecretId=name, SecretString=json.dumps(value))


@pytest.fixture
def template_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[TemplateAws]:
    """``template.yaml``'s bucket, queues, tables and secrets in moto (in-process)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # moto checks a write's condition and then applies it without a lock; DynamoDB does both
    # atomically, and racing tests (two creates of one name) depend on that.
    restore = serialize_moto_dynamodb()
    with contextlib.ExitStack() as undo, mock_aws():
        undo.callback(restore)
        clients: dict[str, Any] = {}

        def client(service: str) -> Any:
            if service not in clients:
                clients[service] = boto3.client(service, region_name=REGION)
            return clients[service]

        model = TemplateModel.from_file(TEMPLATE)
        created = create_resources(model, client, time_scale=1.0, app_credentials=APP_CREDENTIALS)
        yield TemplateAws(model, created, clients)
