"""``python -m tiktok_local connect-link``: print a signed, single-use ``/connect`` link.

Whoever runs it needs AWS credentials for the stack: it reads the state-key secret, records the
ticket nonce in the OAuth table (with a TTL) and prints ``<api>/connect?ticket=...``. Hand the link
to the advertiser admin; it works once, until it expires.

* Local stack: ``--stack-json .local/stack.json`` (the default when that file exists) gives the
  moto endpoint, the table, the secret and the HTTP front's URL.
* Deployed stack: ``--stack-name`` (default ``tiktok-connector``) is looked up in CloudFormation
  for ``OAuthTableName``, ``StateKeySecretName`` and ``HttpApiUrl``; ``--api-url`` overrides the
  last (a custom domain).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import boto3

from tiktok_connector.oauth.store import NonceStore
from tiktok_connector.oauth.tickets import DEFAULT_TICKET_TTL_SECONDS, connect_url, issue_ticket

DEFAULT_STACK_JSON = Path(".local/stack.json")
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
    """A connect link for the local stack described by ``stack_json``."""
    try:
        names = json.loads(stack_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConnectLinkError(f"cannot read {stack_json}: {exc}") from None
    # moto accepts any credentials; the local stack uses these fake ones.
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106
        region_name=names["region"],
    )
    endpoint = names["aws_endpoint_url"]
    return make_connect_link(
        secretsmanager=session.client("secretsmanager", endpoint_url=endpoint),
        dynamodb=session.client("dynamodb", endpoint_url=endpoint),
        oauth_table=names["oauth_table"],
        state_key_secret_name=names["state_key_secret_name"],
        api_url=api_url or names["http_front_url"],
        label=label,
        ttl_seconds=ttl_seconds,
    )


def link_for_deployed_stack(
    stack_name: str,
    *,
    label: str = "",
    ttl_seconds: int = DEFAULT_TICKET_TTL_SECONDS,
    api_url: str | None = None,
) -> str:
    """A connect link for a deployed stack (credentials and region from the usual AWS chain)."""
    session = boto3.session.Session()
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as exc:
        raise ConnectLinkError(f"cannot describe stack {stack_name}: {exc}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [
        k for k in ("OAuthTableName", "StateKeySecretName", "HttpApiUrl") if k not in outputs
    ]
    if missing:
        raise ConnectLinkError(f"stack {stack_name} has no output {', '.join(missing)}")
    return make_connect_link(
        secretsmanager=session.client("secretsmanager"),
        dynamodb=session.client("dynamodb"),
        oauth_table=outputs["OAuthTableName"],
        state_key_secret_name=outputs["StateKeySecretName"],
        api_url=api_url or outputs["HttpApiUrl"],
        label=label,
        ttl_seconds=ttl_seconds,
    )


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
        help=f"local stack description (default {DEFAULT_STACK_JSON} when it exists)",
    )
    parser.add_argument("--stack-name", default=DEFAULT_STACK_NAME, help="deployed stack name")
    parser.add_argument(
        "--ttl", type=int, default=DEFAULT_TICKET_TTL_SECONDS, help="link lifetime in seconds"
    )
    args = parser.parse_args(argv)
    stack_json = args.stack_json
    if stack_json is None and DEFAULT_STACK_JSON.exists():
        stack_json = DEFAULT_STACK_JSON
    try:
        if stack_json is not None:
            link = link_for_local_stack(
                stack_json, label=args.label, ttl_seconds=args.ttl, api_url=args.api_url
            )
        else:
            link = link_for_deployed_stack(
                args.stack_name, label=args.label, ttl_seconds=args.ttl, api_url=args.api_url
            )
    except (ConnectLinkError, ValueError) as exc:
        print(f"connect-link: {exc}", file=sys.stderr)
        return 2
    print(link)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
