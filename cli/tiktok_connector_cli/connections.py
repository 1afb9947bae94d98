"""Event connections: each secret ``<CONNECTIONS_SECRET_PREFIX><name>``, checked with the very
model the forwarder uses (``tiktok_connector.events.settings.ConnectionSettings``), so what this
says is what the forwarder will do. Tokens are never shown: only whether one is set."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from tiktok_connector.events.settings import ConnectionSettings, settings_problems


@dataclass
class ConnectionCheck:
    """One connection: its settings when valid, else every problem (no values)."""

    name: str
    secret_name: str
    settings: ConnectionSettings | None = None
    problems: list[str] = field(default_factory=list)
    has_token: bool = False
    keys: list[str] = field(default_factory=list)  # the keys the secret holds (never values)
    missing: bool = False  # no such secret

    @property
    def ok(self) -> bool:
        return self.settings is not None and not self.problems


def connection_names(secretsmanager: Any, prefix: str) -> list[str]:
    """The names of the connections (secrets under ``prefix``), sorted."""
    names = []
    for page in secretsmanager.get_paginator("list_secrets").paginate(
        Filters=[{"Key": "name", "Values": [prefix]}]
    ):
        for secret in page.get("SecretList", []):
            name = str(secret.get("Name", ""))
            # the name filter matches prefixes of words too: keep exact prefixes only
            if name.startswith(prefix) and len(name) > len(prefix):
                names.append(name[len(prefix) :])
    return sorted(set(names))


def check_connection(secretsmanager: Any, prefix: str, name: str) -> ConnectionCheck:
    """Read and validate connection ``name``."""
    check = ConnectionCheck(name=name, secret_name=f"{prefix}{name}")
    try:
        text = secretsmanager.get_secret_value(SecretId=check.secret_name).get("SecretString")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            check.missing = True
            check.problems.append(
                f"no such connection: secret {check.secret_name} does not exist "
                "(messages naming it go to the events DLQ as unknown_connection)"
            )
        else:
            check.problems.append(f"the secret cannot be read: {code}")
        return check
    try:
        raw = json.loads(text or "")
    except ValueError:
        check.problems.append("the secret is not JSON")
        return check
    if not isinstance(raw, dict):
        check.problems.append("the secret is not a JSON object")
        return check
    check.keys = sorted(raw)
    check.has_token = bool(raw.get("access_token"))
    try:
        check.settings = ConnectionSettings.model_validate(raw)
    except ValidationError as exc:
        check.problems.extend(settings_problems(exc))
    return check


def describe(settings: ConnectionSettings) -> list[tuple[str, str]]:
    """(setting, value) pairs to show: every setting but the token, defaults included."""
    values = settings.model_dump(mode="json", exclude={"access_token"})
    rows = []
    for key, value in values.items():
        if key == "custom_mappings":
            shown = (
                "; ".join(
                    f"{m['event_type']} {m['event_name']} → {m['tiktok_event']}" for m in value
                )
                or "none"
            )
        else:
            shown = (
                "-" if value is None else json.dumps(value) if not isinstance(value, str) else value
            )
        rows.append((key, shown))
    rows.append(("endpoint", endpoint(settings)))
    return rows


def endpoint(settings: ConnectionSettings) -> str:
    """Where this connection's events go."""
    if settings.uses_pixel_batch:
        return (
            "/pixel/track/ (one event, test code)" if settings.test_event_code else "/pixel/batch/"
        )
    return f"/event/track/ (event_source {settings.event_source})"
