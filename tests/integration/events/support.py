"""Helpers for the event forwarder integration tests: ids and the test world."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from tests.conftest import lambda_context
from tiktok_local.emulator import EmulatorServer

REGION = "us-east-1"
PREFIX = "tiktok-connector/connections/"
PIXEL = "CDEMOPIXEL000000000A"
APP_ID = "7200000000000000001"
OFFLINE_SET = "7300000000000000001"
CRM_SET = "7400000000000000001"


@dataclass
class World:
    emu: EmulatorServer
    secrets: Any
    sqs: Any
    token: str

    def connect(self, name: str = "default", **settings: Any) -> None:
        value = {
            "event_source_type": "web",
            "event_source_id": PIXEL,
            "access_token": self.token,
            **settings,
        }
        try:
            self.secrets.create_secret(Name=PREFIX + name, SecretString=json.dumps(value))
        except self.secrets.exceptions.ResourceExistsException:
            self.secrets.put_secret_value(SecretId=PREFIX + name, SecretString=json.dumps(value))

    @staticmethod
    def record(
        body: str, connection: str | None = None, message_id: str | None = None
    ) -> dict[str, Any]:
        attributes = {}
        if connection is not None:
            attributes["connection"] = {"stringValue": connection, "dataType": "String"}
        return {
            "messageId": message_id or str(uuid.uuid4()),
            "receiptHandle": "rh",
            "body": body,
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": attributes,
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:tiktok-connector-events",
            "awsRegion": REGION,
        }

    def invoke(self, records: list[dict[str, Any]], remaining_ms: int = 60_000) -> dict[str, Any]:
        from event_forwarder_function.app import handler

        return handler(
            {"Records": records},
            lambda_context("event-forwarder", timeout_s=remaining_ms / 1000),  # type: ignore[arg-type]
        )

    def track_requests(self) -> list[dict[str, Any]]:
        return [
            r
            for r in self.emu.state.requests
            if "event/track" in r["path"] or "pixel/batch" in r["path"]
        ]
