"""Event forwarder integration fixtures: the real handler in-process, moto (Secrets Manager, SQS)
and the strict TikTok emulator on 127.0.0.1 (ephemeral port)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from tests.integration.events.support import PREFIX, REGION, World
from tiktok_connector import aws
from tiktok_connector.settings import reset_settings
from tiktok_local.emulator import EmulatorConfig, EmulatorServer


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(qps={})).start(port=0) as emu:
        yield emu


@pytest.fixture
def world(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    emulator.reset()
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "CONNECTIONS_SECRET_PREFIX": PREFIX,
        "TIKTOK_API_BASE_URL": emulator.api_base_url,
        "POWERTOOLS_METRICS_NAMESPACE": "TikTokConnectorTest",
        "POWERTOOLS_SERVICE_NAME": "event-forwarder-test",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        aws.reset_clients()
        reset_settings()
        world = World(
            emu=emulator,
            secrets=boto3.client("secretsmanager", region_name=REGION),
            sqs=boto3.client("sqs", region_name=REGION),
            token=emulator.state.issue_token(),
        )
        yield world
        aws.reset_clients()
        reset_settings()
