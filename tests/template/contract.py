"""Contract checks on a SAM template loaded as data (``tests.template.cfn.load_template``).

Each ``check_*`` function takes the template dict and returns a list of human-readable problems;
an empty list means the template keeps that part of the contract. Keeping the checks as plain
functions lets the tests run them on the real template *and* on deliberately broken copies, which
proves each check can fail.

The checks read a template *rendered* for one parameter set (``tests.template.cfn.render``: no
``Fn::If`` left), since what is encrypted with which key depends on ``KmsKeyArn``; the tests run
them on every variant of ``tests.template.variants``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

Template = dict[str, Any]

SAM_FUNCTION = "AWS::Serverless::Function"
SQS_QUEUE = "AWS::SQS::Queue"
LAMBDA_DEFAULT_TIMEOUT = 3
SQS_DEFAULT_VISIBILITY = 30
SQS_MAX_VISIBILITY = 43200
KMS_PARAMETER = "KmsKeyArn"
KEY_REF = {"Ref": KMS_PARAMETER}

AUTHORIZATIONS_SECRET_SAMPLE = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
    "${AWS::StackName}/authorizations/sample-AbCdEf"
)
SECRET_WRITE_ACTIONS = (
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecret",
    "secretsmanager:DeleteSecret",
    "secretsmanager:RestoreSecret",
    "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:PutResourcePolicy",
)


# ---------------------------------------------------------------- helpers


def resources(template: Template, *types: str) -> dict[str, dict[str, Any]]:
    """Resources of the given types (all resources when no type is given), by logical id."""
    found = template.get("Resources") or {}
    return {k: v for k, v in found.items() if not types or v.get("Type") in types}


def props(resource: dict[str, Any]) -> dict[str, Any]:
    return resource.get("Properties") or {}


def function_globals(template: Template) -> dict[str, Any]:
    return (template.get("Globals") or {}).get("Function") or {}


def function_setting(template: Template, function: dict[str, Any], key: str) -> Any:
    """A function property, falling back to ``Globals.Function``."""
    value = props(function).get(key)
    return function_globals(template).get(key) if value is None else value


def referenced_logical_id(value: Any) -> str | None:
    """The logical id behind ``Ref X`` / ``GetAtt X.Attr`` (None for anything else)."""
    if isinstance(value, dict) and len(value) == 1:
        if "Ref" in value and isinstance(value["Ref"], str):
            return value["Ref"]
        getatt = value.get("Fn::GetAtt")
        if isinstance(getatt, list) and getatt and isinstance(getatt[0], str):
            return getatt[0]
    return None


def sub_text(value: Any) -> str | None:
    """A string literal or the pattern of a ``Fn::Sub`` (other intrinsics: None)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        if isinstance(sub, str):
            return sub
        if isinstance(sub, list) and sub and isinstance(sub[0], str):
            return sub[0]
    return None


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def sqs_event_sources(template: Template) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(function logical id, queue logical id or '?', event properties) for every SQS trigger.

    Covers SAM ``Events`` of type SQS and plain ``AWS::Lambda::EventSourceMapping`` resources
    (whose function is resolved from ``FunctionName``).
    """
    for fn_id, fn in resources(template, SAM_FUNCTION).items():
        for event in (props(fn).get("Events") or {}).values():
            if event.get("Type") == "SQS":
                event_props = event.get("Properties") or {}
                queue = referenced_logical_id(event_props.get("Queue")) or "?"
                yield fn_id, queue, event_props
    for mapping in resources(template, "AWS::Lambda::EventSourceMapping").values():
        mapping_props = props(mapping)
        source = referenced_logical_id(mapping_props.get("EventSourceArn"))
        if source and resources(template).get(source, {}).get("Type") == SQS_QUEUE:
            fn_id = referenced_logical_id(mapping_props.get("FunctionName")) or "?"
            yield fn_id, source, mapping_props


def redrive_target(queue: dict[str, Any]) -> str | None:
    """Logical id of the queue named by a queue's ``RedrivePolicy.deadLetterTargetArn``."""
    policy = props(queue).get("RedrivePolicy")
    if not isinstance(policy, dict):
        return None
    return referenced_logical_id(policy.get("deadLetterTargetArn"))


def policy_statements(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM-style statement in the template, with where it was found.

    Walks all resources and ``Globals`` generically: any mapping with a ``Statement`` key is a
    policy document (inline role policies, managed policies, SAM ``Policies`` statements, bucket
    and queue policies alike).
    """

    def walk(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(node, dict):
            if "Statement" in node:
                for statement in as_list(node["Statement"]):
                    if isinstance(statement, dict):
                        yield where, statement
            for key, child in node.items():
                yield from walk(child, f"{where}.{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                yield from walk(child, f"{where}[{index}]")

    yield from walk(template.get("Resources") or {}, "Resources")
    yield from walk(template.get("Globals") or {}, "Globals")


def is_wildcard(value: Any) -> bool:
    text = sub_text(value)
    return text is not None and text.strip() == "*"


# ---------------------------------------------------------------- SQS consumers


def check_sqs_event_sources(template: Template) -> list[str]:
    """Every SQS trigger reports partial batch failures and caps its concurrency."""
    problems = []
    for fn_id, queue, event in sqs_event_sources(template):
        if "ReportBatchItemFailures" not in as_list(event.get("FunctionResponseTypes")):
            problems.append(
                f"{fn_id} <- {queue}: FunctionResponseTypes lacks ReportBatchItemFailures"
            )
        concurrency = (event.get("ScalingConfig") or {}).get("MaximumConcurrency")
        if not isinstance(concurrency, int) or not 2 <= concurrency <= 1000:
            problems.append(f"{fn_id} <- {queue}: no ScalingConfig.MaximumConcurrency (2-1000)")
    return problems


def check_redrive(template: Template) -> list[str]:
    """Every consumed queue redrives to a dead-letter queue of this template."""
    problems = []
    queues = resources(template, SQS_QUEUE)
    for fn_id, queue_id, _ in sqs_event_sources(template):
        queue = queues.get(queue_id)
        if queue is None:
            problems.append(f"{fn_id}: consumes {queue_id}, which is not a queue of this template")
            continue
        policy = props(queue).get("RedrivePolicy")
        target = redrive_target(queue)
        if target is None:
            problems.append(f"{queue_id}: consumed by {fn_id} but has no RedrivePolicy to a DLQ")
        elif target not in queues:
            problems.append(f"{queue_id}: redrive target {target} is not a queue of this template")
        elif target == queue_id:
            problems.append(f"{queue_id}: redrives to itself")
        count = policy.get("maxReceiveCount") if isinstance(policy, dict) else None
        if target is not None and (not isinstance(count, int) or count < 1):
            problems.append(f"{queue_id}: RedrivePolicy.maxReceiveCount must be a positive integer")
    return problems


def check_visibility_timeouts(template: Template) -> list[str]:
    """Visibility timeout >= 6x the consumer's timeout plus its batching window (AWS guidance)."""
    problems = []
    queues = resources(template, SQS_QUEUE)
    functions = resources(template, SAM_FUNCTION)
    for fn_id, queue_id, event in sqs_event_sources(template):
        if queue_id not in queues or fn_id not in functions:
            problems.append(f"{fn_id} <- {queue_id}: cannot resolve consumer or queue")
            continue
        timeout = function_setting(template, functions[fn_id], "Timeout") or LAMBDA_DEFAULT_TIMEOUT
        window = event.get("MaximumBatchingWindowInSeconds") or 0
        visibility = props(queues[queue_id]).get("VisibilityTimeout", SQS_DEFAULT_VISIBILITY)
        if not all(isinstance(v, int) for v in (timeout, window, visibility)):
            problems.append(f"{queue_id}: timeouts must be literal integers to be checked")
            continue
        needed = 6 * timeout + window
        if visibility < needed:
            problems.append(
                f"{queue_id}: VisibilityTimeout {visibility} < 6 x {fn_id} timeout {timeout}"
                f" + window {window} = {needed}"
            )
        if visibility > SQS_MAX_VISIBILITY:
            problems.append(f"{queue_id}: VisibilityTimeout {visibility} > SQS maximum 43200")
    return problems


# ---------------------------------------------------------------- IAM


def check_no_wildcard_resources(template: Template) -> list[str]:
    """No policy statement anywhere grants on ``Resource: "*"`` (or uses ``NotResource``)."""
    problems = []
    for where, statement in policy_statements(template):
        if "NotResource" in statement:
            problems.append(f"{where}: statement uses NotResource")
        if any(is_wildcard(item) for item in as_list(statement.get("Resource"))):
            sid = statement.get("Sid", "<no Sid>")
            problems.append(f"{where}: statement {sid} has '*' as Resource")
    return problems


def _grants_secret_write(statement: dict[str, Any]) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    actions = [a.lower() for a in as_list(statement.get("Action")) if isinstance(a, str)]
    writes = any(
        fnmatch.fnmatchcase(write.lower(), action)
        for write in SECRET_WRITE_ACTIONS
        for action in actions
    )
    if not writes:
        return False
    return any(
        text is not None and fnmatch.fnmatchcase(AUTHORIZATIONS_SECRET_SAMPLE, text)
        for text in (sub_text(r) for r in as_list(statement.get("Resource")))
    )


def authorization_secret_writers(template: Template) -> set[str]:
    """Logical ids of resources whose policies can write ``<stack>/authorizations/*`` secrets."""
    writers = set()
    for where, statement in policy_statements(template):
        if _grants_secret_write(statement):
            writers.add(where.split(".")[1] if where.startswith("Resources.") else where)
    # A hand-written role counts as the function that assumes it.
    role_users = {
        referenced_logical_id(props(fn).get("Role")): fn_id
        for fn_id, fn in resources(template, SAM_FUNCTION).items()
    }
    writers = {role_users.get(w, w) for w in writers}
    # AWS managed policies that write any secret, attached by name or ARN.
    for fn_id, fn in resources(template, SAM_FUNCTION).items():
        for policy in as_list(props(fn).get("Policies")):
            if isinstance(policy, str) and "SecretsManagerReadWrite" in policy:
                writers.add(fn_id)
    return writers


def oauth_function_ids(template: Template) -> set[str]:
    return {
        fn_id
        for fn_id, fn in resources(template, SAM_FUNCTION).items()
        if str(props(fn).get("Handler", "")).startswith("oauth_function.")
    }


def check_authorization_writers(template: Template) -> list[str]:
    """Only the OAuth function may write authorization secrets (and it must be able to)."""
    oauth = oauth_function_ids(template)
    writers = authorization_secret_writers(template)
    problems = [f"{w}: can write authorization secrets" for w in sorted(writers - oauth)]
    problems += [f"{o}: cannot write authorization secrets" for o in sorted(oauth - writers)]
    if not oauth:
        problems.append("no OAuth function (handler oauth_function.*) in the template")
    return problems


# ---------------------------------------------------------------- storage


def check_encryption(template: Template) -> list[str]:
    """Every queue, bucket and table is encrypted at rest."""
    problems = []
    for queue_id, queue in resources(template, SQS_QUEUE).items():
        p = props(queue)
        if p.get("SqsManagedSseEnabled") is not True and not p.get("KmsMasterKeyId"):
            problems.append(f"{queue_id}: queue is not encrypted (SqsManagedSseEnabled / KMS)")
    for bucket_id, bucket in resources(template, "AWS::S3::Bucket").items():
        rules = (props(bucket).get("BucketEncryption") or {}).get(
            "ServerSideEncryptionConfiguration"
        ) or []
        algorithms = {
            (rule.get("ServerSideEncryptionByDefault") or {}).get("SSEAlgorithm") for rule in rules
        }
        if not algorithms & {"AES256", "aws:kms", "aws:kms:dsse"}:
            problems.append(f"{bucket_id}: bucket has no default server-side encryption")
    for table_id, table in resources(template, "AWS::DynamoDB::Table").items():
        if (props(table).get("SSESpecification") or {}).get("SSEEnabled") is not True:
            problems.append(f"{table_id}: table SSESpecification.SSEEnabled is not true")
    return problems


def _denies_insecure_transport(statement: dict[str, Any]) -> bool:
    condition = (statement.get("Condition") or {}).get("Bool") or {}
    secure = condition.get("aws:SecureTransport")
    principal = statement.get("Principal")
    return (
        statement.get("Effect") == "Deny"
        and str(secure).lower() == "false"
        and (principal == "*" or principal == {"AWS": "*"})
        and any(a in ("s3:*", "*") for a in as_list(statement.get("Action")))
    )


def check_tls_only_buckets(template: Template) -> list[str]:
    """Every bucket has a policy denying requests without TLS, on the bucket and its objects."""
    problems = []
    policies = resources(template, "AWS::S3::BucketPolicy").values()
    for bucket_id in resources(template, "AWS::S3::Bucket"):
        resources_covered: set[str] = set()
        for policy in policies:
            if referenced_logical_id(props(policy).get("Bucket")) != bucket_id:
                continue
            document = props(policy).get("PolicyDocument") or {}
            for statement in as_list(document.get("Statement")):
                if isinstance(statement, dict) and _denies_insecure_transport(statement):
                    for item in as_list(statement.get("Resource")):
                        text = sub_text(item) or ""
                        if f"${{{bucket_id}}}" in text or f"${{{bucket_id}.Arn}}" in text:
                            resources_covered.add("objects" if text.endswith("/*") else "bucket")
                        elif referenced_logical_id(item) == bucket_id:
                            resources_covered.add("bucket")
        missing = {"bucket", "objects"} - resources_covered
        if missing:
            problems.append(
                f"{bucket_id}: no Deny on aws:SecureTransport=false covering {sorted(missing)}"
            )
    return problems


def check_public_access_blocked(template: Template) -> list[str]:
    problems = []
    keys = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    for bucket_id, bucket in resources(template, "AWS::S3::Bucket").items():
        config = props(bucket).get("PublicAccessBlockConfiguration") or {}
        off = [k for k in keys if config.get(k) is not True]
        if off:
            problems.append(f"{bucket_id}: public access block not set for {off}")
    return problems


def check_table_ttl(template: Template) -> list[str]:
    """Every table has TTL enabled on ``expires_at`` (docs/architecture.md)."""
    problems = []
    for table_id, table in resources(template, "AWS::DynamoDB::Table").items():
        ttl = props(table).get("TimeToLiveSpecification") or {}
        if ttl.get("Enabled") is not True or ttl.get("AttributeName") != "expires_at":
            problems.append(f"{table_id}: TTL on expires_at is not enabled")
    return problems


def kms_key(template: Template) -> str:
    """The ``KmsKeyArn`` a rendered template is deployed with ("" = AWS-managed encryption)."""
    parameter = (template.get("Parameters") or {}).get(KMS_PARAMETER) or {}
    return str(parameter.get("Default") or "")


def encryption_keys(template: Template) -> dict[str, Any]:
    """The KMS key each queue, table, secret, log group, bucket and function names (None: none)."""
    found: dict[str, Any] = {}
    for queue_id, queue in resources(template, SQS_QUEUE).items():
        found[queue_id] = props(queue).get("KmsMasterKeyId")
    for table_id, table in resources(template, "AWS::DynamoDB::Table").items():
        sse = props(table).get("SSESpecification") or {}
        found[table_id] = sse.get("KMSMasterKeyId") if sse.get("SSEType") == "KMS" else None
    for kind in ("AWS::SecretsManager::Secret", "AWS::Logs::LogGroup"):
        for logical_id, resource in resources(template, kind).items():
            found[logical_id] = props(resource).get("KmsKeyId")
    for bucket_id, bucket in resources(template, "AWS::S3::Bucket").items():
        rules = as_list(
            (props(bucket).get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")
        )
        defaults = [rule.get("ServerSideEncryptionByDefault") or {} for rule in rules]
        found[bucket_id] = next(
            (d.get("KMSMasterKeyID") for d in defaults if d.get("SSEAlgorithm") == "aws:kms"), None
        )
    for fn_id, fn in resources(template, SAM_FUNCTION).items():
        found[fn_id] = function_setting(template, fn, "KmsKeyArn")
    return found


def check_customer_managed_key(template: Template) -> list[str]:
    """KmsKeyArn set: every queue, table, secret, log group, bucket and function environment uses
    it, and the OAuth function creates its secrets with it. Empty: none names a key."""
    key = kms_key(template)
    problems = []
    for logical_id, used in sorted(encryption_keys(template).items()):
        if key and used != KEY_REF:
            problems.append(f"{logical_id}: not encrypted with KmsKeyArn (key: {used!r})")
        if not key and used is not None:
            problems.append(f"{logical_id}: names the KMS key {used!r} although KmsKeyArn is empty")
    for fn_id in oauth_function_ids(template):
        variables = (props(resources(template)[fn_id]).get("Environment") or {}).get("Variables")
        if (variables or {}).get("AUTHORIZATIONS_KMS_KEY_ARN") != KEY_REF:
            problems.append(f"{fn_id}: AUTHORIZATIONS_KMS_KEY_ARN is not !Ref KmsKeyArn")
    return problems


# ---------------------------------------------------------------- concurrency


def skipped_checks(resource: dict[str, Any]) -> dict[str, str]:
    """checkov check id -> the written reason, from the resource's ``Metadata.checkov.skip``."""
    skips = ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []
    return {str(s.get("id")): str(s.get("comment") or "") for s in skips if isinstance(s, dict)}


def check_reserved_concurrency(template: Template) -> list[str]:
    """Each function reserves concurrency or says why not (checkov skip of CKV_AWS_115), and a
    reservation is never below an SQS source's MaximumConcurrency (throttled batches would be
    received again and again, into the DLQ)."""
    problems = []
    for fn_id, fn in resources(template, SAM_FUNCTION).items():
        reserved = props(fn).get("ReservedConcurrentExecutions")
        if reserved is None and not skipped_checks(fn).get("CKV_AWS_115"):
            problems.append(f"{fn_id}: no ReservedConcurrentExecutions and no reason (CKV_AWS_115)")
        if reserved is None:
            continue
        if not isinstance(reserved, int) or reserved < 1:
            problems.append(f"{fn_id}: ReservedConcurrentExecutions must be a positive integer")
            continue
        for source_fn, queue, event in sqs_event_sources(template):
            cap = (event.get("ScalingConfig") or {}).get("MaximumConcurrency")
            if source_fn == fn_id and isinstance(cap, int) and reserved < cap:
                problems.append(
                    f"{fn_id}: reserves {reserved} < MaximumConcurrency {cap} of its {queue} source"
                )
    return problems


# ---------------------------------------------------------------- failure path and logs


def s3_triggered_functions(template: Template) -> list[str]:
    return [
        fn_id
        for fn_id, fn in resources(template, SAM_FUNCTION).items()
        if any(e.get("Type") == "S3" for e in (props(fn).get("Events") or {}).values())
    ]


def on_failure_queues(template: Template) -> set[str]:
    found = set()
    for fn in resources(template, SAM_FUNCTION).values():
        config = props(fn).get("EventInvokeConfig") or {}
        on_failure = (config.get("DestinationConfig") or {}).get("OnFailure") or {}
        target = referenced_logical_id(on_failure.get("Destination"))
        if target:
            found.add(target)
    return found


def check_s3_on_failure(template: Template) -> list[str]:
    """Asynchronously (S3-) invoked functions send failed events to a queue of this template."""
    problems = []
    queues = resources(template, SQS_QUEUE)
    for fn_id in s3_triggered_functions(template):
        config = props(resources(template)[fn_id]).get("EventInvokeConfig") or {}
        on_failure = (config.get("DestinationConfig") or {}).get("OnFailure") or {}
        target = referenced_logical_id(on_failure.get("Destination"))
        if target is None:
            problems.append(
                f"{fn_id}: S3-triggered but has no EventInvokeConfig OnFailure destination"
            )
        elif target not in queues or on_failure.get("Type") != "SQS":
            problems.append(f"{fn_id}: OnFailure destination {target} is not an SQS queue here")
        if not isinstance(config.get("MaximumRetryAttempts"), int):
            problems.append(f"{fn_id}: EventInvokeConfig.MaximumRetryAttempts not set")
    return problems


def check_log_groups(template: Template) -> list[str]:
    """Every log group has a retention; every function has its /aws/lambda/<name> log group."""
    problems = []
    log_groups = resources(template, "AWS::Logs::LogGroup")
    names = set()
    for group_id, group in log_groups.items():
        if "RetentionInDays" not in props(group):
            problems.append(f"{group_id}: log group without RetentionInDays")
        else:
            names.add(sub_text(props(group).get("LogGroupName")))
    for fn_id, fn in resources(template, SAM_FUNCTION).items():
        expected = {f"/aws/lambda/${{{fn_id}}}"}
        function_name = sub_text(props(fn).get("FunctionName"))
        if function_name:
            expected.add(f"/aws/lambda/{function_name}")
        if not expected & names:
            problems.append(f"{fn_id}: no log group /aws/lambda/<function name> with retention")
    return problems


def dead_letter_queues(template: Template) -> set[str]:
    """Queues that receive failures: redrive targets and OnFailure destinations."""
    targets = {redrive_target(q) for q in resources(template, SQS_QUEUE).values()}
    return {t for t in targets if t} | on_failure_queues(template)


def check_dlq_alarms(template: Template) -> list[str]:
    """Every dead-letter / failure queue has an alarm firing as soon as it holds a message."""
    alarmed = set()
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        p = props(alarm)
        if (
            p.get("Namespace") != "AWS/SQS"
            or p.get("MetricName") != "ApproximateNumberOfMessagesVisible"
        ):
            continue
        fires_on_one = (p.get("ComparisonOperator"), p.get("Threshold")) in (
            ("GreaterThanThreshold", 0),
            ("GreaterThanOrEqualToThreshold", 1),
        )
        if not fires_on_one:
            continue
        for dimension in as_list(p.get("Dimensions")):
            if dimension.get("Name") == "QueueName":
                queue = referenced_logical_id(dimension.get("Value"))
                if queue:
                    alarmed.add(queue)
    return [
        f"{queue}: dead-letter/failure queue without a depth alarm"
        for queue in sorted(dead_letter_queues(template) - alarmed)
    ]


ALL_CHECKS = (
    check_sqs_event_sources,
    check_redrive,
    check_visibility_timeouts,
    check_no_wildcard_resources,
    check_authorization_writers,
    check_encryption,
    check_tls_only_buckets,
    check_public_access_blocked,
    check_table_ttl,
    check_s3_on_failure,
    check_log_groups,
    check_dlq_alarms,
    check_customer_managed_key,
    check_reserved_concurrency,
)
