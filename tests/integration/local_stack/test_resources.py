"""template.yaml is read as data: short tags, intrinsics and event sources (no sockets here)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tiktok_local.resources import (
    TemplateModel,
    UnresolvableError,
    load_template,
    scaled_visibility,
)

TEMPLATE = textwrap.dedent(
    """
    Parameters:
      Base:
        Type: String
        Default: https://tiktok.example/v1
      Flag:
        Type: String
        Default: "yes"
    Conditions:
      IsYes: !Equals [!Ref Flag, "yes"]
    Globals:
      Function:
        Timeout: 30
        Environment:
          Variables:
            SHARED: shared
    Resources:
      Dlq:
        Type: AWS::SQS::Queue
        Properties:
          QueueName: !Sub "${AWS::StackName}-work-dlq"
      Work:
        Type: AWS::SQS::Queue
        Properties:
          QueueName: !Sub "${AWS::StackName}-work"
          VisibilityTimeout: 600
          RedrivePolicy:
            deadLetterTargetArn: !GetAtt Dlq.Arn
            maxReceiveCount: 4
      Bucket:
        Type: AWS::S3::Bucket
        Properties:
          BucketName: !Sub "${AWS::StackName}-b-${AWS::AccountId}"
          VersioningConfiguration:
            Status: Enabled
      Fn:
        Type: AWS::Serverless::Function
        Properties:
          FunctionName: !Sub "${AWS::StackName}-fn"
          Handler: pkg.app.handler
          MemorySize: 256
          Environment:
            Variables:
              QUEUE: !Ref Work
              ARN: !GetAtt Work.Arn
              JOINED: !Join ["/", [!Ref "AWS::Region", !Ref Base]]
              CHOSEN: !If [IsYes, picked, other]
              SUB_LIST: !Sub ["${A}-${AWS::Partition}", {A: !Ref Flag}]
              LITERAL: !Sub "${!NotAVar}"
          EventInvokeConfig:
            MaximumRetryAttempts: 1
            DestinationConfig:
              OnFailure:
                Type: SQS
                Destination: !GetAtt Dlq.Arn
          Events:
            Q:
              Type: SQS
              Properties:
                Queue: !GetAtt Work.Arn
                BatchSize: 7
                FunctionResponseTypes: [ReportBatchItemFailures]
                ScalingConfig:
                  MaximumConcurrency: 3
            Drop:
              Type: S3
              Properties:
                Bucket: !Ref Bucket
                Events: s3:ObjectCreated:*
                Filter:
                  S3Key:
                    Rules:
                      - Name: prefix
                        Value: in/
                      - Name: suffix
                        Value: .csv
            Get:
              Type: HttpApi
              Properties:
                Method: get
                Path: /things/{id}
            Post:
              Type: HttpApi
              Properties:
                Method: POST
                Path: /admin
                Auth:
                  Authorizer: AWS_IAM
    """
)


@pytest.fixture
def model(tmp_path: Path) -> TemplateModel:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    return TemplateModel.from_file(path, stack_name="demo")


def test_short_tags_become_long_forms(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(TEMPLATE)
    data = load_template(path)
    props = data["Resources"]["Work"]["Properties"]
    assert props["QueueName"] == {"Fn::Sub": "${AWS::StackName}-work"}
    assert props["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["Dlq", "Arn"]}


def test_queues_resolve_names_redrive_and_visibility(model: TemplateModel) -> None:
    queues = {q.logical_id: q for q in model.queues()}
    assert queues["Work"].name == "demo-work"
    assert queues["Work"].visibility_timeout == 600
    assert queues["Work"].redrive_target == "Dlq"
    assert queues["Work"].max_receive_count == 4
    assert queues["Dlq"].redrive_target is None
    assert model.bucket().name == "demo-b-123456789012"
    assert model.bucket().versioned


def test_function_environment_resolves_intrinsics_and_overrides(model: TemplateModel) -> None:
    model.bind("Work", Ref="http://local/123/demo-work")
    [fn] = model.functions()
    env = model.function_environment(fn)
    assert env["SHARED"] == "shared"  # from Globals
    assert env["QUEUE"] == "http://local/123/demo-work"
    assert env["ARN"] == "arn:aws:sqs:us-east-1:123456789012:demo-work"
    assert env["JOINED"] == "us-east-1/https://tiktok.example/v1"
    assert env["CHOSEN"] == "picked"
    assert env["SUB_LIST"] == "yes-aws"
    assert env["LITERAL"] == "${NotAVar}"
    model.overrides["JOINED"] = "local"
    assert model.function_environment(fn)["JOINED"] == "local"


def test_function_event_sources_come_from_the_template(model: TemplateModel) -> None:
    [fn] = model.functions()
    assert fn.function_name == "demo-fn"
    assert (fn.handler_module, fn.handler_attr) == ("pkg.app", "handler")
    assert fn.timeout == 30
    assert fn.memory_size == 256
    [sqs] = fn.sqs_sources
    assert (sqs.queue_logical_id, sqs.batch_size, sqs.maximum_concurrency) == ("Work", 7, 3)
    assert sqs.report_batch_item_failures
    [s3] = fn.s3_sources
    assert (s3.bucket_logical_id, s3.prefix, s3.suffix) == ("Bucket", "in/", ".csv")
    assert s3.events == ["s3:ObjectCreated:*"]
    assert fn.maximum_retry_attempts == 1
    assert fn.on_failure_queue == "Dlq"
    routes = {r.route_key: r.iam_auth for r in fn.http_routes}
    assert routes == {"GET /things/{id}": False, "POST /admin": True}


def test_unsupported_intrinsics_fail_loudly(model: TemplateModel) -> None:
    with pytest.raises(UnresolvableError):
        model.resolve({"Fn::ImportValue": "elsewhere"})
    with pytest.raises(UnresolvableError):
        model.resolve({"Ref": "NoSuchThing"})


@pytest.mark.parametrize(
    ("seconds", "scale", "expected"),
    [
        (750, 0.005, 4),
        (390, 0.005, 2),
        (5400, 0.005, 5),
        (30, 0.001, 1),
        (0, 1.0, 1),
        (750, 1, 750),
    ],
)
def test_scaled_visibility(seconds: int, scale: float, expected: int) -> None:
    assert scaled_visibility(seconds, scale) == expected


def _two_buckets(tmp_path: Path, logging: bool) -> TemplateModel:
    config = (
        "      LoggingConfiguration:\n        DestinationBucketName: !Ref Logs\n" if logging else ""
    )
    path = tmp_path / "two.yaml"
    path.write_text(
        "Resources:\n"
        "  Logs:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: logs\n"
        "  Data:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: data\n" + config
    )
    return TemplateModel.from_file(path)


def test_an_access_log_bucket_is_not_the_data_bucket(tmp_path: Path) -> None:
    model = _two_buckets(tmp_path, logging=True)
    assert model.log_buckets() == {"Logs"}
    assert model.bucket().name == "data"


def test_two_data_buckets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one S3 bucket"):
        _two_buckets(tmp_path, logging=False).bucket()


def test_the_real_template_needs_no_kms_key_locally() -> None:
    """KmsKeyArn defaults to empty: no queue attribute, secret or setting names a key locally."""
    model = TemplateModel.from_file(Path(__file__).resolve().parents[3] / "template.yaml")
    assert model.bucket().logical_id == "SegmentsBucket"
    assert model.parameters["KmsKeyArn"] == ""
    assert all("Kms" not in key for q in model.queues() for key in q.attributes)
    oauth = next(f for f in model.functions() if f.logical_id == "OAuthFunction")
    assert model.function_environment(oauth)["AUTHORIZATIONS_KMS_KEY_ARN"] == ""
