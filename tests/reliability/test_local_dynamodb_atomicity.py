"""The local stack's DynamoDB keeps DynamoDB's per-item atomicity under concurrent writers.

Segment jobs count ranges and chunks with conditional ``UpdateItem`` calls from many concurrent
invocations (docs/architecture.md, "Fan-in"). moto's threaded server updated items in place
without a lock: concurrent updates of one item could fail with HTTP 500 or lose an ``ADD``, and
the fault-injection suite saw jobs stay ``running`` with a range or chunk never counted.
``tiktok_local.stack.serialize_moto_dynamodb`` (applied by ``LocalStack.start`` and by the
in-process ``template_aws`` fixture, whose conditional puts had the same race) fixes that.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from tests.conftest import TemplateAws
from tiktok_local.stack import serialize_moto_dynamodb

WRITERS = 12
UPDATES = 40


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    restore = serialize_moto_dynamodb()
    try:
        host, port = server.get_host_and_port()
        client = boto3.session.Session().client(
            "dynamodb",
            endpoint_url=f"http://{host}:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            # no retries: an HTTP 500 from a half-applied update must surface
            config=Config(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=32),
        )
        client.create_table(
            TableName="jobs",
            KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client
    finally:
        restore()
        server.stop()


def test_concurrent_conditional_counters_on_one_item_are_exact(dynamodb: Any) -> None:
    dynamodb.put_item(
        TableName="jobs", Item={"job_id": {"S": "j"}, "done": {"N": "0"}, "ranges": {"M": {}}}
    )
    errors: list[str] = []

    def writer(w: int) -> None:
        for i in range(UPDATES):
            try:
                dynamodb.update_item(
                    TableName="jobs",
                    Key={"job_id": {"S": "j"}},
                    UpdateExpression="SET #r.#i = :one ADD done :one",
                    ConditionExpression="attribute_not_exists(#r.#i)",
                    ExpressionAttributeNames={"#r": "ranges", "#i": f"{w}-{i}"},
                    ExpressionAttributeValues={":one": {"N": "1"}},
                )
            except Exception as exc:
                errors.append(type(exc).__name__)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    item = dynamodb.get_item(TableName="jobs", Key={"job_id": {"S": "j"}})["Item"]
    assert errors == []
    assert int(item["done"]["N"]) == WRITERS * UPDATES
    assert len(item["ranges"]["M"]) == WRITERS * UPDATES


def test_in_process_moto_lets_one_conditional_claim_win(template_aws: TemplateAws) -> None:
    """The in-process ``template_aws`` fixture keeps the same guarantee: of writers racing a
    conditional ``PutItem`` for one key (the audience registry's create claim), exactly one wins.
    Without the lock, two racing creates of one name both won now and then (CI, 2026-11-27)."""
    ddb = template_aws.client("dynamodb")
    table = template_aws.table("AudiencesTable")
    wins: list[tuple[int, int]] = []
    barrier = threading.Barrier(WRITERS)

    def writer(w: int) -> None:
        for key in range(UPDATES):
            barrier.wait()
            try:
                ddb.put_item(
                    TableName=table,
                    Item={"advertiser_id": {"S": "a"}, "audience_key": {"S": f"k{key}"}},
                    ConditionExpression="attribute_not_exists(audience_key)",
                )
            except ddb.exceptions.ConditionalCheckFailedException:
                continue
            wins.append((key, w))

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, as a busy machine does
    try:
        threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)

    assert sorted(key for key, _ in wins) == list(range(UPDATES))
