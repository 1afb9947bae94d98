"""Read ``template.yaml`` as data and create its resources in moto.

The local stack never keeps its own copy of resource names or event-source settings: everything
comes from the SAM template. :func:`load_template` parses it (CloudFormation short tags such as
``!Sub`` and ``!GetAtt`` become their long ``Fn::`` forms), :class:`TemplateModel` resolves the
intrinsic functions we need (``Ref``/``Fn::Sub``/``Fn::GetAtt``/``Fn::Join``/``Fn::Select``/``Fn::If``
on the pseudo parameters ``AWS::StackName`` = ``tiktok-connector``, ``AWS::AccountId``,
``AWS::Region``, ``AWS::Partition``, ``AWS::URLSuffix`` and the parameters' defaults) and describes
the bucket, queues, tables, secrets and functions (handler, timeout, environment, event sources).
:func:`create_resources` then creates them through the moto endpoint.

Time scale: the template's visibility timeouts are minutes (≥ 6× the function timeout), which would
make a local retry wait many minutes. Queues are created with ``VisibilityTimeout`` multiplied by
``time_scale`` (rounded up, at least 1 s and, when scaled down, at most 5 s). Receive counts,
``maxReceiveCount`` and DLQ redrive are real.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tiktok_local.schedules import ScheduleEventSource

STACK_NAME = "tiktok-connector"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"

_SHORT_TAGS = (
    "Base64",
    "Cidr",
    "FindInMap",
    "GetAZs",
    "ImportValue",
    "Join",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "And",
    "Equals",
    "If",
    "Not",
    "Or",
)


class _CfnLoader(yaml.SafeLoader):
    """A SafeLoader that understands CloudFormation's short-form tags."""


def _construct(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    assert isinstance(node, yaml.MappingNode)
    return loader.construct_mapping(node, deep=True)


def _long_form(name: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    def build(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {name: _construct(node, loader)}

    return build


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _construct(node, loader)
    if isinstance(value, str):
        value = value.split(".", 1)
    return {"Fn::GetAtt": value}


for _tag in _SHORT_TAGS:
    _CfnLoader.add_constructor(f"!{_tag}", _long_form(f"Fn::{_tag}"))
_CfnLoader.add_constructor("!Ref", _long_form("Ref"))
_CfnLoader.add_constructor("!Condition", _long_form("Condition"))
_CfnLoader.add_constructor("!GetAtt", _get_att)


def load_template(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template (short tags become their long forms)."""
    with path.open(encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict) or "Resources" not in data:
        raise ValueError(f"{path} is not a CloudFormation template (no Resources)")
    return data


class UnresolvableError(ValueError):
    """The template uses an intrinsic the local stack cannot resolve."""


@dataclass
class QueueSpec:
    logical_id: str
    name: str
    visibility_timeout: int
    redrive_target: str | None = None  # logical id of the DLQ
    max_receive_count: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class TableSpec:
    logical_id: str
    name: str
    attribute_definitions: list[dict[str, str]]
    key_schema: list[dict[str, str]]
    ttl_attribute: str | None = None
    global_secondary_indexes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SecretSpec:
    logical_id: str
    name: str
    secret_string: str | None = None


@dataclass
class BucketSpec:
    logical_id: str
    name: str
    versioned: bool


@dataclass
class SqsEventSource:
    queue_logical_id: str
    batch_size: int = 10
    maximum_concurrency: int | None = None
    report_batch_item_failures: bool = False


@dataclass
class S3EventSource:
    bucket_logical_id: str
    events: list[str]
    prefix: str = ""
    suffix: str = ""


@dataclass
class HttpRoute:
    method: str
    path: str
    iam_auth: bool = False

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class FunctionSpec:
    logical_id: str
    function_name: str
    handler: str
    timeout: int
    memory_size: int
    environment: dict[str, Any]
    sqs_sources: list[SqsEventSource] = field(default_factory=list)
    s3_sources: list[S3EventSource] = field(default_factory=list)
    schedules: list[ScheduleEventSource] = field(default_factory=list)
    http_routes: list[HttpRoute] = field(default_factory=list)
    maximum_retry_attempts: int = 2
    on_failure_queue: str | None = None  # logical id of the OnFailure queue

    @property
    def handler_module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def handler_attr(self) -> str:
        return self.handler.rsplit(".", 1)[1]


def _as_bool(value: Any) -> bool:
    return str(value).lower() == "true"


class TemplateModel:
    """The parts of the template the local stack needs, with intrinsics resolved.

    Physical values (queue URLs, secret ARNs) only exist once resources are created; until then
    ``Ref``/``GetAtt`` resolve to names derived from the template, and :meth:`bind` supplies the
    real values afterwards.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        stack_name: str = STACK_NAME,
        account_id: str = ACCOUNT_ID,
        region: str = REGION,
    ) -> None:
        self.template = template
        self.stack_name = stack_name
        self.account_id = account_id
        self.region = region
        self.resources: dict[str, Any] = dict(template.get("Resources") or {})
        self.parameters = {
            name: spec.get("Default")
            for name, spec in (template.get("Parameters") or {}).items()
            if isinstance(spec, dict)
        }
        self.conditions: dict[str, Any] = dict(template.get("Conditions") or {})
        self.mappings: dict[str, Any] = dict(template.get("Mappings") or {})
        # physical values supplied after creation: logical id -> {"Ref": ..., "<Attr>": ...}
        self.physical: dict[str, dict[str, str]] = {}
        self.overrides: dict[str, str] = {}

    @classmethod
    def from_file(cls, path: Path, **kwargs: Any) -> TemplateModel:
        return cls(load_template(path), **kwargs)

    # -- intrinsic resolution -------------------------------------------------------------
    def _pseudo(self, name: str) -> str | None:
        return {
            "AWS::StackName": self.stack_name,
            "AWS::AccountId": self.account_id,
            "AWS::Region": self.region,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local"
            ),
            "AWS::NoValue": None,
        }.get(name, "\0missing")

    def bind(self, logical_id: str, **values: str) -> None:
        """Record physical values for a created resource (``Ref=...``, ``Arn=...``, ...)."""
        self.physical.setdefault(logical_id, {}).update(values)

    def _ref(self, name: str) -> Any:
        pseudo = self._pseudo(name)
        if pseudo != "\0missing":
            return pseudo
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical and "Ref" in self.physical[name]:
            return self.physical[name]["Ref"]
        if name in self.resources:
            return self._default_ref(name)
        raise UnresolvableError(f"Ref to unknown name {name!r}")

    def _default_ref(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        rtype = resource.get("Type", "")
        props = resource.get("Properties") or {}
        name_key = {
            "AWS::S3::Bucket": "BucketName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::DynamoDB::Table": "TableName",
            "AWS::SecretsManager::Secret": "Name",
            "AWS::Serverless::Function": "FunctionName",
            "AWS::Lambda::Function": "FunctionName",
        }.get(rtype)
        if name_key and props.get(name_key) is not None:
            name = str(self.resolve(props[name_key]))
        else:
            name = f"{self.stack_name}-{logical_id}"
        if rtype == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{self.account_id}/{name}"
        return name

    def _get_att(self, logical_id: str, attr: str) -> Any:
        if logical_id in self.physical and attr in self.physical[logical_id]:
            return self.physical[logical_id][attr]
        if logical_id not in self.resources:
            raise UnresolvableError(f"GetAtt on unknown resource {logical_id!r}")
        rtype = self.resources[logical_id].get("Type", "")
        ref = self._ref(logical_id)
        if rtype == "AWS::SQS::Queue":
            name = ref.rsplit("/", 1)[-1]
            if attr == "Arn":
                return f"arn:aws:sqs:{self.region}:{self.account_id}:{name}"
            if attr == "QueueName":
                return name
            if attr == "QueueUrl":
                return ref
        if rtype == "AWS::S3::Bucket":
            if attr == "Arn":
                return f"arn:aws:s3:::{ref}"
            if attr == "DomainName":
                return f"{ref}.s3.amazonaws.com"
        if rtype == "AWS::DynamoDB::Table" and attr == "Arn":
            return f"arn:aws:dynamodb:{self.region}:{self.account_id}:table/{ref}"
        if rtype in ("AWS::Serverless::Function", "AWS::Lambda::Function") and attr == "Arn":
            return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{ref}"
        if rtype == "AWS::SecretsManager::Secret" and attr in ("Id", "Arn"):
            return ref
        # Anything else (log groups, roles, APIs) is not used locally; a stable placeholder keeps
        # environment variables and Outputs readable.
        return f"local:{logical_id}.{attr}"

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return str(self.resolve(variables[expr]))
            if "." in expr and not expr.startswith("AWS::"):
                logical_id, attr = expr.split(".", 1)
                return str(self._get_att(logical_id, attr))
            return str(self._ref(expr))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _condition(self, name: str) -> bool:
        return bool(self.resolve(self.conditions[name]))

    def resolve(self, value: Any) -> Any:  # noqa: C901 - one branch per CloudFormation intrinsic
        """Resolve intrinsic functions inside ``value``."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), *_ = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    return self._sub(arg[0], arg[1] if len(arg) > 1 else {})
                return self._sub(arg, {})
            if key == "Fn::GetAtt":
                logical_id, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._get_att(logical_id, attr)
            if key == "Fn::Join":
                sep, items = arg
                return str(sep).join(str(self.resolve(i)) for i in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self._condition(name) else no)
            if key == "Fn::Equals":
                left, right = self.resolve(arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Condition":
                return self._condition(arg)
            if key == "Fn::FindInMap":
                m, k1, k2 = (self.resolve(a) for a in arg)
                return self.mappings[m][k1][k2]
            if key.startswith("Fn::"):
                raise UnresolvableError(f"{key} is not supported by the local stack")
        return {k: self.resolve(v) for k, v in value.items()}

    # -- resource descriptions -------------------------------------------------------------
    def _of_type(self, *types: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (logical_id, resource.get("Properties") or {})
            for logical_id, resource in self.resources.items()
            if isinstance(resource, dict) and resource.get("Type") in types
        ]

    def log_buckets(self) -> set[str]:
        """Logical ids of buckets that only receive S3 server access logs of another bucket."""
        targets = set()
        for _, props in self._of_type("AWS::S3::Bucket"):
            target = (props.get("LoggingConfiguration") or {}).get("DestinationBucketName")
            if isinstance(target, dict) and isinstance(target.get("Ref"), str):
                targets.add(target["Ref"])
        return targets

    def bucket(self) -> BucketSpec:
        """The data bucket: the template's one bucket that is not an access-log target.

        Log buckets are not created locally: S3 server access logging is not emulated, and
        nothing of the connector reads or writes them.
        """
        logs = self.log_buckets()
        buckets = [(i, p) for i, p in self._of_type("AWS::S3::Bucket") if i not in logs]
        if len(buckets) != 1:
            raise ValueError(
                f"expected exactly one S3 bucket besides access-log buckets, got {len(buckets)}"
            )
        logical_id, props = buckets[0]
        status = self.resolve((props.get("VersioningConfiguration") or {}).get("Status"))
        return BucketSpec(logical_id, self._ref(logical_id), versioned=status == "Enabled")

    def queues(self) -> list[QueueSpec]:
        specs = []
        for logical_id, props in self._of_type("AWS::SQS::Queue"):
            name = self._ref(logical_id).rsplit("/", 1)[-1]
            redrive = self.resolve(props.get("RedrivePolicy"))
            if isinstance(redrive, str):
                redrive = json.loads(redrive)
            target = None
            max_receive = None
            if redrive:
                target_arn = str(redrive["deadLetterTargetArn"])
                target = self._logical_id_for_queue_arn(target_arn)
                max_receive = int(redrive["maxReceiveCount"])
            attributes = {}
            for key in ("MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
                if props.get(key) is not None:
                    attributes[key] = str(self.resolve(props[key]))
            specs.append(
                QueueSpec(
                    logical_id,
                    name,
                    int(self.resolve(props.get("VisibilityTimeout", 30))),
                    target,
                    max_receive,
                    attributes,
                )
            )
        return specs

    def _logical_id_for_queue_arn(self, arn: str) -> str:
        for logical_id, _ in self._of_type("AWS::SQS::Queue"):
            if self._get_att(logical_id, "Arn") == arn:
                return logical_id
        raise UnresolvableError(f"redrive target {arn} is not a queue of this template")

    def tables(self) -> list[TableSpec]:
        specs = []
        for logical_id, props in self._of_type("AWS::DynamoDB::Table"):
            props = self.resolve(props)
            ttl = props.get("TimeToLiveSpecification") or {}
            specs.append(
                TableSpec(
                    logical_id,
                    self._ref(logical_id),
                    props["AttributeDefinitions"],
                    props["KeySchema"],
                    ttl.get("AttributeName") if _as_bool(ttl.get("Enabled", False)) else None,
                    props.get("GlobalSecondaryIndexes") or [],
                )
            )
        for logical_id, props in self._of_type("AWS::Serverless::SimpleTable"):
            props = self.resolve(props)
            key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
            short = {"String": "S", "Number": "N", "Binary": "B"}[key["Type"]]
            specs.append(
                TableSpec(
                    logical_id,
                    self._ref(logical_id),
                    [{"AttributeName": key["Name"], "AttributeType": short}],
                    [{"AttributeName": key["Name"], "KeyType": "HASH"}],
                )
            )
        return specs

    def secrets(self) -> list[SecretSpec]:
        return [
            SecretSpec(
                logical_id,
                self._ref(logical_id),
                self.resolve(props["SecretString"]) if "SecretString" in props else None,
            )
            for logical_id, props in self._of_type("AWS::SecretsManager::Secret")
        ]

    def _globals(self) -> dict[str, Any]:
        return dict(((self.template.get("Globals") or {}).get("Function")) or {})

    def functions(self) -> list[FunctionSpec]:
        specs = []
        glob = self._globals()
        for logical_id, props in self._of_type("AWS::Serverless::Function"):
            merged = {**glob, **props}
            env_vars = {
                **((glob.get("Environment") or {}).get("Variables") or {}),
                **((props.get("Environment") or {}).get("Variables") or {}),
            }
            spec = FunctionSpec(
                logical_id=logical_id,
                function_name=self._ref(logical_id),
                handler=str(self.resolve(merged["Handler"])),
                timeout=int(self.resolve(merged.get("Timeout", 3))),
                memory_size=int(self.resolve(merged.get("MemorySize", 128))),
                environment=env_vars,
            )
            invoke = merged.get("EventInvokeConfig") or {}
            if "MaximumRetryAttempts" in invoke:
                spec.maximum_retry_attempts = int(self.resolve(invoke["MaximumRetryAttempts"]))
            on_failure = ((invoke.get("DestinationConfig") or {}).get("OnFailure")) or {}
            if on_failure.get("Destination") is not None:
                arn = str(self.resolve(on_failure["Destination"]))
                spec.on_failure_queue = self._logical_id_for_queue_arn(arn)
            for event in (props.get("Events") or {}).values():
                self._add_event(spec, event.get("Type"), event.get("Properties") or {})
            specs.append(spec)
        return specs

    def _add_event(self, spec: FunctionSpec, etype: str | None, props: dict[str, Any]) -> None:
        if etype == "SQS":
            arn = str(self.resolve(props["Queue"]))
            scaling = self.resolve(props.get("ScalingConfig") or {})
            concurrency = scaling.get("MaximumConcurrency", props.get("MaximumConcurrency"))
            spec.sqs_sources.append(
                SqsEventSource(
                    queue_logical_id=self._logical_id_for_queue_arn(arn),
                    batch_size=int(self.resolve(props.get("BatchSize", 10))),
                    maximum_concurrency=int(self.resolve(concurrency)) if concurrency else None,
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (self.resolve(props.get("FunctionResponseTypes")) or []),
                )
            )
        elif etype == "S3":
            bucket = props["Bucket"]
            bucket_id = bucket["Ref"] if isinstance(bucket, dict) and "Ref" in bucket else None
            if bucket_id is None:
                raise UnresolvableError("S3 event source must !Ref the template's bucket")
            events = self.resolve(props.get("Events"))
            rules = ((props.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
            source = S3EventSource(bucket_id, events if isinstance(events, list) else [events])
            for rule in rules:
                name = str(rule.get("Name", "")).lower()
                if name == "prefix":
                    source.prefix = str(self.resolve(rule["Value"]))
                elif name == "suffix":
                    source.suffix = str(self.resolve(rule["Value"]))
            spec.s3_sources.append(source)
        elif etype == "Schedule":
            raw_input = props.get("Input")
            spec.schedules.append(
                ScheduleEventSource(
                    str(self.resolve(props["Schedule"])),
                    None if raw_input is None else str(self.resolve(raw_input)),
                )
            )
        elif etype == "HttpApi":
            auth = (props.get("Auth") or {}).get("Authorizer")
            spec.http_routes.append(
                HttpRoute(
                    str(self.resolve(props.get("Method", "ANY"))).upper(),
                    str(self.resolve(props.get("Path", "$default"))),
                    iam_auth=auth == "AWS_IAM",
                )
            )

    def function_environment(self, spec: FunctionSpec) -> dict[str, str]:
        """The function's environment variables with refs resolved and local overrides applied."""
        env: dict[str, str] = {}
        for name, value in spec.environment.items():
            if name in self.overrides:
                env[name] = self.overrides[name]
                continue
            resolved = self.resolve(value)
            if resolved is None:
                continue
            env[name] = str(resolved).lower() if isinstance(resolved, bool) else str(resolved)
        return env


# Scaled-down visibility timeouts stay within this (the 900 s ingest's 5,400 s would still be 27 s);
# the dispatcher's heartbeat keeps running batches invisible whatever the value.
MAX_SCALED_VISIBILITY = 5


def scaled_visibility(seconds: int, time_scale: float) -> int:
    """The local visibility timeout for a template value (whole seconds, at least 1).

    With ``time_scale < 1`` the result is also capped at :data:`MAX_SCALED_VISIBILITY`.
    """
    scaled = max(1, math.ceil(seconds * time_scale))
    return min(scaled, MAX_SCALED_VISIBILITY) if time_scale < 1 else scaled


@dataclass
class CreatedResources:
    """Physical names of everything created, keyed by logical id."""

    bucket: str
    queue_urls: dict[str, str]
    queue_arns: dict[str, str]
    tables: dict[str, str]
    secrets: dict[str, str]  # logical id -> ARN
    secret_names: dict[str, str]


def _secret_value(spec: SecretSpec, app_credentials: Mapping[str, str]) -> str:
    if spec.name.endswith("/app"):
        return json.dumps(dict(app_credentials))
    if spec.secret_string is not None:
        return str(spec.secret_string)
    # The OAuth state key and any other generated secret: a random 64-character string.
    return secrets.token_hex(32)


def create_resources(
    model: TemplateModel,
    client: Callable[[str], Any],
    *,
    time_scale: float,
    app_credentials: Mapping[str, str],
) -> CreatedResources:
    """Create the template's bucket, queues, tables and secrets through ``client(service)``."""
    s3 = client("s3")
    bucket = model.bucket()
    s3.create_bucket(Bucket=bucket.name)
    if bucket.versioned:
        s3.put_bucket_versioning(Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"})
    model.bind(bucket.logical_id, Ref=bucket.name, Arn=f"arn:aws:s3:::{bucket.name}")

    sqs = client("sqs")
    queues = model.queues()
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}
    pending = list(queues)
    # DLQs first: a redrive policy may only name an existing queue.
    while pending:
        progressed = False
        for spec in list(pending):
            if spec.redrive_target and spec.redrive_target not in arns:
                continue
            attributes = dict(spec.attributes)
            attributes["VisibilityTimeout"] = str(
                scaled_visibility(spec.visibility_timeout, time_scale)
            )
            if spec.redrive_target:
                attributes["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": arns[spec.redrive_target],
                        "maxReceiveCount": spec.max_receive_count,
                    }
                )
            url = sqs.create_queue(QueueName=spec.name, Attributes=attributes)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            urls[spec.logical_id] = url
            arns[spec.logical_id] = arn
            model.bind(spec.logical_id, Ref=url, Arn=arn, QueueUrl=url, QueueName=spec.name)
            pending.remove(spec)
            progressed = True
        if not progressed:
            raise UnresolvableError("queue redrive policies form a cycle")

    dynamodb = client("dynamodb")
    tables: dict[str, str] = {}
    for table in model.tables():
        kwargs: dict[str, Any] = {
            "TableName": table.name,
            "AttributeDefinitions": table.attribute_definitions,
            "KeySchema": table.key_schema,
            "BillingMode": "PAY_PER_REQUEST",
        }
        if table.global_secondary_indexes:
            kwargs["GlobalSecondaryIndexes"] = [
                {k: v for k, v in gsi.items() if k != "ProvisionedThroughput"}
                for gsi in table.global_secondary_indexes
            ]
        arn = dynamodb.create_table(**kwargs)["TableDescription"]["TableArn"]
        if table.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )
        tables[table.logical_id] = table.name
        model.bind(table.logical_id, Ref=table.name, Arn=arn)

    secretsmanager = client("secretsmanager")
    secret_arns: dict[str, str] = {}
    secret_names: dict[str, str] = {}
    for secret in model.secrets():
        arn = secretsmanager.create_secret(
            Name=secret.name, SecretString=_secret_value(secret, app_credentials)
        )["ARN"]
        secret_arns[secret.logical_id] = arn
        secret_names[secret.logical_id] = secret.name
        model.bind(secret.logical_id, Ref=arn, Arn=arn, Id=arn)

    return CreatedResources(bucket.name, urls, arns, tables, secret_arns, secret_names)


def connection_secret_value(*, pixel_code: str, access_token: str) -> dict[str, Any]:
    """Settings of the seeded ``default`` event connection (a web pixel on the emulator).

    The event forwarder owns the full settings model; extend this seed when it grows fields.
    """
    return {"event_source": "web", "event_source_id": pixel_code, "access_token": access_token}


def seed_connection(
    client: Callable[[str], Any], *, prefix: str, name: str, value: Mapping[str, Any]
) -> str:
    """Create the connection secret ``<prefix><name>``; returns its name."""
    secret_name = f"{prefix}{name}"
    client("secretsmanager").create_secret(Name=secret_name, SecretString=json.dumps(value))
    return secret_name
