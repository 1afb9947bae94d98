"""template.yaml read as data: the failure path, least privilege and the names others rely on.

Each contract check runs on the real template (must pass) and on broken copies (must fail), so a
check that cannot fail is caught here rather than in production.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.template import contract
from tests.template.cfn import TEMPLATE_PATH, load_template, render
from tests.template.variants import EXAMPLE_KEY_ARN, VARIANTS

ROOT = TEMPLATE_PATH.parent
Check = Callable[[dict[str, Any]], list[str]]
Mutation = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def loaded() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


@pytest.fixture
def template(loaded: dict[str, Any]) -> dict[str, Any]:
    """A private deep copy: tests may mutate it freely."""
    return copy.deepcopy(loaded)


@pytest.fixture(params=list(VARIANTS))
def variant(request: pytest.FixtureRequest, loaded: dict[str, Any]) -> dict[str, Any]:
    """The template as deployed for each parameter set (without and with KmsKeyArn)."""
    return render(loaded, VARIANTS[request.param])


def res(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]


def event(template: dict[str, Any], function: str, name: str) -> dict[str, Any]:
    return res(template, function)["Events"][name]["Properties"]


def statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    return [
        s
        for policy in res(template, function)["Policies"]
        if isinstance(policy, dict) and "Statement" in policy
        for s in policy["Statement"]
    ]


# ---------------------------------------------------------------- loader


def test_loader_expands_cloudformation_short_tags(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "Conditions:\n"
        "  C: !Not [!Equals [!Ref P, '']]\n"
        "Resources:\n"
        "  R:\n"
        "    Type: X\n"
        "    Properties:\n"
        "      A: !GetAtt Queue.Arn\n"
        '      B: !Sub "${AWS::StackName}-x"\n'
        "      C: !Sub ['${a}', {a: !Ref Y}]\n"
        "      D: !If [C, !Join ['', [a, b]], !Ref AWS::NoValue]\n"
        "      E: !Select [0, !GetAZs '']\n",
        encoding="utf-8",
    )
    data = load_template(path)
    p = data["Resources"]["R"]["Properties"]
    assert p["A"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert p["B"] == {"Fn::Sub": "${AWS::StackName}-x"}
    assert p["C"] == {"Fn::Sub": ["${a}", {"a": {"Ref": "Y"}}]}
    assert p["D"] == {"Fn::If": ["C", {"Fn::Join": ["", ["a", "b"]]}, {"Ref": "AWS::NoValue"}]}
    assert p["E"] == {"Fn::Select": [0, {"Fn::GetAZs": ""}]}
    assert data["Conditions"]["C"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "P"}, ""]}]}


def test_loader_refuses_a_file_without_resources(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("Parameters: {}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a CloudFormation template"):
        load_template(path)


# ---------------------------------------------------------------- the checks on the real template


def test_checks_are_not_vacuous(template: dict[str, Any]) -> None:
    """The walkers find what the checks are about; otherwise every check would pass trivially."""
    sources = {(fn, q) for fn, q, _ in contract.sqs_event_sources(template)}
    assert sources == {
        ("AudienceUploadFunction", "ChunkQueue"),
        ("EventForwarderFunction", "EventsQueue"),
        ("SegmentIngestFunction", "RangesQueue"),
    }
    assert contract.dead_letter_queues(template) == {
        "ChunkDeadLetterQueue",
        "EventsDeadLetterQueue",
        "RangesDeadLetterQueue",
        "IngestFailuresQueue",
    }
    assert contract.s3_triggered_functions(template) == ["SegmentIngestFunction"]
    assert len(list(contract.policy_statements(template))) >= 8


@pytest.mark.parametrize("check", contract.ALL_CHECKS, ids=lambda c: c.__name__)
def test_template_keeps_the_contract(variant: dict[str, Any], check: Check) -> None:
    assert check(variant) == []


# ---------------------------------------------------------------- the checks catch broken copies


def _drop(path: list[str | int]) -> Mutation:
    def mutate(t: dict[str, Any]) -> None:
        node: Any = t
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def _set(path: list[str | int], value: Any) -> Mutation:
    def mutate(t: dict[str, Any]) -> None:
        node: Any = t
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = copy.deepcopy(value)

    return mutate


def _add_statement(function: str, statement: dict[str, Any]) -> Mutation:
    def mutate(t: dict[str, Any]) -> None:
        res(t, function)["Policies"].append({"Statement": [copy.deepcopy(statement)]})

    return mutate


def _add_resource(logical_id: str, resource: dict[str, Any]) -> Mutation:
    def mutate(t: dict[str, Any]) -> None:
        t["Resources"][logical_id] = copy.deepcopy(resource)

    return mutate


R = "Resources"
P = "Properties"
AUTH_ARN = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
    "${AWS::StackName}/authorizations/*"
)
CHUNK_EVENT = [R, "AudienceUploadFunction", P, "Events", "Chunk", P]
EVENTS_EVENT = [R, "EventForwarderFunction", P, "Events", "Events", P]

MUTATIONS: list[tuple[str, Check, Mutation, str]] = [
    (
        "sqs-without-partial-failures",
        contract.check_sqs_event_sources,
        _drop([*CHUNK_EVENT, "FunctionResponseTypes"]),
        "ReportBatchItemFailures",
    ),
    (
        "sqs-without-max-concurrency",
        contract.check_sqs_event_sources,
        _drop([*EVENTS_EVENT, "ScalingConfig"]),
        "MaximumConcurrency",
    ),
    (
        "raw-event-source-mapping-without-partial-failures",
        contract.check_sqs_event_sources,
        _add_resource(
            "ExtraMapping",
            {
                "Type": "AWS::Lambda::EventSourceMapping",
                P: {
                    "EventSourceArn": {"Fn::GetAtt": ["EventsQueue", "Arn"]},
                    "FunctionName": {"Ref": "EventForwarderFunction"},
                    "ScalingConfig": {"MaximumConcurrency": 2},
                },
            },
        ),
        "EventForwarderFunction <- EventsQueue",
    ),
    (
        "consumed-queue-without-redrive",
        contract.check_redrive,
        _drop([R, "EventsQueue", P, "RedrivePolicy"]),
        "EventsQueue",
    ),
    (
        "redrive-to-unknown-queue",
        contract.check_redrive,
        _set([R, "ChunkQueue", P, "RedrivePolicy", "deadLetterTargetArn"], "arn:aws:sqs:x:1:y"),
        "ChunkQueue",
    ),
    (
        "visibility-below-6x-timeout",
        contract.check_visibility_timeouts,
        _set([R, "ChunkQueue", P, "VisibilityTimeout"], 6 * 120),
        "ChunkQueue",
    ),
    (
        "function-timeout-raised-past-visibility",
        contract.check_visibility_timeouts,
        _set([R, "EventForwarderFunction", P, "Timeout"], 300),
        "EventsQueue",
    ),
    (
        "visibility-defaulted",
        contract.check_visibility_timeouts,
        _drop([R, "RangesQueue", P, "VisibilityTimeout"]),
        "RangesQueue",
    ),
    (
        "star-resource-in-sam-statement",
        contract.check_no_wildcard_resources,
        _add_statement(
            "EventForwarderFunction",
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
        ),
        "EventForwarderFunction",
    ),
    (
        "star-resource-in-list",
        contract.check_no_wildcard_resources,
        _add_statement(
            "OAuthFunction",
            {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": ["*"]},
        ),
        "OAuthFunction",
    ),
    (
        "star-resource-in-role-inline-policy",
        contract.check_no_wildcard_resources,
        _add_resource(
            "ExtraRole",
            {
                "Type": "AWS::IAM::Role",
                P: {
                    "Policies": [
                        {
                            "PolicyName": "x",
                            "PolicyDocument": {
                                "Statement": {
                                    "Effect": "Allow",
                                    "Action": "sqs:*",
                                    "Resource": {"Fn::Sub": "*"},
                                }
                            },
                        }
                    ]
                },
            },
        ),
        "ExtraRole",
    ),
    (
        "star-resource-in-globals",
        contract.check_no_wildcard_resources,
        _set(
            ["Globals", "Function", "Policies"],
            [{"Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}],
        ),
        "Globals",
    ),
    (
        "upload-function-writes-authorizations",
        contract.check_authorization_writers,
        _add_statement(
            "AudienceUploadFunction",
            {"Effect": "Allow", "Action": "secretsmanager:PutSecretValue", "Resource": AUTH_ARN},
        ),
        "AudienceUploadFunction",
    ),
    (
        "events-function-writes-any-stack-secret",
        contract.check_authorization_writers,
        _add_statement(
            "EventForwarderFunction",
            {
                "Effect": "Allow",
                "Action": "secretsmanager:*",
                "Resource": {
                    "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:"
                    "${AWS::AccountId}:secret:${AWS::StackName}/*"
                },
            },
        ),
        "EventForwarderFunction",
    ),
    (
        "oauth-function-cannot-store-tokens",
        contract.check_authorization_writers,
        _set([R, "OAuthFunction", P, "Policies"], []),
        "OAuthFunction",
    ),
    (
        "queue-unencrypted",
        contract.check_encryption,
        _drop([R, "RangesDeadLetterQueue", P, "SqsManagedSseEnabled"]),
        "RangesDeadLetterQueue",
    ),
    (
        "bucket-unencrypted",
        contract.check_encryption,
        _drop([R, "SegmentsBucket", P, "BucketEncryption"]),
        "SegmentsBucket",
    ),
    (
        "table-unencrypted",
        contract.check_encryption,
        _drop([R, "JobsTable", P, "SSESpecification"]),
        "JobsTable",
    ),
    (
        "bucket-policy-removed",
        contract.check_tls_only_buckets,
        _drop([R, "SegmentsBucketPolicy"]),
        "SegmentsBucket",
    ),
    (
        "tls-condition-inverted",
        contract.check_tls_only_buckets,
        _set(
            [R, "SegmentsBucketPolicy", P, "PolicyDocument", "Statement", 0, "Condition"],
            {"Bool": {"aws:SecureTransport": "true"}},
        ),
        "SegmentsBucket",
    ),
    (
        "tls-deny-misses-objects",
        contract.check_tls_only_buckets,
        _set(
            [R, "SegmentsBucketPolicy", P, "PolicyDocument", "Statement", 0, "Resource"],
            [{"Fn::Sub": "arn:${AWS::Partition}:s3:::${SegmentsBucket}"}],
        ),
        "objects",
    ),
    (
        "public-policy-allowed",
        contract.check_public_access_blocked,
        _set(
            [R, "SegmentsBucket", P, "PublicAccessBlockConfiguration", "BlockPublicPolicy"], False
        ),
        "BlockPublicPolicy",
    ),
    (
        "table-without-ttl",
        contract.check_table_ttl,
        _drop([R, "OAuthTable", P, "TimeToLiveSpecification"]),
        "OAuthTable",
    ),
    (
        "ttl-on-wrong-attribute",
        contract.check_table_ttl,
        _set([R, "JobsTable", P, "TimeToLiveSpecification", "AttributeName"], "ttl"),
        "JobsTable",
    ),
    (
        "s3-function-without-on-failure",
        contract.check_s3_on_failure,
        _drop([R, "SegmentIngestFunction", P, "EventInvokeConfig"]),
        "SegmentIngestFunction",
    ),
    (
        "log-group-without-retention",
        contract.check_log_groups,
        _drop([R, "OAuthLogGroup", P, "RetentionInDays"]),
        "OAuthLogGroup",
    ),
    (
        "function-without-log-group",
        contract.check_log_groups,
        _drop([R, "EventForwarderLogGroup"]),
        "EventForwarderFunction",
    ),
    (
        "dlq-without-alarm",
        contract.check_dlq_alarms,
        _drop([R, "RangesDeadLetterQueueAlarm"]),
        "RangesDeadLetterQueue",
    ),
    (
        "failure-queue-alarm-too-lax",
        contract.check_dlq_alarms,
        _set([R, "IngestFailuresQueueAlarm", P, "Threshold"], 100),
        "IngestFailuresQueue",
    ),
]


KMS = {"KmsKeyArn": EXAMPLE_KEY_ARN}
# Mutations of the template as written, then rendered with these parameters.
VARIANT_MUTATIONS: list[tuple[str, Check, Mutation, str, dict[str, Any]]] = [
    (
        "kms-log-group-keeps-the-service-key",
        contract.check_customer_managed_key,
        _drop([R, "HttpApiAccessLogGroup", P, "KmsKeyId"]),
        "HttpApiAccessLogGroup",
        KMS,
    ),
    (
        "kms-queue-back-on-sse-sqs",
        contract.check_customer_managed_key,
        _set([R, "EventsDeadLetterQueue", P, "KmsMasterKeyId"], {"Ref": "AWS::NoValue"}),
        "EventsDeadLetterQueue",
        KMS,
    ),
    (
        "kms-table-on-the-aws-managed-key",
        contract.check_customer_managed_key,
        _drop([R, "OAuthTable", P, "SSESpecification", "SSEType"]),
        "OAuthTable",
        KMS,
    ),
    (
        "kms-secret-on-the-aws-managed-key",
        contract.check_customer_managed_key,
        _drop([R, "StateKeySecret", P, "KmsKeyId"]),
        "StateKeySecret",
        KMS,
    ),
    (
        "kms-bucket-on-sse-s3",
        contract.check_customer_managed_key,
        _set(
            [R, "AccessLogsBucket", P, "BucketEncryption", "ServerSideEncryptionConfiguration"],
            [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}],
        ),
        "AccessLogsBucket",
        KMS,
    ),
    (
        "kms-environment-on-the-aws-managed-key",
        contract.check_customer_managed_key,
        _drop(["Globals", "Function", "KmsKeyArn"]),
        "EventForwarderFunction",
        KMS,
    ),
    (
        "kms-runtime-secrets-on-the-aws-managed-key",
        contract.check_customer_managed_key,
        _drop([R, "OAuthFunction", P, "Environment", "Variables", "AUTHORIZATIONS_KMS_KEY_ARN"]),
        "OAuthFunction",
        KMS,
    ),
    (
        "no-kms-but-a-queue-names-a-key",
        contract.check_customer_managed_key,
        _set([R, "ChunkQueue", P, "KmsMasterKeyId"], "alias/aws/sqs"),
        "ChunkQueue",
        {},
    ),
    (
        "reservation-below-the-source-cap",
        contract.check_reserved_concurrency,
        _set([R, "AudienceUploadFunction", P, "ReservedConcurrentExecutions"], 2),
        "AudienceUploadFunction",
        {},
    ),
    (
        "no-reservation-and-no-reason",
        contract.check_reserved_concurrency,
        _drop([R, "EventForwarderFunction", P, "ReservedConcurrentExecutions"]),
        "EventForwarderFunction",
        KMS,
    ),
]


@pytest.mark.parametrize(
    ("check", "mutate", "culprit", "parameters"),
    [pytest.param(c, m, w, {}, id=name) for name, c, m, w in MUTATIONS]
    + [pytest.param(c, m, w, p, id=name) for name, c, m, w, p in VARIANT_MUTATIONS],
)
def test_check_catches_a_broken_template(
    template: dict[str, Any],
    check: Check,
    mutate: Mutation,
    culprit: str,
    parameters: dict[str, Any],
) -> None:
    mutate(template)
    problems = check(render(template, parameters))
    assert problems, f"{check.__name__} did not notice the mutation"
    assert any(culprit in p for p in problems), problems


def test_every_check_has_a_mutation_that_breaks_it() -> None:
    broken = {c for _, c, _, _ in MUTATIONS} | {c for _, c, _, _, _ in VARIANT_MUTATIONS}
    assert broken == set(contract.ALL_CHECKS)


# ---------------------------------------------------------------- names and shapes others rely on

NAMES = {
    "SegmentsBucket": ("BucketName", "${AWS::StackName}-segments-${AWS::AccountId}"),
    "AccessLogsBucket": ("BucketName", "${AWS::StackName}-access-logs-${AWS::AccountId}"),
    "ChunkQueue": ("QueueName", "${AWS::StackName}-chunks"),
    "ChunkDeadLetterQueue": ("QueueName", "${AWS::StackName}-chunks-dlq"),
    "EventsQueue": ("QueueName", "${AWS::StackName}-events"),
    "EventsDeadLetterQueue": ("QueueName", "${AWS::StackName}-events-dlq"),
    "RangesQueue": ("QueueName", "${AWS::StackName}-ranges"),
    "RangesDeadLetterQueue": ("QueueName", "${AWS::StackName}-ranges-dlq"),
    "IngestFailuresQueue": ("QueueName", "${AWS::StackName}-ingest-failures"),
    "JobsTable": ("TableName", "${AWS::StackName}-jobs"),
    "AudiencesTable": ("TableName", "${AWS::StackName}-audiences"),
    "OAuthTable": ("TableName", "${AWS::StackName}-oauth"),
    "EventStatsTable": ("TableName", "${AWS::StackName}-event-stats"),
    "AppSecret": ("Name", "${AWS::StackName}/app"),
    "StateKeySecret": ("Name", "${AWS::StackName}/oauth-state-key"),
}


@pytest.mark.parametrize(("logical_id", "prop", "pattern"), [(k, *v) for k, v in NAMES.items()])
def test_resource_names_follow_the_architecture(
    template: dict[str, Any], logical_id: str, prop: str, pattern: str
) -> None:
    assert res(template, logical_id)[prop] == {"Fn::Sub": pattern}


def test_table_key_schemas(template: dict[str, Any]) -> None:
    def keys(table: str) -> list[tuple[str, str]]:
        return [(k["AttributeName"], k["KeyType"]) for k in res(template, table)["KeySchema"]]

    assert keys("JobsTable") == [("job_id", "HASH")]
    assert keys("AudiencesTable") == [("advertiser_id", "HASH"), ("audience_key", "RANGE")]
    assert keys("OAuthTable") == [("pk", "HASH")]
    assert keys("EventStatsTable") == [("day", "HASH"), ("slot", "RANGE")]
    assert res(template, "EventStatsTable")["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }
    for table in ("JobsTable", "AudiencesTable", "OAuthTable", "EventStatsTable"):
        assert res(template, table)["BillingMode"] == "PAY_PER_REQUEST"
        assert all(a["AttributeType"] == "S" for a in res(template, table)["AttributeDefinitions"])
    for table in ("JobsTable", "AudiencesTable"):
        assert res(template, table)["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }


FUNCTIONS = {
    "OAuthFunction": ("oauth", "oauth_function.app.handler", 15),
    "SegmentIngestFunction": ("segment-ingest", "segment_ingest_function.app.handler", 900),
    "AudienceUploadFunction": ("audience-upload", "audience_upload_function.app.handler", 120),
    "EventForwarderFunction": ("event-forwarder", "event_forwarder_function.app.handler", 60),
}

POWERTOOLS = {"POWERTOOLS_SERVICE_NAME"}
ENVIRONMENT = {
    "SegmentIngestFunction": {
        "SEGMENTS_BUCKET",
        "CHUNK_QUEUE_URL",
        "RANGES_QUEUE_URL",
        "INGEST_RANGE_BYTES",
        "JOBS_TABLE",
        "DEFAULT_PHONE_REGION",
        "AUDIENCES_TABLE",  # the sync lock (docs/sync.md)
    },
    "AudienceUploadFunction": {
        "SEGMENTS_BUCKET",
        "JOBS_TABLE",
        "AUDIENCES_TABLE",
        "OAUTH_TABLE",
        "AUTHORIZATIONS_SECRET_PREFIX",
        "TIKTOK_API_BASE_URL",
        "SEGMENT_BATCH_SIZE",
        "ALLOW_CREATE_ON_APPEND",
        "CHUNK_QUEUE_URL",
        "TIKTOK_MAX_WAIT_HOURS",
    },
    "EventForwarderFunction": {
        "CONNECTIONS_SECRET_PREFIX",
        "TIKTOK_API_BASE_URL",
        "DEFAULT_PHONE_REGION",
        "CONNECTIONS_MAX_AGE",
        "EVENTS_DLQ_URL",
        "EVENT_STATS_TABLE",
    },
    "OAuthFunction": {
        "OAUTH_TABLE",
        "APP_SECRET_NAME",
        "STATE_KEY_SECRET_NAME",
        "AUTHORIZATIONS_SECRET_PREFIX",
        "TIKTOK_API_BASE_URL",
        "TIKTOK_AUTH_URL",
        "OAUTH_REDIRECT_URI",
        "AUTHORIZATIONS_KMS_KEY_ARN",
    },
}


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_functions_handlers_names_and_environment(
    template: dict[str, Any], logical_id: str
) -> None:
    name, handler, timeout = FUNCTIONS[logical_id]
    fn = res(template, logical_id)
    package = handler.split(".")[0]
    assert fn["Handler"] == handler
    assert fn["FunctionName"] == {"Fn::Sub": f"${{AWS::StackName}}-{name}"}
    assert fn["CodeUri"] == f"functions/{package.removesuffix('_function')}/"
    assert (ROOT / fn["CodeUri"] / package).is_dir()
    assert fn["Timeout"] == timeout
    # Each function gets exactly what it uses (plus Powertools' service name).
    assert set(fn["Environment"]["Variables"]) == ENVIRONMENT[logical_id] | POWERTOOLS


def test_globals_and_layer(template: dict[str, Any]) -> None:
    glob = template["Globals"]["Function"]
    assert glob["Runtime"] == "python3.11"
    assert glob["Architectures"] == ["x86_64"]
    # No X-Ray: Powertools' Tracer imports the X-Ray SDK, 120–160 ms of CPU at each cold start
    # (docs/performance.md, "Cold start"); the functions log and count instead.
    assert "Tracing" not in glob
    functions = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"
    ]
    assert len(functions) == 4
    assert not [r for r in functions if "Tracing" in r["Properties"]]
    assert glob["Layers"] == [{"Ref": "ConnectorLayer"}]
    assert glob["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"] == "TikTokConnector"
    layer = template["Resources"]["ConnectorLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "layers/connector/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.11"]
    assert layer["Metadata"]["BuildMethod"] == "python3.11"
    assert (ROOT / "layers/connector/tiktok_connector/__init__.py").is_file()
    assert res(template, "SegmentIngestFunction")["MemorySize"] == 1024


def test_consumers_batching_and_concurrency(template: dict[str, Any]) -> None:
    chunk = event(template, "AudienceUploadFunction", "Chunk")
    assert (chunk["BatchSize"], chunk["ScalingConfig"]["MaximumConcurrency"]) == (10, 5)
    events = event(template, "EventForwarderFunction", "Events")
    assert (events["BatchSize"], events["MaximumBatchingWindowInSeconds"]) == (1000, 2)
    assert events["ScalingConfig"]["MaximumConcurrency"] == 10
    ranges = event(template, "SegmentIngestFunction", "ByteRange")
    assert (ranges["BatchSize"], ranges["ScalingConfig"]["MaximumConcurrency"]) == (1, 20)
    for queue in ("ChunkQueue", "EventsQueue", "RangesQueue"):
        assert res(template, queue)["RedrivePolicy"]["maxReceiveCount"] == 5
    for dlq in ("ChunkDeadLetterQueue", "EventsDeadLetterQueue", "RangesDeadLetterQueue"):
        assert res(template, dlq)["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_segment_ingest_triggers(template: dict[str, Any]) -> None:
    s3 = event(template, "SegmentIngestFunction", "SegmentFileCreated")
    assert s3["Bucket"] == {"Ref": "SegmentsBucket"}
    assert s3["Events"] == "s3:ObjectCreated:*"
    assert s3["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "segments/"}]
    invoke = res(template, "SegmentIngestFunction")["EventInvokeConfig"]
    assert invoke["MaximumRetryAttempts"] == 2
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["IngestFailuresQueue", "Arn"]
    }


def test_no_function_refers_to_the_bucket_by_ref(template: dict[str, Any]) -> None:
    """The bucket's notification depends on the ingest function: a !Ref back would be a cycle."""
    for fn_id in FUNCTIONS:
        fn = copy.deepcopy(res(template, fn_id))
        fn.pop("Events", None)
        assert "'SegmentsBucket'" not in repr(fn), fn_id


def test_bucket_lifecycle_and_versioning(template: dict[str, Any]) -> None:
    bucket = res(template, "SegmentsBucket")
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    rules = {r.get("Prefix"): r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["chunks/"]["ExpirationInDays"] == {"Ref": "ChunkRetentionDays"}
    assert rules["rejects/"]["ExpirationInDays"] == {"Ref": "RejectRetentionDays"}
    # Inputs and reports are kept.
    assert "segments/" not in rules
    assert "reports/" not in rules
    assert any(
        "NoncurrentVersionExpiration" in r for r in bucket["LifecycleConfiguration"]["Rules"]
    )


def test_s3_access_is_scoped_to_prefixes(template: dict[str, Any]) -> None:
    def s3_resources(fn: str) -> set[str]:
        found = set()
        for s in statements(template, fn):
            if any(str(a).startswith("s3:") for a in contract.as_list(s["Action"])):
                found |= {contract.sub_text(r) or "" for r in contract.as_list(s["Resource"])}
        return {r.rsplit("}/", 1)[-1] for r in found}

    bucket = "arn:${AWS::Partition}:s3:::${AWS::StackName}-segments-${AWS::AccountId}"
    assert s3_resources("SegmentIngestFunction") == {
        "segments/*",
        "chunks/*",
        "reports/*",
        "rejects/*",
        "sync/*",  # the sync snapshots (docs/sync.md)
        bucket,  # ListBucket, only under sync/ (below)
    }
    listing = [
        s
        for s in statements(template, "SegmentIngestFunction")
        if "s3:ListBucket" in contract.as_list(s["Action"])
    ]
    assert [s["Condition"] for s in listing] == [{"StringLike": {"s3:prefix": "sync/*"}}]
    assert s3_resources("AudienceUploadFunction") == {"chunks/*", "reports/*"}
    assert s3_resources("EventForwarderFunction") == set()
    assert s3_resources("OAuthFunction") == set()


def test_secret_reads_are_scoped(template: dict[str, Any]) -> None:
    def secret_resources(fn: str) -> set[str]:
        return {
            contract.sub_text(r) or repr(r)
            for s in statements(template, fn)
            if any(str(a).startswith("secretsmanager:") for a in contract.as_list(s["Action"]))
            for r in contract.as_list(s["Resource"])
        }

    prefix = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
    assert secret_resources("AudienceUploadFunction") == {
        f"{prefix}${{AWS::StackName}}/authorizations/*"
    }
    assert secret_resources("EventForwarderFunction") == {
        f"{prefix}${{AWS::StackName}}/connections/*"
    }
    assert secret_resources("SegmentIngestFunction") == set()
    assert {
        repr({"Ref": "AppSecret"}),
        repr({"Ref": "StateKeySecret"}),
        f"{prefix}${{AWS::StackName}}/authorizations/*",
    } == secret_resources("OAuthFunction")


def test_secrets(template: dict[str, Any]) -> None:
    assert res(template, "AppSecret")["SecretString"] == '{"app_id": "", "secret": ""}'
    generated = res(template, "StateKeySecret")["GenerateSecretString"]
    assert generated == {"PasswordLength": 64, "ExcludePunctuation": True}


def test_http_api_routes(template: dict[str, Any]) -> None:
    routes = {
        (e["Properties"]["Method"], e["Properties"]["Path"]): e["Properties"].get("Auth")
        for e in res(template, "OAuthFunction")["Events"].values()
        if e["Type"] == "HttpApi"
    }
    assert routes == {
        ("GET", "/connect"): None,
        ("GET", "/oauth/callback"): None,
        ("POST", "/disconnect"): {"Authorizer": "AWS_IAM"},
    }
    api = res(template, "HttpApi")
    assert api["Auth"]["EnableIamAuthorizer"] is True
    access_log = api["AccessLogSettings"]
    assert access_log["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]}
    # The query string carries auth_code and state: it must never be logged.
    assert "queryString" not in access_log["Format"]
    assert "$context.path" not in access_log["Format"]


def test_parameters_and_alarm_topic_condition(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    assert params["TikTokApiBaseUrl"]["Default"] == "https://business-api.tiktok.com/open_api/v1.3"
    assert params["TikTokAuthUrl"]["Default"] == "https://business-api.tiktok.com/portal/auth"
    assert params["OAuthRedirectUri"]["Default"] == ""
    assert params["DefaultPhoneRegion"]["Default"] == "US"
    assert params["LogRetentionDays"]["Default"] == 30
    assert params["ChunkRetentionDays"]["Default"] == 7
    assert params["RejectRetentionDays"]["Default"] == 30
    assert params["SegmentBatchSize"]["Default"] == 1000
    assert params["AlarmTopicArn"]["Default"] == ""
    assert params["KmsKeyArn"]["Default"] == ""
    assert params["ReserveConcurrency"]["Default"] == "true"
    alarms = contract.resources(template, "AWS::CloudWatch::Alarm")
    assert len(alarms) == 5
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }


def test_permanent_error_alarm_watches_every_tiktok_caller(template: dict[str, Any]) -> None:
    metrics = res(template, "TikTokPermanentErrorsAlarm")["Metrics"]
    stats = [m["MetricStat"]["Metric"] for m in metrics if "MetricStat" in m]
    assert {(m["Namespace"], m["MetricName"]) for m in stats} == {
        ("TikTokConnector", "TikTokPermanentErrors")
    }
    # Powertools adds the dimension service=POWERTOOLS_SERVICE_NAME to every metric.
    watched = {m["Dimensions"][0]["Value"]["Fn::Sub"] for m in stats}
    services = {
        res(template, fn)["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]["Fn::Sub"]
        for fn in ("OAuthFunction", "AudienceUploadFunction", "EventForwarderFunction")
    }
    assert watched == services
    expression = next(m["Expression"] for m in metrics if m.get("ReturnData"))
    assert all(m["Id"] in expression for m in metrics if "MetricStat" in m)


def test_outputs(template: dict[str, Any]) -> None:
    assert {
        "SegmentsBucketName",
        "ChunkQueueUrl",
        "ChunkDeadLetterQueueUrl",
        "EventsQueueUrl",
        "EventsDeadLetterQueueUrl",
        "RangesQueueUrl",
        "RangesDeadLetterQueueUrl",
        "IngestFailuresQueueUrl",
        "JobsTableName",
        "AudiencesTableName",
        "OAuthTableName",
        "EventStatsTableName",
        "HttpApiUrl",
        "ConnectUrl",
        "CallbackUrl",
        "AppSecretName",
        "StateKeySecretName",
        "AuthorizationsSecretPrefix",
        "ConnectionsSecretPrefix",
    } <= set(template["Outputs"])
    assert template["Outputs"]["CallbackUrl"]["Value"]["Fn::Sub"].endswith("/oauth/callback")
    assert template["Outputs"]["ConnectUrl"]["Value"]["Fn::Sub"].endswith("/connect")


def test_samconfig_environments() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    assert config["default"]["global"]["parameters"]["stack_name"] == "tiktok-connector"
    assert config["prod"]["global"]["parameters"]["stack_name"] == "tiktok-connector-prod"
    for env, confirm in (("default", False), ("prod", True)):
        deploy = config[env]["deploy"]["parameters"]
        assert set(deploy["capabilities"].split()) == {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}
        assert deploy["resolve_s3"] is True
        assert deploy["confirm_changeset"] is confirm


# ---------------------------------------------------------------- rendering, keys, logging, concurrency


def test_render_evaluates_conditions_and_drops_no_value(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "Parameters:\n"
        "  K: {Type: String, Default: ''}\n"
        "  N: {Type: Number, Default: 3}\n"
        "Conditions:\n"
        "  HasK: !Not [!Equals [!Ref K, '']]\n"
        "  Three: !And [!Equals [!Ref N, '3'], !Or [!Condition HasK, !Equals [a, a]]]\n"
        "Resources:\n"
        "  R:\n"
        "    Type: X\n"
        "    Properties:\n"
        "      A: !If [HasK, !Ref K, !Ref AWS::NoValue]\n"
        "      B: [!If [HasK, k, !Ref AWS::NoValue], !If [Three, three, other], !Sub '${K}']\n"
        "  OnlyWithK:\n"
        "    Type: X\n"
        "    Condition: HasK\n",
        encoding="utf-8",
    )
    template = load_template(path)
    default = render(template)
    assert default["Resources"] == {"R": {"Type": "X", "Properties": {"B": ["three", {"Fn::Sub": "${K}"}]}}}  # fmt: skip
    assert "Conditions" not in default
    with_key = render(template, {"K": "arn:k"})
    assert with_key["Parameters"]["K"]["Default"] == "arn:k"
    assert with_key["Resources"]["R"]["Properties"]["A"] == {"Ref": "K"}
    assert with_key["Resources"]["R"]["Properties"]["B"][0] == "k"
    assert with_key["Resources"]["OnlyWithK"] == {"Type": "X"}
    with pytest.raises(KeyError, match="Unknown"):
        render(template, {"Unknown": "x"})


def _kms_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s
        for _, s in contract.policy_statements(template)
        if any(str(a).startswith("kms:") for a in contract.as_list(s.get("Action")))
    ]


def test_without_a_key_encryption_is_aws_managed_as_before(loaded: dict[str, Any]) -> None:
    default = render(loaded)
    for queue in contract.resources(default, contract.SQS_QUEUE).values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        assert "KmsMasterKeyId" not in queue["Properties"]
    for table in contract.resources(default, "AWS::DynamoDB::Table").values():
        assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True}
    for bucket in contract.resources(default, "AWS::S3::Bucket").values():
        assert bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        ]
    for kind in ("AWS::SecretsManager::Secret", "AWS::Logs::LogGroup"):
        assert all("KmsKeyId" not in r["Properties"] for r in contract.resources(default, kind).values())  # fmt: skip
    assert "KmsKeyArn" not in default["Globals"]["Function"]
    assert _kms_statements(default) == []


def test_with_a_key_every_store_uses_it(loaded: dict[str, Any]) -> None:
    kms = render(loaded, KMS)
    keys = contract.encryption_keys(kms)
    # 7 queues, 4 tables, 2 secrets, 5 log groups, 2 buckets, 4 function environments.
    assert len(keys) == 24
    assert set(map(repr, keys.values())) == {repr(contract.KEY_REF)}
    for queue in contract.resources(kms, contract.SQS_QUEUE).values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is False
    for bucket in contract.resources(kms, "AWS::S3::Bucket").values():
        [rule] = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["BucketKeyEnabled"] is True
    # Every grant of the key is scoped to it and to the services that use it.
    statements = _kms_statements(kms)
    assert statements
    for statement in statements:
        assert statement["Resource"] == contract.KEY_REF
        assert "kms:ViaService" in statement["Condition"]["StringEquals"]


def test_kms_key_parameter_accepts_key_arns_only(loaded: dict[str, Any]) -> None:
    pattern = re.compile(loaded["Parameters"]["KmsKeyArn"]["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch(EXAMPLE_KEY_ARN)
    assert pattern.fullmatch("arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/mrk-1234abcd")
    for wrong in ("alias/connector", "arn:aws:kms:us-east-1:123456789012:alias/connector", "1234abcd-12ab"):  # fmt: skip
        assert not pattern.fullmatch(wrong), wrong


def test_segments_bucket_access_logs_go_to_the_log_bucket(template: dict[str, Any]) -> None:
    assert template["Resources"]["SegmentsBucket"]["DependsOn"] == "AccessLogsBucketPolicy"
    logging = res(template, "SegmentsBucket")["LoggingConfiguration"]
    assert logging == {
        "DestinationBucketName": {"Ref": "AccessLogsBucket"},
        "LogFilePrefix": "segments-bucket/",
    }
    logs = res(template, "AccessLogsBucket")
    assert "LoggingConfiguration" not in logs
    assert logs["VersioningConfiguration"] == {"Status": "Enabled"}
    assert logs["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    expire = next(r for r in logs["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r)
    assert expire["ExpirationInDays"] == {"Ref": "LogRetentionDays"}
    statements = res(template, "AccessLogsBucketPolicy")["PolicyDocument"]["Statement"]
    [allow] = [s for s in statements if s["Effect"] == "Allow"]
    # Only S3's log delivery may write, only under the prefix, only for the segments bucket.
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Action"] == "s3:PutObject"
    assert allow["Resource"]["Fn::Sub"].endswith("${AccessLogsBucket}/segments-bucket/*")
    assert allow["Condition"]["ArnLike"]["aws:SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::${AWS::StackName}-segments-${AWS::AccountId}"
    }
    assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_reserved_concurrency_per_function(loaded: dict[str, Any]) -> None:
    default = render(loaded)

    def reserved(fn: str) -> Any:
        return res(default, fn).get("ReservedConcurrentExecutions")

    caps = {fn: e["ScalingConfig"]["MaximumConcurrency"] for fn, _, e in contract.sqs_event_sources(default)}  # fmt: skip
    # The TikTok callers reserve exactly their event source's cap; OAuth a small fixed number.
    assert reserved("AudienceUploadFunction") == caps["AudienceUploadFunction"] == 5
    assert reserved("EventForwarderFunction") == caps["EventForwarderFunction"] == 10
    assert reserved("OAuthFunction") == 5
    # Ingest shares S3 and ranges-queue invocations: no cap, and the template says why.
    assert reserved("SegmentIngestFunction") is None
    skips = contract.skipped_checks(default["Resources"]["SegmentIngestFunction"])
    assert "DLQ" in skips["CKV_AWS_115"]
    # Accounts with a tiny concurrency quota can opt out.
    opted_out = render(loaded, {"ReserveConcurrency": "false"})
    for fn in FUNCTIONS:
        assert "ReservedConcurrentExecutions" not in res(opted_out, fn)


def test_the_forwarder_only_adds_to_the_event_stats_table(template: dict[str, Any]) -> None:
    """The delivery record is written with UpdateItem (ADD) only: no read, put or delete."""
    statements = [
        statement
        for policy in res(template, "EventForwarderFunction")["Policies"]
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
    ]
    dynamodb = [s for s in statements if any(a.startswith("dynamodb:") for a in s["Action"])]
    assert dynamodb == [
        {
            "Sid": "AddToEventStats",
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
            "Resource": {"Fn::GetAtt": ["EventStatsTable", "Arn"]},
        }
    ]
    managed = {
        key for policy in res(template, "EventForwarderFunction")["Policies"] for key in policy
    }
    assert not {k for k in managed if k.startswith("DynamoDB")}
