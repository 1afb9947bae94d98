"""Least privilege and encryption in ``template.yaml``, checked as data.

Reuses the contract checkers of ``tests/template/contract.py`` (no ``*`` resources, every queue,
bucket and table encrypted, TLS-only bucket policy, public access blocked, only the OAuth
function writes authorization secrets) and adds what they leave open:

* no ``*`` actions (``"*"`` or ``"service:*"``) in any Allow statement;
* each secret is readable only by the functions that need it (by secret, not by function:
  inline statements, SAM policy templates and AWS managed policies all count);
* secrets never reach a function's environment (no ``{{resolve:secretsmanager}}`` references,
  no secret ``Ref``/``GetAtt`` as a variable value beyond its name);
* SAM policy templates are scoped to a resource of this template (never a literal ``*``).

Every check is shown to fail on a deliberately broken copy of the template.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.template import contract
from tests.template.cfn import load_template

Template = dict[str, Any]
SECRET_READ = ("secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue")
# Which functions need which secret (DESIGN §3.6, docs/architecture.md "Names").
NEEDS = {
    "app": {"OAuthFunction"},
    "state-key": {"OAuthFunction"},
    "authorizations": {"OAuthFunction", "AudienceUploadFunction"},
    "connections": {"EventForwarderFunction"},
}
READ_ANY_SECRET_POLICIES = ("SecretsManagerReadWrite", "AWSSecretsManagerGetSecretValuePolicy")


def _allows(statement: dict[str, Any], wanted: tuple[str, ...]) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    actions = [a for a in contract.as_list(statement.get("Action")) if isinstance(a, str)]
    return any(
        action in ("*", "secretsmanager:*") or action.lower() == want.lower()
        for action in actions
        for want in wanted
    )


def _secret_kind(resource: Any, template: Template) -> str:
    target = contract.referenced_logical_id(resource)
    if target is not None:
        kind = contract.resources(template).get(target, {}).get("Type")
        if kind == "AWS::SecretsManager::Secret":
            return {"AppSecret": "app", "StateKeySecret": "state-key"}.get(target, target)
        return target
    text = contract.sub_text(resource) or repr(resource)
    for kind in ("authorizations", "connections"):
        if f"/{kind}/" in text:
            return kind
    return "*" if text.strip().endswith(("*", ":secret:*")) and "/" not in text else text


def secret_readers(template: Template) -> dict[str, set[str]]:
    """Secret kind -> logical ids of the functions that can read it."""
    readers: dict[str, set[str]] = {}
    for fn_id, fn in contract.resources(template, contract.SAM_FUNCTION).items():
        for policy in contract.as_list(contract.props(fn).get("Policies")):
            names = [policy] if isinstance(policy, str) else list(policy)
            if any(any(p in str(name) for p in READ_ANY_SECRET_POLICIES) for name in names):
                readers.setdefault("*", set()).add(fn_id)
            if not isinstance(policy, dict):
                continue
            for statement in contract.as_list(policy.get("Statement")):
                if isinstance(statement, dict) and _allows(statement, SECRET_READ):
                    for resource in contract.as_list(statement.get("Resource")):
                        readers.setdefault(_secret_kind(resource, template), set()).add(fn_id)
    return readers


def check_secret_readers(template: Template) -> list[str]:
    readers = secret_readers(template)
    problems = [f"{k}: read by {sorted(v)}, not a secret this stack knows" for k, v in readers.items() if k not in NEEDS]  # fmt: skip
    for kind, needed in NEEDS.items():
        got = readers.get(kind, set())
        problems += [f"{fn}: can read the {kind} secret(s) it does not need" for fn in sorted(got - needed)]  # fmt: skip
        problems += [f"{fn}: cannot read the {kind} secret(s) it needs" for fn in sorted(needed - got)]  # fmt: skip
    return problems


def check_no_wildcard_actions(template: Template) -> list[str]:
    problems = []
    for where, statement in contract.policy_statements(template):
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            problems.append(f"{where}: Allow with NotAction")
        for action in contract.as_list(statement.get("Action")):
            if isinstance(action, str) and (action == "*" or action.endswith(":*")):
                problems.append(f"{where}: Allow of {action}")
    return problems


def check_no_secrets_in_environment(template: Template) -> list[str]:
    problems = []
    secrets = set(contract.resources(template, "AWS::SecretsManager::Secret"))
    functions = contract.resources(template, contract.SAM_FUNCTION)
    scopes = {"Globals": contract.function_globals(template), **{k: contract.props(v) for k, v in functions.items()}}  # fmt: skip
    for fn_id, fn_props in scopes.items():
        variables = (fn_props.get("Environment") or {}).get("Variables") or {}
        for name, value in variables.items():
            text = repr(value)
            if "resolve:secretsmanager" in text:
                problems.append(f"{fn_id}: {name} resolves a secret value into the environment")
            getatt = isinstance(value, dict) and "Fn::GetAtt" in value
            if contract.referenced_logical_id(value) in secrets and getatt:
                problems.append(f"{fn_id}: {name} takes an attribute of a secret")
    return problems


def check_policy_templates_scoped(template: Template) -> list[str]:
    """SAM policy templates name a resource of this template, never a literal wildcard."""
    problems = []
    known = set(contract.resources(template))
    for fn_id, fn in contract.resources(template, contract.SAM_FUNCTION).items():
        for policy in contract.as_list(contract.props(fn).get("Policies")):
            if not isinstance(policy, dict) or "Statement" in policy:
                continue
            for name, params in policy.items():
                for key, value in (params or {}).items():
                    target = contract.referenced_logical_id(value)
                    if target is None or target not in known:
                        problems.append(f"{fn_id}: {name}.{key} is not a resource of this template")
    return problems


REUSED = (
    contract.check_no_wildcard_resources,
    contract.check_encryption,
    contract.check_tls_only_buckets,
    contract.check_public_access_blocked,
    contract.check_authorization_writers,
)
ADDED = (
    check_secret_readers,
    check_no_wildcard_actions,
    check_no_secrets_in_environment,
    check_policy_templates_scoped,
)


@pytest.fixture(scope="module")
def loaded() -> Template:
    return load_template()


@pytest.mark.parametrize("check", [*REUSED, *ADDED], ids=lambda c: c.__name__)
def test_template_is_least_privilege_and_encrypted(
    loaded: Template, check: Callable[[Template], list[str]]
) -> None:
    assert check(loaded) == []


def test_secret_readers_are_exactly_the_functions_that_need_them(loaded: Template) -> None:
    assert secret_readers(loaded) == NEEDS


def _fn(template: Template, logical_id: str) -> dict[str, Any]:
    return contract.props(template["Resources"][logical_id])


def _add_statement(template: Template, fn: str, statement: dict[str, Any]) -> None:
    _fn(template, fn).setdefault("Policies", []).append({"Statement": [statement]})


def _read_app_secret(t: Template) -> None:
    _add_statement(t, "EventForwarderFunction", {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": {"Ref": "AppSecret"}})  # fmt: skip


def _read_any_secret(t: Template) -> None:
    _fn(t, "SegmentIngestFunction")["Policies"].append("AWSSecretsManagerGetSecretValuePolicy")


def _drop_needed_read(t: Template) -> None:
    for policy in _fn(t, "EventForwarderFunction")["Policies"]:
        if isinstance(policy, dict) and "Statement" in policy:
            policy["Statement"] = []


def _wildcard_action(t: Template) -> None:
    _add_statement(t, "AudienceUploadFunction", {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::x/*"})  # fmt: skip


def _secret_in_env(t: Template) -> None:
    env = _fn(t, "OAuthFunction").setdefault("Environment", {}).setdefault("Variables", {})
    env["APP_SECRET"] = "{{resolve:secretsmanager:tiktok-connector/app:SecretString:secret}}"


def _unscoped_policy_template(t: Template) -> None:
    _fn(t, "EventForwarderFunction")["Policies"].append({"DynamoDBCrudPolicy": {"TableName": "*"}})


def _unencrypted_queue(t: Template) -> None:
    contract.props(t["Resources"]["EventsDeadLetterQueue"]).pop("SqsManagedSseEnabled")


def _plain_http_allowed(t: Template) -> None:
    for policy in contract.resources(t, "AWS::S3::BucketPolicy").values():
        contract.props(policy)["PolicyDocument"]["Statement"] = []


def _wildcard_resource(t: Template) -> None:
    _add_statement(t, "OAuthFunction", {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"})  # fmt: skip


MUTATIONS = {
    "a function reads a secret it does not need": (_read_app_secret, check_secret_readers),
    "a function may read any secret": (_read_any_secret, check_secret_readers),
    "a function lost a secret it needs": (_drop_needed_read, check_secret_readers),
    "an Allow of s3:*": (_wildcard_action, check_no_wildcard_actions),
    "a secret value in the environment": (_secret_in_env, check_no_secrets_in_environment),
    "a policy template on '*'": (_unscoped_policy_template, check_policy_templates_scoped),
    "an unencrypted queue": (_unencrypted_queue, contract.check_encryption),
    "no TLS-only bucket policy": (_plain_http_allowed, contract.check_tls_only_buckets),
    "a '*' resource": (_wildcard_resource, contract.check_no_wildcard_resources),
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_each_check_catches_its_broken_template(loaded: Template, mutation: str) -> None:
    breaks, check = MUTATIONS[mutation]
    broken = copy.deepcopy(loaded)
    breaks(broken)
    assert check(broken), mutation
