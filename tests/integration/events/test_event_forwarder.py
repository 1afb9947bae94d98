"""The event forwarder handler in-process against moto and the strict TikTok emulator: what the
emulator accepts (it rejects whole requests for one bad event), partial failures, the DLQ path."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.events.support import APP_ID, CRM_SET, OFFLINE_SET, PIXEL, World

T_MS = 1_763_633_700_000
URL = "https://shop.example.com/p"
SAMPLE = Path(__file__).resolve().parents[3] / "events" / "sqs_events_mparticle.json"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def commerce(
    i: int, action: str = "purchase", url: str | None = URL, **data: Any
) -> dict[str, Any]:
    flags = {"TikTok.URL": url} if url else {}
    return {
        "event_type": "commerce_event",
        "data": {
            "timestamp_unixtime_ms": T_MS + i,
            "source_message_id": f"ev-{i}",
            "currency_code": "USD",
            "custom_flags": flags,
            "product_action": {
                "action": action,
                "products": [{"id": i, "name": "Tee", "price": 5, "quantity": 2}],
            },
            **data,
        },
    }


def mparticle(events: list[dict[str, Any]], **batch: Any) -> str:
    body = {
        "events": events,
        "user_identities": {
            "email": "Jane.Doe@Example.com",
            "mobile_number": "+1 415 555 0134",
            "customer_id": "c-1",
        },
        "ip": "203.0.113.42",
        "device_info": {
            "http_header_user_agent": "Mozilla/5.0",
            "ios_advertising_id": "6D92078A-8246-4BA4-AE5B-76104861E7DC",
        },
        "application_info": {
            "package": "com.example.store",
            "application_name": "Store",
            "application_version": "4.2",
        },
        "partner_identities": {"tiktok_cookie_id": "ttp-1"},
        "user_attributes": {
            "$FirstName": "Jane",
            "$Zip": "94103",
            "$City": "San Francisco",
            "campaignId": "17",
        },
        **batch,
    }
    return json.dumps(body)


@pytest.fixture
def handler_logs() -> Iterator[io.StringIO]:
    """The handler's structured log lines: its Powertools handler writes here during the test.

    (Its stream was bound to whatever ``sys.stdout`` was when the module was imported, which
    under pytest may be an earlier test's, already closed, capture.)
    """
    from event_forwarder_function.app import logger

    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    yield stream
    logger.registered_handler.setStream(previous)


def failures(response: dict[str, Any]) -> set[str]:
    return {f["itemIdentifier"] for f in response["batchItemFailures"]}


def test_sample_event_file_reaches_the_emulator_mapped(world: World) -> None:
    world.connect()
    event = json.loads(SAMPLE.read_text())
    response = world.invoke(event["Records"])
    assert failures(response) == set()
    received = world.emu.state.events
    assert [(r["endpoint"], r["event_source_id"]) for r in received] == [("event/track", PIXEL)] * 2
    purchase, cart = (r["event"] for r in received)
    assert purchase["event"] == "PlaceAnOrder"
    assert purchase["event_id"] == "e8335d31-2031-4bff-afec-17ffc1784697"
    assert purchase["event_time"] == 1763633725
    assert purchase["user"]["email"] == sha("jane.doe@example.com")
    assert purchase["user"]["phone"] == sha("+14155550134")
    assert purchase["user"]["ttclid"].startswith("E.C.P.")
    assert purchase["properties"]["value"] == 79.5
    assert [c["content_id"] for c in purchase["properties"]["contents"]] == ["1077218", "2088"]
    assert purchase["page"] == {
        "url": "https://shop.example.com/checkout/complete",
        "referrer": "https://shop.example.com/cart",
    }
    assert cart["event"] == "AddToCart"


@pytest.mark.parametrize(
    ("settings", "endpoint"),
    [
        ({"event_source_type": "web"}, "event/track"),
        ({"event_source_type": "web", "test_event_code": "TEST42"}, "event/track"),
        ({"event_source_type": "app", "event_source_id": APP_ID}, "event/track"),
        ({"event_source_type": "offline", "event_source_id": OFFLINE_SET}, "event/track"),
        ({"event_source_type": "crm", "event_source_id": CRM_SET}, "event/track"),
        ({"event_source_type": "legacy_pixel_batch_web"}, "pixel/batch"),
        (
            {"event_source_type": "legacy_pixel_batch_web", "enable_web_migration": True},
            "event/track",
        ),
    ],
)
def test_the_strict_emulator_accepts_every_event_source(
    world: World, settings: dict[str, Any], endpoint: str
) -> None:
    world.connect(**settings)
    events = [commerce(i, custom_attributes={"lead_id": f"L-{i}"}) for i in range(3)]
    response = world.invoke(
        [
            world.record(
                mparticle(
                    events, consent_state={"ccpa": {"data_sale_opt_out": {"consented": True}}}
                )
            )
        ]
    )
    assert failures(response) == set()
    received = world.emu.state.events
    assert len(received) == 3
    assert {r["endpoint"] for r in received} == {endpoint}
    assert {r["test_event_code"] for r in received} == {settings.get("test_event_code")}


def test_2500_events_go_in_three_requests(world: World) -> None:
    world.connect()
    records = [
        world.record(mparticle([commerce(m * 500 + i) for i in range(500)])) for m in range(5)
    ]
    response = world.invoke(records)
    assert failures(response) == set()
    assert [r["code"] for r in world.track_requests()] == [0, 0, 0]
    assert len(world.emu.state.events) == 2500
    assert world.emu.state.unique_event_count() == 2500


def test_an_invalid_event_does_not_block_its_neighbours(world: World) -> None:
    world.connect()
    events = [
        commerce(1),
        commerce(2, url="javascript:alert(1)"),
        commerce(3, action="refund"),
        commerce(4),
    ]
    response = world.invoke([world.record(mparticle(events))])
    assert failures(response) == set()
    assert [r["event"]["event_id"] for r in world.emu.state.events] == ["ev-1", "ev-4"]


def test_throttling_then_success(world: World) -> None:
    world.connect()
    world.emu.faults.add("throttle", path="/event/track", count=2)
    response = world.invoke([world.record(mparticle([commerce(1), commerce(2)]))])
    assert failures(response) == set()
    assert [r["code"] for r in world.track_requests()] == [40100, 40100, 0]
    assert len(world.emu.state.events) == 2


def test_throttled_past_the_budget_returns_the_messages_for_redelivery(world: World) -> None:
    world.connect()
    world.connect("other", event_source_type="app", event_source_id=APP_ID)
    world.emu.faults.add("throttle", path="/event/track", count=1000)
    web = world.record(mparticle([commerce(1)]), message_id="web-msg")
    app = world.record(mparticle([commerce(2)]), "other", message_id="app-msg")
    response = world.invoke([web, app], remaining_ms=4_000)
    assert failures(response) == {"web-msg", "app-msg"}
    assert world.emu.state.events == []
    world.emu.faults.clear()
    response = world.invoke([web, app])
    assert failures(response) == set()
    assert len(world.emu.state.events) == 2


def test_a_rotated_token_is_picked_up_after_rejection(world: World) -> None:
    world.connect(access_token="stale-token-not-issued")
    records = [world.record(mparticle([commerce(1)]))]
    assert failures(world.invoke(records)) == {records[0]["messageId"]}
    world.connect()  # the operator stores a valid token; the cached secret is still the stale one
    assert failures(world.invoke(records)) == set()
    assert len(world.emu.state.events) == 1


def test_unknown_connection_and_malformed_messages_are_reported(world: World) -> None:
    world.connect()
    good = world.record(mparticle([commerce(1)]), message_id="good")
    nobody = world.record(mparticle([commerce(2)]), "nobody", message_id="nobody")
    poison = world.record("{{{", message_id="poison")
    response = world.invoke([good, nobody, poison])
    assert failures(response) == {"nobody", "poison"}
    assert [r["event"]["event_id"] for r in world.emu.state.events] == ["ev-1"]


def test_a_poison_message_lands_in_the_dlq(world: World) -> None:
    world.connect()
    dlq = world.sqs.create_queue(QueueName="tiktok-connector-events-dlq")["QueueUrl"]
    dlq_arn = world.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    queue = world.sqs.create_queue(
        QueueName="tiktok-connector-events",
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
        },
    )["QueueUrl"]
    world.sqs.send_message(QueueUrl=queue, MessageBody="not json at all")
    world.sqs.send_message(
        QueueUrl=queue,
        MessageBody=mparticle([commerce(1)]),
        MessageAttributes={"connection": {"DataType": "String", "StringValue": "default"}},
    )
    for _ in range(4):
        got = world.sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        messages = got.get("Messages", [])
        if not messages:
            continue
        records = [
            {
                **world.record(m["Body"], message_id=m["MessageId"]),
                "messageAttributes": {
                    k: {"stringValue": v["StringValue"], "dataType": v["DataType"]}
                    for k, v in m.get("MessageAttributes", {}).items()
                },
            }
            for m in messages
        ]
        failed = failures(world.invoke(records))
        for m in messages:
            if m["MessageId"] in failed:
                world.sqs.change_message_visibility(
                    QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                world.sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    dead = world.sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in dead] == ["not json at all"]
    assert world.sqs.receive_message(QueueUrl=queue).get("Messages", []) == []
    assert [r["event"]["event_id"] for r in world.emu.state.events] == ["ev-1"]


def test_logs_and_metrics_carry_no_pii_or_token(
    world: World, capsys: pytest.CaptureFixture[str], handler_logs: io.StringIO
) -> None:
    world.connect()
    events = [commerce(1), commerce(2, url=None)]
    world.invoke([world.record(mparticle(events)), world.record("garbage Jane.Doe@Example.com")])
    out = capsys.readouterr()
    logged = out.out + out.err + handler_logs.getvalue()
    assert '"reason":"missing_page_url"' in logged.replace(" ", "")
    assert "EventsForwarded" in logged
    assert '"EventsDropped":[1.0]' in logged.replace(" ", "")
    assert '"code":"0"' in logged.replace(" ", "")
    for secret in ("Jane.Doe@Example.com", "jane.doe@example.com", "555 0134", world.token):
        assert secret not in logged


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_bad_environment_fails_the_first_invocation_clearly(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tiktok_connector.settings import SettingsError, reset_settings

    world.connect()
    monkeypatch.setenv("DEFAULT_PHONE_REGION", "Narnia")
    reset_settings()
    with pytest.raises(SettingsError, match="DEFAULT_PHONE_REGION"):
        world.invoke([world.record(mparticle([commerce(1)]))])
    assert world.emu.state.events == []


def test_invalid_connection_settings_fail_the_message_without_leaking_the_token(
    world: World, handler_logs: io.StringIO
) -> None:
    world.connect(event_source_type="tv")
    record = world.record(mparticle([commerce(1)]))
    assert failures(world.invoke([record])) == {record["messageId"]}
    logged = handler_logs.getvalue()
    assert '"reason":"invalid_connection"' in logged.replace(" ", "")
    assert "event_source_type" in logged
    assert world.token not in logged


@pytest.mark.parametrize("kind", ["http_500", "code_50002", "throttle", "drop", "drop_after_apply"])
def test_under_injected_faults_every_event_arrives_and_none_twice(world: World, kind: str) -> None:
    world.connect()
    world.emu.faults.add(kind, path="/event/track", rate=0.2)
    pending = [
        world.record(mparticle([commerce(m * 30 + i) for i in range(30)]), message_id=f"m-{m}")
        for m in range(40)
    ]
    for _ in range(10):  # SQS redelivers what the handler reports failed
        failed: set[str] = set()
        for record in pending:  # one message per invocation: 40 requests on the first pass
            failed |= failures(world.invoke([record]))
        pending = [r for r in pending if r["messageId"] in failed]
        if not pending:
            break
    assert pending == []
    assert any(r.get("fault") for r in world.emu.state.requests)  # faults did fire
    world.emu.faults.clear()
    ids = [r["event"]["event_id"] for r in world.emu.state.events]
    assert set(ids) == {f"ev-{i}" for i in range(1200)}
    if kind != "drop_after_apply":
        assert len(ids) == 1200  # nothing doubled
    else:
        # The answer was lost after TikTok applied the request: the retry re-sends the same
        # event_ids, which TikTok de-duplicates (48 h, source + event + event_id).
        assert world.emu.state.unique_event_count() == 1200
