"""Which stack a command talks to, and the names of its resources.

* A **deployed stack**: ``--stack-name`` (or ``TIKTOK_CONNECTOR_STACK_NAME``); credentials and
  region come the usual boto3 way (``AWS_PROFILE``, ``AWS_REGION``, ``--region``), and the
  stack's CloudFormation outputs give the names (``JobsTableName``, ``EventsDeadLetterQueueUrl``,
  … — see :data:`OUTPUTS`); its ``TikTokApiBaseUrl`` parameter says where TikTok is.
* The **local stack**: ``.local/stack.json``, written by ``make up`` — in
  ``$TIKTOK_LOCAL_WORKDIR`` when set, else the current directory or the repository. moto takes
  any credentials; the file names the endpoint.

Every command gets a :class:`Stack` with the same keys either way (the local file's names), so the
commands never care which kind it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from tiktok_local.stack_file import REPO_ROOT, NoLocalStack, running_stack_names, stack_json_path

DEFAULT_TIKTOK_API = "https://business-api.tiktok.com/open_api/v1.3"

# CloudFormation output -> the key the local stack.json uses for the same thing.
OUTPUTS = {
    "SegmentsBucketName": "segments_bucket",
    "JobsTableName": "jobs_table",
    "AudiencesTableName": "audiences_table",
    "OAuthTableName": "oauth_table",
    "EventStatsTableName": "event_stats_table",
    "EventsQueueUrl": "events_queue_url",
    "EventsDeadLetterQueueUrl": "events_dlq_url",
    "ChunkQueueUrl": "chunk_queue_url",
    "ChunkDeadLetterQueueUrl": "chunk_dlq_url",
    "RangesQueueUrl": "ranges_queue_url",
    "RangesDeadLetterQueueUrl": "ranges_dlq_url",
    "IngestFailuresQueueUrl": "ingest_failures_queue_url",
    "ConnectionsSecretPrefix": "connections_secret_prefix",
    "AuthorizationsSecretPrefix": "authorizations_secret_prefix",
    "StateKeySecretName": "state_key_secret_name",
    "HttpApiUrl": "http_api_url",
}
# The same output named by the local file, where its key differs.
_LOCAL_ALIASES = {"http_api_url": "http_front_url"}


class StackError(RuntimeError):
    """The stack cannot be found or read; the message says what to do."""


@dataclass
class Stack:
    """One stack's resource names and an AWS session (moto's endpoint for the local stack)."""

    description: str
    names: dict[str, str]
    session: Any
    endpoint_url: str | None = None
    local: bool = False
    _clients: dict[str, Any] = field(default_factory=dict)

    def name(self, key: str) -> str:
        """The resource name under ``key`` (a stack.json key), or :class:`StackError`."""
        value = self.names.get(key) or self.names.get(_LOCAL_ALIASES.get(key, ""))
        if not value:
            output = next((o for o, k in OUTPUTS.items() if k == key), key)
            raise StackError(
                f"{self.description} has no {output}: update the stack (sam deploy) or, "
                "locally, restart `make up`"
            )
        return str(value)

    def client(self, service: str) -> Any:
        """A cached boto3 client for ``service`` on this stack's endpoint."""
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service,
                endpoint_url=self.endpoint_url,
                config=Config(retries={"max_attempts": 4, "mode": "standard"}),
            )
        return self._clients[service]

    def resource(self, service: str) -> Any:
        """A boto3 resource for ``service`` on this stack's endpoint (Powertools' DynamoDB
        parameter provider, used by the token store, wants one)."""
        key = f"resource:{service}"
        if key not in self._clients:
            self._clients[key] = self.session.resource(service, endpoint_url=self.endpoint_url)
        return self._clients[key]


def default_stack_json() -> Path:
    """Where ``make up`` wrote stack.json: ``$TIKTOK_LOCAL_WORKDIR``, the current directory, or
    the repository (the first that has one; the first candidate when none has)."""
    workdir = os.environ.get("TIKTOK_LOCAL_WORKDIR")
    if workdir:
        return stack_json_path(workdir)
    candidates = [stack_json_path(Path.cwd()), stack_json_path(REPO_ROOT)]
    return next((c for c in candidates if c.exists()), candidates[0])


def local_stack(path: Path) -> Stack:
    """The local stack ``path`` describes (it must be running)."""
    try:
        names = running_stack_names(path)
    except NoLocalStack as exc:
        raise StackError(f"{exc}, or name a deployed stack with --stack-name") from None
    endpoint = str(names["aws_endpoint_url"])
    session = boto3.session.Session(
        aws_access_key_id="testing",  # moto takes any credentials
        aws_secret_access_key="testing",  # noqa: S106
        region_name=str(names.get("region") or "us-east-1"),
    )
    names.setdefault("http_api_url", names.get("http_front_url", ""))
    return Stack(
        description=f"the local stack ({path})",
        names={k: str(v) for k, v in names.items() if v is not None},
        session=session,
        endpoint_url=endpoint,
        local=True,
    )


def deployed_stack(
    stack_name: str, *, region: str | None = None, profile: str | None = None
) -> Stack:
    """A deployed stack, its names from its CloudFormation outputs."""
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except BotoCoreError as exc:
        raise StackError(str(exc)) from None
    if not session.region_name:
        raise StackError(
            f"no AWS region to look for stack {stack_name} in: pass --region or set AWS_REGION"
        )
    where = f"stack {stack_name} in {session.region_name}"
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except NoCredentialsError:
        raise StackError(
            f"no AWS credentials to read {where} (aws configure / AWS_PROFILE)"
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise StackError(
            f"cannot read {where}: {error.get('Message') or error.get('Code')}"
        ) from None
    except BotoCoreError as exc:
        raise StackError(f"cannot read {where}: {exc}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    parameters = {
        p["ParameterKey"]: p.get("ResolvedValue") or p.get("ParameterValue", "")
        for p in stacks[0].get("Parameters", [])
    }
    names = {key: outputs[output] for output, key in OUTPUTS.items() if output in outputs}
    names["stack_name"] = stack_name
    names["region"] = session.region_name
    names["tiktok_api_base_url"] = parameters.get("TikTokApiBaseUrl") or DEFAULT_TIKTOK_API
    return Stack(description=where, names=names, session=session)


def resolve_stack(
    *,
    stack_name: str | None = None,
    stack_json: Path | None = None,
    region: str | None = None,
    profile: str | None = None,
) -> Stack:
    """The stack a command names: ``--stack-name`` (deployed), else ``--stack-json`` or the
    local stack's default file."""
    if stack_name:
        return deployed_stack(stack_name, region=region, profile=profile)
    return local_stack(stack_json or default_stack_json())
