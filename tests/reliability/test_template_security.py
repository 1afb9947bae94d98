"""Least privilege and encryption in ``template.yaml``, checked as data.

Reuses the contract checkers of ``tests/template/contract.py`` (no ``*`` resources, every queue,
bucket and table encrypted, TLS-only bucket policy, public access blocked, only the OAuth
function writes authorization secrets) and adds what they leave open:

* no ``*`` actions (``"*"`` or ``"service:*"``) in any Allow statement;
* each secret is readable only by the functions that need it (by secret, not by function:
  inline statements, SAM policy templates and AWS managed policies all count);
* secrets never reach a function's environment (no ``{{resolve:secretsmanager}}`` references,
  no secret ``Ref``/``GetAtt`` as a variable value beyond its name);
* SAM policy templates are scoped to a resource of this template (never a literal ``*``);
* with ``KmsKeyArn`` set, each function may use the key exactly as the services it uses need
  (derived from its policies and event sources: reading an encrypted queue, table, object or
  secret needs ``kms:Decrypt``, writing one ``kms:GenerateDataKey`` too, DynamoDB also
  ``kms:DescribeKey``), each grant scoped to the key and to that service (``kms:ViaService``);
  without a key, no function holds any KMS permission;
* every check the scanner (checkov, ``make scan``) is told to skip carries a written reason.

Every check runs on the template as deployed without and with ``KmsKeyArn``
(``tests.template.variants``) and is shown to fail on a deliberately broken copy of the template.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.template import contract
from tests.template.cfn import load_template, render
from tests.template.variants import EXAMPLE_KEY_ARN, KMS_CHECKS, VARIANTS

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


# What each use of a service needs from the key (per the services' KMS documentation).
KEY_USE = {
    ("s3", "read"): {"kms:Decrypt"},
    ("s3", "write"): {"kms:GenerateDataKey"},
    ("sqs", "read"): {"kms:Decrypt"},
    ("sqs", "write"): {"kms:Decrypt", "kms:GenerateDataKey"},
    ("dynamodb", "read"): {"kms:Decrypt", "kms:DescribeKey"},
    ("dynamodb", "write"): {"kms:Decrypt", "kms:DescribeKey"},
    ("secretsmanager", "read"): {"kms:Decrypt"},
    ("secretsmanager", "write"): {"kms:Decrypt", "kms:GenerateDataKey"},
}
# SAM policy templates this template uses or may use, as service uses.
POLICY_TEMPLATE_USES = {
    "DynamoDBCrudPolicy": {("dynamodb", "read"), ("dynamodb", "write")},
    "DynamoDBReadPolicy": {("dynamodb", "read")},
    "DynamoDBWritePolicy": {("dynamodb", "write")},
    "SQSSendMessagePolicy": {("sqs", "write")},
    "SQSPollerPolicy": {("sqs", "read")},
    "S3ReadPolicy": {("s3", "read")},
    "S3WritePolicy": {("s3", "write")},
    "S3CrudPolicy": {("s3", "read"), ("s3", "write")},
    "AWSSecretsManagerGetSecretValuePolicy": {("secretsmanager", "read")},
}
WRITES = {
    "s3": ("s3:putobject",),
    "sqs": ("sqs:sendmessage",),
    "secretsmanager": (
        "secretsmanager:createsecret",
        "secretsmanager:putsecretvalue",
        "secretsmanager:updatesecret",
    ),
    "dynamodb": (
        "dynamodb:putitem",
        "dynamodb:updateitem",
        "dynamodb:deleteitem",
        "dynamodb:batchwriteitem",
    ),
}
READS = {
    "s3": ("s3:getobject",),
    "sqs": ("sqs:receivemessage",),
    "secretsmanager": ("secretsmanager:getsecretvalue",),
    "dynamodb": ("dynamodb:getitem", "dynamodb:query", "dynamodb:scan", "dynamodb:batchgetitem"),
}


def service_uses(template: Template, fn_id: str) -> set[tuple[str, str]]:
    """(service, "read" | "write") of each encrypted store the function touches."""
    fn = contract.props(template["Resources"][fn_id])
    uses: set[tuple[str, str]] = set()
    for policy in contract.as_list(fn.get("Policies")):
        if isinstance(policy, str):
            uses.add(("?", policy))
            continue
        for name in set(policy) - {"Statement"}:
            uses |= POLICY_TEMPLATE_USES.get(name, {("?", name)})
        for statement in contract.as_list(policy.get("Statement")):
            if statement.get("Effect") != "Allow":
                continue
            for action in map(str.lower, contract.as_list(statement.get("Action"))):
                for service, prefixes in READS.items():
                    if action.startswith(prefixes):
                        uses.add((service, "read"))
                for service, prefixes in WRITES.items():
                    if action.startswith(prefixes):
                        uses.add((service, "write"))
    for event in (fn.get("Events") or {}).values():
        if event.get("Type") == "SQS":
            uses.add(("sqs", "read"))  # SAM adds the poller policy
    on_failure = ((fn.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}).get(
        "OnFailure"
    )
    if (on_failure or {}).get("Type") == "SQS":
        uses.add(("sqs", "write"))  # SAM adds sqs:SendMessage on the destination
    return uses


def _via_service(statement: dict[str, Any]) -> list[str]:
    values = ((statement.get("Condition") or {}).get("StringEquals") or {}).get("kms:ViaService")
    found = []
    for value in contract.as_list(values):
        text = contract.sub_text(value) or ""
        found.append(
            text.split(".", 1)[0] if text.endswith(".${AWS::Region}.amazonaws.com") else "?"
        )
    return found


def key_grants(template: Template, fn_id: str) -> tuple[dict[str, set[str]], list[str]]:
    """service -> KMS actions the function may use through it, and malformed grants."""
    grants: dict[str, set[str]] = {}
    problems = []
    fn = contract.props(template["Resources"][fn_id])
    for policy in contract.as_list(fn.get("Policies")):
        for statement in contract.as_list(policy.get("Statement") if isinstance(policy, dict) else None):  # fmt: skip
            actions = {a for a in contract.as_list(statement.get("Action")) if str(a).startswith("kms:")}  # fmt: skip
            if not actions or statement.get("Effect") != "Allow":
                continue
            services = _via_service(statement)
            if statement.get("Resource") != contract.KEY_REF:
                problems.append(f"{fn_id}: KMS grant on {statement.get('Resource')!r}, not the stack key")  # fmt: skip
            if not services or "?" in services:
                problems.append(
                    f"{fn_id}: KMS grant {sorted(actions)} not limited by kms:ViaService"
                )
            for service in services:
                grants.setdefault(service, set()).update(actions)
    return grants, problems


def check_key_grants(template: Template) -> list[str]:
    """With a key: each function gets exactly what its stores need; without: no KMS grant."""
    problems = []
    for fn_id in contract.resources(template, contract.SAM_FUNCTION):
        grants, malformed = key_grants(template, fn_id)
        problems += malformed
        if not contract.kms_key(template):
            problems += [f"{fn_id}: KMS grant via {s} without KmsKeyArn" for s in sorted(grants)]
            continue
        uses = service_uses(template, fn_id)
        problems += [f"{fn_id}: cannot tell what {name} needs from the key" for s, name in sorted(uses) if s == "?"]  # fmt: skip
        needed: dict[str, set[str]] = {}
        for use in uses:
            needed.setdefault(use[0], set()).update(KEY_USE.get(use, set()))
        for service in sorted(set(needed) | set(grants)):
            missing = needed.get(service, set()) - grants.get(service, set())
            extra = grants.get(service, set()) - needed.get(service, set())
            if missing:
                problems.append(f"{fn_id}: lacks {sorted(missing)} via {service}")
            if extra:
                problems.append(f"{fn_id}: may use {sorted(extra)} via {service}, which it does not need")  # fmt: skip
    return problems


def check_skips_have_reasons(template: Template) -> list[str]:
    """Every scanner skip names a check and says why in a sentence a reviewer can judge."""
    problems = []
    for logical_id, resource in contract.resources(template).items():
        skips = ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []
        for skip in skips:
            check, reason = str(skip.get("id", "")), str(skip.get("comment") or "")
            if not check.startswith(("CKV_AWS_", "CKV2_AWS_")):
                problems.append(f"{logical_id}: skip of {check!r} is not a checkov AWS check id")
            if len(reason.split()) < 12:
                problems.append(f"{logical_id}: skip of {check} without a reason ({reason!r})")
            if check in KMS_CHECKS and "KmsKeyArn" not in reason:
                problems.append(f"{logical_id}: {check} is a key check; say it holds with KmsKeyArn")  # fmt: skip
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
    check_key_grants,
    check_skips_have_reasons,
)


@pytest.fixture(scope="module")
def loaded() -> Template:
    return load_template()


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("check", [*REUSED, *ADDED], ids=lambda c: c.__name__)
def test_template_is_least_privilege_and_encrypted(
    loaded: Template, check: Callable[[Template], list[str]], name: str
) -> None:
    assert check(render(loaded, VARIANTS[name])) == []


def test_key_grants_follow_the_stores_each_function_uses(loaded: Template) -> None:
    kms = render(loaded, {"KmsKeyArn": EXAMPLE_KEY_ARN})
    expected = {
        "SegmentIngestFunction": {
            "s3": {"kms:Decrypt", "kms:GenerateDataKey"},
            "sqs": {"kms:Decrypt", "kms:GenerateDataKey"},
            "dynamodb": {"kms:Decrypt", "kms:DescribeKey"},
        },
        "AudienceUploadFunction": {
            "s3": {"kms:Decrypt", "kms:GenerateDataKey"},
            "sqs": {"kms:Decrypt", "kms:GenerateDataKey"},  # also re-queues waiting chunks
            "dynamodb": {"kms:Decrypt", "kms:DescribeKey"},
            "secretsmanager": {"kms:Decrypt"},
        },
        "EventForwarderFunction": {
            "sqs": {"kms:Decrypt", "kms:GenerateDataKey"},  # also sends to the events DLQ
            "dynamodb": {"kms:Decrypt", "kms:DescribeKey"},  # the event-stats table
            "secretsmanager": {"kms:Decrypt"},
        },
        "OAuthFunction": {
            "dynamodb": {"kms:Decrypt", "kms:DescribeKey"},
            "secretsmanager": {"kms:Decrypt", "kms:GenerateDataKey"},
        },
    }
    assert {fn: key_grants(kms, fn)[0] for fn in expected} == expected


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


def _new_producer_without_key(t: Template) -> None:
    # A new producer without the key use that producing needs.
    _add_statement(t, "OAuthFunction", {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["EventsQueue", "Arn"]}})  # fmt: skip


def _kms_grant_beyond_need(t: Template) -> None:
    _add_statement(t, "EventForwarderFunction", {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": {"Ref": "KmsKeyArn"}, "Condition": {"StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}}})  # fmt: skip


def _kms_grant_without_via_service(t: Template) -> None:
    _add_statement(t, "OAuthFunction", {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": {"Ref": "KmsKeyArn"}})  # fmt: skip


def _skip_without_reason(t: Template) -> None:
    skips = t["Resources"]["OAuthFunction"]["Metadata"]["checkov"]["skip"]
    skips[0]["comment"] = "not needed"


MUTATIONS["a KMS grant although KmsKeyArn is empty"] = (_kms_grant_beyond_need, check_key_grants)
KMS_MUTATIONS = {
    "a producer without kms:GenerateDataKey": (_new_producer_without_key, check_key_grants),
    "a key grant through a service not used": (_kms_grant_beyond_need, check_key_grants),
    "a key grant for any service": (_kms_grant_without_via_service, check_key_grants),
}


@pytest.mark.parametrize("mutation", [*MUTATIONS, "a scanner skip without a reason"])
def test_each_check_catches_its_broken_template(loaded: Template, mutation: str) -> None:
    breaks, check = MUTATIONS.get(mutation) or (_skip_without_reason, check_skips_have_reasons)
    broken = copy.deepcopy(loaded)
    breaks(broken)
    assert check(render(broken)), mutation


@pytest.mark.parametrize("mutation", KMS_MUTATIONS)
def test_each_key_check_catches_its_broken_template(loaded: Template, mutation: str) -> None:
    breaks, check = KMS_MUTATIONS[mutation]
    broken = copy.deepcopy(loaded)
    breaks(broken)
    assert check(render(broken, {"KmsKeyArn": EXAMPLE_KEY_ARN})), mutation
