"""``python -m tiktok_local connect-link``: print a signed, single-use ``/connect`` link.

Whoever runs it needs AWS credentials for the stack: it reads the state-key secret, records the
ticket nonce in the OAuth table (with a TTL) and prints ``<api>/connect?ticket=...``. Hand the link
to the advertiser admin; it works once, until it expires.

* Local stack: ``--stack-json`` (default: ``.local/stack.json`` of the repository or of
  ``$TIKTOK_LOCAL_WORKDIR``, written by ``make up``) gives the moto endpoint, the table, the secret and the HTTP front's URL.
* Deployed stack: ``--stack-name NAME`` (``--region``, else the usual AWS chain) is looked up in
  CloudFormation for ``OAuthTableName``, ``StateKeySecretName`` and ``HttpApiUrl``; ``--api-url``
  overrides the last (a custom domain).

Neither given and no ``.local/stack.json``: it says to start ``make up`` (or to name a deployed
stack) rather than guess. Every failure is one line on stderr (exit 2) that names the stack
file, or the stack and region it looked for: never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from tiktok_connector.oauth.store import NonceStore
from tiktok_connector.oauth.tickets import DEFAULT_TICKET_TTL_SECONDS, connect_url, issue_ticket
from tiktok_local.stack_file import (
    START_HINT,
    NoLocalStack,
    default_workdir,
    running_stack_names,
    stack_json_path,
)

DEFAULT_STACK_NAME = "tiktok-connector"


class ConnectLinkError(RuntimeError):
    """The stack cannot be found or read."""


def make_connect_link(
    *,
    secretsmanager: Any,
    dynamodb: Any,
    oauth_table: str,
    state_key_secret_name: str,
    api_url: str,
    label: str = "",
    ttl_seconds: int = DEFAULT_TICKET_TTL_SECONDS,
) -> str:
    """Record a ticket and return the connect link (the key is read, never printed)."""
    key = secretsmanager.get_secret_value(SecretId=state_key_secret_name)["SecretString"]
    ticket = issue_ticket(
        key=key.encode("utf-8"),
        nonces=NonceStore(oauth_table, dynamodb=dynamodb),
        label=label,
        ttl_seconds=ttl_seconds,
    )
    return connect_url(api_url, ticket)


def link_for_local_stack(
    stack_json: Path,
    *,
    label: str = "",
    ttl_seconds: int = DEFAULT_TICKET_TTL_SECONDS,
    api_url: str | None = None,
) -> str:
    """A connect link for the running local stack described by ``stack_json``."""
    try:
        names = running_stack_names(stack_json)
    except NoLocalStack as exc:
        raise ConnectLinkError(str(exc)) from None
    # moto accepts any credentials; the local stack uses these fake ones.
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106
        region_name=names["region"],
    )
    endpoint = names["aws_endpoint_url"]
    try:
        return make_connect_link(
            secretsmanager=session.client("secretsmanager", endpoint_url=endpoint),
            dynamodb=session.client("dynamodb", endpoint_url=endpoint),
            oauth_table=names["oauth_table"],
            state_key_secret_name=names["state_key_secret_name"],
            api_url=api_url or names["http_front_url"],
            label=label,
            ttl_seconds=ttl_seconds,
        )
    except (BotoCoreError, ClientError) as exc:
        raise ConnectLinkError(
            f"the local stack at {endpoint} ({stack_json}) did not answer as expected: {exc}"
        ) from None


def link_for_deployed_stack(
    stack_name: str,
    *,
    label: str = "",
    ttl_seconds: int = DEFAULT_TICKET_TTL_SECONDS,
    api_url: str | None = None,
    region: str | None = None,
) -> str:
    """A connect link for a deployed stack (credentials, and the region unless given, from the
    usual AWS chain)."""
    session = boto3.session.Session(region_name=region)
    region = session.region_name
    if not region:
        raise ConnectLinkError(
            f"no AWS region to look for stack {stack_name} in: pass --region, or set AWS_REGION "
            "(or a profile's region); for the local stack, " + START_HINT
        )
    where = f"stack {stack_name} in region {region}"
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except NoCredentialsError:
        raise ConnectLinkError(
            f"no AWS credentials to look up {where}: sign in (aws configure / AWS_PROFILE)"
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationError" and "does not exist" in error.get("Message", ""):
            raise ConnectLinkError(
                f"no CloudFormation {where} (for the account of your credentials): check "
                "--stack-name and --region"
            ) from None
        raise ConnectLinkError(
            f"cannot describe {where}: {error.get('Code')}: {error.get('Message')}"
        ) from None
    except BotoCoreError as exc:
        raise ConnectLinkError(f"cannot describe {where}: {exc}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [
        k for k in ("OAuthTableName", "StateKeySecretName", "HttpApiUrl") if k not in outputs
    ]
    if missing:
        raise ConnectLinkError(f"{where} has no output {', '.join(missing)}")
    try:
        return make_connect_link(
            secretsmanager=session.client("secretsmanager"),
            dynamodb=session.client("dynamodb"),
            oauth_table=outputs["OAuthTableName"],
            state_key_secret_name=outputs["StateKeySecretName"],
            api_url=api_url or outputs["HttpApiUrl"],
            label=label,
            ttl_seconds=ttl_seconds,
        )
    except (BotoCoreError, ClientError) as exc:
        raise ConnectLinkError(f"cannot issue a ticket for {where}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tiktok_local connect-link",
        description="Print a signed, single-use link that starts a TikTok authorization.",
    )
    parser.add_argument("--label", default="", help="name of the authorization it creates")
    parser.add_argument("--api-url", default=None, help="base URL serving /connect")
    parser.add_argument(
        "--stack-json",
        type=Path,
        default=None,
        help="local stack description (default .local/stack.json, written by make up)",
    )
    parser.add_argument(
        "--stack-name",
        default=None,
        help=f"deployed stack name (e.g. {DEFAULT_STACK_NAME}); looked up in CloudFormation",
    )
    parser.add_argument("--region", default=None, help="deployed stack's region")
    parser.add_argument(
        "--ttl", type=int, default=DEFAULT_TICKET_TTL_SECONDS, help="link lifetime in seconds"
    )
    args = parser.parse_args(argv)
    try:
        if args.stack_name is not None and args.stack_json is None:
            link = link_for_deployed_stack(
                args.stack_name,
                label=args.label,
                ttl_seconds=args.ttl,
                api_url=args.api_url,
                region=args.region,
            )
        else:
            stack_json = args.stack_json or stack_json_path(default_workdir())
            if args.stack_json is None and not stack_json.exists():
                raise ConnectLinkError(
                    f"no local stack ({stack_json} does not exist): {START_HINT}. For a "
                    "deployed stack, name it: --stack-name NAME [--region REGION]"
                )
            link = link_for_local_stack(
                stack_json, label=args.label, ttl_seconds=args.ttl, api_url=args.api_url
            )
    except (ConnectLinkError, ValueError) as exc:
        print(f"connect-link: {exc}", file=sys.stderr)
        return 2
    print(link)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
